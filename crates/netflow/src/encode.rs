//! Builds NetFlow v5, v9 and IPFIX export packets from flow records: what a fleet simulator
//! sends to a collector, and the other half of the round-trip tests.
//!
//! Each [`Encoder`] is one exporter process (one v9 source id, IPFIX observation domain or v5
//! engine): it numbers its packets and re-sends its templates every
//! [`EncoderOptions::template_refresh`] packets, as exporters do over UDP so that a collector
//! that starts late learns them.
//!
//! Layouts (fixed, so that any collector can read them):
//! - v9 templates 256 (IPv4) and 257 (IPv6): IN_BYTES, IN_PKTS (8 bytes each), PROTOCOL,
//!   TCP_FLAGS, L4_SRC_PORT, IPV4/IPV6_SRC_ADDR, L4_DST_PORT, IPV4/IPV6_DST_ADDR,
//!   FIRST_SWITCHED, LAST_SWITCHED (uptime milliseconds).
//! - IPFIX templates 256/257 (IPv4/IPv6, one direction) with octetDeltaCount,
//!   packetDeltaCount, protocolIdentifier, tcpControlBits (2 bytes), ports, addresses,
//!   flowStartMilliseconds, flowEndMilliseconds; 258/259 add the RFC 5103 reverse counters
//!   and flags for records with traffic in both directions.
//! - v5: the fixed 48-byte record, IPv4 only, at most 30 per packet.
//!
//! ICMP type and code travel as NetFlow does, in the destination port (`type << 8 | code`),
//! taken from the record's `src_port` (type) and `dst_port` (code).

use std::net::IpAddr;

use rampart_core::{FlowRecord, Timestamp, proto};
use serde::{Deserialize, Serialize};

/// Which export protocol to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportVersion {
    /// NetFlow v5 (IPv4 only, 32-bit counters).
    V5,
    /// NetFlow v9 (RFC 3954).
    V9,
    /// IPFIX (RFC 7011).
    Ipfix,
}

/// How an [`Encoder`] builds packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Protocol.
    pub version: ExportVersion,
    /// v9 source id, IPFIX observation domain id, v5 engine id (low 8 bits).
    pub domain_id: u32,
    /// When the simulated exporter booted: v5/v9 flow times are milliseconds since then.
    pub boot_time: Timestamp,
    /// Largest datagram built (UDP payload bytes).
    pub max_datagram: usize,
    /// Templates are sent in the first packet and then every this many packets (0: only in
    /// the first).
    pub template_refresh: u32,
    /// v5 header sampling interval (1-in-N, 0 or 1: unsampled); counters are written as
    /// given, the collector multiplies.
    pub v5_sampling_interval: u16,
}

impl EncoderOptions {
    /// Defaults for `version`: domain 0, booted a day before 2024-01-01, 1400-byte datagrams,
    /// templates every 20 packets.
    pub fn new(version: ExportVersion) -> Self {
        Self {
            version,
            domain_id: 0,
            boot_time: Timestamp(1_704_067_200_000 - 86_400_000),
            max_datagram: 1400,
            template_refresh: 20,
            v5_sampling_interval: 0,
        }
    }
}

/// Why records could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// NetFlow v5 carries IPv4 only.
    #[error("netflow v5 cannot carry ipv6 flow {0} -> {1}")]
    Ipv6InV5(IpAddr, IpAddr),
    /// A v5 counter is 32 bits.
    #[error("netflow v5 counter {0} exceeds 32 bits")]
    CounterOverflow(u64),
    /// A time before the exporter's boot, or more than 49 days after it (v5/v9 times are
    /// 32-bit milliseconds of uptime); or an export time before 1970 or after 2106.
    #[error("time {0} ms is out of range for the exporter's clock")]
    TimeOutOfRange(i64),
    /// `max_datagram` cannot hold a header, the templates and one record.
    #[error("max_datagram {0} is too small")]
    DatagramTooSmall(usize),
}

