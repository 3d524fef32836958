//! From a captured frame to the few facts a flow needs: addresses, protocol, ports, TCP flags
//! and sequence number, the IP length the header claims, and the transport payload that was
//! captured. Link layers are peeled by hand (they are a handful of fixed offsets); the IP layer
//! goes through etherparse's lax slicing, which accepts a packet cut short by the snap length
//! and says so instead of refusing it.

use etherparse::{LaxIpSlice, LenSource};

/// A capture's link-layer header type (the pcap `LINKTYPE_*` number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II, with any number of 802.1Q / 802.1ad tags.
    pub const ETHERNET: Self = Self(1);
    /// Raw IP as some BSDs numbered it (`DLT_RAW` = 12).
    pub const RAW_BSD: Self = Self(12);
    /// Raw IP as OpenBSD numbered it (`DLT_RAW` = 14).
    pub const RAW_OPENBSD: Self = Self(14);
    /// Raw IPv4 or IPv6, version read from the first nibble.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux "cooked" capture, version 1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4 only.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6 only.
    pub const IPV6: Self = Self(229);
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: Self = Self(276);

    /// Whether frames of this link type can be decoded at all.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::NULL
                | Self::ETHERNET
                | Self::RAW_BSD
                | Self::RAW_OPENBSD
                | Self::RAW
                | Self::LOOP
                | Self::LINUX_SLL
                | Self::IPV4
                | Self::IPV6
                | Self::LINUX_SLL2
        )
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// More tags than this is not a real frame; stop instead of walking the whole payload.
const MAX_LINK_TAGS: usize = 8;
/// GTP inside GTP inside ...: one level is what mobile cores do, two covers roaming taps.
const MAX_TUNNEL_DEPTH: u8 = 2;

/// The GTP-U port (3GPP TS 29.281).
pub const GTP_U_PORT: u16 = 2152;

/// What a frame turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// An IP packet (possibly the inner packet of a GTP-U tunnel).
    Ip(Packet<'a>),
    /// A well-formed frame that carries no IP (ARP, LLDP, STP, ...).
    NotIp,
    /// The link type is not one this crate decodes.
    UnsupportedLink,
    /// Too short or inconsistent to find an IP header.
    Malformed,
}

/// The facts of one IP packet that the flow table and the payload parsers use.
#[derive(Debug, Clone)]
pub(crate) struct Packet<'a> {
    /// Source address; IPv4 in the first 4 bytes when `v6` is false.
    pub(crate) src: [u8; 16],
    /// Destination address, same layout.
    pub(crate) dst: [u8; 16],
    /// IPv6 rather than IPv4.
    pub(crate) v6: bool,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub(crate) proto: u8,
    /// IP bytes as the header claims them (total length), even when the capture holds less.
    pub(crate) ip_len: u32,
    /// Source port (ICMP: the type, see `icmp_ports`).
    pub(crate) sport: u16,
    /// Destination port (ICMP: the code or the counterpart type).
    pub(crate) dport: u16,
    /// TCP flags, 0 otherwise.
    pub(crate) tcp_flags: u8,
    /// TCP sequence number, 0 otherwise.
    pub(crate) tcp_seq: u32,
    /// Transport payload as captured (may be shorter than sent).
    pub(crate) payload: &'a [u8],
    /// Whether the transport header (ports) was present: false for non-first fragments and
    /// for packets cut before their ports.
    pub(crate) has_ports: bool,
    /// The capture holds less than the IP header claims.
    pub(crate) truncated: bool,
    /// IP fragment: `Some((identification, offset_is_zero))`.
    pub(crate) fragment: Option<(u32, bool)>,
    /// How many GTP-U tunnels were removed to reach this packet.
    pub(crate) tunnel_depth: u8,
    /// When this packet came out of a tunnel packet that was itself a first IP fragment: the
    /// outer fragment's identity (source, destination, id, protocol), so that the later outer
    /// fragments, which carry the rest of this packet, can be counted in its flow.
    pub(crate) outer_fragment: Option<FragmentId>,
}

/// An IP fragment's identity: source, destination, identification, protocol.
pub(crate) type FragmentId = ([u8; 16], [u8; 16], u32, u8);

