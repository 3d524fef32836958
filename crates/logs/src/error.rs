//! Errors: one for a line that could not be read, one for a file that could not be opened.

use std::fmt;

/// Why one line was refused. The reader reports it with the line number and carries on with the
/// next line: one corrupt record must not hide the rest of a day's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The line exceeds the size cap; its bytes were skipped without being buffered.
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The cap in force.
        limit: usize,
    },
    /// A JSON line that does not parse, or whose values have the wrong types.
    #[error("invalid json: {0}")]
    Json(String),
    /// A field the record needs is absent or unset.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A field is present but its value does not parse.
    #[error("invalid {field} {value:?}")]
    Invalid {
        /// The field's name as the log spells it.
        field: &'static str,
        /// The offending value, truncated to 64 characters.
        value: String,
    },
    /// A tab- or comma-separated line whose column count differs from its header's.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// Columns named by the header.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// A Zeek data line before any `#fields` header, so its columns cannot be named.
    #[error("data line before any #fields header")]
    NoHeader,
    /// A line of a JSON log that is not an object of the detected kind.
    #[error("not a {0} record")]
    WrongKind(&'static str),
    /// The underlying reader failed; the file is not read further.
    #[error("read failed: {0}")]
    Io(String),
}

impl Reason {
    /// An invalid value, keeping at most 64 characters of it so an enormous field cannot bloat
    /// the error report.
    pub(crate) fn invalid(field: &'static str, value: &str) -> Self {
        Self::Invalid {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}

/// A refused line: its 1-based number in the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Line number, counting every line from 1 (headers and blank lines included), as an
    /// editor would show it.
    pub line: u64,
    /// What was wrong.
    pub reason: Reason,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for LineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

/// Why a log could not be opened at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Opening or reading the start of the file failed.
    #[error("cannot read {name}: {source}")]
    Io {
        /// The file name given.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The first lines match none of the supported formats.
    #[error("{name}: not a zeek, suricata eve or zeek csv log")]
    Unrecognised {
        /// The file name given.
        name: String,
    },
    /// A labelled-flow reader was given a format that carries no labels (JSON logs).
    #[error("{name}: {format} logs carry no flow labels")]
    Unlabelled {
        /// The file name given.
        name: String,
        /// The detected format.
        format: crate::LogFormat,
    },
}