const V9_HEADER: usize = 20;
const IPFIX_HEADER: usize = 16;
const V5_HEADER: usize = 24;
const V5_RECORD: usize = 48;
const V5_MAX_RECORDS: usize = 30;
const REVERSE_PEN: u32 = 29305;

/// A template: id and (element, length, enterprise) list.
struct Layout {
    id: u16,
    fields: &'static [(u16, u16, u32)],
    record_len: usize,
}

static V9_V4: Layout = Layout {
    id: 256,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 1, 0),
        (7, 2, 0),
        (8, 4, 0),
        (11, 2, 0),
        (12, 4, 0),
        (22, 4, 0),
        (21, 4, 0),
    ],
    record_len: 38,
};
static V9_V6: Layout = Layout {
    id: 257,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 1, 0),
        (7, 2, 0),
        (27, 16, 0),
        (11, 2, 0),
        (28, 16, 0),
        (22, 4, 0),
        (21, 4, 0),
    ],
    record_len: 62,
};
static IPFIX_V4: Layout = Layout {
    id: 256,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 2, 0),
        (7, 2, 0),
        (8, 4, 0),
        (11, 2, 0),
        (12, 4, 0),
        (152, 8, 0),
        (153, 8, 0),
    ],
    record_len: 47,
};
static IPFIX_V6: Layout = Layout {
    id: 257,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 2, 0),
        (7, 2, 0),
        (27, 16, 0),
        (11, 2, 0),
        (28, 16, 0),
        (152, 8, 0),
        (153, 8, 0),
    ],
    record_len: 71,
};
static IPFIX_V4_BI: Layout = Layout {
    id: 258,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 2, 0),
        (7, 2, 0),
        (8, 4, 0),
        (11, 2, 0),
        (12, 4, 0),
        (152, 8, 0),
        (153, 8, 0),
        (1, 8, REVERSE_PEN),
        (2, 8, REVERSE_PEN),
        (6, 2, REVERSE_PEN),
    ],
    record_len: 65,
};
static IPFIX_V6_BI: Layout = Layout {
    id: 259,
    fields: &[
        (1, 8, 0),
        (2, 8, 0),
        (4, 1, 0),
        (6, 2, 0),
        (7, 2, 0),
        (27, 16, 0),
        (11, 2, 0),
        (28, 16, 0),
        (152, 8, 0),
        (153, 8, 0),
        (1, 8, REVERSE_PEN),
        (2, 8, REVERSE_PEN),
        (6, 2, REVERSE_PEN),
    ],
    record_len: 89,
};

static V9_LAYOUTS: &[&Layout] = &[&V9_V4, &V9_V6];
static IPFIX_LAYOUTS: &[&Layout] = &[&IPFIX_V4, &IPFIX_V6, &IPFIX_V4_BI, &IPFIX_V6_BI];

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn set16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn ip(b: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v) => b.extend_from_slice(&v.octets()),
        IpAddr::V6(v) => b.extend_from_slice(&v.octets()),
    }
}

/// The ports as NetFlow writes them: ICMP type/code folded into the destination port.
fn wire_ports(f: &FlowRecord) -> (u16, u16) {
    if f.protocol == proto::ICMP || f.protocol == proto::ICMPV6 {
        (0, (f.src_port & 0xff) << 8 | (f.dst_port & 0xff))
    } else {
        (f.src_port, f.dst_port)
    }
}

fn template_set_len(layouts: &[&Layout], ipfix: bool) -> usize {
    4 + layouts
        .iter()
        .map(|l| {
            4 + l
                .fields
                .iter()
                .map(|(_, _, pen)| if ipfix && *pen != 0 { 8 } else { 4 })
                .sum::<usize>()
        })
        .sum::<usize>()
}

fn write_template_set(b: &mut Vec<u8>, layouts: &[&Layout], ipfix: bool) {
    let start = b.len();
    put16(b, if ipfix { 2 } else { 0 });
    put16(b, 0);
    for l in layouts {
        put16(b, l.id);
        put16(b, u16::try_from(l.fields.len()).unwrap_or(0));
        for (id, len, pen) in l.fields {
            if ipfix && *pen != 0 {
                put16(b, id | 0x8000);
                put16(b, *len);
                put32(b, *pen);
            } else {
                put16(b, *id);
                put16(b, *len);
            }
        }
    }
    let len = u16::try_from(b.len() - start).unwrap_or(u16::MAX);
    set16(b, start + 2, len);
}

