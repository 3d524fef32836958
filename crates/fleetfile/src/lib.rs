//! Fleet files: the bulk import/export formats of Rampart's device and SIM registry.
//!
//! A fleet file lists devices, one per line, each optionally with the SIM bound to it, as CSV
//! (with a header) or JSON Lines; the columns / keys are listed in [`Column`]. This crate is
//! sans-IO: the reader takes any [`std::io::BufRead`] and the writers any [`std::io::Write`],
//! so the CLI, the API and the tests share one implementation.
//!
//! Rows are validated with `rampart-core`'s rules and normalised, so a record that comes out
//! of the [`FleetReader`] is ready for the store. A bad row never fails the file: it becomes a
//! [`RowError`] (with the raw line, for the [`RejectWriter`]) and reading goes on.
//!
//! CSV specifics: RFC 4180 quoting, but one record per physical line (a quoted field cannot
//! contain a line break, so a broken quote costs one row, not the rest of the file); CRLF or
//! LF; a UTF-8 BOM is ignored; blank lines and lines starting with `#` are skipped; list cells
//! are `;`-separated. Leading and trailing blanks of every cell are ignored.

#![forbid(unsafe_code)]

mod columns;
mod csv;
mod generate;
mod jsonl;
mod reader;
mod record;
mod writer;

pub use columns::Column;
pub use csv::{CsvError, parse_csv_line};
pub use generate::{MAX_GENERATED, generate, generate_for};
pub use reader::{
    FatalError, FleetReader, Format, MAX_LINE_BYTES, MAX_RAW_BYTES, RowError, RowResult,
};
pub use writer::{CsvWriter, JsonlWriter, RejectWriter};
