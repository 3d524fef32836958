//! Format detection from content, never from the file name: a rotated `conn.log.1.gz`
//! decompressed to a pipe, or EVE renamed `alerts.json`, must still be read correctly.
//!
//! The first non-blank line usually decides: `#` starts a Zeek TSV header; a JSON object with
//! `event_type` is Suricata EVE, one with `_path`, `uid`, `id.orig_h` or `id` is Zeek JSON; a
//! comma-separated line naming `ts` and `id.orig_h` is a Zeek CSV header. A line that decides
//! nothing (a truncated first record, a JSON object without those keys) is kept and the next
//! one is tried, up to a bound.

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::LogFormat;

/// How many lines detection may look at before giving up.
pub(crate) const MAX_LINES: usize = 16;
/// How many bytes those lines may hold in total.
pub(crate) const MAX_BYTES: usize = 4 << 20;

/// What one line says about the format.
pub(crate) fn classify(line: &[u8]) -> Option<LogFormat> {
    let trimmed = line.trim_ascii_start();
    match trimmed.first()? {
        b'#' => Some(LogFormat::ZeekTsv),
        b'{' => json_kind(trimmed),
        _ => csv_header(trimmed).then_some(LogFormat::ZeekCsv),
    }
}

#[derive(Deserialize)]
struct Probe {
    event_type: Option<IgnoredAny>,
    #[serde(rename = "_path")]
    path: Option<IgnoredAny>,
    uid: Option<IgnoredAny>,
    #[serde(rename = "id.orig_h")]
    orig_h: Option<IgnoredAny>,
    id: Option<IgnoredAny>,
}

fn json_kind(line: &[u8]) -> Option<LogFormat> {
    let probe: Probe = serde_json::from_slice(line).ok()?;
    if probe.event_type.is_some() {
        Some(LogFormat::SuricataEve)
    } else if probe.path.is_some()
        || probe.uid.is_some()
        || probe.orig_h.is_some()
        || probe.id.is_some()
    {
        Some(LogFormat::ZeekJson)
    } else {
        None
    }
}

fn csv_header(line: &[u8]) -> bool {
    let mut has_ts = false;
    let mut has_orig = false;
    for name in line.split(|&b| b == b',') {
        let name = name.trim_ascii();
        let name = name
            .strip_prefix(b"\"")
            .and_then(|n| n.strip_suffix(b"\""))
            .unwrap_or(name);
        has_ts |= name == b"ts";
        has_orig |= name == b"id.orig_h";
    }
    has_ts && has_orig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(b"#separator \\x09"), Some(LogFormat::ZeekTsv));
        assert_eq!(
            classify(br#"{"timestamp":"x","event_type":"flow"}"#),
            Some(LogFormat::SuricataEve)
        );
        assert_eq!(
            classify(br#"{"ts":1.0,"uid":"C1"}"#),
            Some(LogFormat::ZeekJson)
        );
        assert_eq!(classify(br#"{"ts":1.0}"#), None);
        assert_eq!(classify(br#"{"ts":1.0"#), None);
        assert_eq!(
            classify(b"ts,uid,id.orig_h,id.orig_p"),
            Some(LogFormat::ZeekCsv)
        );
        assert_eq!(classify(b"\"ts\",\"id.orig_h\""), Some(LogFormat::ZeekCsv));
        assert_eq!(classify(b"1.0,C1,1.2.3.4"), None);
        assert_eq!(classify(b"   "), None);
    }
}