/// One exporter's packet builder.
#[derive(Debug, Clone)]
pub struct Encoder {
    opts: EncoderOptions,
    /// v5: flows sent; v9: packets sent; IPFIX: data records sent (each protocol's own
    /// sequence semantics).
    sequence: u32,
    packets: u64,
}

impl Encoder {
    /// An encoder that has sent nothing yet.
    pub fn new(opts: EncoderOptions) -> Self {
        Self {
            opts,
            sequence: 0,
            packets: 0,
        }
    }

    /// The options in use.
    pub fn options(&self) -> &EncoderOptions {
        &self.opts
    }

    fn templates_due(&self) -> bool {
        self.packets == 0
            || (self.opts.template_refresh > 0
                && self
                    .packets
                    .is_multiple_of(u64::from(self.opts.template_refresh)))
    }

    /// Encodes `flows` as exported at `export_time` into as many datagrams as needed.
    pub fn encode(
        &mut self,
        flows: &[FlowRecord],
        export_time: Timestamp,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        match self.opts.version {
            ExportVersion::V5 => self.encode_v5(flows, export_time),
            ExportVersion::V9 => self.encode_templated(flows, export_time, false),
            ExportVersion::Ipfix => self.encode_templated(flows, export_time, true),
        }
    }

    /// A datagram carrying only the templates (v9, IPFIX); `None` for v5, which has none.
    pub fn templates(&mut self, export_time: Timestamp) -> Result<Option<Vec<u8>>, EncodeError> {
        let ipfix = match self.opts.version {
            ExportVersion::V5 => return Ok(None),
            ExportVersion::V9 => false,
            ExportVersion::Ipfix => true,
        };
        let layouts = if ipfix { IPFIX_LAYOUTS } else { V9_LAYOUTS };
        let mut b = self.header(export_time, ipfix)?;
        write_template_set(&mut b, layouts, ipfix);
        let count = u16::try_from(layouts.len()).unwrap_or(0);
        self.finish(&mut b, ipfix, count, 0);
        Ok(Some(b))
    }

    fn export_secs(export_time: Timestamp) -> Result<u32, EncodeError> {
        u32::try_from(export_time.0.div_euclid(1000))
            .map_err(|_| EncodeError::TimeOutOfRange(export_time.0))
    }

    fn uptime(&self, at_ms: i64) -> Result<u32, EncodeError> {
        at_ms
            .checked_sub(self.opts.boot_time.0)
            .and_then(|d| u32::try_from(d).ok())
            .ok_or(EncodeError::TimeOutOfRange(at_ms))
    }

    fn header(&self, export_time: Timestamp, ipfix: bool) -> Result<Vec<u8>, EncodeError> {
        let secs = Self::export_secs(export_time)?;
        let mut b = Vec::with_capacity(self.opts.max_datagram);
        if ipfix {
            put16(&mut b, 10);
            put16(&mut b, 0); // length, set in finish
            put32(&mut b, secs);
            put32(&mut b, self.sequence);
            put32(&mut b, self.opts.domain_id);
        } else {
            let uptime = self.uptime(i64::from(secs) * 1000)?;
            put16(&mut b, 9);
            put16(&mut b, 0); // count, set in finish
            put32(&mut b, uptime);
            put32(&mut b, secs);
            put32(&mut b, self.sequence);
            put32(&mut b, self.opts.domain_id);
        }
        Ok(b)
    }

    fn finish(&mut self, b: &mut [u8], ipfix: bool, count: u16, data_records: u32) {
        if ipfix {
            set16(b, 2, u16::try_from(b.len()).unwrap_or(u16::MAX));
            self.sequence = self.sequence.wrapping_add(data_records);
        } else {
            set16(b, 2, count);
            self.sequence = self.sequence.wrapping_add(1);
        }
        self.packets += 1;
    }

