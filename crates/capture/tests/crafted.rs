//! Captures written here, with etherparse's PacketBuilder and the crate's pcap writers, whose
//! content is known exactly: every count in the resulting flows can be checked.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use rampart_capture::synth::{PcapNgWriter, client_hello, dns_response, gtp_u};
use rampart_capture::{CaptureConfig, CaptureError, CaptureFormat, FlowTable, LinkType};
use rampart_core::{ConnState, SignalSource, tcp_flags};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * SEC;

/// A full TCP connection client → server with data both ways and a FIN close.
fn connection(c: [u8; 4], s: [u8; 4], cp: u16, t: i64, request: &[u8]) -> Vec<(i64, Vec<u8>)> {
    vec![
        (t, tcp4(c, s, cp, 80, 100, "S", b"")),
        (t + 1000, tcp4(s, c, 80, cp, 500, "SA", b"")),
        (t + 2000, tcp4(c, s, cp, 80, 101, "A", b"")),
        (t + 3000, tcp4(c, s, cp, 80, 101, "PA", request)),
        (t + 4000, tcp4(s, c, 80, cp, 501, "PA", &[7u8; 300])),
        (t + 5000, tcp4(c, s, cp, 80, 101, "FA", b"")),
        (t + 6000, tcp4(s, c, 80, cp, 801, "FA", b"")),
        (t + 7000, tcp4(c, s, cp, 80, 102, "A", b"")),
    ]
}

#[test]
fn handshake_close_counts_and_http_host() {
    let c = [10, 0, 0, 1];
    let s = [192, 0, 2, 80];
    let req = b"GET / HTTP/1.1\r\nHost: Camera.Example\r\n\r\n";
    let frames: Vec<_> = connection(c, s, 40000, T0, req)
        .into_iter()
        .map(|(t, ip)| (t, eth(&ip)))
        .collect();
    let out = read_bytes(pcap(LinkType::ETHERNET, &frames), CaptureConfig::default());
    assert_eq!(out.flows.len(), 1);
    let f = &out.flows[0];
    assert_eq!(f.source, SignalSource::Pcap);
    assert_eq!(f.src, IpAddr::from(c));
    assert_eq!((f.src_port, f.dst_port, f.protocol), (40000, 80, 6));
    assert_eq!((f.packets, f.rev_packets), (5, 3));
    assert_eq!(f.bytes, 4 * 40 + 40 + req.len() as u64);
    assert_eq!(f.rev_bytes, 3 * 40 + 300);
    assert_eq!(f.state, ConnState::SF);
    assert_eq!(f.tcp_flags & tcp_flags::SYN, tcp_flags::SYN);
    assert_eq!(f.rev_tcp_flags & tcp_flags::FIN, tcp_flags::FIN);
    assert_eq!(f.facts.syns, 1);
    assert_eq!(f.facts.syn_acks, 1);
    assert_eq!(f.facts.seq_eq_dst_syns, 0);
    assert_eq!(f.start.0, T0 / 1_000_000);
    assert_eq!(f.service.as_deref(), Some("http"));
    assert_eq!(out.names.len(), 1);
    assert_eq!(&*out.names[0].name, "camera.example");
    assert_eq!(&*out.names[0].via, "http");
    assert_eq!(out.summary.format, Some(CaptureFormat::Pcap));
    assert_eq!(out.summary.packets, 8);
    assert!(out.summary.error.is_none());
}

#[test]
fn mirai_syns_with_seq_equal_to_destination() {
    let bot = [10, 9, 9, 9];
    let mut frames = Vec::new();
    for i in 0..50u32 {
        let dst = [100, 64, (i >> 8) as u8, i as u8];
        let seq = u32::from_be_bytes(dst);
        frames.push((
            T0 + i64::from(i) * 1000,
            eth(&tcp4(bot, dst, 50000, 23, seq, "S", b"")),
        ));
    }
    for i in 0..10u32 {
        let dst = [198, 51, 100, i as u8];
        frames.push((
            T0 + SEC,
            eth(&tcp4(bot, dst, 50001, 2323, 12345 + i, "S", b"")),
        ));
    }
    let out = read_bytes(pcap(LinkType::ETHERNET, &frames), CaptureConfig::default());
    assert_eq!(out.flows.len(), 60);
    let marked: u32 = out.flows.iter().map(|f| f.facts.seq_eq_dst_syns).sum();
    assert_eq!(marked, 50);
    for f in &out.flows {
        assert_eq!(f.state, ConnState::S0, "{f:?}");
        assert_eq!(f.facts.syns, 1);
        assert_eq!(f.facts.seq_eq_dst_syns, u32::from(f.dst_port == 23));
    }
}

