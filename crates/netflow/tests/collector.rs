//! Collector behaviour: data before its template, sampling, caps, refusals.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use rampart_netflow::{Collector, CollectorLimits, DecodeError};

const EXPORT_MS: i64 = 1_704_067_200_000;

fn flow(i: u8) -> FlowRecord {
    FlowRecord {
        source: SignalSource::NetflowV9,
        exporter: None,
        uid: None,
        start: Timestamp(EXPORT_MS - 5000),
        end: Timestamp(EXPORT_MS - 1000),
        src: format!("10.0.0.{i}").parse().unwrap(),
        dst: "198.51.100.1".parse().unwrap(),
        src_port: 40000,
        dst_port: 23,
        protocol: proto::TCP,
        packets: 2,
        bytes: 120,
        rev_packets: 0,
        rev_bytes: 0,
        tcp_flags: 2,
        rev_tcp_flags: 0,
        state: ConnState::S0,
        service: None,
        facts: Default::default(),
    }
}

fn addr(n: u8) -> SocketAddr {
    format!("192.0.2.{n}:2055").parse().unwrap()
}

/// Two packets of one exporter: templates and flows 1..=3, then flows 4..=5 only.
fn two_packets(version: ExportVersion) -> (Vec<u8>, Vec<u8>) {
    let mut opts = EncoderOptions::new(version);
    opts.template_refresh = 0;
    let mut enc = Encoder::new(opts);
    let first = enc
        .encode(&[flow(1), flow(2), flow(3)], Timestamp(EXPORT_MS))
        .unwrap();
    let second = enc
        .encode(&[flow(4), flow(5)], Timestamp(EXPORT_MS))
        .unwrap();
    (first[0].clone(), second[0].clone())
}

#[test]
fn data_before_template_is_buffered_then_replayed() {
    for version in [ExportVersion::V9, ExportVersion::Ipfix] {
        let (with_templates, data_only) = two_packets(version);
        let mut c = Collector::new(CollectorLimits::default()).unwrap();
        let mut out = Vec::new();
        let r = c.ingest(addr(1), &data_only, &mut out).unwrap();
        assert_eq!((r.records, r.sets_without_template), (0, 0), "{version:?}");
        assert_eq!(c.pending_sets(), 1);
        let r = c.ingest(addr(1), &with_templates, &mut out).unwrap();
        assert_eq!(r.records, 5, "{version:?}: buffered flows replayed");
        assert_eq!(c.pending_sets(), 0);
        let mut srcs: Vec<_> = out.iter().map(|f| f.src.to_string()).collect();
        srcs.sort();
        assert_eq!(
            srcs,
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]
        );
    }
}

#[test]
fn data_before_template_is_counted_when_buffering_is_off() {
    let (with_templates, data_only) = two_packets(ExportVersion::V9);
    let limits = CollectorLimits {
        pending_bytes_per_exporter: 0,
        ..CollectorLimits::default()
    };
    let mut c = Collector::new(limits).unwrap();
    let mut out = Vec::new();
    let r = c.ingest(addr(1), &data_only, &mut out).unwrap();
    assert_eq!((r.records, r.sets_without_template), (0, 1));
    let r = c.ingest(addr(1), &with_templates, &mut out).unwrap();
    assert_eq!(r.records, 3);
}

#[test]
fn templates_are_scoped_per_exporter() {
    let (with_templates, data_only) = two_packets(ExportVersion::Ipfix);
    let mut c = Collector::new(CollectorLimits {
        pending_bytes_per_exporter: 0,
        ..CollectorLimits::default()
    })
    .unwrap();
    let mut out = Vec::new();
    c.ingest(addr(1), &with_templates, &mut out).unwrap();
    // Another exporter's data does not use exporter 1's templates.
    let r = c.ingest(addr(2), &data_only, &mut out).unwrap();
    assert_eq!((r.records, r.sets_without_template), (0, 1));
    // The same exporter from another source port does.
    let same_host: SocketAddr = "192.0.2.1:61000".parse().unwrap();
    let r = c.ingest(same_host, &data_only, &mut out).unwrap();
    assert_eq!(r.records, 2);
    assert_eq!(out.last().unwrap().exporter.as_deref(), Some("192.0.2.1"));
}

#[test]
fn exporters_are_capped() {
    let (with_templates, _) = two_packets(ExportVersion::V9);
    let mut c = Collector::new(CollectorLimits {
        max_exporters: 2,
        ..CollectorLimits::default()
    })
    .unwrap();
    let mut out = Vec::new();
    for n in 1..=5 {
        c.ingest(addr(n), &with_templates, &mut out).unwrap();
    }
    assert_eq!(c.exporter_count(), 2);
    assert_eq!(out.len(), 15);
}