    fn layout(flow: &FlowRecord, ipfix: bool) -> &'static Layout {
        let v6 = flow.src.is_ipv6() || flow.dst.is_ipv6();
        let bi = ipfix && (flow.rev_packets > 0 || flow.rev_bytes > 0 || flow.rev_tcp_flags > 0);
        match (ipfix, v6, bi) {
            (false, false, _) => &V9_V4,
            (false, true, _) => &V9_V6,
            (true, false, false) => &IPFIX_V4,
            (true, true, false) => &IPFIX_V6,
            (true, false, true) => &IPFIX_V4_BI,
            (true, true, true) => &IPFIX_V6_BI,
        }
    }

    fn write_record(
        &self,
        b: &mut Vec<u8>,
        f: &FlowRecord,
        layout: &Layout,
        ipfix: bool,
    ) -> Result<(), EncodeError> {
        // Addresses of a v6 layout are both 16 bytes: an IPv4 peer is written mapped.
        let v6 = matches!(layout.id, 257 | 259);
        let (src, dst) = if v6 {
            (
                IpAddr::V6(match f.src {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                }),
                IpAddr::V6(match f.dst {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                }),
            )
        } else {
            (f.src, f.dst)
        };
        let (sport, dport) = wire_ports(f);
        put64(b, f.bytes);
        put64(b, f.packets);
        b.push(f.protocol);
        if ipfix {
            put16(b, u16::from(f.tcp_flags));
        } else {
            b.push(f.tcp_flags);
        }
        put16(b, sport);
        ip(b, src);
        put16(b, dport);
        ip(b, dst);
        if ipfix {
            put64(
                b,
                u64::try_from(f.start.0).map_err(|_| EncodeError::TimeOutOfRange(f.start.0))?,
            );
            put64(
                b,
                u64::try_from(f.end.0).map_err(|_| EncodeError::TimeOutOfRange(f.end.0))?,
            );
            if layout.id >= 258 {
                put64(b, f.rev_bytes);
                put64(b, f.rev_packets);
                put16(b, u16::from(f.rev_tcp_flags));
            }
        } else {
            put32(b, self.uptime(f.start.0)?);
            put32(b, self.uptime(f.end.0)?);
        }
        Ok(())
    }

    fn encode_templated(
        &mut self,
        flows: &[FlowRecord],
        export_time: Timestamp,
        ipfix: bool,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        let layouts = if ipfix { IPFIX_LAYOUTS } else { V9_LAYOUTS };
        let header_len = if ipfix { IPFIX_HEADER } else { V9_HEADER };
        let tpl_len = template_set_len(layouts, ipfix);
        let biggest = layouts.iter().map(|l| l.record_len).max().unwrap_or(0);
        let max = self.opts.max_datagram.min(65_535);
        if header_len + tpl_len + 4 + biggest + 3 > max {
            return Err(EncodeError::DatagramTooSmall(self.opts.max_datagram));
        }
        let mut packets = Vec::new();
        let mut rest = flows;
        while !rest.is_empty() {
            let mut b = self.header(export_time, ipfix)?;
            let mut count: u16 = 0;
            if self.templates_due() {
                write_template_set(&mut b, layouts, ipfix);
                count += u16::try_from(layouts.len()).unwrap_or(0);
            }
            let mut records: u32 = 0;
            // One data set per run of records sharing a layout.
            while let Some(first) = rest.first() {
                let layout = Self::layout(first, ipfix);
                if b.len() + 4 + layout.record_len + 3 > max {
                    break;
                }
                let set_start = b.len();
                put16(&mut b, layout.id);
                put16(&mut b, 0);
                while let Some(f) = rest.first() {
                    if Self::layout(f, ipfix).id != layout.id
                        || b.len() + layout.record_len + 3 > max
                    {
                        break;
                    }
                    self.write_record(&mut b, f, layout, ipfix)?;
                    records += 1;
                    count = count.saturating_add(1);
                    rest = rest.get(1..).unwrap_or_default();
                }
                if !ipfix {
                    while !(b.len() - set_start).is_multiple_of(4) {
                        b.push(0);
                    }
                }
                let len = u16::try_from(b.len() - set_start).unwrap_or(u16::MAX);
                set16(&mut b, set_start + 2, len);
            }
            self.finish(&mut b, ipfix, count, records);
            packets.push(b);
        }
        Ok(packets)
    }

    fn encode_v5(
        &mut self,
        flows: &[FlowRecord],
        export_time: Timestamp,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        let secs = Self::export_secs(export_time)?;
        let nsecs = u32::try_from(export_time.0.rem_euclid(1000) * 1_000_000).unwrap_or(0);
        let uptime = self.uptime(i64::from(secs) * 1000 + export_time.0.rem_euclid(1000))?;
        let per_packet =
            ((self.opts.max_datagram.saturating_sub(V5_HEADER)) / V5_RECORD).min(V5_MAX_RECORDS);
        if per_packet == 0 {
            return Err(EncodeError::DatagramTooSmall(self.opts.max_datagram));
        }
        let mut packets = Vec::new();
        for chunk in flows.chunks(per_packet) {
            let mut b = Vec::with_capacity(V5_HEADER + chunk.len() * V5_RECORD);
            put16(&mut b, 5);
            put16(&mut b, u16::try_from(chunk.len()).unwrap_or(0));
            put32(&mut b, uptime);
            put32(&mut b, secs);
            put32(&mut b, nsecs);
            put32(&mut b, self.sequence);
            b.push(0); // engine type
            b.push(u8::try_from(self.opts.domain_id & 0xff).unwrap_or(0));
            put16(&mut b, self.opts.v5_sampling_interval);
            for f in chunk {
                let (IpAddr::V4(src), IpAddr::V4(dst)) = (f.src, f.dst) else {
                    return Err(EncodeError::Ipv6InV5(f.src, f.dst));
                };
                let pkts = u32::try_from(f.packets)
                    .map_err(|_| EncodeError::CounterOverflow(f.packets))?;
                let octets =
                    u32::try_from(f.bytes).map_err(|_| EncodeError::CounterOverflow(f.bytes))?;
                let (sport, dport) = wire_ports(f);
                b.extend_from_slice(&src.octets());
                b.extend_from_slice(&dst.octets());
                put32(&mut b, 0); // next hop
                put16(&mut b, 0); // input interface
                put16(&mut b, 0); // output interface
                put32(&mut b, pkts);
                put32(&mut b, octets);
                put32(&mut b, self.uptime(f.start.0)?);
                put32(&mut b, self.uptime(f.end.0)?);
                put16(&mut b, sport);
                put16(&mut b, dport);
                b.push(0);
                b.push(f.tcp_flags);
                b.push(f.protocol);
                b.push(0); // tos
                put32(&mut b, 0); // AS numbers
                put32(&mut b, 0); // masks, padding
            }
            self.sequence = self
                .sequence
                .wrapping_add(u32::try_from(chunk.len()).unwrap_or(0));
            self.packets += 1;
            packets.push(b);
        }
        Ok(packets)
    }
}

/// Encodes `flows` as one v5 exporter would, at `export_time`.
pub fn encode_v5(
    flows: &[FlowRecord],
    export_time: Timestamp,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    Encoder::new(EncoderOptions::new(ExportVersion::V5)).encode(flows, export_time)
}

/// Encodes `flows` as a v9 exporter's first packets (templates in the first one).
pub fn encode_v9(
    flows: &[FlowRecord],
    export_time: Timestamp,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    Encoder::new(EncoderOptions::new(ExportVersion::V9)).encode(flows, export_time)
}

/// Encodes `flows` as an IPFIX exporter's first messages (templates in the first one).
pub fn encode_ipfix(
    flows: &[FlowRecord],
    export_time: Timestamp,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    Encoder::new(EncoderOptions::new(ExportVersion::Ipfix)).encode(flows, export_time)
}
