//! What Zeek's TSV logs and the CSV rewrites of them (IoT-23) have in common: a header naming
//! the columns, then one record per line. Columns are found by name, so their order and any
//! extra columns do not matter.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use rampart_core::SignalSource;

use crate::build::{self, ConnParts, DnsParts};
use crate::error::Reason;
use crate::reader::{Ctx, Label, LogEvent, Parsed};
use crate::time::{Micros, float_seconds, parse_iso, parse_seconds};

/// The columns the readers use, by Zeek name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Ts,
    Uid,
    OrigH,
    OrigP,
    RespH,
    RespP,
    Proto,
    Service,
    Duration,
    OrigBytes,
    RespBytes,
    ConnState,
    History,
    OrigPkts,
    OrigIpBytes,
    RespPkts,
    RespIpBytes,
    Query,
    Qtype,
    Rcode,
    Answers,
    Ttls,
    ServerName,
    Host,
    Label,
    DetailedLabel,
}

const COLUMNS: usize = 26;

impl Col {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ts" => Self::Ts,
            "uid" => Self::Uid,
            "id.orig_h" => Self::OrigH,
            "id.orig_p" => Self::OrigP,
            "id.resp_h" => Self::RespH,
            "id.resp_p" => Self::RespP,
            "proto" => Self::Proto,
            "service" => Self::Service,
            "duration" => Self::Duration,
            "orig_bytes" => Self::OrigBytes,
            "resp_bytes" => Self::RespBytes,
            "conn_state" => Self::ConnState,
            "history" => Self::History,
            "orig_pkts" => Self::OrigPkts,
            "orig_ip_bytes" => Self::OrigIpBytes,
            "resp_pkts" => Self::RespPkts,
            "resp_ip_bytes" => Self::RespIpBytes,
            "query" => Self::Query,
            "qtype" => Self::Qtype,
            "rcode" => Self::Rcode,
            "answers" => Self::Answers,
            "TTLs" => Self::Ttls,
            "server_name" => Self::ServerName,
            "host" => Self::Host,
            "label" => Self::Label,
            "detailed-label" | "detailed_label" => Self::DetailedLabel,
            _ => return None,
        })
    }

    /// The name errors quote.
    fn name(self) -> &'static str {
        match self {
            Self::Ts => "ts",
            Self::Uid => "uid",
            Self::OrigH => "id.orig_h",
            Self::OrigP => "id.orig_p",
            Self::RespH => "id.resp_h",
            Self::RespP => "id.resp_p",
            Self::Proto => "proto",
            Self::Service => "service",
            Self::Duration => "duration",
            Self::OrigBytes => "orig_bytes",
            Self::RespBytes => "resp_bytes",
            Self::ConnState => "conn_state",
            Self::History => "history",
            Self::OrigPkts => "orig_pkts",
            Self::OrigIpBytes => "orig_ip_bytes",
            Self::RespPkts => "resp_pkts",
            Self::RespIpBytes => "resp_ip_bytes",
            Self::Query => "query",
            Self::Qtype => "qtype",
            Self::Rcode => "rcode",
            Self::Answers => "answers",
            Self::Ttls => "TTLs",
            Self::ServerName => "server_name",
            Self::Host => "host",
            Self::Label => "label",
            Self::DetailedLabel => "detailed-label",
        }
    }
}

/// Which Zeek log a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Conn,
    Dns,
    Http,
    Ssl,
    /// A log nothing is read from (files.log, weird.log, ...): its lines are skipped.
    Other,
}

impl Kind {
    /// From Zeek's `#path` (or JSON `_path`).
    pub(crate) fn from_path(path: &str) -> Self {
        match path {
            "conn" => Self::Conn,
            "dns" => Self::Dns,
            "http" => Self::Http,
            "ssl" => Self::Ssl,
            _ => Self::Other,
        }
    }
}

/// A header: where each known column is, and the conventions for absent values.
pub(crate) struct Table {
    at: [Option<u16>; COLUMNS],
    /// Columns the header names.
    pub(crate) width: usize,
    kind: Kind,
    path: Option<Kind>,
    unset: Box<str>,
    empty: Box<str>,
    pub(crate) set_separator: Box<str>,
}

