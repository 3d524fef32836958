//! A small RFC 4180 line parser and field quoting.
//!
//! One record per physical line: a quoted field cannot contain a line break. This is
//! deliberate: with multi-line fields a single stray quote would swallow every following row
//! into one giant field, whereas here it costs exactly one rejected line. The fleet's text
//! fields (names, firmware) may not contain control characters anyway.

use std::borrow::Cow;

/// Why a CSV line could not be split into fields. Fields are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A field opened with `"` but the line ended before the closing quote.
    #[error("field {field}: quoted value is not terminated (a field cannot span lines)")]
    UnterminatedQuote {
        /// Field number, from 1.
        field: usize,
    },
    /// A `"` inside a field that did not start with one.
    #[error(
        "field {field}: quote inside an unquoted value (quote the whole field and double inner quotes)"
    )]
    QuoteInUnquotedField {
        /// Field number, from 1.
        field: usize,
    },
    /// Something other than `,` or the line end after a closing quote.
    #[error("field {field}: unexpected text after the closing quote")]
    TextAfterClosingQuote {
        /// Field number, from 1.
        field: usize,
    },
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits one CSV line into fields, unescaping `""` inside quoted fields.
///
/// A trailing `\n`, `\r\n` or `\r` is ignored. Blanks around a quoted field are allowed (and
/// dropped), so hand-written `a, "b, c"` works; unquoted fields are returned as they are.
/// Fields borrow from `line` unless they contained an escaped quote.
pub fn parse_csv_line(line: &str) -> Result<Vec<Cow<'_, str>>, CsvError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let bytes = line.as_bytes();
    let len = bytes.len();
    let mut fields = Vec::with_capacity(16);
    let mut pos = 0;
    loop {
        let field = fields.len() + 1;
        let mut q = pos;
        while q < len && is_blank(bytes[q]) {
            q += 1;
        }
        if q < len && bytes[q] == b'"' {
            let start = q + 1;
            let mut seg = start;
            let mut owned: Option<String> = None;
            let end = loop {
                let Some(off) = bytes[seg..].iter().position(|&b| b == b'"') else {
                    return Err(CsvError::UnterminatedQuote { field });
                };
                let j = seg + off;
                if bytes.get(j + 1) == Some(&b'"') {
                    // `""` is one literal quote: keep the text up to and including the first.
                    owned
                        .get_or_insert_with(String::new)
                        .push_str(&line[seg..=j]);
                    seg = j + 2;
                } else {
                    break j;
                }
            };
            let value = match owned {
                Some(mut s) => {
                    s.push_str(&line[seg..end]);
                    Cow::Owned(s)
                }
                None => Cow::Borrowed(&line[start..end]),
            };
            fields.push(value);
            pos = end + 1;
            while pos < len && is_blank(bytes[pos]) {
                pos += 1;
            }
            if pos == len {
                return Ok(fields);
            }
            if bytes[pos] != b',' {
                return Err(CsvError::TextAfterClosingQuote { field });
            }
            pos += 1;
        } else {
            let mut end = pos;
            while end < len && bytes[end] != b',' {
                if bytes[end] == b'"' {
                    return Err(CsvError::QuoteInUnquotedField { field });
                }
                end += 1;
            }
            fields.push(Cow::Borrowed(&line[pos..end]));
            if end == len {
                return Ok(fields);
            }
            pos = end + 1;
        }
    }
}

/// Appends `value` to `out` as one CSV field, quoted when it has to be: it contains `,`, `"`
/// or a line break, has blanks at either end, or starts with `#` (which would make a line
/// look like a comment).
pub(crate) fn push_field(out: &mut String, value: &str) {
    let needs_quotes = value.starts_with('#')
        || value.starts_with(is_blank_char)
        || value.ends_with(is_blank_char)
        || value
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if needs_quotes {
        out.push('"');
        for (i, part) in value.split('"').enumerate() {
            if i > 0 {
                out.push_str("\"\"");
            }
            out.push_str(part);
        }
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn is_blank_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Vec<String> {
        parse_csv_line(line)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn plain_fields() {
        assert_eq!(parse("a,b,c"), ["a", "b", "c"]);
        assert_eq!(parse("a"), ["a"]);
        assert_eq!(parse(" a , b "), [" a ", " b "]);
    }

    #[test]
    fn empty_fields_and_trailing_comma() {
        assert_eq!(parse(""), [""]);
        assert_eq!(parse(","), ["", ""]);
        assert_eq!(parse("a,,c"), ["a", "", "c"]);
        assert_eq!(parse("a,b,"), ["a", "b", ""]);
        assert_eq!(parse("\"\",x"), ["", "x"]);
        assert_eq!(parse("x,\"\""), ["x", ""]);
    }

    #[test]
    fn quoted_fields() {
        assert_eq!(parse("\"a,b\",c"), ["a,b", "c"]);
        assert_eq!(parse("\"say \"\"hi\"\"\",x"), ["say \"hi\"", "x"]);
        assert_eq!(parse("\"\"\"\""), ["\""]);
        assert_eq!(parse("\"a\"\"\""), ["a\""]);
        assert_eq!(parse("a, \"b, c\" ,d"), ["a", "b, c", "d"]);
        assert_eq!(parse("\"ünï,cödé\""), ["ünï,cödé"]);
        assert!(matches!(
            parse_csv_line("\"plain\"").unwrap()[0],
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn line_endings() {
        assert_eq!(parse("a,b\r\n"), ["a", "b"]);
        assert_eq!(parse("a,b\n"), ["a", "b"]);
        assert_eq!(parse("a,\"b\"\r\n"), ["a", "b"]);
        assert_eq!(parse("a,\r"), ["a", ""]);
    }

    #[test]
    fn broken_quoting() {
        assert_eq!(
            parse_csv_line("a,\"bc"),
            Err(CsvError::UnterminatedQuote { field: 2 })
        );
        assert_eq!(
            parse_csv_line("a,\"b\"\"\"\"c"),
            Err(CsvError::UnterminatedQuote { field: 2 })
        );
        assert_eq!(
            parse_csv_line("a,b\"c"),
            Err(CsvError::QuoteInUnquotedField { field: 2 })
        );
        assert_eq!(
            parse_csv_line("ab\""),
            Err(CsvError::QuoteInUnquotedField { field: 1 })
        );
        assert_eq!(
            parse_csv_line("a,\"b\"c,d"),
            Err(CsvError::TextAfterClosingQuote { field: 2 })
        );
        assert_eq!(
            parse_csv_line("\"a\" \"b\""),
            Err(CsvError::TextAfterClosingQuote { field: 1 })
        );
        let msg = CsvError::UnterminatedQuote { field: 3 }.to_string();
        assert!(
            msg.starts_with("field 3: quoted value is not terminated"),
            "{msg}"
        );
    }

    #[test]
    fn quoting_round_trips() {
        for value in [
            "",
            "plain",
            "a,b",
            "say \"hi\"",
            "\"",
            " lead",
            "trail ",
            "#x",
            "a;b",
            "ü",
        ] {
            let mut line = String::new();
            push_field(&mut line, value);
            line.push(',');
            push_field(&mut line, "z");
            assert_eq!(parse(&line), [value, "z"], "{line}");
        }
        let mut s = String::new();
        push_field(&mut s, "plain");
        assert_eq!(s, "plain");
    }
}
