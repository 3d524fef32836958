//! Why a capture could not be read (whole or in part).

/// A capture that could not be opened, or that stopped early. Errors met after the start are
/// not returned but kept in [`crate::CaptureSummary::error`]: what was read before them is
/// still reported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The input holds no bytes at all.
    #[error("capture is empty")]
    Empty,
    /// Neither a pcap nor a pcapng header.
    #[error("not a pcap or pcapng capture")]
    NotACapture,
    /// The input ends inside a block (a file cut while being written or copied).
    #[error("capture truncated at byte {offset}")]
    Truncated {
        /// Bytes consumed before the incomplete block.
        offset: u64,
    },
    /// A block does not parse (bad length, bad magic).
    #[error("capture corrupt at byte {offset}")]
    Corrupt {
        /// Bytes consumed before the bad block.
        offset: u64,
    },
    /// A block claims a size beyond any real packet.
    #[error("capture block too large at byte {offset}")]
    BlockTooLarge {
        /// Bytes consumed before the block.
        offset: u64,
    },
    /// The underlying reader failed.
    #[error("read error at byte {offset}")]
    Read {
        /// Bytes consumed before the failure.
        offset: u64,
    },
}
