//! Readers for the logs operators already produce — Zeek, Suricata EVE and the IoT-23
//! labelled flows — turning each line into Rampart's shared records ([`FlowRecord`],
//! [`DnsRecord`], [`NameRecord`], [`AlertRecord`]) so detection treats a replayed Zeek log like
//! live NetFlow.
//!
//! # Design
//!
//! * **One entry point.** [`LogReader::open`] (or [`LogReader::from_reader`] for any
//!   [`BufRead`](std::io::BufRead)) detects the format from the content and yields
//!   `Result<LogEvent, LineError>` per record. No I/O beyond reading, no threads, no async:
//!   a caller on a runtime moves it to a blocking thread.
//! * **A bad line is data, not a failure.** It comes out as a [`LineError`] with its line
//!   number and a typed [`Reason`], is counted in the [`Summary`], and reading carries on.
//!   Nothing derived from input can panic; the fuzz target in `fuzz/` checks that.
//! * **Streaming in constant memory.** Lines go through one reused buffer with a size cap
//!   ([`Options::max_line_bytes`]); a longer line is skipped as it streams past, never
//!   buffered. Parsers borrow from the line and allocate only what the record keeps.
//! * **Columns by name.** Zeek TSV and CSV columns are located from the header, so column
//!   order, extra columns (IoT-23's labels, site-specific fields) and missing optional columns
//!   do not matter. Headers may recur mid-file (concatenated logs) and replace the previous.
//!
//! # Format detection
//!
//! The first non-blank line decides (if it decides nothing, the next, up to 16 lines):
//!
//! | first line | format |
//! |---|---|
//! | starts with `#` (`#separator \x09`, `#fields`, ...) | [`LogFormat::ZeekTsv`] |
//! | JSON object with an `event_type` key | [`LogFormat::SuricataEve`] |
//! | JSON object with `_path`, `uid`, `id.orig_h` or `id` | [`LogFormat::ZeekJson`] |
//! | comma-separated names including `ts` and `id.orig_h` | [`LogFormat::ZeekCsv`] (IoT-23) |
//!
//! Which Zeek log a file holds comes from `#path`/`_path`, or else from its columns (`query`:
//! dns; `conn_state`, `history` or `orig_pkts`: conn; `server_name`: ssl; `host`: http; else
//! `proto` with `id.orig_h`: conn).
//!
//! # Mapping
//!
//! * Zeek conn → [`FlowRecord`]: `uid`; `ts` and `ts + duration` as start and end; packets;
//!   bytes from `orig_ip_bytes`/`resp_ip_bytes` (IP level) when present, else the payload
//!   counts; `service`; `conn_state`; TCP flags per direction from `history` (`S` SYN, `H`
//!   SYN+ACK, `A` ACK, `D` data as PSH, `F` FIN, `R` RST; uppercase is the originator).
//! * Zeek dns → [`DnsRecord`]: query (lowercase, no trailing dot), `qtype`, `rcode`, the
//!   answers that are addresses, the smallest TTL. ssl `server_name` and http `host` →
//!   [`NameRecord`].
//! * Suricata `flow` → [`FlowRecord`] (`flow_id` as uid, `*_toserver` forward, `*_toclient`
//!   reverse, `tcp_flags_ts`/`tcp_flags_tc`, `app_proto` as service, the state derived from the
//!   flags as Zeek would name it); `alert` → [`AlertRecord`]; `dns` (EVE versions 1, 2 and 3)
//!   → [`DnsRecord`]; `tls` SNI and `http` hostname → [`NameRecord`]. Other event types are
//!   counted in [`Summary::skipped`].
//! * IoT-23 CSV rows read as conn flows by [`LogReader`], and with their [`Label`] by
//!   [`LabelledFlows`].
//!
//! [`FlowRecord`]: rampart_core::FlowRecord
//! [`DnsRecord`]: rampart_core::DnsRecord
//! [`NameRecord`]: rampart_core::NameRecord
//! [`AlertRecord`]: rampart_core::AlertRecord

#![forbid(unsafe_code)]

mod build;
mod csv;
mod detect;
mod error;
mod eve;
mod eve_dns;
mod labelled;
mod lines;
mod reader;
mod tabular;
mod time;
mod zeek_json;
mod zeek_tsv;

pub use error::{LineError, OpenError, Reason};
pub use labelled::{LabelledFlow, LabelledFlows};
pub use reader::{Label, LogEvent, LogFormat, LogReader, Options, Summary};
