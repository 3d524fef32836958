//! Offline capture reading: pcap and pcapng files turned into the records detection works on —
//! bidirectional [`FlowRecord`](rampart_core::FlowRecord)s with Zeek-style connection states
//! and per-packet facts (SYN counts, Mirai's sequence-number signature, SYN-ACKs, resets),
//! [`DnsRecord`](rampart_core::DnsRecord)s from DNS responses, and
//! [`NameRecord`](rampart_core::NameRecord)s from TLS SNI and HTTP Host.
//!
//! # Design
//!
//! * [`FlowTable`] is sans-IO: it is fed `(timestamp, link type, frame)` and queues events.
//!   The same table serves files, live sources and fuzzing, and its behaviour depends only on
//!   its input, so replaying a capture is reproducible.
//! * [`CaptureReader`] streams a file (or any `Read`) block by block through pcap-parser's
//!   circular buffer — memory does not grow with file size — and hands each packet to the
//!   table. A file cut short ends the iteration cleanly; the reason is in
//!   [`CaptureSummary::error`].
//! * Link layers handled: Ethernet with 802.1Q/802.1ad tags (QinQ), PPPoE and MPLS; Linux
//!   cooked SLL and SLL2; raw IPv4/IPv6 (link types 101, 228, 229, and BSD's 12/14); BSD
//!   NULL and OpenBSD LOOP. The IP layer is etherparse's lax slicing, so a packet cut by the
//!   snap length still counts (IP bytes from the header's length field) and is counted as
//!   truncated. GTP-U (UDP 2152) is decapsulated by default: on a Gn/S1-U/N3 tap the flows
//!   that matter are the subscribers' inner ones.
//! * A flow is keyed by its bidirectional 5-tuple. The originator is the sender of the first
//!   packet, except that a SYN-ACK seen first makes its receiver the originator. A TCP
//!   connection's state follows Zeek's endpoint state machine and `conn_state` rules.
//! * Flows end on idle timeout in event time (defaults as Zeek: TCP 5 min, UDP and ICMP
//!   1 min), 5 s after a FIN/FIN or RST close, 5 s after an unanswered SYN, and at end of
//!   input. A new SYN on a closed connection starts a new flow. The table is bounded
//!   ([`CaptureConfig::max_flows`]): when full, the least recently active flow is reported
//!   early and counted in [`TableStats::evicted`].
//! * Memory: flows live in a slab of fixed-size entries ([`FlowTable::ENTRY_BYTES`]) found
//!   through a hash table of 4-byte indices; expiry walks intrusive lists kept in order of
//!   last activity, so no per-packet timer is allocated.
//! * Events come out in the order they become final: DNS and name events at their packet,
//!   flows when they end (so a flow's [`CaptureEvent::time`] is its last packet).
//! * Parsers of untrusted bytes (frames, DNS, TLS, HTTP) never index unchecked: every read
//!   is `get`-based, loops are bounded, and a fuzz target exercises each entry point.

#![forbid(unsafe_code)]

mod config;
mod decode;
mod dns;
mod error;
mod names;
mod reader;
pub mod synth;
mod table;
mod tcpstate;

pub use config::{CaptureConfig, CaptureEvent, TableStats};
pub use decode::{GTP_U_PORT, LinkType};
pub use dns::DnsError;
pub use error::CaptureError;
pub use reader::{CaptureFormat, CaptureReader, CaptureSummary};
pub use table::FlowTable;