/// Decodes one frame of the given link type. `gtp` turns GTP-U decapsulation on.
pub(crate) fn decode(linktype: LinkType, frame: &[u8], gtp: bool) -> Decoded<'_> {
    match linktype {
        LinkType::ETHERNET => {
            let Some(ethertype) = be16(frame, 12) else {
                return Decoded::Malformed;
            };
            by_ethertype(ethertype, frame.get(14..).unwrap_or_default(), gtp)
        }
        LinkType::LINUX_SLL => match (be16(frame, 14), frame.get(16..)) {
            (Some(protocol), Some(rest)) => by_ethertype(protocol, rest, gtp),
            _ => Decoded::Malformed,
        },
        LinkType::LINUX_SLL2 => match (be16(frame, 0), frame.get(20..)) {
            (Some(protocol), Some(rest)) => by_ethertype(protocol, rest, gtp),
            _ => Decoded::Malformed,
        },
        LinkType::NULL | LinkType::LOOP => {
            let Some(family) = frame.get(..4) else {
                return Decoded::Malformed;
            };
            let rest = frame.get(4..).unwrap_or_default();
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (the BSDs).
            let known = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if known(le) || known(be) {
                ip(rest, gtp, 0)
            } else {
                Decoded::NotIp
            }
        }
        LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD | LinkType::IPV4 => {
            ip(frame, gtp, 0)
        }
        LinkType::IPV6 => ip(frame, gtp, 0),
        _ => Decoded::UnsupportedLink,
    }
}

/// Follows VLAN tags, PPPoE and MPLS to the IP header.
fn by_ethertype(mut ethertype: u16, mut rest: &[u8], gtp: bool) -> Decoded<'_> {
    for _ in 0..MAX_LINK_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return ip(rest, gtp, 0),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
                let (Some(next), Some(after)) = (be16(rest, 2), rest.get(4..)) else {
                    return Decoded::Malformed;
                };
                ethertype = next;
                rest = after;
            }
            ETHERTYPE_PPPOE_SESSION => {
                // 6-byte PPPoE header, then the 2-byte PPP protocol.
                let (Some(ppp), Some(after)) = (be16(rest, 6), rest.get(8..)) else {
                    return Decoded::Malformed;
                };
                return match ppp {
                    0x0021 | 0x0057 => ip(after, gtp, 0),
                    _ => Decoded::NotIp,
                };
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
                // Pop labels to the bottom of the stack, then guess from the IP version.
                let mut at = 0;
                loop {
                    let Some(&s_byte) = rest.get(at + 2) else {
                        return Decoded::Malformed;
                    };
                    at += 4;
                    if s_byte & 1 == 1 {
                        break;
                    }
                    if at >= 4 * MAX_LINK_TAGS {
                        return Decoded::Malformed;
                    }
                }
                return ip(rest.get(at..).unwrap_or_default(), gtp, 0);
            }
            _ => return Decoded::NotIp,
        }
    }
    Decoded::Malformed
}

/// Decodes an IP packet (first nibble says which version).
fn ip(bytes: &[u8], gtp: bool, depth: u8) -> Decoded<'_> {
    let Ok((slice, _ext_err)) = LaxIpSlice::from_slice(bytes) else {
        return Decoded::Malformed;
    };
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    let (v6, ip_len, fragment, payload) = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            src[..4].copy_from_slice(&h.source());
            dst[..4].copy_from_slice(&h.destination());
            let fragment = (h.more_fragments() || h.fragments_offset().value() != 0).then(|| {
                (
                    u32::from(h.identification()),
                    h.fragments_offset().value() == 0,
                )
            });
            (false, u32::from(h.total_len()), fragment, v4.payload())
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            src = h.source();
            dst = h.destination();
            // etherparse's extension iterator trusts the extension bytes to have been
            // validated, which a lax parse that stopped early does not guarantee: walk the
            // chain here with checked reads instead.
            let fragment = if v6.is_payload_fragmented() {
                ipv6_fragment(h.next_header().0, bytes.get(40..).unwrap_or_default())
            } else {
                None
            };
            let claimed = 40 + u32::from(h.payload_length());
            (true, claimed, fragment, v6.payload())
        }
    };
    // A zero length (TSO, IPv6 jumbograms) or one shorter than what was captured means the
    // header cannot be trusted for the size: use what the capture holds.
    let ip_len = match payload.len_source {
        LenSource::Slice => u32::try_from(bytes.len()).unwrap_or(u32::MAX).max(ip_len),
        _ => ip_len,
    };
    let mut packet = Packet {
        src,
        dst,
        v6,
        proto: payload.ip_number.0,
        ip_len,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        tcp_seq: 0,
        payload: &[],
        has_ports: false,
        truncated: payload.incomplete,
        fragment,
        tunnel_depth: depth,
        outer_fragment: None,
    };
    if matches!(fragment, Some((_, false))) {
        // A later fragment: no transport header here.
        return Decoded::Ip(packet);
    }
    let data = payload.payload;
    match packet.proto {
        6 => {
            if let (Some(sp), Some(dp)) = (be16(data, 0), be16(data, 2)) {
                packet.sport = sp;
                packet.dport = dp;
                packet.has_ports = true;
            }
            if let (Some(seq), Some(&flags)) = (be32(data, 4), data.get(13)) {
                packet.tcp_seq = seq;
                packet.tcp_flags = flags;
                let offset = usize::from(data.get(12).map_or(0, |b| b >> 4)) * 4;
                if offset >= 20 {
                    packet.payload = data.get(offset..).unwrap_or_default();
                }
            } else {
                packet.truncated = true;
            }
        }
        17 => {
            if let (Some(sp), Some(dp)) = (be16(data, 0), be16(data, 2)) {
                packet.sport = sp;
                packet.dport = dp;
                packet.has_ports = true;
                let claimed = be16(data, 4).map_or(data.len(), usize::from);
                let end = claimed.clamp(8, data.len().max(8));
                packet.payload = data.get(8..end).unwrap_or_default();
                if gtp
                    && depth < MAX_TUNNEL_DEPTH
                    && (sp == GTP_U_PORT || dp == GTP_U_PORT)
                    && let Some(inner) = gtp_u_payload(packet.payload)
                    && let Decoded::Ip(mut inner) = ip(inner, gtp, depth + 1)
                {
                    if let Some((id, true)) = fragment {
                        inner.outer_fragment = Some((src, dst, id, 17));
                    }
                    return Decoded::Ip(inner);
                }
            } else {
                packet.truncated = true;
            }
        }
        1 | 58 => {
            if let (Some(&t), Some(&c)) = (data.first(), data.get(1)) {
                let (sp, dp) = icmp_ports(packet.proto == 58, t, c);
                packet.sport = sp;
                packet.dport = dp;
                packet.has_ports = true;
            }
        }
        _ => {}
    }
    Decoded::Ip(packet)
}

