//! Threat intelligence for detectors: is this address, name or URL a known command-and-control
//! or malware-distribution point, and of which family?
//!
//! # Pieces
//!
//! * **Loaders** ([`parse()`], [`Format`]): plain lists of IPs, CIDRs and domains, and
//!   Maltrail's static trails (IPs, `ip:port`, domains, `http://` URLs, `host/path` and bare
//!   `/path` trails, family from the file name such as `elf_mirai.txt` → `mirai`). Pure
//!   functions over bytes: a bad line becomes a counted [`BadLine`] with its line number and
//!   never aborts a load, which also makes the parser fuzzable.
//! * **[`IntelSet`]**: an immutable set built once per load with [`IntelSetBuilder`].
//! * **[`IntelStore`]**: the live set behind an [`arc_swap::ArcSwap`], [`IntelStore::reload`]
//!   and a polling watcher ([`spawn_watcher`]) configured by [`IntelConfig`].
//!
//! # Lookup design
//!
//! Every lookup is on a detector's per-flow or per-query path, so the set is laid out for
//! reads and rebuilt, not edited, when feeds change:
//!
//! * Every distinct indicator is one [`Hit`] (the indicator plus an `Arc` of its
//!   [`Source`], shared by all entries of a file) in one array; the tables store 32-bit
//!   indices into it.
//! * Exact IPv4 addresses, `ip:port` pairs and IPv6 addresses are hash maps keyed by the
//!   integer address (foldhash, seeded per process), so a probe hashes 4 to 18 bytes.
//! * CIDRs are flattened at build time into sorted disjoint intervals labelled with the
//!   longest covering prefix; a lookup is one binary search (see `prefix.rs`).
//! * Names, URLs and paths live in hash tables that store only the index and compare
//!   against the hit's own string, so a name is stored once. A domain lookup lowercases
//!   into a stack buffer and probes the name and then each parent (`a.b.evil.com`,
//!   `b.evil.com`, `evil.com`, `com`): the most specific listed suffix wins, with no
//!   allocation.
//! * Of two identical indicators the first added wins (feeds in configuration order, files
//!   by name), and the duplicate is counted in [`Stats::duplicates`].
//!
//! # Matching rules
//!
//! * [`IntelSet::match_ip`]: exact addresses and CIDRs. Maltrail lists most C2 servers as
//!   `ip:port`; those match [`IntelSet::match_endpoint`] (the flow's far end), and
//!   [`IntelSet::match_ip_any_port`] exists for callers without a port. IPv4-mapped IPv6
//!   addresses are looked up as IPv4.
//! * [`IntelSet::match_domain`]: exact name or any listed parent; case-insensitive;
//!   trailing dot ignored.
//! * [`IntelSet::match_url`] / [`IntelSet::match_http`]: URL entries (host and path),
//!   then path-only trails on any host (including by the request's last path segment, since
//!   Maltrail's generic trails such as `/mirai.arm` name the downloaded file), then the host.
//! * [`IntelSet::match_host_port`]: a host and port from a URL or a connection.
//!
//! # Reload
//!
//! [`IntelStore::reload`] reads every feed and builds the new set before swapping it in;
//! readers holding the old `Arc` finish on it. A feed that cannot be read keeps its last good
//! content and is reported ([`FeedReport::error`]); if no feed can be read nothing is
//! swapped. Metric names are in [`telemetry`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod indicator;
mod parse;
mod prefix;
mod set;
mod store;
pub mod telemetry;
mod watch;

pub use config::{
    ConfigError, DEFAULT_MAX_FILE_BYTES, DEFAULT_POLL_INTERVAL_SECS, FeedConfig, IntelConfig,
};
pub use error::{BadLine, EntryError, FeedError};
pub use indicator::{Indicator, Kind, MAX_DOMAIN_LEN, MAX_ENTRY_LEN, normalize_domain};
pub use parse::{Format, MAX_BAD_LINE_DETAILS, ParsedFile, Source, family_from_file_name, parse};
pub use set::{Hit, IntelSet, IntelSetBuilder, Stats};
pub use store::{FeedReport, IntelStore, ReloadReport};
pub use watch::{spawn_watcher, spawn_watcher_every};