#[test]
fn tls_sni_and_rejected_attempt() {
    let c = [10, 0, 0, 2];
    let s = [203, 0, 113, 5];
    let frames = vec![
        (T0, eth(&tcp4(c, s, 41000, 443, 1, "S", b""))),
        (T0 + 1, eth(&tcp4(s, c, 443, 41000, 9, "SA", b""))),
        (T0 + 2, eth(&tcp4(c, s, 41000, 443, 2, "A", b""))),
        (
            T0 + 3,
            eth(&tcp4(
                c,
                s,
                41000,
                443,
                2,
                "PA",
                &client_hello("Api.Vendor.io"),
            )),
        ),
        (T0 + 4, eth(&tcp4(c, s, 41001, 8443, 1, "S", b""))),
        (T0 + 5, eth(&tcp4(s, c, 8443, 41001, 0, "RA", b""))),
    ];
    let out = read_bytes(pcap(LinkType::ETHERNET, &frames), CaptureConfig::default());
    assert_eq!(out.names.len(), 1);
    assert_eq!(&*out.names[0].name, "api.vendor.io");
    assert_eq!(&*out.names[0].via, "tls");
    assert_eq!(out.names[0].port, 443);
    let rej = out.flows.iter().find(|f| f.dst_port == 8443).unwrap();
    assert_eq!(rej.state, ConnState::REJ);
    assert_eq!(rej.facts.rev_rsts, 1);
    let tls = out.flows.iter().find(|f| f.dst_port == 443).unwrap();
    assert_eq!(tls.state, ConnState::S1);
    assert_eq!(tls.service.as_deref(), Some("ssl"));
}

#[test]
fn dns_response_parsed() {
    let client = [10, 0, 0, 3];
    let resolver = [9, 9, 9, 9];
    let a: IpAddr = "203.0.113.77".parse().unwrap();
    let b: IpAddr = "2001:db8::77".parse().unwrap();
    let mut q = dns_response(0x1234, "c2.bad.example", 0, &[]);
    q[2] = 0x01; // a query: QR bit clear
    q[3] = 0;
    let answer = dns_response(0x1234, "C2.Bad.Example", 0, &[(a, 600), (b, 120)]);
    let nx = dns_response(0x1235, "nope.example", 3, &[]);
    let frames = vec![
        (T0, eth(&udp4(client, resolver, 5353, 53, &q))),
        (T0 + 1000, eth(&udp4(resolver, client, 53, 5353, &answer))),
        (T0 + 2000, eth(&udp4(resolver, client, 53, 5354, &nx))),
    ];
    let out = read_bytes(pcap(LinkType::ETHERNET, &frames), CaptureConfig::default());
    assert_eq!(out.dns.len(), 2);
    let d = &out.dns[0];
    assert_eq!(&*d.query, "c2.bad.example");
    assert_eq!(d.client, IpAddr::from(client));
    assert_eq!(d.server, IpAddr::from(resolver));
    assert_eq!(d.answers, vec![a, b]);
    assert_eq!(d.ttl, Some(120));
    assert_eq!(d.rcode, Some(0));
    assert_eq!(d.qtype, Some(1));
    assert_eq!(out.dns[1].rcode, Some(3));
    assert!(out.dns[1].answers.is_empty());
    let flow = out.flows.iter().find(|f| f.src_port == 5353).unwrap();
    assert_eq!((flow.packets, flow.rev_packets), (1, 1));
    assert_eq!(flow.state, ConnState::SF);
    assert_eq!(flow.service.as_deref(), Some("dns"));
}