/// The fragment header's (identification, offset is zero) in an IPv6 extension chain.
fn ipv6_fragment(mut next: u8, mut rest: &[u8]) -> Option<(u32, bool)> {
    for _ in 0..MAX_LINK_TAGS {
        let len = match next {
            0 | 43 | 60 => (usize::from(*rest.get(1)?) + 1) * 8,
            51 => (usize::from(*rest.get(1)?) + 2) * 4,
            44 => {
                let offset = be16(rest, 2)? >> 3;
                return Some((be32(rest, 4)?, offset == 0));
            }
            _ => return None,
        };
        next = *rest.first()?;
        rest = rest.get(len..)?;
    }
    None
}

/// ICMP has no ports; like Zeek, a flow is keyed on the type, and a request and its reply
/// share one flow: the requester's "port" is the request type, the replier's the reply type.
/// Types without a counterpart use (type, code).
fn icmp_ports(v6: bool, icmp_type: u8, code: u8) -> (u16, u16) {
    let pairs: &[(u8, u8)] = if v6 {
        &[(128, 129), (133, 134), (135, 136), (139, 140)]
    } else {
        &[(8, 0), (13, 14), (15, 16), (17, 18), (10, 9)]
    };
    for &(request, reply) in pairs {
        if icmp_type == request {
            return (u16::from(request), u16::from(reply));
        }
        if icmp_type == reply {
            return (u16::from(reply), u16::from(request));
        }
    }
    (u16::from(icmp_type), u16::from(code))
}

/// The inner IP packet of a GTP-U G-PDU (3GPP TS 29.281 §5), or `None` for anything else
/// (echo, error indication, end marker, or not GTP at all).
pub(crate) fn gtp_u_payload(udp_payload: &[u8]) -> Option<&[u8]> {
    let flags = *udp_payload.first()?;
    let msg_type = *udp_payload.get(1)?;
    // Version 1, protocol type GTP (not GTP'), message G-PDU.
    if flags >> 5 != 1 || flags & 0x10 == 0 || msg_type != 0xff {
        return None;
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        // Sequence number, N-PDU number and next-extension-type fields are present.
        let mut next_ext = *udp_payload.get(11)?;
        at = 12;
        let mut hops = 0;
        while next_ext != 0 {
            let units = usize::from(*udp_payload.get(at)?);
            if units == 0 || hops >= 16 {
                return None;
            }
            at += units * 4;
            next_ext = *udp_payload.get(at.checked_sub(1)?)?;
            hops += 1;
        }
    }
    let inner = udp_payload.get(at..)?;
    match inner.first()? >> 4 {
        4 | 6 => Some(inner),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gtp_with_extension_header() {
        // flags E set, seq/npdu/next-ext = 0x85 (PDU session container), one 4-byte ext.
        let mut pdu = vec![
            0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0,
        ];
        pdu.extend_from_slice(&[0x45, 0, 0, 20]);
        let inner = gtp_u_payload(&pdu).unwrap();
        assert_eq!(inner.first(), Some(&0x45));
        // An echo request is not a G-PDU.
        assert!(gtp_u_payload(&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]).is_none());
    }

    #[test]
    fn icmp_request_and_reply_pair() {
        let (a, b) = icmp_ports(false, 8, 0);
        let (c, d) = icmp_ports(false, 0, 0);
        assert_eq!((a, b), (d, c));
        assert_eq!(icmp_ports(false, 3, 1), (3, 1));
    }
}
