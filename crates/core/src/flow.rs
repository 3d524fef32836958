//! Network signals in one shape: whatever the source (a NetFlow/IPFIX exporter, a capture
//! file, a Zeek or Suricata log, a device reporting over MQTT), it becomes one of the records
//! below, stamped with its own event time. Detection only ever sees these types, so a detector
//! written once works on every source, live or replayed.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// IANA protocol numbers the detectors name.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// TCP flag bits as they appear in the header (and in NetFlow's `tcpControlBits`).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
}

/// Which kind of source produced a record; kept with every observation for the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// RADIUS accounting from a packet gateway.
    Radius,
    /// NetFlow v5.
    NetflowV5,
    /// NetFlow v9.
    NetflowV9,
    /// IPFIX.
    Ipfix,
    /// A pcap or pcapng file turned into flows.
    Pcap,
    /// Zeek logs (conn.log, dns.log).
    Zeek,
    /// Suricata EVE JSON.
    Suricata,
    /// A device's own report over MQTT.
    Mqtt,
}

/// How a flow ended or stands, in Zeek's `conn_state` vocabulary, which every source can be
/// mapped onto from TCP flags and the packet counts of each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum ConnState {
    /// Connection attempt seen, no reply (the scanner's unanswered SYN).
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination.
    SF,
    /// Connection attempt rejected (RST in reply to SYN).
    REJ,
    /// Established, originator aborted (sent a RST).
    RSTO,
    /// Established, responder aborted.
    RSTR,
    /// Originator sent a SYN then a RST; no reply.
    RSTOS0,
    /// Responder sent a SYN-ACK then a RST; no SYN from the originator seen.
    RSTRH,
    /// Originator sent a SYN then a FIN; no reply.
    SH,
    /// Responder sent a SYN-ACK then a FIN; no SYN seen.
    SHR,
    /// Established, originator closed (FIN), no reply to it.
    S2,
    /// Established, responder closed, no reply.
    S3,
    /// No SYN seen, just midstream traffic (or not TCP).
    #[default]
    OTH,
}

impl ConnState {
    /// Parses Zeek's spelling.
    pub fn from_zeek(text: &str) -> Option<Self> {
        Some(match text {
            "S0" => Self::S0,
            "S1" => Self::S1,
            "SF" => Self::SF,
            "REJ" => Self::REJ,
            "RSTO" => Self::RSTO,
            "RSTR" => Self::RSTR,
            "RSTOS0" => Self::RSTOS0,
            "RSTRH" => Self::RSTRH,
            "SH" => Self::SH,
            "SHR" => Self::SHR,
            "S2" => Self::S2,
            "S3" => Self::S3,
            "OTH" => Self::OTH,
            _ => return None,
        })
    }

    /// The originator tried to open a TCP connection and nobody answered or it was refused:
    /// the shape of one probe of a scan.
    pub fn is_failed_attempt(self) -> bool {
        matches!(self, Self::S0 | Self::REJ | Self::RSTOS0 | Self::SH)
    }
}

/// One flow: a conversation between two endpoints over a time span. Unidirectional sources
/// (NetFlow/IPFIX) fill only the forward counters; bidirectional ones (captures, Zeek,
/// Suricata) fill both. "Originator" is who sent the first packet seen (the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Where it came from.
    pub source: SignalSource,
    /// The exporter (address or file name) for the evidence; shared, not per-flow text.
    #[serde(default)]
    pub exporter: Option<std::sync::Arc<str>>,
    /// A stable id when the source has one (Zeek `uid`, Suricata `flow_id`).
    #[serde(default)]
    pub uid: Option<Box<str>>,
    /// First packet, event time.
    pub start: Timestamp,
    /// Last packet, event time.
    pub end: Timestamp,
    /// Originator address.
    pub src: IpAddr,
    /// Responder address.
    pub dst: IpAddr,
    /// Originator port (0 when the protocol has none; ICMP type for ICMP in NetFlow).
    pub src_port: u16,
    /// Responder port (ICMP code for ICMP in NetFlow).
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// Packets originator → responder (sampling already applied).
    pub packets: u64,
    /// IP bytes originator → responder (sampling already applied).
    pub bytes: u64,
    /// Packets responder → originator (0 when the source is unidirectional).
    #[serde(default)]
    pub rev_packets: u64,
    /// IP bytes responder → originator.
    #[serde(default)]
    pub rev_bytes: u64,
    /// OR of the TCP flags the originator sent.
    #[serde(default)]
    pub tcp_flags: u8,
    /// OR of the TCP flags the responder sent.
    #[serde(default)]
    pub rev_tcp_flags: u8,
    /// State, as Zeek would call it (derived when the source does not say).
    #[serde(default)]
    pub state: ConnState,
    /// Application protocol when the source identified it (Zeek `service`, Suricata
    /// `app_proto`), lowercase.
    #[serde(default)]
    pub service: Option<Box<str>>,
    /// Facts only visible packet by packet (captures); zero otherwise.
    #[serde(default)]
    pub facts: PacketFacts,
}

impl FlowRecord {
    /// Total packets in both directions.
    pub fn total_packets(&self) -> u64 {
        self.packets.saturating_add(self.rev_packets)
    }

