//! Decode throughput of the collector (records per second on one core) for NetFlow v9 and
//! IPFIX datagrams as this crate's encoder builds them (about 30 records per datagram,
//! 10 information elements per record), templates already known: `decode/V9` and
//! `decode/Ipfix` as the collector runs (compiled templates), `.../parser` with every datagram
//! decoded by netflow_parser record by record, for comparison in the same run.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use rampart_netflow::{Collector, CollectorLimits};

const EXPORT_MS: i64 = 1_704_067_200_000;

fn flows(n: u32) -> Vec<FlowRecord> {
    (0..n)
        .map(|i| FlowRecord {
            source: SignalSource::Ipfix,
            exporter: Some(Arc::from("192.0.2.1")),
            uid: None,
            start: Timestamp(EXPORT_MS - 30_000),
            end: Timestamp(EXPORT_MS - 1_000),
            src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 250) as u8)),
            src_port: 40_000 + (i % 20_000) as u16,
            dst_port: 443,
            protocol: 6,
            packets: u64::from(i % 100 + 1),
            bytes: u64::from(i % 100 + 1) * 600,
            rev_packets: 0,
            rev_bytes: 0,
            tcp_flags: 0x1b,
            rev_tcp_flags: 0,
            state: ConnState::SF,
            service: None,
            facts: Default::default(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let exporter: SocketAddr = "192.0.2.1:2055".parse().expect("address");
    let mut group = c.benchmark_group("decode");
    for (version, fast) in [
        (ExportVersion::V9, true),
        (ExportVersion::Ipfix, true),
        (ExportVersion::V9, false),
        (ExportVersion::Ipfix, false),
    ] {
        let mut opts = EncoderOptions::new(version);
        opts.template_refresh = 0;
        let mut enc = Encoder::new(opts);
        let packets = enc
            .encode(&flows(3000), Timestamp(EXPORT_MS))
            .expect("encodable");
        let mut collector = Collector::new(CollectorLimits::default())
            .expect("limits")
            .with_fast_path(fast);
        let mut out = Vec::with_capacity(4096);
        // Learn the templates (first packet), then decode the data-only packets.
        collector
            .ingest(exporter, &packets[0], &mut out)
            .expect("decodes");
        let data = &packets[1..];
        out.clear();
        for p in data {
            collector.ingest(exporter, p, &mut out).expect("decodes");
        }
        let records = out.len() as u64;
        group.throughput(Throughput::Elements(records));
        let name = if fast {
            format!("{version:?}")
        } else {
            format!("{version:?}/parser")
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for p in data {
                    collector.ingest(exporter, black_box(p), &mut out).ok();
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
