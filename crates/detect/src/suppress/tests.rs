//! Suppression windows: what a request may ask, and what a window mutes.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::cell::Cell;

use rampart_bus::Subject;
use rampart_core::{DeviceId, TenantId, Timestamp};
use serde_json::json;

use super::*;
use crate::finding::{AlarmState, Finding, FindingKind, Severity, Threshold};

const NOW: i64 = 1_800_000_000_000;
const HOUR: i64 = 3_600_000;

fn finding(
    tenant: Option<&str>,
    device: Option<&str>,
    kind: FindingKind,
    rule: Option<&str>,
) -> Finding {
    Finding {
        id: "f1".into(),
        kind,
        severity: Severity::High,
        subject: Subject {
            tenant: tenant.map(|t| TenantId::parse(t).unwrap()),
            device_id: device.map(|d| DeviceId::parse(d).unwrap()),
            host: None,
        },
        first_seen: Timestamp(NOW),
        last_seen: Timestamp(NOW),
        raised_at: Timestamp(NOW),
        summary: String::new(),
        evidence: Vec::new(),
        evidence_count: 1,
        threshold: Threshold {
            metric: "m".into(),
            limit: 1.0,
            observed: 2.0,
            basis: "fixed".into(),
        },
        pattern: None,
        rule: rule.map(str::to_owned),
        state: AlarmState::Active,
        cleared_at: None,
    }
}

fn request(v: serde_json::Value) -> SuppressionRequest {
    SuppressionRequest::from_json(&v).unwrap()
}

fn open(v: serde_json::Value, tenant: Option<&str>) -> Result<Suppression, Vec<RuleProblem>> {
    request(v).into_suppression(
        "sup-1".into(),
        tenant.map(|t| TenantId::parse(t).unwrap()),
        "ops",
        Timestamp(NOW),
    )
}

fn until(hours: i64) -> String {
    Timestamp(NOW + hours * HOUR).to_rfc3339()
}

