//! Rules changed while detection runs: the state of unchanged rules carries over, the active
//! alarms of deleted or redefined rules are cleared with an event, a refused set changes
//! nothing, and a restart with other rules keeps only what still stands.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::sync::Arc;

use rampart_bus::{Attributed, Observation, Subject};
use rampart_core::{DeviceId, DeviceMetrics, TenantId, Timestamp};
use rampart_detect::{
    Comparison, DetectConfig, Engine, FindingEvent, Limit, Metric, NoContext, NoIntel, Rule,
    RuleConfig, Severity,
};

const T0: i64 = 1_700_000_000_000;

fn rule(name: &str, metric: Metric, threshold: f64) -> Rule {
    Rule {
        name: name.to_owned(),
        profiles: Vec::new(),
        metric,
        comparison: Comparison::Gt,
        threshold: Limit::Value { value: threshold },
        duration_s: 0,
        datapoints_to_alarm: 1,
        datapoints_to_clear: 3,
        suppress_s: 0,
        severity: Severity::High,
        min_samples: 100,
    }
}

fn rules(list: &[Rule]) -> RuleConfig {
    RuleConfig {
        rules: list.to_vec(),
    }
}

fn engine(list: &[Rule]) -> Engine {
    let mut cfg = DetectConfig::default();
    cfg.engine.allowed_lateness_s = 0;
    cfg.rules = rules(list);
    Engine::new(cfg, 2, Arc::new(NoIntel), Arc::new(NoContext)).unwrap()
}

fn device(n: u32) -> Subject {
    Subject {
        tenant: Some(TenantId::default()),
        device_id: Some(DeviceId::parse(&format!("meter-{n}")).unwrap()),
        host: None,
    }
}

fn report(n: u32, t: i64, bytes_out: u64, bytes_in: u64) -> Observation {
    Observation::Metrics(Box::new(Attributed {
        record: DeviceMetrics {
            time: Timestamp(T0 + t),
            bytes_out: Some(bytes_out),
            bytes_in: Some(bytes_in),
            ..DeviceMetrics::default()
        },
        subject: device(n),
        subject_is_responder: false,
    }))
}

/// `raised:RULE`, `updated:RULE`, `cleared:RULE` per event, with the rule read back from
/// the findings raised so far.
fn tags(
    events: &[FindingEvent],
    names: &mut std::collections::HashMap<String, String>,
) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            FindingEvent::Raised(f) => {
                let rule = f.rule.clone().unwrap_or_default();
                names.insert(f.id.clone(), rule.clone());
                format!("raised:{rule}")
            }
            FindingEvent::Updated { id, .. } => format!("updated:{}", names[id]),
            FindingEvent::Cleared { id, .. } => format!("cleared:{}", names[id]),
        })
        .collect()
}

#[test]
fn a_change_clears_what_no_longer_stands_and_keeps_the_rest() {
    let out_rule = rule("out", Metric::BytesOut, 1000.0);
    let in_rule = rule("in", Metric::BytesIn, 1000.0);
    let mut e = engine(&[out_rule.clone(), in_rule]);
    let mut names = Default::default();
    let mut out = Vec::new();
    for n in 0..4 {
        e.process(report(n, 0, 5000, 5000), &mut out);
    }
    let mut t = tags(&out, &mut names);
    t.sort();
    assert_eq!(t, [["raised:in"; 4], ["raised:out"; 4]].concat());
    assert_eq!(e.active_findings().len(), 8);

    // `in` is deleted: its four alarms are cleared at once, on every shard.
    out.clear();
    e.set_rules(rules(std::slice::from_ref(&out_rule)), &mut out)
        .unwrap();
    assert_eq!(tags(&out, &mut names), ["cleared:in"; 4]);
    assert!(
        out.iter()
            .all(|e| matches!(e, FindingEvent::Cleared { at, .. } if *at == Timestamp(T0)))
    );
    assert_eq!(e.active_findings().len(), 4);
    // `out` is untouched: a repeat updates its alarm rather than raising another, and a
    // second report over `in`'s old threshold raises nothing.
    out.clear();
    e.process(report(0, 60_000, 6000, 6000), &mut out);
    assert_eq!(tags(&out, &mut names), ["updated:out"]);

    // The same set again changes nothing.
    out.clear();
    e.set_rules(rules(&[out_rule]), &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");

    // Redefined (a new threshold): its alarms no longer stand, and the next breach of the
    // new definition raises a new finding.
    let stricter = rule("out", Metric::BytesOut, 100.0);
    e.set_rules(rules(std::slice::from_ref(&stricter)), &mut out)
        .unwrap();
    assert_eq!(tags(&out, &mut names), ["cleared:out"; 4]);
    out.clear();
    e.process(report(1, 120_000, 500, 0), &mut out);
    assert_eq!(tags(&out, &mut names), ["raised:out"]);

    // A refused set changes nothing.
    out.clear();
    let bad = rules(&[stricter.clone(), rule("out", Metric::BytesIn, 1.0)]);
    let err = e.set_rules(bad, &mut out).unwrap_err().to_string();
    assert!(err.contains("unique"), "{err}");
    assert!(out.is_empty());
    e.process(report(1, 180_000, 500, 0), &mut out);
    assert_eq!(tags(&out, &mut names), ["updated:out"]);
    assert_eq!(e.shards()[0].rules().rules, [stricter]);
}

#[test]
fn a_restart_with_other_rules_keeps_only_what_still_stands() {
    let a = rule("a", Metric::BytesOut, 1000.0);
    let b = rule("b", Metric::BytesIn, 1000.0);
    let mut e = engine(&[a, b.clone()]);
    let mut out = Vec::new();
    e.process(report(0, 0, 5000, 5000), &mut out);
    assert_eq!(e.active_findings().len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    e.save(&path).unwrap();

    // Restarted without `a` and with `b` first: only `b`'s alarm is restored, and it is
    // still the same alarm (a repeat updates it).
    let mut cfg = DetectConfig::default();
    cfg.engine.allowed_lateness_s = 0;
    cfg.rules = rules(&[rule("c", Metric::PacketsOut, 1.0), b]);
    let mut restored = Engine::load(&path, cfg, Arc::new(NoIntel), Arc::new(NoContext)).unwrap();
    let active = restored.active_findings();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].rule.as_deref(), Some("b"));
    out.clear();
    restored.process(report(0, 60_000, 5000, 5000), &mut out);
    assert!(
        matches!(&out[..], [FindingEvent::Updated { id, .. }] if *id == active[0].id),
        "{out:?}"
    );
}
