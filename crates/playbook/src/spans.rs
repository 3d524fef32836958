//! Ties field paths to positions in TOML text, in both directions: a serde error's byte span
//! to the path it is about, and a path found wrong by validation back to a line and column.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::error::{ErrorKind, Issue, PlaybookError};

struct Entry {
    path: String,
    key: Option<Range<usize>>,
    value: Range<usize>,
}

/// Every key and array element of one document with its path and spans.
pub(crate) struct SpanIndex<'a> {
    text: &'a str,
    entries: Vec<Entry>,
}

impl<'a> SpanIndex<'a> {
    /// Parses `text`; a syntax error comes back as an error at its position.
    pub(crate) fn parse(file: &str, text: &'a str) -> Result<Self, PlaybookError> {
        let doc = DeTable::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (line, column) = line_col(text, span.start);
            PlaybookError {
                file: file.to_owned(),
                line: Some(line),
                column: Some(column),
                path: String::new(),
                kind: ErrorKind::Syntax,
                message: e.message().trim().to_owned(),
            }
        })?;
        let mut entries = Vec::new();
        walk_table(doc.get_ref(), "", &mut entries);
        Ok(Self { text, entries })
    }

    /// The error for a failed typed deserialisation of the same text.
    pub(crate) fn serde_error(&self, file: &str, e: &toml::de::Error) -> PlaybookError {
        let message = e.message().trim().to_owned();
        let span = e.span().unwrap_or(0..0);
        let kind = classify(&message);
        let mut path = self.path_at(&span).unwrap_or_default();
        let mut offset = self.offset_of(&path).unwrap_or(span.start);
        if kind == ErrorKind::MissingField
            && let Some(field) = backticked(&message)
        {
            // The span is the table the field is missing from; name the field.
            offset = if path.is_empty() { 0 } else { offset };
            path = join(&path, field);
        }
        self.error(file, offset, path, kind, message)
    }

    /// The error for an issue found by validation, placed at its field (or the nearest
    /// enclosing one that exists in the text).
    pub(crate) fn issue_error(&self, file: &str, issue: Issue) -> PlaybookError {
        let mut probe = issue.path.as_str();
        let offset = loop {
            if let Some(o) = self.offset_of(probe) {
                break o;
            }
            match parent(probe) {
                Some(p) => probe = p,
                None => break 0,
            }
        };
        self.error(file, offset, issue.path, issue.kind, issue.message)
    }

    fn error(
        &self,
        file: &str,
        offset: usize,
        path: String,
        kind: ErrorKind,
        message: String,
    ) -> PlaybookError {
        let (line, column) = line_col(self.text, offset);
        PlaybookError {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column),
            path,
            kind,
            message,
        }
    }

    /// Where a field starts: its key, or for an array element the element itself.
    fn offset_of(&self, path: &str) -> Option<usize> {
        if path.is_empty() {
            return None;
        }
        self.entries
            .iter()
            .find(|e| e.path == path)
            // A `[table]` header starts before its key; `key = value` starts at the key.
            .map(|e| {
                e.key
                    .as_ref()
                    .map_or(e.value.start, |k| k.start.min(e.value.start))
            })
    }

    /// The innermost field a span points into.
    fn path_at(&self, span: &Range<usize>) -> Option<String> {
        if let Some(e) = self.entries.iter().find(|e| e.key.as_ref() == Some(span)) {
            return Some(e.path.clone());
        }
        self.entries
            .iter()
            .filter(|e| e.value.start <= span.start && span.end <= e.value.end)
            .filter(|e| !(span.is_empty() && e.value.is_empty()))
            // Smallest span wins; on a tie the later (deeper) entry.
            .min_by(|a, b| {
                a.value
                    .len()
                    .cmp(&b.value.len())
                    .then(b.path.len().cmp(&a.path.len()))
            })
            .map(|e| e.path.clone())
    }
}

fn walk_table(table: &DeTable<'_>, prefix: &str, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = join(prefix, key.get_ref());
        out.push(Entry {
            path: path.clone(),
            key: Some(key.span()),
            value: value.span(),
        });
        walk_value(value.get_ref(), &path, out);
    }
}

fn walk_value(value: &DeValue<'_>, path: &str, out: &mut Vec<Entry>) {
    match value {
        DeValue::Table(t) => walk_table(t, path, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.push(Entry {
                    path: p.clone(),
                    key: None,
                    value: item.span(),
                });
                walk_value(item.get_ref(), &p, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// `steps[2].wait` → `steps[2]` → `steps` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

fn classify(message: &str) -> ErrorKind {
    if message.starts_with("unknown field") {
        ErrorKind::UnknownField
    } else if message.starts_with("missing field") {
        ErrorKind::MissingField
    } else {
        ErrorKind::Invalid
    }
}

/// The first `` `name` `` in a serde message.
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // After the two-byte é: column counts characters.
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn parents() {
        assert_eq!(parent("steps[2].wait"), Some("steps[2]"));
        assert_eq!(parent("steps[2]"), Some("steps"));
        assert_eq!(parent("steps"), None);
    }
}