impl Table {
    /// Indexes the column names; the kind comes from `path` when given, else from the columns.
    pub(crate) fn new<'n>(
        names: impl Iterator<Item = &'n str>,
        path: Option<Kind>,
        unset: &str,
        empty: &str,
        set_separator: &str,
    ) -> Self {
        let mut at = [None; COLUMNS];
        let mut width = 0;
        for (index, name) in names.enumerate() {
            if let (Some(col), Ok(index)) = (Col::from_name(name.trim()), u16::try_from(index)) {
                // The first column of a name wins; a later duplicate is ignored.
                let slot = &mut at[col as usize];
                if slot.is_none() {
                    *slot = Some(index);
                }
            }
            width = index + 1;
        }
        let mut table = Self {
            at,
            width,
            kind: Kind::Other,
            path,
            unset: Box::from(unset),
            empty: Box::from(empty),
            set_separator: Box::from(set_separator),
        };
        table.kind = table.infer_kind();
        table
    }

    /// Sets the log kind from a `#path` line that came after `#fields`.
    pub(crate) fn set_path(&mut self, path: Kind) {
        self.path = Some(path);
        self.kind = self.infer_kind();
    }

    fn infer_kind(&self) -> Kind {
        if let Some(kind) = self.path {
            return kind;
        }
        let has = |col: Col| self.at[col as usize].is_some();
        if has(Col::Query) {
            Kind::Dns
        } else if has(Col::ConnState) || has(Col::History) || has(Col::OrigPkts) {
            Kind::Conn
        } else if has(Col::ServerName) {
            Kind::Ssl
        } else if has(Col::Host) {
            Kind::Http
        } else if has(Col::Proto) && has(Col::OrigH) {
            // A CSV export cut down to the connection tuple is still a connection log.
            Kind::Conn
        } else {
            Kind::Other
        }
    }
}

/// One data line split into fields, read through its table.
pub(crate) struct Row<'l, 't> {
    pub(crate) table: &'t Table,
    pub(crate) line: &'l str,
    pub(crate) spans: &'t [(usize, usize)],
}

impl<'l> Row<'l, '_> {
    /// The raw text of a column, or `None` when the column is absent, unset (`-`) or empty.
    fn get(&self, col: Col) -> Option<&'l str> {
        let index = usize::from(self.table.at[col as usize]?);
        let &(from, to) = self.spans.get(index)?;
        let text = self.line.get(from..to)?;
        if text.is_empty() || text == &*self.table.unset || text == &*self.table.empty {
            None
        } else {
            Some(text)
        }
    }

    fn require(&self, col: Col) -> Result<&'l str, Reason> {
        self.get(col).ok_or(Reason::Missing(col.name()))
    }

    /// A text column, with Zeek's `\xHH` escapes undone.
    fn text(&self, col: Col) -> Option<Cow<'l, str>> {
        self.get(col).map(unescape)
    }

    fn number<T: std::str::FromStr>(&self, col: Col) -> Result<Option<T>, Reason> {
        self.get(col)
            .map(|text| text.parse().map_err(|_| Reason::invalid(col.name(), text)))
            .transpose()
    }

    fn addr(&self, col: Col) -> Result<IpAddr, Reason> {
        let text = self.require(col)?;
        text.parse().map_err(|_| Reason::invalid(col.name(), text))
    }

    fn port(&self, col: Col) -> Result<u16, Reason> {
        Ok(self.number(col)?.unwrap_or(0))
    }

    fn seconds(&self, col: Col) -> Result<Option<Micros>, Reason> {
        self.get(col)
            .map(|text| parse_seconds(text).ok_or_else(|| Reason::invalid(col.name(), text)))
            .transpose()
    }

    /// Zeek writes epoch seconds; CSV exports made by other tools sometimes write ISO 8601.
    fn ts(&self) -> Result<Micros, Reason> {
        let text = self.require(Col::Ts)?;
        parse_seconds(text)
            .or_else(|| parse_iso(text))
            .ok_or_else(|| Reason::invalid("ts", text))
    }

    /// The label columns (IoT-23: `label`, `detailed-label`).
    fn label(&self) -> Result<Label, Reason> {
        let text = self.require(Col::Label)?;
        let malicious = if text.eq_ignore_ascii_case("malicious") {
            true
        } else if text.eq_ignore_ascii_case("benign") {
            false
        } else {
            return Err(Reason::invalid("label", text));
        };
        let detail = self.text(Col::DetailedLabel).map(Cow::into_owned);
        Ok(Label { malicious, detail })
    }

    /// Builds the record this row holds, by the table's kind, with its label when the reader
    /// asks for labels.
    pub(crate) fn parse_with_label(&self, ctx: &Ctx) -> Result<Parsed, Reason> {
        match self.table.kind {
            Kind::Conn if ctx.labels => {
                let flow = self.conn(&ctx.exporter)?;
                Ok(Parsed::Labelled(flow, self.label()?))
            }
            Kind::Conn => self
                .conn(&ctx.exporter)
                .map(|f| Parsed::Event(LogEvent::Flow(f))),
            Kind::Dns => self.dns(),
            Kind::Ssl => self.name(Col::ServerName, "tls"),
            Kind::Http => self.name(Col::Host, "http"),
            Kind::Other => Ok(Parsed::Skipped),
        }
    }

    fn conn(&self, exporter: &Arc<str>) -> Result<rampart_core::FlowRecord, Reason> {
        let orig_h = self.addr(Col::OrigH)?;
        let proto_text = self.require(Col::Proto)?;
        let parts = ConnParts {
            ts: self.ts()?,
            duration: self.seconds(Col::Duration)?,
            uid: self.text(Col::Uid),
            orig_h,
            orig_p: self.port(Col::OrigP)?,
            resp_h: self.addr(Col::RespH)?,
            resp_p: self.port(Col::RespP)?,
            protocol: build::zeek_proto(proto_text, orig_h)?,
            service: self.text(Col::Service),
            orig_bytes: self.number(Col::OrigBytes)?,
            resp_bytes: self.number(Col::RespBytes)?,
            orig_ip_bytes: self.number(Col::OrigIpBytes)?,
            resp_ip_bytes: self.number(Col::RespIpBytes)?,
            orig_pkts: self.number(Col::OrigPkts)?,
            resp_pkts: self.number(Col::RespPkts)?,
            conn_state: self
                .get(Col::ConnState)
                .map(build::conn_state)
                .transpose()?,
            history: self.text(Col::History),
        };
        Ok(build::zeek_flow(parts, exporter))
    }

    fn dns(&self) -> Result<Parsed, Reason> {
        let Some(query) = self.text(Col::Query) else {
            // Zeek logs transactions whose query it could not parse with an unset name:
            // nothing to map, but not a broken line.
            return Ok(Parsed::Skipped);
        };
        let sep = &*self.table.set_separator;
        let answers = self
            .get(Col::Answers)
            .map(|all| {
                all.split(sep)
                    .filter_map(|a| unescape(a).parse::<IpAddr>().ok())
                    .collect()
            })
            .unwrap_or_default();
        let ttl = match self.get(Col::Ttls) {
            None => None,
            Some(all) => min_ttl(all.split(sep).map(|t| {
                parse_seconds(t)
                    .map(|us| us as f64 / 1e6)
                    .ok_or_else(|| Reason::invalid("TTLs", t))
            }))?,
        };
        let rcode: Option<u16> = self.number(Col::Rcode)?;
        let record = build::dns(DnsParts {
            source: SignalSource::Zeek,
            ts: self.ts()?,
            client: self.addr(Col::OrigH)?,
            server: self.addr(Col::RespH)?,
            query: &query,
            qtype: self.number(Col::Qtype)?,
            rcode: rcode
                .map(|r| u8::try_from(r).map_err(|_| Reason::invalid("rcode", &r.to_string())))
                .transpose()?,
            answers,
            ttl,
        });
        Ok(Parsed::Event(LogEvent::Dns(record)))
    }

    fn name(&self, col: Col, via: &str) -> Result<Parsed, Reason> {
        let Some(name) = self.text(col) else {
            return Ok(Parsed::Skipped);
        };
        let record = build::name(
            SignalSource::Zeek,
            self.ts()?,
            self.addr(Col::OrigH)?,
            self.addr(Col::RespH)?,
            self.port(Col::RespP)?,
            &name,
            via,
        );
        Ok(Parsed::Event(LogEvent::Name(record)))
    }
}

