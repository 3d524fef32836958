//! The server's metrics, by name. Labels are fixed sets: never a device, IMSI or NAS.

use std::time::Duration;

/// Requests by result.
pub const REQUESTS_TOTAL: &str = "rampart_radius_requests_total";
/// Live sessions.
pub const SESSIONS_ACTIVE: &str = "rampart_radius_sessions_active";
/// New sessions refused because the table was full.
pub const SESSIONS_REFUSED_TOTAL: &str = "rampart_radius_sessions_refused_total";
/// Journal appends (group commits: one `fdatasync` each).
pub const COMMITS_TOTAL: &str = "rampart_radius_commits_total";
/// Requests per journal append.
pub const COMMIT_BATCH: &str = "rampart_radius_commit_batch_size";
/// Seconds per journal append.
pub const COMMIT_SECONDS: &str = "rampart_radius_commit_seconds";
/// Store transactions folding journal entries into the tables.
pub const FOLDS_TOTAL: &str = "rampart_radius_folds_total";
/// Journal entries per fold.
pub const FOLD_BATCH: &str = "rampart_radius_fold_batch_size";
/// Seconds per fold.
pub const FOLD_SECONDS: &str = "rampart_radius_fold_seconds";
/// Acknowledged journal bytes not folded into the store yet.
pub const JOURNAL_BACKLOG: &str = "rampart_radius_journal_backlog_bytes";
/// Journal bytes skipped because they were damaged.
pub const JOURNAL_DAMAGED_TOTAL: &str = "rampart_radius_journal_damaged_bytes_total";

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
    /// The journal could not be written; not acknowledged.
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
    requests(outcome, 1);
}

pub(crate) fn requests(outcome: Outcome, n: usize) {
    metrics::counter!(REQUESTS_TOTAL, "result" => outcome.as_str()).increment(n as u64);
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

pub(crate) fn fold(entries: usize, took: Duration, backlog: u64) {
    metrics::counter!(FOLDS_TOTAL).increment(1);
    metrics::histogram!(FOLD_BATCH).record(entries as f64);
    metrics::histogram!(FOLD_SECONDS).record(took.as_secs_f64());
    metrics::gauge!(JOURNAL_BACKLOG).set(backlog as f64);
}

pub(crate) fn journal_damaged(bytes: u64) {
    metrics::counter!(JOURNAL_DAMAGED_TOTAL).increment(bytes);
}
