//! JSON lines export: one serialised record per line, for file shippers and `jq`.

use std::io::Write;

use serde::Serialize;

/// Writes records as JSON lines.
#[derive(Debug)]
pub struct JsonLines<W: Write> {
    out: W,
}

impl<W: Write> JsonLines<W> {
    /// Wraps a writer (a file, a pipe, a buffer).
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes one record and its newline. serde_json escapes control characters, so a
    /// record can never span two lines.
    pub fn write<T: Serialize>(&mut self, record: &T) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }

    /// Flushes the writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_record() {
        let mut w = JsonLines::new(Vec::new());
        w.write(&serde_json::json!({"a": "x\ny"})).unwrap();
        w.write(&[1, 2]).unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines, [r#"{"a":"x\ny"}"#, "[1,2]"]);
    }
}
