//! The streaming reader: line by line from any [`BufRead`], one result per data line.

use std::fmt;
use std::io::{self, BufRead};
use std::iter::FusedIterator;
use std::path::Path;
use std::str::FromStr;

use rampart_core::{DeviceRecord, TenantId};

use crate::columns::Column;
use crate::csv::parse_csv_line;
use crate::jsonl::parse_json_row;
use crate::record::{Cell, RawRow, build_record};

/// Longest accepted line, without its terminator. Longer lines are rejected (and skipped
/// without buffering them), so a corrupt or hostile file cannot make the reader allocate
/// without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much of a rejected line is kept in [`RowError::raw`].
pub const MAX_RAW_BYTES: usize = 4 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The two fleet file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Picks the format from a file extension (`.csv`; `.jsonl`, `.ndjson`, `.json`), ignoring
    /// case; `None` for anything else.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }

    /// Guesses the format from the start of the content, for stdin or unknown extensions: the
    /// first line that is neither blank nor a `#` comment starting with `{` means JSON Lines,
    /// anything else CSV.
    pub fn sniff(first_bytes: &[u8]) -> Format {
        let bytes = first_bytes.strip_prefix(BOM).unwrap_or(first_bytes);
        for line in bytes.split(|&b| b == b'\n') {
            match line.trim_ascii_start().first() {
                None | Some(b'#') => continue,
                Some(b'{') => return Format::Jsonl,
                Some(_) => return Format::Csv,
            }
        }
        Format::Csv
    }

    /// `csv` or `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            other => Err(format!(
                "unknown fleet file format {other:?} (csv or jsonl)"
            )),
        }
    }
}

/// A data line that was refused; the rest of the file is still read. Goes to the reject file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// Physical line number, from 1 (comments and blank lines count).
    pub line: u64,
    /// Why it was refused, naming the field and value.
    pub reason: String,
    /// The line as read (lossily decoded, at most [`MAX_RAW_BYTES`] bytes).
    pub raw: String,
}

/// An error that stops reading the whole file.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// The CSV header is missing or wrong: no row can be interpreted.
    #[error("line {line}: bad header: {reason}")]
    Header {
        /// Line of the header (0 when the file has no header at all).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the underlying stream failed.
    #[error("reading the fleet file: {0}")]
    Io(#[from] io::Error),
}

/// One item of a [`FleetReader`]: a record with its line number, or a rejected line.
pub type RowResult = Result<(u64, DeviceRecord), RowError>;

/// Reads a fleet file row by row in constant memory (one reused line buffer).
///
/// [`FleetReader::new`] reads the CSV header up front, so a bad header is a [`FatalError`]
/// before any row. Iterating yields one [`RowResult`] per data line; blank lines and lines
/// starting with `#` are skipped. An I/O error ends the iteration early: call
/// [`FleetReader::finish`] afterwards to learn whether the whole file was read.
#[derive(Debug)]
pub struct FleetReader<R> {
    reader: R,
    format: Format,
    tenant: TenantId,
    buf: Vec<u8>,
    line: u64,
    columns: Vec<Column>,
    error: Option<io::Error>,
    done: bool,
}

enum LineStatus {
    Eof,
    Complete,
    TooLong,
}

impl<R: BufRead> FleetReader<R> {
    /// Starts reading `reader` as `format`; every record is owned by `tenant`.
    pub fn new(reader: R, format: Format, tenant: TenantId) -> Result<Self, FatalError> {
        let mut this = Self {
            reader,
            format,
            tenant,
            buf: Vec::with_capacity(1024),
            line: 0,
            columns: Vec::new(),
            error: None,
            done: false,
        };
        if format == Format::Csv {
            this.read_header()?;
        }
        Ok(this)
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The CSV header's columns in file order (empty for JSON Lines).
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Ends reading: `Err` when iteration stopped on an I/O error rather than at the end of
    /// the file (the records yielded before it are valid, the rest is unread).
    pub fn finish(self) -> Result<(), FatalError> {
        match self.error {
            Some(e) => Err(FatalError::Io(e)),
            None => Ok(()),
        }
    }

    fn header_error(&self, reason: impl Into<String>) -> FatalError {
        FatalError::Header {
            line: self.line,
            reason: reason.into(),
        }
    }

    fn read_header(&mut self) -> Result<(), FatalError> {
        loop {
            let status = read_line_limited(&mut self.reader, &mut self.buf, MAX_LINE_BYTES)?;
            if let LineStatus::Eof = status {
                return Err(self.header_error(
                    "the file is empty: expected a header line starting with device_id",
                ));
            }
            self.line += 1;
            let bytes = content(&self.buf, self.line);
            if is_comment(bytes) {
                continue;
            }
            if let LineStatus::TooLong = status {
                return Err(self.header_error(format!("longer than {MAX_LINE_BYTES} bytes")));
            }
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            let text =
                std::str::from_utf8(bytes).map_err(|_| self.header_error("not valid utf-8"))?;
            let names = parse_csv_line(text).map_err(|e| self.header_error(e.to_string()))?;
            let mut columns = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let name = name.trim();
                let column = match Column::from_name(name) {
                    Some(c) => c,
                    None if name.is_empty() => {
                        return Err(self.header_error(format!("column {} has no name", i + 1)));
                    }
                    None => {
                        let shown: String = name.chars().take(64).collect();
                        return Err(self.header_error(format!(
                            "unknown column {shown:?} (expected one of {})",
                            Column::expected_names()
                        )));
                    }
                };
                if columns.contains(&column) {
                    return Err(self.header_error(format!("duplicate column {:?}", column.name())));
                }
                columns.push(column);
            }
            // Required first so a data line can never start with `#` and be taken for a
            // comment: device ids cannot contain `#`.
            if columns.first() != Some(&Column::DeviceId) {
                let reason = if columns.contains(&Column::DeviceId) {
                    "device_id must be the first column"
                } else {
                    "missing the required column device_id"
                };
                return Err(self.header_error(reason));
            }
            self.columns = columns;
            return Ok(());
        }
    }
}

impl<R: BufRead> Iterator for FleetReader<R> {
    type Item = RowResult;

    fn next(&mut self) -> Option<RowResult> {
        while !self.done {
            let status = match read_line_limited(&mut self.reader, &mut self.buf, MAX_LINE_BYTES) {
                Ok(LineStatus::Eof) => break,
                Ok(status) => status,
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            };
            self.line += 1;
            let line = self.line;
            let bytes = content(&self.buf, line);
            if is_comment(bytes) {
                continue;
            }
            let reject = |reason: String| {
                Some(Err(RowError {
                    line,
                    reason,
                    raw: raw_text(bytes),
                }))
            };
            if let LineStatus::TooLong = status {
                return reject(format!("line is longer than {MAX_LINE_BYTES} bytes"));
            }
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return reject(format!(
                        "line is not valid utf-8 (at byte {})",
                        e.valid_up_to() + 1
                    ));
                }
            };
            let parsed = match self.format {
                Format::Csv => parse_csv_row(text, &self.columns, &self.tenant),
                Format::Jsonl => {
                    parse_json_row(text).and_then(|row| build_record(&row, &self.tenant))
                }
            };
            return match parsed {
                Ok(record) => Some(Ok((line, record))),
                Err(reason) => reject(reason),
            };
        }
        self.done = true;
        None
    }
}