    /// Total bytes in both directions.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.saturating_add(self.rev_bytes)
    }
}

/// What a capture shows that flow exports do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PacketFacts {
    /// SYN packets (without ACK) the originator sent.
    pub syns: u32,
    /// Of those, SYNs whose TCP sequence number equals the destination IPv4 address: the
    /// signature of Mirai's stateless scanner.
    pub seq_eq_dst_syns: u32,
    /// Responder answers with SYN-ACK.
    pub syn_acks: u32,
    /// RSTs the responder sent.
    pub rev_rsts: u32,
}

/// A DNS answer: lets detection map names (threat-intel domains) to the addresses a device
/// then contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// Where it came from.
    pub source: SignalSource,
    /// Event time of the query or answer.
    pub time: Timestamp,
    /// The asking host.
    pub client: IpAddr,
    /// The resolver asked.
    pub server: IpAddr,
    /// The name asked, lowercase, no trailing dot.
    pub query: Box<str>,
    /// Query type number (1 = A, 28 = AAAA, ...), when known.
    #[serde(default)]
    pub qtype: Option<u16>,
    /// DNS response code (0 = NOERROR, 3 = NXDOMAIN), when an answer was seen.
    #[serde(default)]
    pub rcode: Option<u8>,
    /// Addresses in the answer.
    #[serde(default)]
    pub answers: Vec<IpAddr>,
    /// Smallest TTL of the answers, seconds.
    #[serde(default)]
    pub ttl: Option<u32>,
}

/// A server name a client used without DNS in sight (TLS SNI, HTTP Host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRecord {
    /// Where it came from.
    pub source: SignalSource,
    /// Event time.
    pub time: Timestamp,
    /// The client.
    pub client: IpAddr,
    /// The server it contacted under that name.
    pub server: IpAddr,
    /// Responder port.
    pub port: u16,
    /// The name, lowercase.
    pub name: Box<str>,
    /// `tls` or `http`.
    pub via: Box<str>,
}

/// An alert another engine raised (Suricata signature, Zeek notice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Where it came from.
    pub source: SignalSource,
    /// Event time.
    pub time: Timestamp,
    /// Source address of the alerted packet.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// Signature or notice name.
    pub signature: Box<str>,
    /// Signature id (Suricata `signature_id`), 0 for Zeek notices.
    pub signature_id: u64,
    /// Category as the engine names it.
    #[serde(default)]
    pub category: Option<Box<str>>,
    /// Engine severity: 1 = high, 2 = medium, 3 = low (Suricata's scale).
    pub severity: u8,
}

/// A device's own report (MQTT device metrics, in the spirit of AWS IoT Device Defender's
/// device-side metrics). Counters are for the reporting interval, not cumulative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeviceMetrics {
    /// Event time the device stamped (or the receive time when it sent none).
    pub time: Timestamp,
    /// Length of the interval the counters cover, seconds.
    #[serde(default)]
    pub interval_s: Option<u32>,
    /// Bytes received.
    #[serde(default)]
    pub bytes_in: Option<u64>,
    /// Bytes sent.
    #[serde(default)]
    pub bytes_out: Option<u64>,
    /// Packets received.
    #[serde(default)]
    pub packets_in: Option<u64>,
    /// Packets sent.
    #[serde(default)]
    pub packets_out: Option<u64>,
    /// TCP ports listening.
    #[serde(default)]
    pub listening_tcp_ports: Vec<u16>,
    /// UDP ports listening.
    #[serde(default)]
    pub listening_udp_ports: Vec<u16>,
    /// Established TCP connections.
    #[serde(default)]
    pub established_connections: Option<u32>,
    /// Remote endpoints of the connections, when reported.
    #[serde(default)]
    pub remote_addrs: Vec<std::net::SocketAddr>,
    /// GPS fix.
    #[serde(default)]
    pub position: Option<GeoPoint>,
}

/// A GPS position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, degrees, −90..=90.
    pub lat: f64,
    /// Longitude, degrees, −180..=180.
    pub lon: f64,
    /// Horizontal accuracy, metres.
    #[serde(default)]
    pub accuracy_m: Option<f32>,
}

impl GeoPoint {
    /// Great-circle distance in kilometres (haversine).
    pub fn distance_km(&self, other: &Self) -> f64 {
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dla = la2 - la1;
        let dlo = (other.lon - self.lon).to_radians();
        let a = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * 6371.0088 * a.sqrt().asin()
    }

    /// Both coordinates are finite and in range.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_paris_berlin() {
        let paris = GeoPoint {
            lat: 48.8566,
            lon: 2.3522,
            accuracy_m: None,
        };
        let berlin = GeoPoint {
            lat: 52.52,
            lon: 13.405,
            accuracy_m: None,
        };
        let d = paris.distance_km(&berlin);
        assert!((870.0..890.0).contains(&d), "{d}");
    }

    #[test]
    fn zeek_states_round_trip() {
        for s in [
            "S0", "S1", "SF", "REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "S2", "S3",
            "OTH",
        ] {
            let st = ConnState::from_zeek(s).expect("known state");
            assert_eq!(format!("{st:?}"), s);
        }
        assert!(ConnState::from_zeek("XX").is_none());
    }
}
