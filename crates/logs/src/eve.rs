//! Suricata's EVE JSON: one event per line, its kind in `event_type`. Only the header fields
//! are parsed eagerly; the nested object matching the event type (`flow`, `alert`, `dns`,
//! `tls`, `http`) is parsed afterwards, so a shape change in an object the reader does not use
//! (app-layer metadata in alerts, say) cannot make a line fail.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use rampart_core::{AlertRecord, FlowRecord, SignalSource, proto};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::build;
use crate::error::Reason;
use crate::eve_dns;
use crate::reader::{Ctx, LogEvent, Parsed};
use crate::time::{Micros, parse_iso, to_millis};

/// The fields every EVE event shares, nested objects left raw.
#[derive(Deserialize)]
pub(crate) struct Event<'a> {
    #[serde(borrow)]
    pub(crate) event_type: Cow<'a, str>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    flow_id: Option<u64>,
    pub(crate) src_ip: Option<IpAddr>,
    pub(crate) src_port: Option<u16>,
    pub(crate) dest_ip: Option<IpAddr>,
    pub(crate) dest_port: Option<u16>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    #[serde(borrow)]
    proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    app_proto: Option<Cow<'a, str>>,
    #[serde(borrow)]
    flow: Option<&'a RawValue>,
    #[serde(borrow)]
    tcp: Option<&'a RawValue>,
    #[serde(borrow)]
    alert: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) dns: Option<&'a RawValue>,
    #[serde(borrow)]
    tls: Option<&'a RawValue>,
    #[serde(borrow)]
    http: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Flow<'a> {
    pkts_toserver: Option<u64>,
    pkts_toclient: Option<u64>,
    bytes_toserver: Option<u64>,
    bytes_toclient: Option<u64>,
    #[serde(borrow)]
    start: Option<Cow<'a, str>>,
    #[serde(borrow)]
    end: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Tcp<'a> {
    #[serde(borrow)]
    tcp_flags: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tcp_flags_ts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tcp_flags_tc: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Alert<'a> {
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    signature_id: Option<u64>,
    #[serde(borrow)]
    category: Option<Cow<'a, str>>,
    severity: Option<u8>,
}

#[derive(Deserialize)]
struct Tls<'a> {
    #[serde(borrow)]
    sni: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Http<'a> {
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
}

/// Parses one EVE line.
pub(crate) fn parse(line: &[u8], ctx: &Ctx) -> Result<Parsed, Reason> {
    let event: Event<'_> = serde_json::from_slice(line).map_err(json_error)?;
    let record = match &*event.event_type {
        "flow" => LogEvent::Flow(flow(&event, &ctx.exporter)?),
        "alert" => LogEvent::Alert(alert(&event)?),
        "dns" => return eve_dns::parse(&event, time(&event)?),
        "tls" => match nested::<Tls<'_>>(event.tls, "tls")?.and_then(|t| t.sni) {
            Some(sni) => name(&event, &sni, "tls")?,
            None => return Ok(Parsed::Skipped),
        },
        "http" => match nested::<Http<'_>>(event.http, "http")?.and_then(|h| h.hostname) {
            Some(host) => name(&event, &host, "http")?,
            None => return Ok(Parsed::Skipped),
        },
        _ => return Ok(Parsed::Skipped),
    };
    Ok(Parsed::Event(record))
}

pub(crate) fn json_error(error: serde_json::Error) -> Reason {
    Reason::Json(error.to_string())
}

/// Parses the nested object of an event, if present.
pub(crate) fn nested<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<T>, Reason> {
    raw.map(|raw| {
        serde_json::from_str(raw.get()).map_err(|e| Reason::Json(format!("{field}: {e}")))
    })
    .transpose()
}

pub(crate) fn time(event: &Event<'_>) -> Result<Micros, Reason> {
    let text = event
        .timestamp
        .as_deref()
        .ok_or(Reason::Missing("timestamp"))?;
    parse_iso(text).ok_or_else(|| Reason::invalid("timestamp", text))
}

pub(crate) fn endpoints(event: &Event<'_>) -> Result<(IpAddr, IpAddr), Reason> {
    Ok((
        event.src_ip.ok_or(Reason::Missing("src_ip"))?,
        event.dest_ip.ok_or(Reason::Missing("dest_ip"))?,
    ))
}

/// The protocol number of Suricata's `proto`: a name from the protocol database, or the
/// number zero-padded to three digits when the name is unknown (`047`).
fn protocol(event: &Event<'_>) -> Result<u8, Reason> {
    let text = event.proto.as_deref().ok_or(Reason::Missing("proto"))?;
    let upper = text.to_ascii_uppercase();
    Ok(match upper.as_str() {
        "TCP" => proto::TCP,
        "UDP" => proto::UDP,
        "ICMP" => proto::ICMP,
        "IPV6-ICMP" | "ICMPV6" => proto::ICMPV6,
        "GRE" => proto::GRE,
        "IGMP" => 2,
        "IPIP" | "IPV4" => 4,
        "IPV6" => 41,
        "ESP" => 50,
        "AH" => 51,
        "PIM" => 103,
        "VRRP" => 112,
        "SCTP" => 132,
        _ => text.parse().map_err(|_| Reason::invalid("proto", text))?,
    })
}

