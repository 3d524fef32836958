//! Settings of the flow table and the reader, and the events they produce.

use std::sync::Arc;
use std::time::Duration;

use rampart_core::{DnsRecord, FlowRecord, NameRecord, Timestamp};

/// How flows are cut and what else is extracted. The defaults are Zeek's: a TCP connection
/// idle for 5 minutes, a UDP or ICMP flow idle for 1 minute ends; a closed (FIN both ways, or
/// RST) connection is reported 5 seconds after its last packet.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Idle time after which an open TCP connection is reported.
    pub tcp_timeout: Duration,
    /// Idle time after which a UDP flow is reported.
    pub udp_timeout: Duration,
    /// Idle time for ICMP and every other IP protocol.
    pub other_timeout: Duration,
    /// Delay after the last packet of a closed (FIN/FIN or RST) connection before it is
    /// reported; late retransmissions within it still count.
    pub close_delay: Duration,
    /// Idle time of an unanswered SYN (Zeek's `tcp_attempt_delay`): scans leave millions of
    /// these, and holding them for the full TCP timeout would only cost memory.
    pub attempt_timeout: Duration,
    /// Most flows held at once. When full, the least recently active flow is reported early
    /// (and counted), so memory stays bounded whatever the input.
    pub max_flows: usize,
    /// Look inside GTP-U (UDP 2152) and make flows of the subscribers' inner packets.
    pub gtp_decap: bool,
    /// Parse DNS responses (UDP source port 53) into [`DnsRecord`]s.
    pub dns: bool,
    /// Report TLS SNI and HTTP Host names of a TCP connection's first payload.
    pub names: bool,
    /// Exporter name stamped on flows; the reader uses the file name when this is `None`.
    pub exporter: Option<Arc<str>>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            tcp_timeout: Duration::from_secs(300),
            udp_timeout: Duration::from_secs(60),
            other_timeout: Duration::from_secs(60),
            close_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(5),
            max_flows: 1 << 21,
            gtp_decap: true,
            dns: true,
            names: true,
            exporter: None,
        }
    }
}

/// What a capture yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEvent {
    /// A finished (or evicted, or still open at end of input) flow.
    Flow(FlowRecord),
    /// A DNS response.
    Dns(DnsRecord),
    /// A server name from TLS SNI or an HTTP Host header.
    Name(NameRecord),
}

impl CaptureEvent {
    /// The event time: a flow's last packet, a DNS answer's or a name's packet.
    pub fn time(&self) -> Timestamp {
        match self {
            Self::Flow(f) => f.end,
            Self::Dns(d) => d.time,
            Self::Name(n) => n.time,
        }
    }
}

/// Counters of a [`crate::FlowTable`]; every packet lands in exactly one of `ip_packets`,
/// `non_ip`, `unsupported_link` and `malformed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Frames fed.
    pub packets: u64,
    /// Captured bytes of those frames.
    pub bytes: u64,
    /// Frames holding an IP packet (after any tunnel was removed).
    pub ip_packets: u64,
    /// Frames without IP (ARP, LLDP, ...).
    pub non_ip: u64,
    /// Frames of a link type this crate does not decode.
    pub unsupported_link: u64,
    /// Frames too short or inconsistent to reach an IP header.
    pub malformed: u64,
    /// IP packets the capture holds only part of (snap length, cut file).
    pub truncated: u64,
    /// IP fragments seen; those after the first are attributed to the flow of the first when
    /// it was seen.
    pub fragments: u64,
    /// Later fragments whose first fragment was not seen (counted in a port-less flow).
    pub orphan_fragments: u64,
    /// Packets taken out of a GTP-U tunnel.
    pub tunneled: u64,
    /// Flows reported.
    pub flows: u64,
    /// Of those, flows reported early because the table was full.
    pub evicted: u64,
    /// DNS responses reported.
    pub dns: u64,
    /// UDP/53 datagrams that did not parse as a DNS response.
    pub dns_errors: u64,
    /// Server names reported.
    pub names: u64,
    /// Most flows held at once.
    pub peak_flows: u64,
}
