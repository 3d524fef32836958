//! Metric names. Labels are bounded: `feed` takes configured names only, `result` and `kind`
//! fixed strings.

/// Reloads by `result`: `ok` (every feed read), `partial` (some feeds kept their previous
/// content), `failed` (no feed could be read; the set was not swapped).
pub const RELOADS_TOTAL: &str = "rampart_intel_reloads_total";
/// Failed reads of a feed, by `feed`.
pub const FEED_ERRORS_TOTAL: &str = "rampart_intel_feed_errors_total";
/// Lines that are not indicators, by `feed`, counted on each successful read.
pub const BAD_LINES_TOTAL: &str = "rampart_intel_bad_lines_total";
/// Indicators in the current set, by `kind`.
pub const ENTRIES: &str = "rampart_intel_entries";
/// Seconds to read, parse and build a new set.
pub const RELOAD_SECONDS: &str = "rampart_intel_reload_seconds";

/// The outcome of a reload, as its metric label.
pub(crate) fn reload(result: &'static str, seconds: f64) {
    metrics::counter!(RELOADS_TOTAL, "result" => result).increment(1);
    metrics::histogram!(RELOAD_SECONDS).record(seconds);
}

pub(crate) fn feed_error(feed: &str) {
    metrics::counter!(FEED_ERRORS_TOTAL, "feed" => feed.to_owned()).increment(1);
}

pub(crate) fn bad_lines(feed: &str, n: usize) {
    metrics::counter!(BAD_LINES_TOTAL, "feed" => feed.to_owned()).increment(n as u64);
}

pub(crate) fn entries(set: &crate::IntelSet) {
    for kind in crate::Kind::ALL {
        let n = set.stats().by_kind.get(&kind).copied().unwrap_or(0);
        metrics::gauge!(ENTRIES, "kind" => kind.as_str()).set(n as f64);
    }
}
