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
fn updates_taken_per_batch_give_the_same_findings_with_fewer_events() {
    let updates = |events: &[FindingEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, FindingEvent::Updated { .. }))
            .count()
    };
    for obs in inputs() {
        let mut per_observation = Vec::new();
        let mut e = engine(1);
        for o in obs.clone() {
            e.process(o, &mut per_observation);
        }
        e.flush(&mut per_observation);

        // What a live worker does: a batch of observations, then the findings they repeated.
        let (_, mut shards) = engine(1).into_shards();
        let shard = &mut shards[0];
        let mut batched = Vec::new();
        let mut batches = 0;
        for chunk in obs.chunks(64) {
            for o in chunk {
                shard.process(o.clone(), &mut batched);
            }
            shard.take_updates(&mut batched);
            batches += 1;
        }
        shard.flush(&mut batched);

        // Same findings, same final counts and times (also of those cleared mid-batch).
        assert_eq!(summarise(&batched), summarise(&per_observation));
        let raised = batched
            .iter()
            .filter(|e| matches!(e, FindingEvent::Raised(_)))
            .count();
        assert!(updates(&batched) <= raised * (batches + 1));
        assert!(
            updates(&batched) < updates(&per_observation),
            "{} batched vs {} per observation",
            updates(&batched),
            updates(&per_observation)
        );
    }
}

#[test]
fn a_finding_cleared_in_the_batch_that_repeated_it_keeps_its_last_count() {
    // The whole synthetic run is one batch (findings repeat in it), then a flow a day later
    // from another host moves the watermark past every finding's clear time, still in the
    // same batch: each pending update must go out before its finding's Cleared.
    let mut obs = common::synthetic();
    let last = obs.iter().map(|o| o.event_time().0).max().unwrap();
    obs.push(common::flow(
        "late",
        last + 86_400_000,
        "10.9.9.9",
        "10.0.0.254",
        53,
        6,
        rampart_core::ConnState::SF,
        1,
        1,
    ));
    let mut per_observation = Vec::new();
    let mut e = engine(1);
    for o in obs.clone() {
        e.process(o, &mut per_observation);
    }
    let (_, mut shards) = engine(1).into_shards();
    let shard = &mut shards[0];
    let mut batched = Vec::new();
    for o in obs {
        shard.process(o, &mut batched);
    }
    shard.take_updates(&mut batched);
    let cleared = |events: &[FindingEvent]| {
        events
            .iter()
            .filter(|e| matches!(e, FindingEvent::Cleared { .. }))
            .count()
    };
    assert!(cleared(&batched) > 0, "nothing was cleared: {batched:?}");
    assert_eq!(cleared(&batched), cleared(&per_observation));
    assert_eq!(summarise(&batched), summarise(&per_observation));
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
