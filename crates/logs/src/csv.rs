//! Zeek conn fields as CSV, the shape of the IoT-23 labelled flows: the first line names the
//! columns (Zeek's names plus `label` and `detailed-label`), missing values are empty (or `-`),
//! and RFC 4180 quoting is honoured though those files never need it.

use crate::error::Reason;
use crate::reader::{Ctx, Parsed};
use crate::tabular::{Row, Table};

/// Parser state: the header, and buffers reused line after line.
pub(crate) struct CsvParser {
    table: Option<Table>,
    spans: Vec<(usize, usize)>,
    /// Unquoted copy of a line that had quoted fields.
    scratch: String,
}

impl CsvParser {
    pub(crate) fn new() -> Self {
        Self {
            table: None,
            spans: Vec::new(),
            scratch: String::new(),
        }
    }

    pub(crate) fn parse(&mut self, line: &str, ctx: &Ctx) -> Result<Parsed, Reason> {
        if line.is_empty() {
            return Ok(Parsed::Header);
        }
        // A header again mid-file (concatenated exports) replaces the first one; data rows
        // start with the timestamp, so only a line starting with a letter is checked.
        let is_header = match &self.table {
            None => true,
            Some(_) => {
                line.starts_with(|c: char| c.is_ascii_alphabetic()) && line.contains("id.orig_h")
            }
        };
        let text = if line.contains('"') {
            unquote(line, &mut self.scratch, &mut self.spans)?;
            self.scratch.as_str()
        } else {
            split(line, &mut self.spans);
            line
        };
        if is_header {
            let names = self.spans.iter().filter_map(|&(a, b)| text.get(a..b));
            self.table = Some(Table::new(names, None, "-", "(empty)", ","));
            return Ok(Parsed::Header);
        }
        let Some(table) = &self.table else {
            return Err(Reason::NoHeader);
        };
        if self.spans.len() != table.width {
            return Err(Reason::FieldCount {
                expected: table.width,
                found: self.spans.len(),
            });
        }
        let row = Row {
            table,
            line: text,
            spans: &self.spans,
        };
        row.parse_with_label(ctx)
    }
}

fn split(line: &str, spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut start = 0;
    for (i, &b) in line.as_bytes().iter().enumerate() {
        if b == b',' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans.push((start, line.len()));
}

/// Copies the line's fields into `out` without their quotes (`""` inside quotes is one `"`),
/// recording each field's span in `out`.
fn unquote(line: &str, out: &mut String, spans: &mut Vec<(usize, usize)>) -> Result<(), Reason> {
    out.clear();
    spans.clear();
    let mut chars = line.chars().peekable();
    loop {
        let start = out.len();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        out.push('"');
                    }
                    Some('"') => break,
                    Some(c) => out.push(c),
                    None => return Err(Reason::invalid("csv quoting", line)),
                }
            }
            spans.push((start, out.len()));
            match chars.next() {
                Some(',') => continue,
                None => return Ok(()),
                Some(_) => return Err(Reason::invalid("csv quoting", line)),
            }
        }
        loop {
            match chars.next() {
                Some(',') => break,
                None => {
                    spans.push((start, out.len()));
                    return Ok(());
                }
                Some(c) => out.push(c),
            }
        }
        spans.push((start, out.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Result<Vec<String>, Reason> {
        let (mut out, mut spans) = (String::new(), Vec::new());
        unquote(line, &mut out, &mut spans)?;
        Ok(spans.iter().map(|&(a, b)| out[a..b].to_string()).collect())
    }

    #[test]
    fn quoting() {
        assert_eq!(
            fields(r#"a,"b,c","d""e",,"""#).unwrap(),
            ["a", "b,c", "d\"e", "", ""]
        );
        assert_eq!(fields(r#""x""#).unwrap(), ["x"]);
        assert_eq!(
            fields(r#"a,"b"#).unwrap_err(),
            Reason::invalid("csv quoting", r#"a,"b"#)
        );
        assert!(fields(r#""a"b"#).is_err());
        let mut spans = Vec::new();
        split("a,,b", &mut spans);
        assert_eq!(spans, vec![(0, 1), (2, 2), (3, 4)]);
    }
}
