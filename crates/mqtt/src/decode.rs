//! Payload → [`DeviceMetrics`]: parse with serde, then check every range the schema states.

use std::net::SocketAddr;

use rampart_core::{DeviceMetrics, GeoPoint, Timestamp};

use crate::error::{ReportError, excerpt};
use crate::wire::{self, WireTime};
use crate::{MAX_CONNECTIONS, MAX_INTERFACE_BYTES, MAX_PAYLOAD_BYTES, MAX_PORTS};

/// Largest accepted `accuracy_m`: the Earth's circumference, beyond which a fix means nothing.
const MAX_ACCURACY_M: f64 = 40_075_000.0;
/// 9999-12-31T23:59:59.999Z in milliseconds: the last instant RFC 3339 can write.
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// A report's `header`: AWS's identity of the report, kept for callers that dedupe or order
/// reports by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// The device's report id (AWS recommends a monotonically increasing epoch time).
    pub report_id: u64,
    /// Schema version as sent, `1.x`.
    pub version: String,
}

/// Decodes one report into the shared record. `received` stands in for the event time when
/// the report carries no `timestamp`.
///
/// Accepts both key styles (long names and AWS's short names); see the crate documentation
/// for the schema and every rule checked.
pub fn decode(payload: &[u8], received: Timestamp) -> Result<DeviceMetrics, ReportError> {
    decode_report(payload, received).map(|(_, m)| m)
}

/// [`decode`], also returning the report's header.
pub fn decode_report(
    payload: &[u8],
    received: Timestamp,
) -> Result<(ReportHeader, DeviceMetrics), ReportError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(ReportError::Oversized {
            size: payload.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    let report: wire::Report =
        serde_json::from_slice(payload).map_err(|e| ReportError::json(&e))?;
    validate_wire(report, received)
}

pub(crate) fn validate_wire(
    report: wire::Report,
    received: Timestamp,
) -> Result<(ReportHeader, DeviceMetrics), ReportError> {
    let header = report.header;
    if !is_version_1(&header.version) {
        return Err(ReportError::Version(excerpt(&header.version)));
    }
    let mut out = DeviceMetrics {
        time: match report.timestamp {
            Some(t) => event_time(t)?,
            None => received,
        },
        ..DeviceMetrics::default()
    };
    if let Some(i) = report.interval_s {
        out.interval_s = Some(
            u32::try_from(i)
                .ok()
                .filter(|&v| v > 0)
                .ok_or(ReportError::Interval(i))?,
        );
    }
    if let Some(p) = report.position {
        out.position = Some(position(p)?);
    }
    if let Some(m) = report.metrics {
        if let Some(list) = m.listening_tcp_ports {
            out.listening_tcp_ports = ports("listening_tcp_ports", list)?;
        }
        if let Some(list) = m.listening_udp_ports {
            out.listening_udp_ports = ports("listening_udp_ports", list)?;
        }
        if let Some(ns) = m.network_stats {
            out.bytes_in = ns.bytes_in;
            out.bytes_out = ns.bytes_out;
            out.packets_in = ns.packets_in;
            out.packets_out = ns.packets_out;
        }
        if let Some(tc) = m.tcp_connections {
            let est = tc.established_connections;
            let conns = est.connections;
            if conns.len() > MAX_CONNECTIONS {
                return Err(ReportError::TooMany {
                    field: "established_connections",
                    len: conns.len(),
                    max: MAX_CONNECTIONS,
                });
            }
            if let Some(total) = est.total {
                out.established_connections = Some(
                    u32::try_from(total)
                        .ok()
                        .filter(|&t| t as usize >= conns.len())
                        .ok_or(ReportError::Total {
                            field: "established_connections",
                            total,
                            len: conns.len(),
                        })?,
                );
            }
            out.remote_addrs = conns
                .into_iter()
                .map(connection)
                .collect::<Result<_, _>>()?;
        }
    }
    let header = ReportHeader {
        report_id: header.report_id,
        version: header.version,
    };
    Ok((header, out))
}

fn is_version_1(v: &str) -> bool {
    match v.strip_prefix("1.") {
        Some(minor) => {
            !minor.is_empty() && minor.len() <= 4 && minor.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn event_time(t: WireTime) -> Result<Timestamp, ReportError> {
    let ms = match t {
        WireTime::EpochMs(ms) => ms,
        WireTime::Text(s) => {
            let parsed =
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| ReportError::Timestamp(excerpt(&s)))?;
            i64::try_from(parsed.unix_timestamp_nanos().div_euclid(1_000_000))
                .map_err(|_| ReportError::Timestamp(excerpt(&s)))?
        }
    };
    if (0..=MAX_EPOCH_MS).contains(&ms) {
        Ok(Timestamp(ms))
    } else {
        Err(ReportError::Timestamp(ms.to_string()))
    }
}

fn position(p: wire::Position) -> Result<GeoPoint, ReportError> {
    let point = GeoPoint {
        lat: p.lat,
        lon: p.lon,
        accuracy_m: None,
    };
    if !point.is_valid() {
        return Err(ReportError::Position {
            lat: p.lat,
            lon: p.lon,
        });
    }
    let accuracy_m = match p.accuracy_m {
        Some(a) if a.is_finite() && (0.0..=MAX_ACCURACY_M).contains(&a) => Some(a as f32),
        Some(a) => return Err(ReportError::Accuracy(a)),
        None => None,
    };
    Ok(GeoPoint {
        accuracy_m,
        ..point
    })
}

fn port(field: &'static str, value: i64) -> Result<u16, ReportError> {
    u16::try_from(value)
        .ok()
        .filter(|&p| p != 0)
        .ok_or(ReportError::Port { field, value })
}

fn interface(name: Option<&String>) -> Result<(), ReportError> {
    match name {
        Some(n) if n.len() > MAX_INTERFACE_BYTES => Err(ReportError::Interface(n.len())),
        _ => Ok(()),
    }
}

/// Port lists become sorted sets: the same port on two interfaces is one listening port to
/// detection, and a set compares cheaply against a profile's expected ports.
fn ports(field: &'static str, list: wire::PortList) -> Result<Vec<u16>, ReportError> {
    let len = list.ports.len();
    if len > MAX_PORTS {
        return Err(ReportError::TooMany {
            field,
            len,
            max: MAX_PORTS,
        });
    }
    if let Some(total) = list.total
        && total < len as u64
    {
        return Err(ReportError::Total { field, total, len });
    }
    let mut out = Vec::with_capacity(len);
    for entry in &list.ports {
        interface(entry.interface.as_ref())?;
        out.push(port(field, entry.port)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn connection(c: wire::Connection) -> Result<SocketAddr, ReportError> {
    interface(c.local_interface.as_ref())?;
    if let Some(lp) = c.local_port {
        port("local_port", lp)?;
    }
    match c.remote_addr.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        _ => Err(ReportError::RemoteAddr(excerpt(&c.remote_addr))),
    }
}
