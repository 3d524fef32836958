//! Errors that name the file, line, column and field path, so an operator can fix a playbook
//! without guessing.

use std::fmt;

/// What kind of mistake an error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file or directory could not be read.
    Io,
    /// Not valid TOML (or JSON).
    Syntax,
    /// A field the format does not know.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong type or outside its allowed range or alphabet.
    Invalid,
    /// A name used twice (playbook names across a set).
    Duplicate,
    /// A webhook endpoint, group or finding kind the [`Validator`](crate::Validator) does not
    /// know.
    UnknownReference,
}

/// One problem in one file.
///
/// Displays as `file:line:column: path: message`, e.g.
/// `playbooks/sim.toml:12:1: steps[2].wait: invalid duration "3x"`; line and column are
/// 1-based (columns count characters) and left out when unknown, as is an empty path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlaybookError {
    /// The file name or path (or the name an upload was given).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column in characters, when known.
    pub column: Option<usize>,
    /// Field path such as `steps[2].wait` or `match.kinds[0]`; empty for the whole file.
    pub path: String,
    /// The kind of mistake.
    pub kind: ErrorKind,
    /// What is wrong, lowercase.
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found; never empty. Displays one error per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlaybookErrors(pub Vec<PlaybookError>);

impl PlaybookErrors {
    /// The errors, in file then position order.
    pub fn errors(&self) -> &[PlaybookError] {
        &self.0
    }

    pub(crate) fn sorted(mut errors: Vec<PlaybookError>) -> Self {
        errors.sort_by(|a, b| {
            (&a.file, a.line, a.column, &a.path).cmp(&(&b.file, b.line, b.column, &b.path))
        });
        errors.dedup();
        Self(errors)
    }
}

impl fmt::Display for PlaybookErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl IntoIterator for PlaybookErrors {
    type Item = PlaybookError;
    type IntoIter = std::vec::IntoIter<PlaybookError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A problem found while checking a value, before it is tied to a file position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) path: String,
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl Issue {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind: ErrorKind::Invalid,
            message: message.into(),
        }
    }

    pub(crate) fn new(
        kind: ErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }
}

/// Joins issues for formats without positions (serde errors of JSON bodies).
pub(crate) fn issues_text(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| {
            if i.path.is_empty() {
                i.message.clone()
            } else {
                format!("{}: {}", i.path, i.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