#[test]
fn v5_header_sampling_is_applied() {
    let mut opts = EncoderOptions::new(ExportVersion::V5);
    opts.v5_sampling_interval = 0x4000 | 100; // mode bits, then 1-in-100
    let packets = Encoder::new(opts)
        .encode(&[flow(1)], Timestamp(EXPORT_MS))
        .unwrap();
    let mut c = Collector::new(CollectorLimits::default()).unwrap();
    let mut out = Vec::new();
    c.ingest(addr(1), &packets[0], &mut out).unwrap();
    assert_eq!((out[0].packets, out[0].bytes), (200, 12_000));
    assert_eq!(out[0].source, SignalSource::NetflowV5);
    assert_eq!(out[0].start, Timestamp(EXPORT_MS - 5000));
}

fn be16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn be32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

/// A v9 packet: header, then the given flowsets.
fn v9_packet(count: u16, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    be16(&mut b, 9);
    be16(&mut b, count);
    be32(&mut b, 60_000); // uptime
    be32(&mut b, u32::try_from(EXPORT_MS / 1000).unwrap());
    be32(&mut b, 1);
    be32(&mut b, 7); // source id
    for s in sets {
        b.extend_from_slice(s);
    }
    b
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    be16(&mut b, id);
    be16(&mut b, u16::try_from(body.len() + 4).unwrap());
    b.extend_from_slice(body);
    b
}

#[test]
fn v9_sampler_table_from_options_data() {
    // Options template 300: scope System (4 bytes); FLOW_SAMPLER_ID (1), SAMPLING_INTERVAL (4).
    let mut ot = Vec::new();
    for v in [300u16, 4, 8, 1, 4, 48, 1, 34, 4] {
        be16(&mut ot, v);
    }
    // Data template 256: src, dst, bytes, packets, FLOW_SAMPLER_ID, FIRST/LAST_SWITCHED.
    let mut t = Vec::new();
    for v in [256u16, 7, 8, 4, 12, 4, 1, 4, 2, 4, 48, 1, 22, 4, 21, 4] {
        be16(&mut t, v);
    }
    // Sampler 5 samples 1 in 64.
    let mut od = Vec::new();
    be32(&mut od, 0);
    od.push(5);
    be32(&mut od, 64);
    od.extend_from_slice(&[0, 0, 0]);
    let mut d = Vec::new();
    d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    be32(&mut d, 100);
    be32(&mut d, 2);
    d.push(5);
    be32(&mut d, 50_000);
    be32(&mut d, 59_000);
    d.extend_from_slice(&[0, 0, 0]);
    let p = v9_packet(4, &[set(1, &ot), set(0, &t), set(300, &od), set(256, &d)]);
    let mut c = Collector::new(CollectorLimits::default()).unwrap();
    let mut out = Vec::new();
    let r = c.ingest(addr(1), &p, &mut out).unwrap();
    assert_eq!(r.templates, 2);
    assert_eq!(out.len(), 1, "{r:?}");
    assert_eq!((out[0].bytes, out[0].packets), (6400, 128));
    // Uptime 60 s at export: the flow started 10 s and ended 1 s before.
    assert_eq!(out[0].start, Timestamp(EXPORT_MS - 10_000));
    assert_eq!(out[0].end, Timestamp(EXPORT_MS - 1_000));
    // The sampler stays known for later packets.
    let p2 = v9_packet(1, &[set(256, &d)]);
    c.ingest(addr(1), &p2, &mut out).unwrap();
    assert_eq!(out[1].bytes, 6400);
    assert_eq!(out[0].exporter.as_deref(), Some("192.0.2.1"));
    assert!(Arc::ptr_eq(
        out[0].exporter.as_ref().unwrap(),
        out[1].exporter.as_ref().unwrap()
    ));
}

#[test]
fn garbage_is_refused_with_a_typed_error() {
    let mut c = Collector::new(CollectorLimits::default()).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        c.ingest(addr(1), &[9], &mut out),
        Err(DecodeError::TooShort(1))
    );
    assert_eq!(
        c.ingest(addr(1), &[0, 7, 0, 0], &mut out),
        Err(DecodeError::UnsupportedVersion(7))
    );
    assert!(matches!(
        c.ingest(addr(1), &[0, 10, 0, 3], &mut out),
        Err(DecodeError::Malformed { version: 10, .. })
    ));
    assert!(out.is_empty());
    assert_eq!(c.exporter_count(), 0);
}
