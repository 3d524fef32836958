//! Property tests: arbitrary frames and files never panic, and flows built from a known set
//! of packets come back with exactly those counts.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::collections::HashMap;
use std::io::Cursor;

use common::*;
use proptest::prelude::*;
use rampart_capture::{CaptureConfig, CaptureEvent, CaptureReader, FlowTable, LinkType};

const LINK_TYPES: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

/// Frames that reach deep: a plausible header prefix for the link type, then random bytes.
fn frame() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0..LINK_TYPES.len(),
        prop::collection::vec(any::<u8>(), 0..200),
        0u8..4,
    )
        .prop_map(|(lt, mut tail, shape)| {
            let mut f = match (LINK_TYPES[lt], shape) {
                (LinkType::ETHERNET, 0) => vec![0; 12],
                (LinkType::ETHERNET, 1) => [vec![0; 12], vec![0x08, 0x00, 0x45, 0]].concat(),
                (LinkType::ETHERNET, 2) => {
                    [vec![0; 12], vec![0x81, 0, 0, 1, 0x86, 0xdd, 0x60]].concat()
                }
                (LinkType::RAW | LinkType::IPV4, 0) => vec![0x45, 0, 0, 60, 0, 0, 0x20, 0, 64, 17],
                (LinkType::RAW | LinkType::IPV6, 1) => vec![0x60, 0, 0, 0, 0, 40, 44, 64],
                (LinkType::NULL, _) => vec![2, 0, 0, 0, 0x45],
                _ => Vec::new(),
            };
            f.append(&mut tail);
            (lt, f)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_frames_never_panic(frames in prop::collection::vec(frame(), 1..40)) {
        let mut table = FlowTable::new(CaptureConfig { max_flows: 8, ..CaptureConfig::default() });
        for (i, (lt, f)) in frames.iter().enumerate() {
            table.process(i as i64 * 1_000_000_000, LINK_TYPES[*lt], f);
        }
        table.finish();
        let mut n = 0;
        while table.pop_event().is_some() { n += 1; }
        prop_assert!(n <= frames.len() * 2);
        prop_assert_eq!(table.active_flows(), 0);
    }

    #[test]
    fn random_files_never_panic(prefix in 0usize..3, body in prop::collection::vec(any::<u8>(), 0..600)) {
        let header: Vec<u8> = match prefix {
            0 => pcap(LinkType::ETHERNET, &[]),
            1 => vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0],
            _ => Vec::new(),
        };
        let bytes = [header, body].concat();
        if let Ok(reader) = CaptureReader::from_reader(Cursor::new(bytes), CaptureConfig::default()) {
            let out = collect(reader);
            prop_assert!(out.summary.packets < 600);
        }
    }

    /// Random conversations (UDP and TCP, both directions, random sizes) come back with
    /// exactly the packets and IP bytes that were written.
    #[test]
    fn crafted_flows_round_trip(
        convs in prop::collection::vec(
            (any::<u8>(), 1u16..60000, any::<bool>(), prop::collection::vec((any::<bool>(), 0usize..400), 1..12)),
            1..20,
        )
    ) {
        let mut frames = Vec::new();
        let mut expected = HashMap::new();
        let mut t = 1_600_000_000_000_000_000i64;
        for (i, (host, port, tcp, packets)) in convs.iter().enumerate() {
            let client = [10, 0, *host, 1];
            let server = [10, 1, 0, i as u8];
            let (mut fwd, mut rev) = ((0u64, 0u64), (0u64, 0u64));
            for (from_client, size) in packets {
                let payload = vec![0u8; *size];
                let (s, d, sp, dp) = if *from_client {
                    (client, server, *port, 9000)
                } else {
                    (server, client, 9000, *port)
                };
                let ip = if *tcp {
                    tcp4(s, d, sp, dp, 1, "A", &payload)
                } else {
                    udp4(s, d, sp, dp, &payload)
                };
                let c = if *from_client { &mut fwd } else { &mut rev };
                c.0 += 1;
                c.1 += ip.len() as u64;
                t += 1_000_000;
                frames.push((t, eth(&ip)));
            }
            // The first packet's sender is the originator.
            let (orig_fwd, orig) = if packets[0].0 { (fwd, client) } else { (rev, server) };
            let other = if packets[0].0 { rev } else { fwd };
            expected.insert((std::net::IpAddr::from(orig), if packets[0].0 { *port } else { 9000 }),
                            (orig_fwd, other));
        }
        let out = read_bytes(pcap(LinkType::ETHERNET, &frames), CaptureConfig::default());
        prop_assert_eq!(out.flows.len(), convs.len());
        for f in &out.flows {
            let (fwd, rev) = expected[&(f.src, f.src_port)];
            prop_assert_eq!((f.packets, f.bytes), fwd);
            prop_assert_eq!((f.rev_packets, f.rev_bytes), rev);
        }
        let _ = CaptureEvent::Flow(out.flows[0].clone()).time();
    }
}
