//! Zeek's TSV logs: `#`-prefixed header lines set the separators and name the columns, and
//! may appear again mid-file (concatenated or rotated logs), each time replacing the last.

use crate::error::Reason;
use crate::reader::{Ctx, Parsed};
use crate::tabular::{Kind, Row, Table, unescape};

/// Parser state: the conventions and columns of the header in force.
pub(crate) struct TsvParser {
    separator: Vec<u8>,
    set_separator: String,
    empty: String,
    unset: String,
    path: Option<Kind>,
    table: Option<Table>,
    /// Set when the last `#fields` name held several space-separated names, as in IoT-23's
    /// `conn.log.labeled` (`tunnel_parents   label   detailed-label`): the last tab-separated
    /// value of each line then holds as many space-separated values.
    space_tail: bool,
    spans: Vec<(usize, usize)>,
}

impl TsvParser {
    pub(crate) fn new() -> Self {
        Self {
            separator: b"\t".to_vec(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            path: None,
            table: None,
            space_tail: false,
            spans: Vec::new(),
        }
    }

    pub(crate) fn parse(&mut self, line: &str, ctx: &Ctx) -> Result<Parsed, Reason> {
        if line.starts_with('#') {
            self.header(line);
            return Ok(Parsed::Header);
        }
        if line.is_empty() {
            return Ok(Parsed::Header);
        }
        let Some(table) = &self.table else {
            return Err(Reason::NoHeader);
        };
        split(line, &self.separator, &mut self.spans);
        if self.space_tail && self.spans.len() < table.width {
            split_tail(line, &mut self.spans);
        }
        if self.spans.len() != table.width {
            return Err(Reason::FieldCount {
                expected: table.width,
                found: self.spans.len(),
            });
        }
        let row = Row {
            table,
            line,
            spans: &self.spans,
        };
        row.parse_with_label(ctx)
    }

    fn header(&mut self, line: &str) {
        if let Some(value) = line.strip_prefix("#separator") {
            let value = unescape(value.trim_start_matches(' '));
            if !value.is_empty() {
                self.separator = value.as_bytes().to_vec();
            }
            return;
        }
        let separator = String::from_utf8_lossy(&self.separator).into_owned();
        let (key, value) = line
            .split_once(separator.as_str())
            .or_else(|| line.split_once(' '))
            .unwrap_or((line, ""));
        match key {
            "#set_separator" => self.set_separator = unescape(value).into_owned(),
            "#empty_field" => self.empty = unescape(value).into_owned(),
            "#unset_field" => self.unset = unescape(value).into_owned(),
            "#path" => {
                let kind = Kind::from_path(value);
                self.path = Some(kind);
                if let Some(table) = &mut self.table {
                    table.set_path(kind);
                }
            }
            "#fields" => {
                let names: Vec<&str> = value.split(separator.as_str()).collect();
                self.space_tail = names.last().is_some_and(|n| n.contains(' '));
                let names = names.into_iter().flat_map(str::split_ascii_whitespace);
                self.table = Some(Table::new(
                    names,
                    self.path,
                    &self.unset,
                    &self.empty,
                    &self.set_separator,
                ));
            }
            // #open, #close, #types and anything newer carry nothing the reader needs.
            _ => {}
        }
    }
}

/// Splits on a separator into byte spans.
fn split(line: &str, separator: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let bytes = line.as_bytes();
    if let [sep] = separator {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == *sep {
                spans.push((start, i));
                start = i + 1;
            }
        }
        spans.push((start, bytes.len()));
    } else {
        let sep = String::from_utf8_lossy(separator);
        let mut start = 0;
        for (i, _) in line.match_indices(sep.as_ref()) {
            spans.push((start, i));
            start = i + sep.len();
        }
        spans.push((start, line.len()));
    }
}

/// Splits the last span further on runs of spaces.
fn split_tail(line: &str, spans: &mut Vec<(usize, usize)>) {
    let Some((from, to)) = spans.pop() else {
        return;
    };
    let mut start = None;
    for (i, b) in line.bytes().enumerate().take(to).skip(from) {
        match (b == b' ', start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits() {
        let mut spans = Vec::new();
        split("a\tb\t\tc", b"\t", &mut spans);
        assert_eq!(spans, vec![(0, 1), (2, 3), (4, 4), (5, 6)]);
        split("a||b", b"||", &mut spans);
        assert_eq!(spans, vec![(0, 1), (3, 4)]);
        let line = "x\t(empty)   Malicious   C&C";
        split(line, b"\t", &mut spans);
        split_tail(line, &mut spans);
        let parts: Vec<&str> = spans.iter().map(|&(a, b)| &line[a..b]).collect();
        assert_eq!(parts, vec!["x", "(empty)", "Malicious", "C&C"]);
    }
}
