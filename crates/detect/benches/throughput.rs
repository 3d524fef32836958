//! Observations per second through every detector, on flow observations: 100,000 flows over
//! 10,000 devices (benign DNS and HTTPS, plus failed attempts and a scan so the stateful
//! paths run), on one shard (one core). The peer, measured in the same run, is the floor of
//! any per-device engine: one hash-map update per flow.
//!
//! Besides criterion's wall-clock figures, the run ends with both workloads timed in on-CPU
//! time of the benchmarking thread (`/proc/thread-self/schedstat`), which is what "per core"
//! means on a machine shared with other work: wall-clock time there includes the time the
//! thread waited for a core.
//!
//! `cargo bench -p rampart-detect --bench throughput`

#![allow(clippy::unwrap_used)] // Benchmarks: failing loudly is the point.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_bus::{Attributed, Observation, Subject};
use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto};
use rampart_detect::{DetectConfig, NoContext, NoIntel, Shard};

const FLOWS: u32 = 100_000;
const DEVICES: u32 = 10_000;

fn flows() -> Vec<Observation> {
    (0..FLOWS)
        .map(|i| {
            let dev = i % DEVICES;
            let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | dev));
            let kind = i % 10;
            let (dst, port, protocol, state, rev) = match kind {
                0..=3 => (
                    Ipv4Addr::new(10, 255, 0, 1),
                    53,
                    proto::UDP,
                    ConnState::SF,
                    1,
                ),
                4..=7 => (
                    Ipv4Addr::new(203, 0, 113, (i % 7) as u8),
                    443,
                    proto::TCP,
                    ConnState::SF,
                    8,
                ),
                8 => (
                    Ipv4Addr::new(198, 51, 100, 7),
                    50,
                    proto::TCP,
                    ConnState::S0,
                    0,
                ),
                _ => (
                    Ipv4Addr::from(0xc612_0000 | (i % 65_000)),
                    23,
                    proto::TCP,
                    ConnState::S0,
                    0,
                ),
            };
            let t = 1_700_000_000_000i64 + i64::from(i) * 10;
            Observation::Flow(Box::new(Attributed {
                record: FlowRecord {
                    source: SignalSource::Ipfix,
                    exporter: None,
                    uid: None,
                    start: Timestamp(t),
                    end: Timestamp(t + 50),
                    src,
                    dst: IpAddr::V4(dst),
                    src_port: 40_000 + (i % 20_000) as u16,
                    dst_port: port,
                    protocol,
                    packets: 3,
                    bytes: 180,
                    rev_packets: rev,
                    rev_bytes: rev * 100,
                    tcp_flags: if rev == 0 { 0x02 } else { 0x1b },
                    rev_tcp_flags: 0,
                    state,
                    service: None,
                    facts: Default::default(),
                },
                subject: Subject {
                    tenant: None,
                    device_id: None,
                    host: Some(src),
                },
                subject_is_responder: false,
            }))
        })
        .collect()
}

fn detect(obs: Vec<Observation>) -> usize {
    let mut shard = Shard::new(
        Arc::new(DetectConfig::default()),
        Arc::new(NoIntel),
        Arc::new(NoContext),
    );
    let mut out = Vec::new();
    for o in obs {
        shard.process(o, &mut out);
    }
    shard.flush(&mut out);
    out.len()
}

fn peer(obs: Vec<Observation>) -> usize {
    let mut m: HashMap<IpAddr, u64> = HashMap::new();
    for o in obs {
        if let Observation::Flow(f) = o {
            *m.entry(f.record.src).or_default() += f.record.packets;
        }
    }
    m.len()
}

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Median observations per on-CPU second and per wall-clock second over `runs` runs.
fn per_cpu_second(
    input: &[Observation],
    runs: usize,
    f: fn(Vec<Observation>) -> usize,
) -> (f64, f64) {
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..runs {
        let obs = input.to_vec();
        let (c0, w0) = (thread_cpu_ns(), std::time::Instant::now());
        black_box(f(obs));
        let (c1, w1) = (thread_cpu_ns(), w0.elapsed());
        if let (Some(c0), Some(c1)) = (c0, c1) {
            cpu.push(input.len() as f64 / ((c1 - c0) as f64 / 1e9));
        }
        wall.push(input.len() as f64 / w1.as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    (median(&mut cpu), median(&mut wall))
}

fn cpu_time(_: &mut Criterion) {
    if std::env::args().any(|a| a == "--profile-time" || a == "--list" || a == "--test") {
        return;
    }
    let input = flows();
    let (d_cpu, d_wall) = per_cpu_second(&input, 15, detect);
    let (p_cpu, p_wall) = per_cpu_second(&input, 15, peer);
    println!(
        "on-CPU time, median of 15 runs: all detectors {:.0} obs/s per core ({:.0}/s wall), \
         peer {:.0} obs/s per core ({:.0}/s wall), ratio {:.3}",
        d_cpu,
        d_wall,
        p_cpu,
        p_wall,
        d_cpu / p_cpu
    );
}

fn bench(c: &mut Criterion) {
    let input = flows();
    let mut g = c.benchmark_group("flows");
    g.throughput(Throughput::Elements(u64::from(FLOWS)));
    g.sample_size(20);
    g.bench_function("all_detectors_one_shard", |b| {
        b.iter_batched(
            || input.clone(),
            |obs| black_box(detect(obs)),
            BatchSize::LargeInput,
        );
    });
    g.bench_function("peer_hashmap_count", |b| {
        b.iter_batched(
            || input.clone(),
            |obs| black_box(peer(obs)),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench, cpu_time);
criterion_main!(benches);
