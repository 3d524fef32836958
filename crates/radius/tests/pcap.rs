//! Decodes every RADIUS datagram of the public captures in `/work/shared/data` and checks
//! fields against what tshark 4.0.17 prints for them.
//!
//! Skips (with a message) when the data directory is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use rampart_radius::{
    AcctStatusType, AcctTerminateCause, AttributeType, Code, Ipv6Prefix, NasPortType, Packet,
};

const RADIUS_PORTS: &[u16] = &[1812, 1813, 1645, 1646, 1700, 3799];

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: ../shared/data not found");
    None
}

/// A UDP datagram from a capture.
struct Datagram {
    src_port: u16,
    dst_port: u16,
    payload: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(v)
    } else {
        u16::from_be_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(v)
    } else {
        u32::from_be_bytes(v)
    }
}

/// Frames of a classic pcap or a pcapng file, with their link type.
fn frames(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    match &file[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xa1, 0xb2, 0x3c, 0x4d] => {
            let le = file[0] != 0xa1;
            let linktype = u32_at(file, 20, le);
            let mut pos = 24;
            while pos + 16 <= file.len() {
                let caplen = u32_at(file, pos + 8, le) as usize;
                let data = &file[pos + 16..pos + 16 + caplen];
                out.push((linktype, data.to_vec()));
                pos += 16 + caplen;
            }
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let le = file[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
            let mut linktypes = Vec::new();
            let mut pos = 0;
            while pos + 12 <= file.len() {
                let kind = u32_at(file, pos, le);
                let len = u32_at(file, pos + 4, le) as usize;
                let body = &file[pos + 8..pos + len - 4];
                match kind {
                    1 => linktypes.push(u32::from(u16_at(body, 0, le))),
                    6 => {
                        let iface = u32_at(body, 0, le) as usize;
                        let caplen = u32_at(body, 12, le) as usize;
                        out.push((linktypes[iface], body[20..20 + caplen].to_vec()));
                    }
                    _ => {}
                }
                pos += len;
            }
        }
        magic => panic!("not a capture file: {magic:02x?}"),
    }
    out
}

/// Strips link, IP and UDP headers; `None` for anything that is not a first-fragment UDP.
fn udp(linktype: u32, frame: &[u8]) -> Option<Datagram> {
    let (mut ethertype, mut ip) = match linktype {
        1 => (u16_at(frame, 12, false), &frame[14..]),
        113 => (u16_at(frame, 14, false), &frame[16..]),
        276 => (u16_at(frame, 0, false), &frame[20..]),
        // BSD loopback: address family in host byte order of the capturing machine.
        0 => match u32_at(frame, 0, true).min(u32_at(frame, 0, false)) {
            2 => (0x0800, &frame[4..]),
            24 | 28 | 30 => (0x86dd, &frame[4..]),
            _ => return None,
        },
        101 | 12 | 14 => (if frame[0] >> 4 == 6 { 0x86dd } else { 0x0800 }, frame),
        other => panic!("unsupported link type {other}"),
    };
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16_at(ip, 2, false);
        ip = &ip[4..];
    }
    let segment = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let total = usize::from(u16_at(ip, 2, false));
            let frag_offset = u16_at(ip, 6, false) & 0x1fff;
            if ip[9] != 17 || frag_offset != 0 {
                return None;
            }
            &ip[ihl..total.min(ip.len())]
        }
        0x86dd => {
            let payload_len = usize::from(u16_at(ip, 4, false));
            let mut next = ip[6];
            let mut rest = &ip[40..(40 + payload_len).min(ip.len())];
            while matches!(next, 0 | 43 | 60) {
                next = rest[0];
                rest = &rest[(usize::from(rest[1]) + 1) * 8..];
            }
            if next != 17 {
                return None;
            }
            rest
        }
        _ => return None,
    };
    let udp_len = usize::from(u16_at(segment, 4, false));
    Some(Datagram {
        src_port: u16_at(segment, 0, false),
        dst_port: u16_at(segment, 2, false),
        payload: segment[8..udp_len.min(segment.len())].to_vec(),
    })
}