/// The smallest of a list of TTLs (seconds, possibly fractional), rounded to whole seconds.
pub(crate) fn min_ttl(
    ttls: impl Iterator<Item = Result<f64, Reason>>,
) -> Result<Option<u32>, Reason> {
    let mut min: Option<f64> = None;
    for ttl in ttls {
        let ttl = ttl?;
        min = Some(min.map_or(ttl, |m| m.min(ttl)));
    }
    Ok(min.and_then(|m| {
        let rounded = float_seconds(m)?.saturating_add(500_000) / 1_000_000;
        u32::try_from(rounded.max(0)).ok()
    }))
}

/// Undoes Zeek's escaping of text fields: `\xHH` for separators and non-printable bytes, and
/// `\\` for the backslash. Borrows when there is nothing to undo.
pub(crate) fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            if bytes.get(i + 1) == Some(&b'x') {
                let hex = bytes
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(value);
                    i += 4;
                    continue;
                }
            } else if bytes.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"a\x09b\x2cc"), "a\tb,c");
        assert_eq!(unescape(r"a\\b"), r"a\b");
        assert_eq!(unescape(r"bad\xZZ\x4"), r"bad\xZZ\x4");
        assert_eq!(unescape(r"\xff"), "\u{fffd}");
    }

    #[test]
    fn ttl_minimum() {
        let ttls = ["60.000000", "29.600000"].map(|t| Ok(parse_seconds(t).unwrap() as f64 / 1e6));
        assert_eq!(min_ttl(ttls.into_iter()), Ok(Some(30)));
        assert_eq!(min_ttl(std::iter::empty()), Ok(None));
    }
}