impl<R: BufRead> FusedIterator for FleetReader<R> {}

fn parse_csv_row(
    text: &str,
    columns: &[Column],
    tenant: &TenantId,
) -> Result<DeviceRecord, String> {
    let fields = parse_csv_line(text).map_err(|e| e.to_string())?;
    if fields.len() != columns.len() {
        return Err(format!(
            "expected {} fields, found {}",
            columns.len(),
            fields.len()
        ));
    }
    let mut row = RawRow::default();
    for (&column, field) in columns.iter().zip(fields) {
        row.set(column, Cell::Text(field));
    }
    build_record(&row, tenant)
}

/// The line without a leading BOM (first line only).
fn content(buf: &[u8], line: u64) -> &[u8] {
    if line == 1 {
        buf.strip_prefix(BOM).unwrap_or(buf)
    } else {
        buf
    }
}

fn is_comment(line: &[u8]) -> bool {
    line.first() == Some(&b'#')
}

/// The line for the reject file: lossily decoded, capped at [`MAX_RAW_BYTES`].
fn raw_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_RAW_BYTES)]).into_owned()
}

/// Reads one line into `buf` without its `\n` / `\r\n`, keeping at most `limit + 2` bytes:
/// the rest of an overlong line is consumed and dropped, so memory stays bounded.
fn read_line_limited<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<LineStatus> {
    buf.clear();
    let cap = limit + 2;
    let mut total = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let (used, found) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&available[..used.min(room)]);
        total = total.saturating_add(used);
        reader.consume(used);
        if found {
            break;
        }
    }
    if total == 0 {
        return Ok(LineStatus::Eof);
    }
    if total > cap {
        return Ok(LineStatus::TooLong);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    Ok(if buf.len() > limit {
        LineStatus::TooLong
    } else {
        LineStatus::Complete
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: usize) -> Vec<(String, bool)> {
        let mut r = io::BufReader::with_capacity(3, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_limited(&mut r, &mut buf, limit).unwrap() {
                LineStatus::Eof => return out,
                LineStatus::Complete => out.push((String::from_utf8_lossy(&buf).into(), false)),
                LineStatus::TooLong => {
                    assert!(buf.len() <= limit + 2);
                    out.push((String::new(), true));
                }
            }
        }
    }

    #[test]
    fn limited_lines() {
        let got = lines(b"ab\r\ncdef\n\nxyz", 4);
        let want = [("ab", false), ("cdef", false), ("", false), ("xyz", false)];
        assert_eq!(got.len(), want.len());
        for ((g, gl), (w, wl)) in got.iter().zip(want) {
            assert_eq!((g.as_str(), *gl), (w, wl));
        }
        let got = lines(b"abcde\nabcdefghijkl\nok\nabcde", 4);
        let flags: Vec<bool> = got.iter().map(|(_, t)| *t).collect();
        assert_eq!(flags, [true, true, false, true]);
        assert_eq!(got[2].0, "ok");
    }

    #[test]
    fn formats() {
        assert_eq!(Format::from_path(Path::new("a/b.CSV")), Some(Format::Csv));
        assert_eq!(
            Format::from_path(Path::new("x.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("x.json")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("x.txt")), None);
        assert_eq!(Format::from_path(Path::new("noext")), None);
        assert_eq!(
            Format::sniff(b"\xEF\xBB\xBF{\"device_id\":1}"),
            Format::Jsonl
        );
        assert_eq!(Format::sniff(b"# comment\n\n  {\"a\":1}"), Format::Jsonl);
        assert_eq!(Format::sniff(b"device_id,name\n"), Format::Csv);
        assert_eq!(Format::sniff(b""), Format::Csv);
        assert_eq!("JSONL".parse::<Format>(), Ok(Format::Jsonl));
        assert!("xml".parse::<Format>().is_err());
    }
}
