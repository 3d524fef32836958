//! `Observer::flow` for flows of 3,000 registered devices (static addresses), as `rampart
//! serve` attributes and counts a collector's flows: attribution, the subject, the per-device
//! traffic counters.
//!
//! `cargo bench -p rampart-observe --bench observe`

use std::hint::black_box;
use std::sync::{Arc, RwLock};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_core::{
    ConnState, DeviceId, FlowRecord, PacketFacts, SignalSource, TenantId, Timestamp,
};
use rampart_observe::{HomeNets, Observer, TrafficCounters};
use rampart_sessions::{Attributor, RegistryIndex, SessionTable};

const DEVICES: u32 = 3_000;

fn flows() -> Vec<FlowRecord> {
    (0..DEVICES)
        .map(|i| FlowRecord {
            source: SignalSource::NetflowV9,
            exporter: None,
            uid: None,
            start: Timestamp(1_000),
            end: Timestamp(2_000),
            src: std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
            dst: std::net::Ipv4Addr::new(198, 51, 100, (i % 250) as u8).into(),
            src_port: 40_000,
            dst_port: 443,
            protocol: 6,
            packets: 10,
            bytes: 1_000,
            rev_packets: 8,
            rev_bytes: 4_000,
            tcp_flags: 0x1b,
            rev_tcp_flags: 0x1b,
            state: ConnState::SF,
            service: None,
            facts: PacketFacts::default(),
        })
        .collect()
}

fn observer() -> Observer {
    let mut index = RegistryIndex::new();
    let tenant = TenantId::default_tenant();
    for i in 0..DEVICES {
        let dev: DeviceId = format!("nf-{i}").parse().expect("device id");
        let net = format!("{}/32", std::net::Ipv4Addr::from(0x0a00_0000 + i));
        index.add_static(net.parse().expect("net"), &tenant, &dev);
    }
    let attributor = Attributor::new(
        Arc::new(RwLock::new(SessionTable::new(16))),
        Arc::new(RwLock::new(Arc::new(index))),
    );
    Observer::new(
        Some(attributor),
        HomeNets::private(),
        Arc::new(TrafficCounters::new(1_000_000)),
    )
}

fn bench(c: &mut Criterion) {
    let o = observer();
    let flows = flows();
    let mut g = c.benchmark_group("observer");
    g.throughput(Throughput::Elements(u64::from(DEVICES)));
    g.bench_function("flow_3000_registered_devices", |b| {
        b.iter(|| {
            for f in &flows {
                black_box(o.flow(f.clone()));
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
