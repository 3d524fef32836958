//! NetFlow v5, v9 and IPFIX collection: datagrams from routers and gateways become
//! [`rampart_core::FlowRecord`]s stamped with their own event time.
//!
//! Three parts:
//! - [`Collector`], sans-IO: `ingest(exporter, datagram, &mut out)` decodes one datagram
//!   (with [`netflow_parser`]) and appends one flow per data record. One collector per
//!   receive task or shard: the parser keeps mutable template state and is not `Sync`.
//! - [`NetflowConfig::build`], the UDP listener (default `0.0.0.0:2055` and
//!   `0.0.0.0:4739`): per listen address a receive task, which copies every datagram waiting
//!   in the socket into large batch buffers, and a decode thread with its own collector, fed
//!   through a bounded queue ([`NetflowConfig::decode_queue_bytes`]); flows are handed over
//!   in batches to a [`FlowSink`] on the decode thread (a `tokio::sync::mpsc::Sender` is
//!   one) until a shutdown future resolves.
//! - [`encode`]: builds v5, v9 and IPFIX packets from flows, for the fleet simulator and the
//!   round-trip tests.
//!
//! # What a flow record holds
//!
//! Addresses (IPv4 or IPv6), ports, protocol, TCP flags, packets and bytes with sampling
//! applied, start and end as absolute event time, a [`rampart_core::ConnState`] derived
//! from the flags ([`conn_state`]), the source (`NetflowV5`, `NetflowV9`, `Ipfix`) and the
//! exporter's address as text, one `Arc<str>` per exporter shared by all its flows.
//!
//! - **Times.** v5/v9 First/LastSwitched are milliseconds of exporter uptime: they are read
//!   against the header's sysUptime and export time, as a signed 32-bit difference so that an
//!   uptime counter wrap (every 49.7 days) does not throw them 49 days off. IPFIX
//!   flowStart/End Seconds, Milliseconds, Microseconds and Nanoseconds (NTP) are absolute;
//!   flowStart/EndSysUpTime are added to systemInitTimeMilliseconds (from the record or from
//!   options data); flowStart/EndDeltaMicroseconds count back from the export time. With none
//!   of these, the export time is used.
//! - **Sampling.** v5: the header's sampling interval (low 14 bits). v9/IPFIX: the record's
//!   samplingInterval or samplerRandomInterval, else the sampler table learnt from options
//!   data (sampler id or selector id → rate; rates given as interval, random n-out-of-N
//!   size/population, count-based interval/space, or probability), else a rate that options
//!   data announced without a sampler id, else 1. Kept per exporter and observation domain.
//! - **Counters.** octetDeltaCount/packetDeltaCount, falling back to total counts, then
//!   initiator counts (Cisco ASA NSEL), then post-counters; RFC 5103 reverse elements and
//!   responder counts fill the reverse direction.
//! - **ICMP.** Type and code travel in the destination port (`type << 8 | code`) or in the
//!   icmpTypeCode elements; the record carries the type in `src_port`, the code in `dst_port`.
//! - Records without both addresses (layer-2, MPLS-only, vendor events) are skipped and
//!   counted; vendor (enterprise) elements are skipped, variable-length ones included — the
//!   parser consumes their length either way.
//!
//! # Compiled templates
//!
//! netflow_parser decodes a data record into a `Vec` of typed values, most of them for
//! elements no flow needs. Each data template is therefore also compiled, when it arrives,
//! into a flat plan (record length; offset, length and type of the elements a flow reads),
//! and datagrams made only of data sets with live plans are decoded straight from their
//! bytes: about 2.5 times fewer instructions per record. The parser remains the authority on
//! templates and sees a shadow of each such datagram (same header and sets, records removed),
//! so its template and scope caches evolve exactly as without plans; every other datagram
//! goes through it as before. The flows are the same either way
//! ([`Collector::with_fast_path`] turns plans off; tests and the fuzz target compare both).
//!
//! # Why templates are scoped per exporter
//!
//! Template ids are only unique within one exporter and observation domain (RFC 7011 §3,
//! RFC 3954 §5): two routers both announcing template 256 with different layouts would
//! otherwise decode each other's data into garbage. The collector therefore uses
//! [`netflow_parser::AutoScopedParser`], which keeps a template cache per (exporter, v9 source
//! id or IPFIX observation domain). The exporter is its IP address, not address and port:
//! routers send templates and data from different source ports (Cisco IOS XR does, see
//! pmacct's capture 112), and a restarted exporter picks a new port.
//!
//! # Data that arrives before its template
//!
//! Over UDP a collector that starts, or an exporter that restarts, sees data before the next
//! template refresh. Such data sets are **buffered, bounded, per exporter scope**, and replayed
//! as soon as their template arrives (the flows then come out with that later datagram): up
//! to [`CollectorLimits::pending_templates_per_exporter`] unknown template ids,
//! [`CollectorLimits::pending_sets_per_template`] sets each, at most
//! [`CollectorLimits::pending_bytes_per_exporter`] bytes in all, each set kept at most
//! [`CollectorLimits::pending_ttl_secs`]. What does not fit is dropped and counted
//! (`netflow_sets_without_template_total`, per set: the record count of a set is unknowable
//! without its template). Setting `pending_bytes_per_exporter = 0` turns buffering off.
//!
//! # Memory bounds
//!
//! Every structure that input can grow is capped, the oldest entry making room:
//! exporters and template scopes ([`CollectorLimits::max_exporters`], the least recently
//! heard forgotten with its templates), templates per scope
//! ([`CollectorLimits::max_templates_per_exporter`], LRU, and expiring after
//! [`CollectorLimits::template_ttl_secs`] without refresh), buffered data (above), sampler
//! tables ([`CollectorLimits::max_samplers_per_exporter`]) and observation domains
//! remembered per exporter (16). The parser additionally bounds fields per template and
//! decoded values per message. Idle exporters are forgotten after
//! [`NetflowConfig::exporter_idle_secs`]. Garbage gets a typed [`DecodeError`] and a
//! counter, never a panic (fuzzed: `fuzz/`, target `decode`).
//!
//! # Metrics
//!
//! Constant names, no per-exporter labels: see [`telemetry`].

#![forbid(unsafe_code)]

mod collector;
pub mod encode;
mod exporter;
mod fastpath;
mod fields;
mod plan;
mod server;
pub mod telemetry;

pub use collector::{Collector, CollectorLimits, DecodeError, IngestReport, LimitsError};
pub use fields::conn_state;
pub use server::{BuildError, Built, FlowSink, NetflowConfig};
