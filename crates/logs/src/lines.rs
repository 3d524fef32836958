//! Line splitting with a size cap: a line longer than the cap is skipped as it streams past,
//! never buffered, so a file without newlines cannot exhaust memory.

use std::io::{BufRead, ErrorKind};

/// One step of the line source.
pub(crate) enum Step {
    /// A line is in [`Lines::line`] (without its `\n` or `\r\n`).
    Line,
    /// The line exceeded the cap; its bytes were dropped.
    TooLong,
    /// The reader failed; nothing more will be read.
    Failed(std::io::Error),
}

/// Reads lines into one reused buffer.
pub(crate) struct Lines<R> {
    inner: R,
    /// The current line's bytes.
    pub(crate) line: Vec<u8>,
    /// Number of the current line, from 1.
    pub(crate) number: u64,
    cap: usize,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            line: Vec::new(),
            number: 0,
            cap,
            done: false,
        }
    }

    /// Reads the next line, or `None` at the end of input (or after a read failure).
    pub(crate) fn advance(&mut self) -> Option<Step> {
        if self.done {
            return None;
        }
        self.line.clear();
        let mut seen_any = false;
        let mut too_long = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.done = true;
                    self.number += 1;
                    return Some(Step::Failed(error));
                }
            };
            if available.is_empty() {
                if !seen_any {
                    self.done = true;
                    return None;
                }
                break;
            }
            seen_any = true;
            let (chunk, used, ended) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (available.get(..at).unwrap_or_default(), at + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.line.len() + chunk.len() > self.cap {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if ended {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Some(Step::TooLong);
        }
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        Some(Step::Line)
    }

    /// The size cap in force.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], cap: usize) -> Vec<Option<Vec<u8>>> {
        // A tiny BufReader capacity makes lines straddle buffer refills.
        let mut lines = Lines::new(std::io::BufReader::with_capacity(3, input), cap);
        let mut out = Vec::new();
        while let Some(step) = lines.advance() {
            out.push(match step {
                Step::Line => Some(lines.line.clone()),
                Step::TooLong => None,
                Step::Failed(e) => panic!("{e}"),
            });
        }
        out
    }

    #[test]
    fn splits_caps_and_strips_cr() {
        let got = collect(b"ab\r\ncdefgh\n\nxyz", 4);
        assert_eq!(
            got,
            vec![
                Some(b"ab".to_vec()),
                None,
                Some(vec![]),
                Some(b"xyz".to_vec())
            ]
        );
        assert!(collect(b"", 4).is_empty());
        assert_eq!(collect(b"\n", 4), vec![Some(vec![])]);
    }
}