/// Ports, or ICMP type and code in their place as Zeek and NetFlow put them.
fn ports(event: &Event<'_>) -> (u16, u16) {
    match (event.src_port, event.dest_port, event.icmp_type) {
        (None, None, Some(icmp_type)) => (
            u16::from(icmp_type),
            u16::from(event.icmp_code.unwrap_or(0)),
        ),
        (src, dst, _) => (src.unwrap_or(0), dst.unwrap_or(0)),
    }
}

fn hex_flags(text: Option<&str>, field: &'static str) -> Result<u8, Reason> {
    text.map_or(Ok(0), |t| {
        u8::from_str_radix(t, 16).map_err(|_| Reason::invalid(field, t))
    })
}

fn flow(event: &Event<'_>, exporter: &Arc<str>) -> Result<FlowRecord, Reason> {
    let (src, dst) = endpoints(event)?;
    let (src_port, dst_port) = ports(event);
    let protocol = protocol(event)?;
    let info: Flow<'_> = nested(event.flow, "flow")?.ok_or(Reason::Missing("flow"))?;
    let stamp = |text: Option<&str>, field: &'static str| -> Result<Option<Micros>, Reason> {
        text.map(|t| parse_iso(t).ok_or_else(|| Reason::invalid(field, t)))
            .transpose()
    };
    let event_time = event.timestamp.as_deref().and_then(parse_iso);
    let start = stamp(info.start.as_deref(), "flow.start")?
        .or(event_time)
        .ok_or(Reason::Missing("flow.start"))?;
    let end = stamp(info.end.as_deref(), "flow.end")?.unwrap_or(start);
    let (mut tcp_flags, mut rev_tcp_flags) = (0, 0);
    if let Some(tcp) = nested::<Tcp<'_>>(event.tcp, "tcp")? {
        tcp_flags = hex_flags(tcp.tcp_flags_ts.as_deref(), "tcp.tcp_flags_ts")?;
        rev_tcp_flags = hex_flags(tcp.tcp_flags_tc.as_deref(), "tcp.tcp_flags_tc")?;
        if tcp.tcp_flags_ts.is_none() && tcp.tcp_flags_tc.is_none() {
            tcp_flags = hex_flags(tcp.tcp_flags.as_deref(), "tcp.tcp_flags")?;
        }
    }
    let packets = info.pkts_toserver.unwrap_or(0);
    let rev_packets = info.pkts_toclient.unwrap_or(0);
    let service = event
        .app_proto
        .as_deref()
        .filter(|p| !matches!(*p, "failed" | "unknown" | ""))
        .map(|p| Box::from(p.to_ascii_lowercase()));
    Ok(FlowRecord {
        source: SignalSource::Suricata,
        exporter: Some(Arc::clone(exporter)),
        uid: event.flow_id.map(|id| Box::from(id.to_string())),
        start: to_millis(start),
        end: to_millis(end.max(start)),
        src,
        dst,
        src_port,
        dst_port,
        protocol,
        packets,
        bytes: info.bytes_toserver.unwrap_or(0),
        rev_packets,
        rev_bytes: info.bytes_toclient.unwrap_or(0),
        tcp_flags,
        rev_tcp_flags,
        state: build::derive_state(protocol, tcp_flags, rev_tcp_flags, packets, rev_packets),
        service,
        facts: Default::default(),
    })
}

fn alert(event: &Event<'_>) -> Result<AlertRecord, Reason> {
    let (src, dst) = endpoints(event)?;
    let (src_port, dst_port) = ports(event);
    let info: Alert<'_> = nested(event.alert, "alert")?.ok_or(Reason::Missing("alert"))?;
    Ok(AlertRecord {
        source: SignalSource::Suricata,
        time: to_millis(time(event)?),
        src,
        dst,
        src_port,
        dst_port,
        protocol: protocol(event)?,
        signature: Box::from(
            info.signature
                .as_deref()
                .ok_or(Reason::Missing("alert.signature"))?,
        ),
        signature_id: info.signature_id.unwrap_or(0),
        category: info
            .category
            .filter(|c| !c.is_empty())
            .map(|c| Box::from(c.as_ref())),
        // Suricata's lowest priority when a rule sets none.
        severity: info.severity.unwrap_or(3),
    })
}

fn name(event: &Event<'_>, name: &str, via: &str) -> Result<LogEvent, Reason> {
    let (client, server) = endpoints(event)?;
    Ok(LogEvent::Name(build::name(
        SignalSource::Suricata,
        time(event)?,
        client,
        server,
        event.dest_port.unwrap_or(0),
        name,
        via,
    )))
}
