//! [`DeviceMetrics`] → report payload, for simulators and tests. The encoder runs the
//! decoder's own checks on what it is about to write, so whatever it returns decodes.

use rampart_core::DeviceMetrics;
use serde_json::{Map, Value};

use crate::MAX_PAYLOAD_BYTES;
use crate::decode::validate_wire;
use crate::error::ReportError;
use crate::wire::{self, SHORT_KEYS, WireTime};

/// Which key names to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyStyle {
    /// `header`, `metrics`, `listening_tcp_ports`, ...: readable, Rampart's default.
    #[default]
    Long,
    /// AWS IoT Device Defender's short names (`hed`, `met`, `tp`, ...), as its embedded
    /// agents send by default to save bytes. Rampart's additions keep their long names.
    Short,
}

/// Encodes a report with long key names; see [`encode_with`].
pub fn encode(metrics: &DeviceMetrics, report_id: u64) -> Result<Vec<u8>, ReportError> {
    encode_with(metrics, report_id, KeyStyle::Long)
}

/// Encodes `metrics` as a version 1.0 report with the given `report_id`.
///
/// Port lists are written in the order given (the decoder returns them sorted and
/// deduplicated); `established_connections` becomes the connection list's `total`;
/// `time` is written as RFC 3339. Fails with the decoder's error when the record breaks a
/// rule of the schema (port 0, coordinates out of range, lists over their caps, `total`
/// below the listed connections, a payload over 64 KiB).
pub fn encode_with(
    metrics: &DeviceMetrics,
    report_id: u64,
    style: KeyStyle,
) -> Result<Vec<u8>, ReportError> {
    let report = to_wire(metrics, report_id);
    let bytes = match style {
        KeyStyle::Long => serde_json::to_vec(&report),
        KeyStyle::Short => serde_json::to_value(&report).and_then(|v| {
            let short = shorten(v);
            serde_json::to_vec(&short)
        }),
    }
    .map_err(|e| ReportError::json(&e))?;
    validate_wire(report, metrics.time)?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(ReportError::Oversized {
            size: bytes.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(bytes)
}

fn to_wire(m: &DeviceMetrics, report_id: u64) -> wire::Report {
    let port_list = |ports: &[u16]| {
        (!ports.is_empty()).then(|| wire::PortList {
            ports: ports
                .iter()
                .map(|&p| wire::PortEntry {
                    port: i64::from(p),
                    interface: None,
                })
                .collect(),
            total: Some(ports.len() as u64),
        })
    };
    let has_stats = m.bytes_in.is_some()
        || m.bytes_out.is_some()
        || m.packets_in.is_some()
        || m.packets_out.is_some();
    let has_conns = m.established_connections.is_some() || !m.remote_addrs.is_empty();
    let metrics = wire::Metrics {
        listening_tcp_ports: port_list(&m.listening_tcp_ports),
        listening_udp_ports: port_list(&m.listening_udp_ports),
        network_stats: has_stats.then_some(wire::NetworkStats {
            bytes_in: m.bytes_in,
            bytes_out: m.bytes_out,
            packets_in: m.packets_in,
            packets_out: m.packets_out,
        }),
        tcp_connections: has_conns.then(|| wire::TcpConnections {
            established_connections: wire::Established {
                connections: m
                    .remote_addrs
                    .iter()
                    .map(|a| wire::Connection {
                        remote_addr: a.to_string(),
                        local_port: None,
                        local_interface: None,
                    })
                    .collect(),
                total: m.established_connections.map(u64::from),
            },
        }),
    };
    wire::Report {
        header: wire::Header {
            report_id,
            version: "1.0".to_owned(),
        },
        metrics: Some(metrics),
        _custom_metrics: None,
        timestamp: Some(WireTime::Text(m.time.to_rfc3339())),
        interval_s: m.interval_s.map(i64::from),
        position: m.position.map(|p| wire::Position {
            lat: p.lat,
            lon: p.lon,
            accuracy_m: p.accuracy_m.map(f64::from),
        }),
    }
}

fn shorten(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = SHORT_KEYS
                        .iter()
                        .find(|(long, _)| *long == k)
                        .map_or(k, |(_, short)| (*short).to_owned());
                    (key, shorten(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(shorten).collect()),
        other => other,
    }
}
