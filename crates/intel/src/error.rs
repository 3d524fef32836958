//! Error types. A bad entry is an [`EntryError`] counted against its line; only I/O on a
//! whole feed is a [`FeedError`], and even that only keeps the previous data for that feed.

use std::path::PathBuf;

/// Why one line of a feed is not an indicator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Nothing left after removing the comment.
    #[error("empty entry")]
    Empty,
    /// Longer than [`crate::MAX_ENTRY_LEN`] bytes.
    #[error("entry is {0} bytes long")]
    TooLong(usize),
    /// The line is not UTF-8.
    #[error("entry is not utf-8")]
    NotUtf8,
    /// Whitespace or a control character inside the entry.
    #[error("unexpected character {0:?}")]
    BadChar(char),
    /// `scheme://` with a scheme that is not one.
    #[error("malformed url scheme")]
    BadScheme,
    /// A URL with nothing before the path.
    #[error("url without a host")]
    NoHost,
    /// A host that is neither an address nor a valid name (`[` without `]`, say).
    #[error("malformed host")]
    BadHost,
    /// A host name with an empty, over-long or non-LDH label, or a single label.
    #[error("malformed domain name")]
    BadDomain,
    /// A port that is not a number from 0 to 65535.
    #[error("malformed port")]
    BadPort,
    /// `addr/len` with a length past the address width.
    #[error("malformed prefix length")]
    BadPrefixLen,
}

/// A bad line: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in its file.
    pub line: usize,
    /// What is wrong.
    pub error: EntryError,
}

/// A feed (or one of its files) could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// Opening, listing or reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is larger than the configured limit; loading it whole could exhaust memory.
    #[error("{path} is over the {limit}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes read before giving up (the limit plus one).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A directory feed with no file of the expected extension.
    #[error("{path} holds no feed files")]
    Empty {
        /// The directory.
        path: PathBuf,
    },
}