/// The same UDP exchange under every supported link type gives the same flow.
#[test]
fn every_link_type() {
    let a = [10, 1, 1, 1];
    let b = [10, 2, 2, 2];
    let ips = [
        udp4(a, b, 1000, 2000, b"ping"),
        udp4(b, a, 2000, 1000, b"pong!"),
    ];
    let sll = |ip: &[u8]| {
        let mut f = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        f.extend_from_slice(ip);
        f
    };
    let sll2 = |ip: &[u8]| {
        let mut f = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        f.extend_from_slice(ip);
        f
    };
    let null_le = |ip: &[u8]| [&2u32.to_le_bytes()[..], ip].concat();
    let loop_be = |ip: &[u8]| [&2u32.to_be_bytes()[..], ip].concat();
    let vlan = |ip: &[u8]| {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&[0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00]);
        f.extend_from_slice(ip);
        f
    };
    let raw = |ip: &[u8]| ip.to_vec();
    type Wrap<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
    let cases: Vec<(LinkType, Wrap<'_>)> = vec![
        (LinkType::ETHERNET, &eth),
        (LinkType::ETHERNET, &vlan),
        (LinkType::LINUX_SLL, &sll),
        (LinkType::LINUX_SLL2, &sll2),
        (LinkType::NULL, &null_le),
        (LinkType::LOOP, &loop_be),
        (LinkType::RAW, &raw),
        (LinkType::IPV4, &raw),
        (LinkType::RAW_BSD, &raw),
    ];
    for (lt, wrap) in cases {
        let frames: Vec<_> = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| (T0 + i as i64, wrap(ip)))
            .collect();
        let out = read_bytes(pcap(lt, &frames), CaptureConfig::default());
        assert_eq!(out.flows.len(), 1, "{lt:?}");
        let f = &out.flows[0];
        assert_eq!((f.packets, f.rev_packets), (1, 1), "{lt:?}");
        assert_eq!((f.bytes, f.rev_bytes), (32, 33), "{lt:?}");
        assert_eq!(f.state, ConnState::SF);
    }
    // IPv6 on the raw IPv6 link type and BSD NULL with AF_INET6 = 30.
    let v6a = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let v6b = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let ip6 = udp6(v6a, v6b, 5683, 5683, b"coap");
    for (lt, frame) in [
        (LinkType::IPV6, ip6.clone()),
        (LinkType::NULL, [&30u32.to_le_bytes()[..], &ip6].concat()),
    ] {
        let out = read_bytes(pcap(lt, &[(T0, frame)]), CaptureConfig::default());
        assert_eq!(out.flows.len(), 1);
        assert_eq!(out.flows[0].bytes, 40 + 8 + 4);
    }
    // A link type nobody decodes is counted, not fatal.
    let out = read_bytes(
        pcap(LinkType(147), &[(T0, vec![1, 2, 3])]),
        CaptureConfig::default(),
    );
    assert_eq!(out.summary.unsupported_link_types.get(&147), Some(&1));
    assert!(out.flows.is_empty());
}

#[test]
fn pcapng_interfaces_with_different_link_types_and_resolutions() {
    let a = [10, 1, 1, 1];
    let b = [10, 2, 2, 2];
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let eth_if = w.interface(LinkType::ETHERNET, 6).unwrap();
    let raw_if = w.interface(LinkType::RAW, 9).unwrap();
    w.write(eth_if, T0, &eth(&udp4(a, b, 1, 2, b"x"))).unwrap();
    w.write(raw_if, T0 + 1_234_567, &udp4(b, a, 2, 1, b"y"))
        .unwrap();
    w.write(raw_if, T0 + 2 * SEC + 5, &udp4(a, b, 7, 8, b"z"))
        .unwrap();
    let out = read_bytes(w.into_inner().unwrap(), CaptureConfig::default());
    assert_eq!(out.summary.format, Some(CaptureFormat::PcapNg));
    assert_eq!(out.summary.interfaces, 2);
    assert_eq!(out.flows.len(), 2);
    let f = out.flows.iter().find(|f| f.src_port == 1).unwrap();
    assert_eq!((f.packets, f.rev_packets), (1, 1));
    assert_eq!(f.start.0, T0 / 1_000_000);
    assert_eq!(f.end.0, (T0 + 1_234_567) / 1_000_000);
    let g = out.flows.iter().find(|f| f.src_port == 7).unwrap();
    assert_eq!(g.start.0, (T0 + 2 * SEC) / 1_000_000);
}

