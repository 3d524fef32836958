//! Zeek's JSON logs (`LogAscii::use_json=T`, or as shipped by Filebeat, Corelight and
//! Security Onion): one object per line with flat keys such as `id.orig_h`. The log's kind comes
//! from `_path` when a shipper added it, otherwise from the keys present. `ts` may be float
//! seconds, integer milliseconds (`JSON::TS_MILLIS`) or ISO 8601 text (`JSON::TS_ISO8601`).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use rampart_core::SignalSource;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::build::{self, ConnParts, DnsParts};
use crate::error::Reason;
use crate::reader::{Ctx, LogEvent, Parsed};
use crate::tabular::{Kind, min_ttl};
use crate::time::{Micros, float_seconds, parse_iso};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "_path", borrow)]
    path: Option<Cow<'a, str>>,
    ts: Option<Ts>,
    #[serde(borrow)]
    uid: Option<Cow<'a, str>>,
    #[serde(rename = "id.orig_h")]
    orig_h: Option<IpAddr>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u16>,
    #[serde(rename = "id.resp_h")]
    resp_h: Option<IpAddr>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u16>,
    /// The nested form some exporters use instead of dotted keys.
    id: Option<Endpoints>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    service: Option<Cow<'a, str>>,
    duration: Option<f64>,
    orig_bytes: Option<u64>,
    resp_bytes: Option<u64>,
    #[serde(borrow)]
    conn_state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    history: Option<Cow<'a, str>>,
    orig_pkts: Option<u64>,
    orig_ip_bytes: Option<u64>,
    resp_pkts: Option<u64>,
    resp_ip_bytes: Option<u64>,
    #[serde(borrow)]
    query: Option<Cow<'a, str>>,
    qtype: Option<u16>,
    rcode: Option<u8>,
    #[serde(borrow)]
    answers: Option<Vec<Cow<'a, str>>>,
    #[serde(rename = "TTLs")]
    ttls: Option<Vec<f64>>,
    #[serde(borrow)]
    server_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Endpoints {
    orig_h: Option<IpAddr>,
    orig_p: Option<u16>,
    resp_h: Option<IpAddr>,
    resp_p: Option<u16>,
}

/// Parses one line of a Zeek JSON log.
pub(crate) fn parse(line: &[u8], ctx: &Ctx) -> Result<Parsed, Reason> {
    let mut r: Record<'_> =
        serde_json::from_slice(line).map_err(|e| Reason::Json(e.to_string()))?;
    if let Some(id) = r.id.take() {
        r.orig_h = r.orig_h.or(id.orig_h);
        r.orig_p = r.orig_p.or(id.orig_p);
        r.resp_h = r.resp_h.or(id.resp_h);
        r.resp_p = r.resp_p.or(id.resp_p);
    }
    let kind = match &r.path {
        Some(path) => Kind::from_path(path),
        None if r.query.is_some() || r.qtype.is_some() => Kind::Dns,
        None if r.conn_state.is_some() || r.history.is_some() || r.orig_pkts.is_some() => {
            Kind::Conn
        }
        None if r.server_name.is_some() => Kind::Ssl,
        None if r.host.is_some() => Kind::Http,
        None => Kind::Other,
    };
    match kind {
        Kind::Conn => conn(r, ctx),
        Kind::Dns => dns(r),
        Kind::Ssl => {
            let name = r.server_name.take();
            named(r, name, "tls")
        }
        Kind::Http => {
            let name = r.host.take();
            named(r, name, "http")
        }
        Kind::Other => Ok(Parsed::Skipped),
    }
}

fn ts(r: &Record<'_>) -> Result<Micros, Reason> {
    match &r.ts {
        Some(Ts(Some(us))) => Ok(*us),
        Some(Ts(None)) => Err(Reason::invalid("ts", "unreadable timestamp")),
        None => Err(Reason::Missing("ts")),
    }
}

