//! RFC 5424 syslog messages.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

/// Header fields of the messages a sender emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogFormatter {
    /// Facility 0..=23 (default 10, security/authorization).
    pub facility: u8,
    /// HOSTNAME (printable ASCII, at most 255).
    pub hostname: String,
    /// APP-NAME (at most 48).
    pub app_name: String,
    /// PROCID (at most 128).
    pub procid: String,
}

impl Default for SyslogFormatter {
    fn default() -> Self {
        Self {
            facility: 10,
            hostname: "-".into(),
            app_name: "rampart".into(),
            procid: std::process::id().to_string(),
        }
    }
}

/// The syslog severity (0 emergency ..= 7 debug) for a CEF severity (0..=10).
pub fn severity_from_cef(cef: u8) -> u8 {
    match cef {
        9.. => 2,
        7..=8 => 3,
        4..=6 => 4,
        1..=3 => 5,
        0 => 6,
    }
}

impl SyslogFormatter {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`, timestamp in UTC with
    /// microseconds. Header fields outside printable ASCII become `_`, empty ones `-`, and
    /// each is cut to its RFC 5424 length.
    pub fn format(&self, at: OffsetDateTime, severity: u8, msgid: &str, msg: &str) -> String {
        let pri = u16::from(self.facility.min(23)) * 8 + u16::from(severity.min(7));
        let ts = at
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            ))
            .unwrap_or_else(|_| "-".into());
        format!(
            "<{pri}>1 {ts} {} {} {} {} - {msg}",
            field(&self.hostname, 255),
            field(&self.app_name, 48),
            field(&self.procid, 128),
            field(msgid, 32),
        )
    }
}

fn field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// A parsed RFC 5424 message (enough to check what a sender produced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Facility.
    pub facility: u8,
    /// Severity.
    pub severity: u8,
    /// TIMESTAMP as written.
    pub timestamp: String,
    /// HOSTNAME.
    pub hostname: String,
    /// APP-NAME.
    pub app_name: String,
    /// PROCID.
    pub procid: String,
    /// MSGID.
    pub msgid: String,
    /// STRUCTURED-DATA as written.
    pub structured_data: String,
    /// MSG.
    pub msg: String,
}

/// Parses a message without structured data elements (what [`SyslogFormatter`] writes).
pub fn parse(line: &str) -> Option<Parsed> {
    let rest = line.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    let pri: u16 = pri.parse().ok()?;
    let rest = rest.strip_prefix("1 ")?;
    let mut parts = rest.splitn(7, ' ');
    let mut next = || parts.next().map(str::to_owned);
    let (timestamp, hostname, app_name, procid, msgid, structured_data) =
        (next()?, next()?, next()?, next()?, next()?, next()?);
    let msg = next().unwrap_or_default();
    Some(Parsed {
        facility: u8::try_from(pri / 8).ok()?,
        severity: u8::try_from(pri % 8).ok()?,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn formats_rfc5424() {
        let f = SyslogFormatter {
            facility: 10,
            hostname: "host one".into(),
            app_name: "rampart".into(),
            procid: String::new(),
        };
        let line = f.format(
            datetime!(2025-01-02 03:04:05.123456789 +01:00),
            3,
            "contain",
            "CEF:0|x",
        );
        assert_eq!(
            line,
            "<83>1 2025-01-02T02:04:05.123456Z host_one rampart - contain - CEF:0|x"
        );
        let p = parse(&line).unwrap();
        assert_eq!((p.facility, p.severity), (10, 3));
        assert_eq!(p.msg, "CEF:0|x");
        assert_eq!(severity_from_cef(10), 2);
        assert_eq!(severity_from_cef(0), 6);
    }
}