#[test]
fn gtp_u_is_decapsulated() {
    let enb = [172, 16, 0, 1];
    let sgw = [172, 16, 0, 2];
    let ue = [100, 64, 1, 2];
    let server = [198, 51, 100, 9];
    let up = gtp_u(0x1234, &tcp4(ue, server, 33000, 443, 1, "S", b""));
    let down = gtp_u(0x5678, &tcp4(server, ue, 443, 33000, 1, "SA", b""));
    let frames = vec![
        (T0, eth(&udp4(enb, sgw, 2152, 2152, &up))),
        (T0 + 1000, eth(&udp4(sgw, enb, 2152, 2152, &down))),
    ];
    let bytes = pcap(LinkType::ETHERNET, &frames);
    let out = read_bytes(bytes.clone(), CaptureConfig::default());
    assert_eq!(out.flows.len(), 1);
    let f = &out.flows[0];
    assert_eq!(f.src, IpAddr::from(ue));
    assert_eq!((f.dst_port, f.protocol), (443, 6));
    assert_eq!(out.summary.table.tunneled, 2);
    // Off: the tunnel itself is the flow.
    let cfg = CaptureConfig {
        gtp_decap: false,
        ..CaptureConfig::default()
    };
    let out = read_bytes(bytes, cfg);
    assert_eq!(out.flows.len(), 1);
    assert_eq!(out.flows[0].dst_port, 2152);
}

#[test]
fn timeouts_close_and_port_reuse() {
    let a = [10, 0, 0, 1];
    let b = [10, 0, 0, 2];
    let mut frames = vec![
        (T0, eth(&udp4(a, b, 5000, 6000, b"1"))),
        (T0 + 30 * SEC, eth(&udp4(a, b, 5000, 6000, b"2"))),
        // 61 s of silence: a new flow.
        (T0 + 91 * SEC, eth(&udp4(a, b, 5000, 6000, b"3"))),
    ];
    // A connection closed, then the same ports reused by a new SYN.
    for start in [T0 + 100 * SEC, T0 + 101 * SEC] {
        let conn = connection(a, b, 40001, start, b"GET / HTTP/1.0\r\n\r\n");
        frames.extend(conn.into_iter().map(|(t, ip)| (t, eth(&ip))));
    }
    let bytes = pcap(LinkType::ETHERNET, &frames);
    let mut table = FlowTable::new(CaptureConfig::default());
    let mut emitted_at = Vec::new();
    for (ts, frame) in &frames {
        table.process(*ts, LinkType::ETHERNET, frame);
        while let Some(e) = table.pop_event() {
            if let rampart_capture::CaptureEvent::Flow(f) = e {
                emitted_at.push((*ts, f.src_port, f.packets + f.rev_packets));
            }
        }
    }
    // The first UDP flow (2 packets) ends when the packet 61 s later arrives; the first TCP
    // connection when the reuse SYN comes.
    assert_eq!(emitted_at[0], (T0 + 91 * SEC, 5000, 2));
    assert_eq!(emitted_at[1], (T0 + 101 * SEC, 40001, 8));
    let out = read_bytes(bytes, CaptureConfig::default());
    assert_eq!(out.flows.iter().filter(|f| f.protocol == 17).count(), 2);
    let tcp: Vec<_> = out.flows.iter().filter(|f| f.protocol == 6).collect();
    assert_eq!(tcp.len(), 2);
    assert!(tcp.iter().all(|f| f.state == ConnState::SF));
    // A closed connection is reported 5 s after its last packet, not 5 min.
    let mut table = FlowTable::new(CaptureConfig::default());
    for (ts, ip) in connection(a, b, 40002, T0, b"x") {
        table.process(ts, LinkType::RAW, &ip);
    }
    table.advance_to(T0 + 4 * SEC);
    assert!(table.pop_event().is_none());
    table.advance_to(T0 + 6 * SEC);
    assert!(matches!(
        table.pop_event(),
        Some(rampart_capture::CaptureEvent::Flow(_))
    ));
}

