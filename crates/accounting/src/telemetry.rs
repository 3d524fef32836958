//! The server's metrics, by name. Labels are fixed sets: never a device, IMSI or NAS.

use std::time::Duration;

/// Requests by result.
pub const REQUESTS_TOTAL: &str = "rampart_radius_requests_total";
/// Live sessions.
pub const SESSIONS_ACTIVE: &str = "rampart_radius_sessions_active";
/// New sessions refused because the table was full.
pub const SESSIONS_REFUSED_TOTAL: &str = "rampart_radius_sessions_refused_total";
/// Store transactions (group commits).
pub const COMMITS_TOTAL: &str = "rampart_radius_commits_total";
/// Requests per store transaction.
pub const COMMIT_BATCH: &str = "rampart_radius_commit_batch_size";
/// Seconds per store transaction.
pub const COMMIT_SECONDS: &str = "rampart_radius_commit_seconds";

/// What happened to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored and acknowledged.
    Accepted,
    /// A retransmission, answered from the cache (or in flight).
    Duplicate,
    /// From an address that is not a configured client.
    UnknownClient,
    /// Not a RADIUS packet: garbage, truncated, oversized.
    Malformed,
    /// A valid packet that is not an Accounting-Request.
    UnexpectedCode,
    /// Wrong Request Authenticator or Message-Authenticator, or a required one missing.
    BadAuthenticator,
    /// Authenticated but unusable (no Acct-Status-Type or Acct-Session-Id).
    Invalid,
    /// The write queue was full.
    Overloaded,
    /// The store refused the transaction; not acknowledged.
    StoreError,
}

impl Outcome {
    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::UnknownClient => "unknown_client",
            Self::Malformed => "malformed",
            Self::UnexpectedCode => "unexpected_code",
            Self::BadAuthenticator => "bad_authenticator",
            Self::Invalid => "invalid",
            Self::Overloaded => "overloaded",
            Self::StoreError => "store_error",
        }
    }
}

pub(crate) fn request(outcome: Outcome) {
    metrics::counter!(REQUESTS_TOTAL, "result" => outcome.as_str()).increment(1);
}

pub(crate) fn sessions_active(n: usize) {
    metrics::gauge!(SESSIONS_ACTIVE).set(n as f64);
}

pub(crate) fn sessions_refused(n: usize) {
    metrics::counter!(SESSIONS_REFUSED_TOTAL).increment(n as u64);
}

pub(crate) fn commit(batch: usize, took: Duration) {
    metrics::counter!(COMMITS_TOTAL).increment(1);
    metrics::histogram!(COMMIT_BATCH).record(batch as f64);
    metrics::histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}
