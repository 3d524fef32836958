//! Why a report was refused. Messages are lowercase, name the offending field and quote at
//! most a bounded excerpt of device-supplied text, so they are safe to log.

/// A report that breaks the schema, on decode or on encode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES).
    #[error("payload of {size} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Payload size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or JSON whose shape or types do not match the schema (unknown or duplicate
    /// keys, a string where a number belongs, a negative counter, a missing `header`).
    #[error("invalid report: {0}")]
    Json(String),
    /// `header.version` is not a 1.x version.
    #[error("unsupported report version {0:?}: expected \"1.0\"")]
    Version(String),
    /// A port outside 1..=65535.
    #[error("{field} {value} out of range 1-65535")]
    Port {
        /// Which list or field.
        field: &'static str,
        /// The value as sent.
        value: i64,
    },
    /// A list longer than its cap.
    #[error("{field} has {len} entries, more than the {max} allowed")]
    TooMany {
        /// Which list.
        field: &'static str,
        /// Entries sent.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// A `total` smaller than the entries listed beside it, or too large to hold.
    #[error("{field} total {total} does not fit its {len} listed entries")]
    Total {
        /// Which list.
        field: &'static str,
        /// The total as sent.
        total: u64,
        /// Entries listed.
        len: usize,
    },
    /// A `remote_addr` that is not `ip:port` with a non-zero port.
    #[error("invalid remote_addr {0:?}: expected ip:port")]
    RemoteAddr(String),
    /// An interface name longer than 64 bytes.
    #[error("interface name of {0} bytes is longer than 64")]
    Interface(usize),
    /// Latitude outside −90..=90 or longitude outside −180..=180.
    #[error("invalid position lat {lat} lon {lon}")]
    Position {
        /// Latitude as sent.
        lat: f64,
        /// Longitude as sent.
        lon: f64,
    },
    /// A negative, non-finite or absurd `accuracy_m`.
    #[error("invalid accuracy_m {0}")]
    Accuracy(f64),
    /// A `timestamp` that is not RFC 3339 or is outside years 1970-9999.
    #[error("invalid timestamp {0:?}: expected RFC 3339 or epoch milliseconds from 1970 to 9999")]
    Timestamp(String),
    /// `interval_s` outside 1..=4294967295.
    #[error("interval_s {0} out of range 1-4294967295")]
    Interval(i64),
}

impl ReportError {
    pub(crate) fn json(e: &serde_json::Error) -> Self {
        Self::Json(excerpt(&e.to_string()))
    }
}

/// At most 160 characters of text that may come from a device.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 160;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
