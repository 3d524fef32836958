//! Decode throughput of one realistic report (10 listening ports, 20 connections, position),
//! in both key styles, beside the floor any JSON approach pays: `serde_json::Value` parsing
//! of the same bytes with no checks and no typed output.

#![allow(clippy::unwrap_used)] // Benchmarks: fixed, valid input.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_core::{DeviceMetrics, GeoPoint, Timestamp};
use rampart_mqtt::{KeyStyle, decode, encode_with};

fn report() -> DeviceMetrics {
    DeviceMetrics {
        time: Timestamp(1_780_241_317_123),
        interval_s: Some(300),
        bytes_in: Some(29_358_693),
        bytes_out: Some(26_485_035),
        packets_in: Some(100_135),
        packets_out: Some(113_826),
        listening_tcp_ports: vec![22, 80, 443, 1883, 8080, 8443],
        listening_udp_ports: vec![53, 123, 5353, 5683],
        established_connections: Some(20),
        remote_addrs: (0..20u8)
            .map(|i| std::net::SocketAddr::from(([198, 51, 100, i], 8883 + u16::from(i))))
            .collect(),
        position: Some(GeoPoint {
            lat: 48.856_613,
            lon: 2.352_222,
            accuracy_m: Some(12.5),
        }),
    }
}

fn bench(c: &mut Criterion) {
    let m = report();
    for (name, style) in [("long", KeyStyle::Long), ("short", KeyStyle::Short)] {
        let bytes = encode_with(&m, 1, style).unwrap();
        let mut g = c.benchmark_group(format!("report_{name}_{}B", bytes.len()));
        g.throughput(Throughput::Elements(1));
        g.bench_function("rampart_decode", |b| {
            b.iter(|| decode(black_box(&bytes), Timestamp(0)).unwrap())
        });
        g.bench_function("serde_json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap())
        });
        g.finish();
    }
    c.bench_function("encode_long", |b| {
        b.iter(|| encode_with(black_box(&m), 1, KeyStyle::Long).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