#[test]
fn full_table_evicts_oldest() {
    let cfg = CaptureConfig {
        max_flows: 10,
        ..CaptureConfig::default()
    };
    let mut frames = Vec::new();
    for i in 0..100u16 {
        frames.push((
            T0 + i64::from(i),
            eth(&udp4([10, 0, 0, 1], [10, 0, 1, 1], 1000 + i, 53, b"q")),
        ));
    }
    let out = read_bytes(pcap(LinkType::ETHERNET, &frames), cfg);
    assert_eq!(out.flows.len(), 100);
    assert_eq!(out.summary.table.evicted, 90);
    assert_eq!(out.summary.table.peak_flows, 10);
    // Evicted oldest first: flows come out in port order.
    let ports: Vec<_> = out.flows.iter().map(|f| f.src_port).collect();
    assert_eq!(ports, (1000..1100).collect::<Vec<_>>());
}

#[test]
fn snapped_packets_count_ip_bytes_from_header() {
    let ip = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 1, 2, 0, "A", &[0u8; 1400]);
    let frame = eth(&ip);
    let mut w =
        rampart_capture::synth::PcapWriter::new(Vec::new(), LinkType::ETHERNET, 96).unwrap();
    w.write(T0, &frame[..96], Some(frame.len() as u32)).unwrap();
    let out = read_bytes(w.into_inner().unwrap(), CaptureConfig::default());
    assert_eq!(out.summary.snapped, 1);
    assert_eq!(out.summary.table.truncated, 1);
    assert_eq!(out.flows[0].bytes, 1440);
}

#[test]
fn file_cut_anywhere_keeps_what_was_read() {
    let c = [10, 0, 0, 1];
    let s = [10, 0, 0, 2];
    let mut frames = Vec::new();
    for i in 0..20u16 {
        frames.extend(connection(
            c,
            s,
            30000 + i,
            T0 + i64::from(i) * SEC,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ));
    }
    let frames: Vec<_> = frames.into_iter().map(|(t, ip)| (t, eth(&ip))).collect();
    let full = pcap(LinkType::ETHERNET, &frames);
    let whole = read_bytes(full.clone(), CaptureConfig::default());
    assert_eq!(whole.flows.len(), 20);
    let mut saw_truncated = 0;
    for cut in (24..full.len()).step_by(37) {
        let out = read_bytes(full[..cut].to_vec(), CaptureConfig::default());
        let packets: u64 = out.flows.iter().map(|f| f.packets + f.rev_packets).sum();
        assert_eq!(packets, out.summary.table.ip_packets);
        assert!(out.summary.packets <= 160);
        if matches!(out.summary.error, Some(CaptureError::Truncated { .. })) {
            saw_truncated += 1;
        }
    }
    assert!(saw_truncated > 10);
    // Half a file: about half the packets, and the reason.
    let out = read_bytes(full[..full.len() / 2].to_vec(), CaptureConfig::default());
    assert!(
        (70..=90).contains(&out.summary.packets),
        "{}",
        out.summary.packets
    );
    assert!(matches!(
        out.summary.error,
        Some(CaptureError::Truncated { .. })
    ));
    // Too short for a header, and not a capture at all: errors at open.
    assert!(
        rampart_capture::CaptureReader::from_reader(
            std::io::Cursor::new(full[..10].to_vec()),
            CaptureConfig::default()
        )
        .is_err()
    );
    assert!(matches!(
        rampart_capture::CaptureReader::from_reader(
            std::io::Cursor::new(vec![b'x'; 100]),
            CaptureConfig::default()
        ),
        Err(CaptureError::NotACapture)
    ));
}

#[test]
fn idle_attempts_end_after_attempt_timeout() {
    let cfg = CaptureConfig {
        attempt_timeout: Duration::from_secs(5),
        ..CaptureConfig::default()
    };
    let mut table = FlowTable::new(cfg);
    table.process(
        T0,
        LinkType::RAW,
        &tcp4([1, 1, 1, 1], [2, 2, 2, 2], 1, 23, 0, "S", b""),
    );
    table.advance_to(T0 + 6 * SEC);
    let Some(rampart_capture::CaptureEvent::Flow(f)) = table.pop_event() else {
        panic!("attempt not reported");
    };
    assert_eq!(f.state, ConnState::S0);
    assert_eq!(table.active_flows(), 0);
}
