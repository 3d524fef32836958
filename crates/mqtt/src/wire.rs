//! The report as it travels: serde structs for both key styles. Long names are the field
//! names; AWS IoT Device Defender's short names are aliases on decode and a key rewrite on
//! encode ([`SHORT_KEYS`]). Numbers that carry ranges (ports, interval) are read wide so
//! that range violations become typed errors rather than serde messages.

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Long key → AWS short key, for every key of the AWS document. Rampart's own additions
/// (`timestamp`, `interval_s`, `position` and its members) have no short form.
pub(crate) const SHORT_KEYS: &[(&str, &str)] = &[
    ("header", "hed"),
    ("report_id", "rid"),
    ("version", "v"),
    ("metrics", "met"),
    ("custom_metrics", "cmet"),
    ("listening_tcp_ports", "tp"),
    ("listening_udp_ports", "up"),
    ("ports", "pts"),
    ("port", "pt"),
    ("interface", "if"),
    ("total", "t"),
    ("network_stats", "ns"),
    ("bytes_in", "bi"),
    ("bytes_out", "bo"),
    ("packets_in", "pi"),
    ("packets_out", "po"),
    ("tcp_connections", "tc"),
    ("established_connections", "ec"),
    ("connections", "cs"),
    ("remote_addr", "rad"),
    ("local_port", "lp"),
    ("local_interface", "li"),
];

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Report {
    #[serde(alias = "hed")]
    pub(crate) header: Header,
    #[serde(alias = "met", default, skip_serializing_if = "Option::is_none")]
    pub(crate) metrics: Option<Metrics>,
    /// Accepted for compatibility with AWS agents and ignored.
    #[serde(rename = "custom_metrics", alias = "cmet", default, skip_serializing)]
    pub(crate) _custom_metrics: Option<IgnoredAny>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timestamp: Option<WireTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) interval_s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) position: Option<Position>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    #[serde(alias = "rid")]
    pub(crate) report_id: u64,
    #[serde(alias = "v")]
    pub(crate) version: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    #[serde(alias = "tp", default, skip_serializing_if = "Option::is_none")]
    pub(crate) listening_tcp_ports: Option<PortList>,
    #[serde(alias = "up", default, skip_serializing_if = "Option::is_none")]
    pub(crate) listening_udp_ports: Option<PortList>,
    #[serde(alias = "ns", default, skip_serializing_if = "Option::is_none")]
    pub(crate) network_stats: Option<NetworkStats>,
    #[serde(alias = "tc", default, skip_serializing_if = "Option::is_none")]
    pub(crate) tcp_connections: Option<TcpConnections>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortList {
    #[serde(alias = "pts", default)]
    pub(crate) ports: Vec<PortEntry>,
    #[serde(alias = "t", default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortEntry {
    #[serde(alias = "pt")]
    pub(crate) port: i64,
    #[serde(alias = "if", default, skip_serializing_if = "Option::is_none")]
    pub(crate) interface: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkStats {
    #[serde(alias = "bi", default, skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_in: Option<u64>,
    #[serde(alias = "bo", default, skip_serializing_if = "Option::is_none")]
    pub(crate) bytes_out: Option<u64>,
    #[serde(alias = "pi", default, skip_serializing_if = "Option::is_none")]
    pub(crate) packets_in: Option<u64>,
    #[serde(alias = "po", default, skip_serializing_if = "Option::is_none")]
    pub(crate) packets_out: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TcpConnections {
    #[serde(alias = "ec")]
    pub(crate) established_connections: Established,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Established {
    #[serde(alias = "cs", default)]
    pub(crate) connections: Vec<Connection>,
    #[serde(alias = "t", default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Connection {
    #[serde(alias = "rad")]
    pub(crate) remote_addr: String,
    #[serde(alias = "lp", default, skip_serializing_if = "Option::is_none")]
    pub(crate) local_port: Option<i64>,
    #[serde(alias = "li", default, skip_serializing_if = "Option::is_none")]
    pub(crate) local_interface: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Position {
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) accuracy_m: Option<f64>,
}

/// Event time as sent: RFC 3339 text or integer milliseconds since the Unix epoch.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum WireTime {
    EpochMs(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WireTime;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 string or integer milliseconds since the epoch")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireTime, E> {
                Ok(WireTime::EpochMs(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireTime, E> {
                i64::try_from(v)
                    .map(WireTime::EpochMs)
                    .map_err(|_| E::custom(format_args!("timestamp {v} out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireTime, E> {
                Ok(WireTime::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
