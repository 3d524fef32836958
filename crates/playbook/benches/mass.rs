//! A whole mass run over 1,000,000 targets: creation (sort and dedup of an already sorted
//! list, wave ends), then polling to completion with every target reported at once, in three
//! waves (1%, 10%, 100%) with a pause between them, at 100,000 targets per second of
//! simulated time. What it shows is that the state machine's cost is per target touched,
//! with nothing scanned per poll: the run should take well under a second of CPU.
//!
//! `cargo bench -p rampart-playbook --bench mass`

#![allow(clippy::unwrap_used)] // Benchmarks: failing loudly is the point.

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_core::DeviceId;
use rampart_playbook::mass::{AbortCondition, MassPlan, MassRun, MassStep, Selector, Wave};
use rampart_playbook::{ActionSpec, DurationSpec};

const TARGETS: usize = 1_000_000;

fn plan() -> MassPlan {
    MassPlan {
        selector: Selector {
            groups: BTreeSet::from(["fleet".to_owned()]),
            ..Selector::default()
        },
        actions: vec![ActionSpec::RegistryQuarantine, ActionSpec::BrokerDisable],
        waves: vec![
            Wave::Percent(1.0),
            Wave::Percent(10.0),
            Wave::Percent(100.0),
        ],
        pause_between_waves: DurationSpec::from_secs(60),
        rate_per_sec: 100_000,
        abort: AbortCondition::default(),
        blast_radius_cap: None,
    }
}

/// Runs to the end; returns how many targets were dispatched.
fn drive(plan: MassPlan, targets: Vec<DeviceId>) -> u64 {
    let mut run = MassRun::new(plan, targets, 0);
    let mut now = 0;
    loop {
        match run.poll(now) {
            MassStep::Dispatch(batch) => {
                for i in batch {
                    run.record(i, true).unwrap();
                }
            }
            MassStep::Throttled { until } | MassStep::PauseUntil(until) => now = until,
            MassStep::Completed => return run.progress().dispatched,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let targets: Vec<DeviceId> = (0..TARGETS)
        .map(|i| DeviceId::parse(&format!("dev-{i:08}")).unwrap())
        .collect();
    assert_eq!(drive(plan(), targets.clone()), TARGETS as u64);
    let mut group = c.benchmark_group("mass");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TARGETS as u64));
    group.bench_function("full_run_1m_targets", |b| {
        b.iter_batched(
            || targets.clone(),
            |t| black_box(drive(plan(), t)),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