fn conn(r: Record<'_>, ctx: &Ctx) -> Result<Parsed, Reason> {
    let orig_h = r.orig_h.ok_or(Reason::Missing("id.orig_h"))?;
    let proto = r.proto.as_deref().ok_or(Reason::Missing("proto"))?;
    let duration = r
        .duration
        .map(|d| float_seconds(d).ok_or_else(|| Reason::invalid("duration", &d.to_string())))
        .transpose()?;
    let parts = ConnParts {
        ts: ts(&r)?,
        duration,
        orig_h,
        orig_p: r.orig_p.unwrap_or(0),
        resp_h: r.resp_h.ok_or(Reason::Missing("id.resp_h"))?,
        resp_p: r.resp_p.unwrap_or(0),
        protocol: build::zeek_proto(proto, orig_h)?,
        orig_bytes: r.orig_bytes,
        resp_bytes: r.resp_bytes,
        orig_ip_bytes: r.orig_ip_bytes,
        resp_ip_bytes: r.resp_ip_bytes,
        orig_pkts: r.orig_pkts,
        resp_pkts: r.resp_pkts,
        conn_state: r.conn_state.as_deref().map(build::conn_state).transpose()?,
        uid: r.uid,
        service: r.service,
        history: r.history,
    };
    Ok(Parsed::Event(LogEvent::Flow(build::zeek_flow(
        parts,
        &ctx.exporter,
    ))))
}

fn dns(r: Record<'_>) -> Result<Parsed, Reason> {
    let Some(query) = r.query.as_deref() else {
        return Ok(Parsed::Skipped);
    };
    let answers = r
        .answers
        .iter()
        .flatten()
        .filter_map(|a| a.parse().ok())
        .collect();
    let ttl = min_ttl(r.ttls.iter().flatten().map(|&t| Ok(t)))?;
    let record = build::dns(DnsParts {
        source: SignalSource::Zeek,
        ts: ts(&r)?,
        client: r.orig_h.ok_or(Reason::Missing("id.orig_h"))?,
        server: r.resp_h.ok_or(Reason::Missing("id.resp_h"))?,
        query,
        qtype: r.qtype,
        rcode: r.rcode,
        answers,
        ttl,
    });
    Ok(Parsed::Event(LogEvent::Dns(record)))
}

fn named(r: Record<'_>, name: Option<Cow<'_, str>>, via: &str) -> Result<Parsed, Reason> {
    let Some(name) = name else {
        return Ok(Parsed::Skipped);
    };
    let record = build::name(
        SignalSource::Zeek,
        ts(&r)?,
        r.orig_h.ok_or(Reason::Missing("id.orig_h"))?,
        r.resp_h.ok_or(Reason::Missing("id.resp_h"))?,
        r.resp_p.unwrap_or(0),
        &name,
        via,
    );
    Ok(Parsed::Event(LogEvent::Name(record)))
}

/// A timestamp in any of Zeek's JSON encodings; `None` inside when the value is of the right
/// type but unreadable, so the error names the field rather than a JSON position.
pub(crate) struct Ts(pub(crate) Option<Micros>);

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TsVisitor)
    }
}

struct TsVisitor;

/// Integer timestamps above this are milliseconds (`JSON::TS_MILLIS`); below, seconds.
/// 10^11 seconds is the year 5138; 10^11 milliseconds is 1973.
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

impl Visitor<'_> for TsVisitor {
    type Value = Ts;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("seconds, milliseconds or an ISO 8601 time")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ts, E> {
        Ok(Ts(float_seconds(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ts, E> {
        let micros = if v >= MILLIS_THRESHOLD {
            v.checked_mul(1000)
        } else {
            v.checked_mul(1_000_000)
        };
        Ok(Ts(micros.and_then(|m| i64::try_from(m).ok())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ts, E> {
        Ok(Ts(v.checked_mul(1_000_000)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ts, E> {
        Ok(Ts(parse_iso(v)))
    }
}