fn fields(p: &[RuleProblem]) -> Vec<&str> {
    p.iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn a_request_opens_a_bounded_window() {
    let s = open(
        json!({"selector": {"device": "meter-1", "rule": "exfil"}, "until": until(2),
               "reason": "  firmware rollout  "}),
        Some("acme"),
    )
    .unwrap();
    assert_eq!(s.from, Timestamp(NOW), "from defaults to now");
    assert_eq!(s.until, Timestamp(NOW + 2 * HOUR));
    assert_eq!(s.reason, "firmware rollout");
    assert_eq!((s.actor.as_str(), s.id.as_str()), ("ops", "sup-1"));
    assert!(s.active(Timestamp(NOW)) && s.active(Timestamp(NOW + 2 * HOUR - 1)));
    assert!(!s.active(Timestamp(NOW + 2 * HOUR)) && !s.active(Timestamp(NOW - 1)));
    // Thirty days is the longest window; it may start later, not much later.
    let max = json!({"until": until(30 * 24), "reason": "x"});
    assert!(open(max, Some("acme")).is_ok());
    let e = open(
        json!({"until": until(30 * 24 + 1), "reason": "x"}),
        Some("acme"),
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["until"]);
    let later = json!({"from": until(24), "until": until(48), "reason": "x"});
    assert!(open(later, Some("acme")).is_ok());
    let far = json!({"from": until(31 * 24), "until": until(32 * 24), "reason": "x"});
    assert_eq!(fields(&open(far, Some("acme")).unwrap_err()), ["from"]);
}

#[test]
fn every_problem_of_a_request_is_named() {
    let e = open(
        json!({"selector": {"device": "m-1", "tag": "t", "kind": "rule", "rule": "r"},
               "from": until(2), "until": until(-1), "reason": " "}),
        Some("acme"),
    )
    .unwrap_err();
    assert_eq!(
        fields(&e),
        ["selector", "selector", "until", "until", "reason"]
    );
    // A window over every tenant cannot name what only exists within one.
    for sel in [
        json!({"device": "m-1"}),
        json!({"profile": "meter"}),
        json!({"group": "g"}),
    ] {
        let e = open(
            json!({"selector": sel, "until": until(1), "reason": "x"}),
            None,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["selector"]);
    }
    assert!(
        open(
            json!({"selector": {"kind": "ddos"}, "until": until(1), "reason": "x"}),
            None
        )
        .is_ok()
    );
    let e = open(json!({"until": until(1), "reason": "two\nlines"}), None).unwrap_err();
    assert_eq!(fields(&e), ["reason"]);
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    assert_eq!(
        fields(&open(json!({"until": until(1), "reason": long}), None).unwrap_err()),
        ["reason"]
    );
}

#[test]
fn malformed_requests_name_the_field() {
    let cases = [
        (json!({"until": "tomorrow", "reason": "x"}), "until"),
        (json!({"reason": "x"}), "suppression"),
        (
            json!({"until": until(1), "reason": "x", "colour": 1}),
            "colour",
        ),
        (
            json!({"selector": {"device": "has space"}, "until": until(1), "reason": "x"}),
            "selector.device",
        ),
        (
            json!({"selector": {"kind": "mystery"}, "until": until(1), "reason": "x"}),
            "selector.kind",
        ),
        (
            json!({"selector": {"host": "10.0.0.1"}, "until": until(1), "reason": "x"}),
            "selector.host",
        ),
        (json!([]), "suppression"),
    ];
    for (v, field) in cases {
        let e = SuppressionRequest::from_json(&v).unwrap_err();
        assert_eq!(fields(&e), [field], "{v}: {e:?}");
    }
}

fn window(id: &str, tenant: Option<&str>, selector: serde_json::Value) -> Suppression {
    let mut s = open(
        json!({"selector": selector, "until": until(1), "reason": "x"}),
        tenant,
    )
    .unwrap();
    s.id = id.into();
    s
}

#[test]
fn windows_mute_what_they_select_while_open() {
    let f = finding(
        Some("acme"),
        Some("meter-1"),
        FindingKind::Rule,
        Some("exfil"),
    );
    let now = Timestamp(NOW);
    let none = || None;
    let mutes =
        |s: Suppression, f: &Finding| SuppressionSet::new(vec![s]).muting(f, now, none).is_some();
    assert!(mutes(window("a", Some("acme"), json!({})), &f));
    assert!(mutes(
        window("a", Some("acme"), json!({"device": "meter-1"})),
        &f
    ));
    assert!(mutes(
        window("a", Some("acme"), json!({"rule": "exfil"})),
        &f
    ));
    assert!(mutes(
        window("a", Some("acme"), json!({"kind": "rule"})),
        &f
    ));
    assert!(mutes(window("a", None, json!({"rule": "exfil"})), &f));
    assert!(!mutes(window("a", Some("other"), json!({})), &f));
    assert!(!mutes(
        window("a", Some("acme"), json!({"device": "meter-2"})),
        &f
    ));
    assert!(!mutes(
        window("a", Some("acme"), json!({"rule": "other"})),
        &f
    ));
    assert!(!mutes(
        window("a", Some("acme"), json!({"kind": "ddos"})),
        &f
    ));
    // Findings about unregistered hosts: only windows over every tenant reach them.
    let host = finding(None, None, FindingKind::Ddos, None);
    assert!(mutes(window("a", None, json!({"kind": "ddos"})), &host));
    assert!(!mutes(
        window("a", Some("acme"), json!({"kind": "ddos"})),
        &host
    ));
    // Not yet open, or over.
    let set = SuppressionSet::new(vec![window("a", Some("acme"), json!({}))]);
    assert!(set.muting(&f, Timestamp(NOW - 1), none).is_none());
    assert!(set.muting(&f, Timestamp(NOW + HOUR), none).is_none());
}

#[test]
fn profile_group_and_tag_read_the_registry_once_and_only_when_needed() {
    let f = finding(
        Some("acme"),
        Some("meter-1"),
        FindingKind::Rule,
        Some("exfil"),
    );
    let ctx = DeviceContext {
        profile: Some("meter".into()),
        groups: vec!["wave-1".into()],
        tags: vec!["lab".into(), "eu".into()],
        ..DeviceContext::default()
    };
    let asked = Cell::new(0);
    let lookup = || {
        asked.set(asked.get() + 1);
        Some(ctx.clone())
    };
    let set = SuppressionSet::new(vec![
        window("a", Some("acme"), json!({"profile": "gateway"})),
        window("b", Some("acme"), json!({"group": "wave-2"})),
        window("c", Some("acme"), json!({"tag": "eu"})),
    ]);
    assert_eq!(set.muting(&f, Timestamp(NOW), lookup).unwrap().id, "c");
    assert_eq!(asked.get(), 1);
    // No candidate needs it: not asked.
    let set = SuppressionSet::new(vec![window("d", Some("acme"), json!({"rule": "exfil"}))]);
    assert_eq!(set.muting(&f, Timestamp(NOW), lookup).unwrap().id, "d");
    assert_eq!(asked.get(), 1);
    // Unknown to the registry: profile, group and tag windows do not match.
    let set = SuppressionSet::new(vec![window("e", Some("acme"), json!({"tag": "eu"}))]);
    assert!(set.muting(&f, Timestamp(NOW), || None).is_none());
}

#[test]
fn ended_windows_are_pruned() {
    let mut set = SuppressionSet::new(vec![
        window("a", Some("acme"), json!({})),
        window("b", Some("acme"), json!({})),
    ]);
    assert_eq!(set.prune(Timestamp(NOW)), 0);
    assert_eq!(set.prune(Timestamp(NOW + HOUR)), 2);
    assert!(set.is_empty());
}
