//! Engine properties: a snapshot/restore mid-stream gives the findings of an uninterrupted
//! run; input out of order within the allowed lateness gives the same findings; findings are
//! the same whatever the shard count.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::sync::Arc;

use rampart_bus::Observation;
use rampart_detect::{
    DetectConfig, Engine, Finding, FindingEvent, FindingKind, NoContext, NoIntel,
};

fn engine(shards: usize) -> Engine {
    Engine::new(
        DetectConfig::default(),
        shards,
        Arc::new(NoIntel),
        Arc::new(NoContext),
    )
    .unwrap()
}

/// Final findings of a run, from the events (order-independent summary).
fn summarise(events: &[FindingEvent]) -> Vec<(String, FindingKind, i64, i64, u64)> {
    let mut all: std::collections::BTreeMap<String, Finding> = Default::default();
    for e in events {
        match e {
            FindingEvent::Raised(f) => {
                all.insert(f.id.clone(), (**f).clone());
            }
            FindingEvent::Updated {
                id,
                last_seen,
                evidence_count,
            } => {
                let f = all.get_mut(id).unwrap();
                f.last_seen = *last_seen;
                f.evidence_count = *evidence_count;
            }
            FindingEvent::Cleared { .. } => {}
        }
    }
    all.into_values()
        .map(|f| {
            (
                f.id,
                f.kind,
                f.first_seen.0,
                f.last_seen.0,
                f.evidence_count,
            )
        })
        .collect()
}

fn run(obs: Vec<Observation>, shards: usize) -> Vec<(String, FindingKind, i64, i64, u64)> {
    let mut e = engine(shards);
    let mut out = Vec::new();
    for o in obs {
        e.process(o, &mut out);
    }
    e.flush(&mut out);
    summarise(&out)
}

fn inputs() -> Vec<Vec<Observation>> {
    let mut v = vec![common::synthetic()];
    if let Some(dir) = common::shared_data() {
        let p = dir.join("iot23-labeled-flows/CTU-Malware-Capture-44-1-labeled.csv");
        if p.is_file() {
            v.push(common::load(&p).0);
        }
    }
    v
}

#[test]
fn synthetic_detects_each_attack() {
    let kinds: Vec<FindingKind> = run(common::synthetic(), 1)
        .into_iter()
        .map(|f| f.1)
        .collect();
    for k in [
        FindingKind::CommandAndControl,
        FindingKind::HorizontalScan,
        FindingKind::Ddos,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

#[test]
fn snapshot_restore_gives_the_same_findings() {
    for obs in inputs() {
        let expected = run(obs.clone(), 2);
        assert!(!expected.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let half = obs.len() / 2;
        let mut it = obs.into_iter();
        let mut out = Vec::new();
        let mut e = engine(2);
        for o in it.by_ref().take(half) {
            e.process(o, &mut out);
        }
        e.save(&path).unwrap();
        drop(e);
        let mut e = Engine::load(
            &path,
            DetectConfig::default(),
            Arc::new(NoIntel),
            Arc::new(NoContext),
        )
        .unwrap();
        for o in it {
            e.process(o, &mut out);
        }
        e.flush(&mut out);
        assert_eq!(summarise(&out), expected);
    }
}

#[test]
fn out_of_order_within_lateness_gives_the_same_findings() {
    for obs in inputs() {
        let expected = run(obs.clone(), 1);
        // Reverse the order inside each block of 8 observations spanning less than the
        // allowed lateness (30 s).
        let mut shuffled = Vec::with_capacity(obs.len());
        let mut block: Vec<Observation> = Vec::new();
        for o in obs {
            let start = block.first().map(|b| b.event_time().0);
            if block.len() == 8 || start.is_some_and(|s| o.event_time().0 - s > 20_000) {
                shuffled.extend(block.drain(..).rev());
            }
            block.push(o);
        }
        shuffled.extend(block.drain(..).rev());
        assert_eq!(run(shuffled, 1), expected);
    }
}

#[test]
fn shard_count_does_not_change_findings() {
    let obs = common::synthetic();
    assert_eq!(run(obs.clone(), 1), run(obs, 4));
}

#[test]
fn device_state_at_rest_is_small() {
    let at_rest = rampart_detect::device_state_size();
    assert!(at_rest <= 128, "{at_rest} bytes");
}