fn datagrams(path: &Path) -> Vec<Datagram> {
    let file = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    frames(&file)
        .into_iter()
        .filter_map(|(linktype, frame)| udp(linktype, &frame))
        .collect()
}

/// Decodes all RADIUS datagrams of a capture, checking that each re-encodes exactly.
fn radius_packets(path: &Path) -> Vec<Packet> {
    datagrams(path)
        .into_iter()
        .filter(|d| RADIUS_PORTS.contains(&d.src_port) || RADIUS_PORTS.contains(&d.dst_port))
        .map(|d| {
            let packet = Packet::decode(&d.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {:02x?}", path.display(), d.payload));
            let len = usize::from(u16::from_be_bytes([d.payload[2], d.payload[3]]));
            assert_eq!(
                packet.encode().unwrap(),
                d.payload[..len],
                "{}",
                path.display()
            );
            packet
        })
        .collect()
}

#[test]
fn every_radius_datagram_decodes() {
    let Some(data) = shared_data() else { return };
    // Packet counts as listed by `tshark -r FILE -Y radius`.
    let expected = [
        ("pcap/tcpdump/RADIUS.pcap", 4),
        ("pcap/tcpdump/RADIUS-RFC3162.pcap", 1),
        ("pcap/tcpdump/RADIUS-RFC4675.pcap", 6),
        ("pcap/tcpdump/RADIUS-RFC5176.pcap", 6),
        ("pcap/tcpdump/RADIUS-RFC5176-2.pcap", 1),
        ("pcap/tcpdump/RADIUS-RFC5580.pcap", 1),
        ("pcap/tcpdump/RADIUS-port1700.pcap", 1),
        ("pcap/tcpdump/radius_rfc5447.pcap", 1),
        ("pcap/zeek/radius2.pcap", 34),
        ("pcap/zeek/radius_localhost.pcap", 19),
    ];
    for (file, count) in expected {
        assert_eq!(radius_packets(&data.join(file)).len(), count, "{file}");
    }
}

#[test]
fn rfc5176_codes_and_message_authenticators() {
    let Some(data) = shared_data() else { return };
    let packets = radius_packets(&data.join("pcap/tcpdump/RADIUS-RFC5176.pcap"));
    let codes: Vec<_> = packets.iter().map(|p| (p.code, p.identifier)).collect();
    assert_eq!(
        codes,
        [
            (Code::DisconnectRequest, 1),
            (Code::DisconnectAck, 2),
            (Code::DisconnectNak, 3),
            (Code::CoaRequest, 4),
            (Code::CoaAck, 5),
            (Code::CoaNak, 6),
        ]
    );
    assert_eq!(
        packets[0].message_authenticator(),
        Some([
            0x58, 0x51, 0x3d, 0x66, 0x28, 0x47, 0xe5, 0xf8, 0x73, 0x4a, 0x30, 0xdb, 0xda, 0xc8,
            0xe4, 0xaf
        ])
    );
    let port1700 = radius_packets(&data.join("pcap/tcpdump/RADIUS-port1700.pcap"));
    assert_eq!(port1700[0].code, Code::CoaRequest);
    assert_eq!(port1700[0].identifier, 166);
    assert_eq!(port1700[0].user_name(), Some("bob"));
}

#[test]
fn rfc3162_ipv6_attributes() {
    let Some(data) = shared_data() else { return };
    let packets = radius_packets(&data.join("pcap/tcpdump/RADIUS-RFC3162.pcap"));
    let p = &packets[0];
    assert_eq!(p.identifier, 240);
    assert_eq!(
        p.nas_ipv6_address(),
        Some("2001:db8:a0b:12f0::1".parse::<Ipv6Addr>().unwrap())
    );
    let prefixes: Vec<_> = p
        .values(AttributeType::FRAMED_IPV6_PREFIX)
        .map(Ipv6Prefix::decode)
        .collect();
    let net: Ipv6Addr = "2001:db8:a0b:12f0::".parse().unwrap();
    // tshark: /64, /64, ::/0, then three it flags as malformed.
    assert_eq!(prefixes[0], Ok(Ipv6Prefix::new(net, 64).unwrap()));
    assert_eq!(prefixes[1], Ok(Ipv6Prefix::new(net, 64).unwrap()));
    assert_eq!(
        prefixes[2],
        Ok(Ipv6Prefix::new(Ipv6Addr::UNSPECIFIED, 0).unwrap())
    );
    assert!(prefixes[3..].iter().all(Result::is_err), "{prefixes:?}");
    assert_eq!(
        p.framed_ipv6_prefix(),
        Some(Ipv6Prefix::new(net, 64).unwrap())
    );
}

#[test]
fn zeek_accounting_fields() {
    let Some(data) = shared_data() else { return };
    let packets = radius_packets(&data.join("pcap/zeek/radius2.pcap"));
    let start = &packets[14];
    assert_eq!(start.code, Code::AccountingRequest);
    assert_eq!(start.identifier, 53);
    assert_eq!(start.acct_status_type(), Some(AcctStatusType::Start));
    assert_eq!(start.acct_session_id(), Some("451859ED-00000005"));
    assert_eq!(start.user_name(), Some("test"));
    assert_eq!(start.nas_ip_address(), Some([10, 1, 12, 20].into()));
    assert_eq!(start.nas_port(), Some(0));
    assert_eq!(
        start.called_station_id(),
        Some("00-02-6F-21-EC-52:CRCnet-test")
    );
    assert_eq!(start.calling_station_id(), Some("00-02-6F-21-EC-5F"));
    assert_eq!(start.nas_port_type(), Some(NasPortType::Wireless80211));
    let stop = &packets[16];
    assert_eq!(stop.acct_status_type(), Some(AcctStatusType::Stop));
    assert_eq!(stop.acct_session_time(), Some(2));
    // Sep 25, 2006 22:43:01 UTC.
    assert_eq!(stop.event_timestamp(), Some(1_159_224_181));
    assert_eq!(
        stop.acct_terminate_cause(),
        Some(AcctTerminateCause::UserRequest)
    );
    let response = &packets[15];
    assert_eq!(response.code, Code::AccountingResponse);
    assert!(response.attributes.is_empty());
}

#[test]
fn eap_exchange_fields() {
    let Some(data) = shared_data() else { return };
    let packets = radius_packets(&data.join("pcap/tcpdump/RADIUS.pcap"));
    let accept = &packets[3];
    assert_eq!(accept.code, Code::AccessAccept);
    assert_eq!(accept.reply_message(), Some("Hello, John.McGuirk"));
    assert_eq!(accept.user_name(), Some("John.McGuirk"));
    assert_eq!(
        accept.value(AttributeType::EAP_MESSAGE).map(<[u8]>::len),
        Some(4)
    );
    let localhost = radius_packets(&data.join("pcap/zeek/radius_localhost.pcap"));
    assert_eq!(localhost[0].user_name(), Some("steve"));
    assert_eq!(localhost[0].nas_port(), Some(123));
    assert_eq!(localhost[13].code, Code::AccessReject);
}

/// nDPI once misclassified this QUIC capture as RADIUS; none of it may decode.
#[test]
fn quic_false_positive_is_rejected() {
    let Some(data) = shared_data() else { return };
    let all = datagrams(&data.join("pcap/ndpi/radius_false_positive.pcapng"));
    assert!(!all.is_empty());
    let accepted: Vec<_> = all
        .iter()
        .filter(|d| Packet::decode(&d.payload).is_ok())
        .map(|d| d.payload.len())
        .collect();
    assert!(accepted.is_empty(), "decoded as radius: {accepted:?}");
}
