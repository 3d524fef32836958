//! Encode → decode gives back the same flows, for v5, v9 and IPFIX.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use proptest::prelude::*;
use rampart_core::{FlowRecord, SignalSource, Timestamp, proto};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use rampart_netflow::{Collector, CollectorLimits, conn_state};

const EXPORT_MS: i64 = 1_704_067_200_000;

fn exporter() -> SocketAddr {
    "192.0.2.7:40000".parse().unwrap()
}

fn flow_strategy(v6: bool, bidir: bool, wide: bool) -> impl Strategy<Value = FlowRecord> {
    let addr = move || -> BoxedStrategy<IpAddr> {
        if v6 {
            prop_oneof![
                any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            ]
            .boxed()
        } else {
            any::<u32>()
                .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                .boxed()
        }
    };
    let counter = move || {
        if wide {
            (0..u64::MAX).boxed()
        } else {
            (0..u64::from(u32::MAX)).boxed()
        }
    };
    (
        addr(),
        addr(),
        any::<u16>(),
        any::<u16>(),
        prop_oneof![
            Just(proto::TCP),
            Just(proto::UDP),
            Just(proto::ICMP),
            any::<u8>()
        ],
        counter(),
        counter(),
        any::<u8>(),
        (-3_600_000i64..0, 0i64..3_600_000),
        if bidir {
            (counter(), counter(), any::<u8>()).boxed()
        } else {
            Just((0, 0, 0)).boxed()
        },
    )
        .prop_map(
            move |(src, dst, sp, dp, protocol, packets, bytes, flags, (s, d), (rp, rb, rf))| {
                // An IPv4 peer of an IPv6 flow travels mapped, and comes back so.
                let (src, dst) = if src.is_ipv6() != dst.is_ipv6() {
                    (map6(src), map6(dst))
                } else {
                    (src, dst)
                };
                let icmp = protocol == proto::ICMP || protocol == proto::ICMPV6;
                let (sp, dp) = if icmp {
                    (sp & 0xff, dp & 0xff)
                } else {
                    (sp, dp)
                };
                let start = EXPORT_MS + s;
                FlowRecord {
                    source: SignalSource::Ipfix,
                    exporter: Some(Arc::from("192.0.2.7")),
                    uid: None,
                    start: Timestamp(start),
                    end: Timestamp((start + d).min(EXPORT_MS)),
                    src,
                    dst,
                    src_port: sp,
                    dst_port: dp,
                    protocol,
                    packets,
                    bytes,
                    rev_packets: rp,
                    rev_bytes: rb,
                    tcp_flags: flags,
                    rev_tcp_flags: rf,
                    state: conn_state(protocol, flags),
                    service: None,
                    facts: Default::default(),
                }
            },
        )
}

fn map6(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    }
}

fn round_trip(version: ExportVersion, flows: &[FlowRecord], export_ms: i64) -> Vec<FlowRecord> {
    let mut enc = Encoder::new(EncoderOptions::new(version));
    let packets = enc.encode(flows, Timestamp(export_ms)).unwrap();
    let mut c = Collector::new(CollectorLimits::default()).unwrap();
    let mut out = Vec::new();
    for p in packets {
        c.ingest(exporter(), &p, &mut out).unwrap();
    }
    out
}

fn expect(flows: &[FlowRecord], source: SignalSource) -> Vec<FlowRecord> {
    flows
        .iter()
        .cloned()
        .map(|mut f| {
            f.source = source;
            f
        })
        .collect()
}

proptest! {
    #[test]
    fn ipfix_round_trip(flows in prop::collection::vec(flow_strategy(true, true, true), 0..120)) {
        let got = round_trip(ExportVersion::Ipfix, &flows, EXPORT_MS);
        prop_assert_eq!(got, expect(&flows, SignalSource::Ipfix));
    }

    #[test]
    fn v9_round_trip(flows in prop::collection::vec(flow_strategy(true, false, true), 0..120)) {
        // v9 carries whole seconds in its header; keep the export time on a second.
        let got = round_trip(ExportVersion::V9, &flows, EXPORT_MS);
        prop_assert_eq!(got, expect(&flows, SignalSource::NetflowV9));
    }

    #[test]
    fn v5_round_trip(
        flows in prop::collection::vec(flow_strategy(false, false, false), 0..100),
        ms in 0i64..1000,
    ) {
        let got = round_trip(ExportVersion::V5, &flows, EXPORT_MS + ms);
        prop_assert_eq!(got, expect(&flows, SignalSource::NetflowV5));
    }
}

#[test]
fn v5_refuses_ipv6_and_wide_counters() {
    let mut f = round_trip_seed();
    f.src = "2001:db8::1".parse().unwrap();
    assert!(rampart_netflow::encode::encode_v5(&[f], Timestamp(EXPORT_MS)).is_err());
    let mut g = round_trip_seed();
    g.bytes = u64::from(u32::MAX) + 1;
    assert!(rampart_netflow::encode::encode_v5(&[g], Timestamp(EXPORT_MS)).is_err());
}

fn round_trip_seed() -> FlowRecord {
    FlowRecord {
        source: SignalSource::NetflowV5,
        exporter: Some(Arc::from("192.0.2.7")),
        uid: None,
        start: Timestamp(EXPORT_MS - 1000),
        end: Timestamp(EXPORT_MS),
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        src_port: 1234,
        dst_port: 23,
        protocol: proto::TCP,
        packets: 1,
        bytes: 40,
        rev_packets: 0,
        rev_bytes: 0,
        tcp_flags: 2,
        rev_tcp_flags: 0,
        state: rampart_core::ConnState::S0,
        service: None,
        facts: Default::default(),
    }
}

/// The exporter name is one shared allocation per exporter, not one per flow.
#[test]
fn exporter_name_is_shared() {
    let flows = vec![round_trip_seed(); 10];
    let got = round_trip(ExportVersion::V9, &flows, EXPORT_MS);
    assert_eq!(got.len(), 10);
    let first = got[0].exporter.clone().unwrap();
    assert!(
        got.iter()
            .all(|f| Arc::ptr_eq(f.exporter.as_ref().unwrap(), &first))
    );
    assert_eq!(&*first, "192.0.2.7");
    assert_eq!(got[0].state, rampart_core::ConnState::S0);
}
