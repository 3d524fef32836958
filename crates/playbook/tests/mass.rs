//! Mass runs over 100,000 targets: waves, pace, abort rules, approval, undo; plan parsing.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::BTreeSet;

use rampart_core::DeviceId;
use rampart_playbook::mass::{
    AbortCondition, MassError, MassMode, MassPlan, MassRun, MassStep, Selector, Wave,
};
use rampart_playbook::{ActionSpec, DurationSpec, ErrorKind, Validator};

const N: usize = 100_000;
const T0: u64 = 1_740_000_000_000;

fn targets(n: usize) -> Vec<DeviceId> {
    (0..n)
        .map(|i| DeviceId::parse(&format!("dev-{i:07}")).unwrap())
        .collect()
}

fn plan(rate: u32) -> MassPlan {
    MassPlan {
        selector: Selector {
            groups: BTreeSet::from(["site-a".to_owned()]),
            ..Selector::default()
        },
        actions: vec![
            ActionSpec::RadiusDisconnect,
            ActionSpec::RegistryQuarantine,
            ActionSpec::BrokerDisable,
        ],
        waves: vec![
            Wave::Percent(1.0),
            Wave::Percent(10.0),
            Wave::Percent(100.0),
        ],
        pause_between_waves: DurationSpec::from_secs(60),
        rate_per_sec: rate,
        abort: AbortCondition::default(),
        blast_radius_cap: None,
    }
}

/// What a drive observed.
#[derive(Debug, Default)]
struct Trace {
    /// Targets dispatched per wave (split at pauses).
    waves: Vec<usize>,
    /// (time, batch size) per dispatch.
    dispatches: Vec<(u64, usize)>,
    end: u64,
    last: Option<MassStep>,
}

/// Polls to the end, executing dispatched targets at once with `outcome`.
fn drive(run: &mut MassRun, start: u64, mut outcome: impl FnMut(usize) -> bool) -> Trace {
    let mut now = start;
    let mut trace = Trace {
        waves: vec![0],
        ..Trace::default()
    };
    let mut seen = vec![false; run.targets().len()];
    loop {
        match run.poll(now) {
            MassStep::Dispatch(batch) => {
                trace.dispatches.push((now, batch.len()));
                *trace.waves.last_mut().unwrap() += batch.len();
                for i in batch {
                    assert!(!seen[i], "target {i} dispatched twice");
                    seen[i] = true;
                    run.record(i, outcome(i)).unwrap();
                }
            }
            MassStep::Throttled { until } => {
                assert!(until > now);
                now = until;
            }
            MassStep::PauseUntil(t) => {
                assert!(t > now);
                now = t;
                trace.waves.push(0);
            }
            MassStep::AwaitResults { .. } => panic!("results are reported at once here"),
            last @ (MassStep::AwaitApproval | MassStep::Aborted { .. } | MassStep::Completed) => {
                trace.end = now;
                trace.last = Some(last);
                return trace;
            }
        }
    }
}

#[test]
fn waves_pauses_and_pace_over_100k_targets() {
    let plan = plan(1_000);
    let dry = plan.dry_run(N as u64);
    assert_eq!(dry.wave_sizes, [1_000, 9_000, 90_000]);
    assert!(!dry.needs_approval);
    assert_eq!(dry.min_duration_secs, 217);
    let mut run = MassRun::new(plan, targets(N), T0);
    assert_eq!(run.wave_ends(), [1_000, 10_000, 100_000]);
    let trace = drive(&mut run, T0, |_| true);
    assert_eq!(trace.last, Some(MassStep::Completed));
    assert_eq!(trace.waves, [1_000, 9_000, 90_000]);
    // Pace: 1,000 at once per wave (a second's burst), then one per millisecond; plus two
    // one-minute pauses.
    assert_eq!(trace.end - T0, 217_000);
    for w in trace.dispatches.windows(2) {
        let (t, size) = w[1];
        let gap = t - w[0].0;
        assert!(
            size as u64 <= 1_000.min(gap.max(1)) || gap >= 60_000,
            "{size} after {gap} ms"
        );
    }
    let p = run.progress();
    assert_eq!(
        (p.total, p.dispatched, p.succeeded, p.failed),
        (100_000, 100_000, 100_000, 0)
    );
    assert!(run.is_finished());
    // Completed: nothing more is handed out and late reports are refused.
    assert_eq!(run.poll(trace.end + 1), MassStep::Completed);
    assert_eq!(run.record(5, true), Err(MassError::AlreadyRecorded(5)));
    assert_eq!(run.abort("x", trace.end), Err(MassError::Finished));
}

#[test]
fn a_bad_first_wave_aborts_before_the_rest() {
    let mut run = MassRun::new(plan(1_000), targets(N), T0);
    // Every fifth target fails: 20% > the default 10% once 10 results are in.
    let trace = drive(&mut run, T0, |i| i % 5 != 0);
    let Some(MassStep::Aborted { reason }) = &trace.last else {
        panic!("expected an abort, got {:?}", trace.last);
    };
    assert_eq!(reason, "2 of 10 failed, more than the 10.00% allowed");
    // Only the first batch went out; its late results still count.
    assert_eq!(run.progress().dispatched, 1_000);
    assert_eq!(run.undo_targets().len(), 800);
    assert_eq!(run.failed_targets().len(), 200);
    assert_eq!(
        run.poll(T0 + 10_000_000),
        MassStep::Aborted {
            reason: reason.clone()
        }
    );
}

#[test]
fn the_abort_rule_is_judged_at_each_wave_end() {
    let mut plan = plan(1_000_000);
    plan.abort = AbortCondition {
        max_failure_ratio: None,
        max_failures: Some(50),
        min_sample: 0,
    };
    plan.pause_between_waves = DurationSpec::from_secs(0);
    let mut run = MassRun::new(plan, targets(N), T0);
    // Wave 1 (1,000 targets): dispatched, results come later.
    let MassStep::Dispatch(batch) = run.poll(T0) else {
        panic!()
    };
    assert_eq!(batch, (0..1_000).collect::<Vec<_>>());
    assert_eq!(run.poll(T0), MassStep::AwaitResults { outstanding: 1_000 });
    for i in batch {
        run.record(i, i >= 30).unwrap();
    }
    // 30 failures are allowed: wave 2 goes straight on (no pause configured).
    let MassStep::Dispatch(batch) = run.poll(T0 + 1) else {
        panic!()
    };
    assert_eq!(batch.first(), Some(&1_000));
    assert_eq!(batch.len(), 9_000);
    // 21 more failures exceed 50 while wave 2 is still reporting: dispatch stops at once.
    for &i in &batch[..21] {
        run.record(i, false).unwrap();
    }
    assert_eq!(
        run.poll(T0 + 2),
        MassStep::Aborted {
            reason: "51 failures, more than the 50 allowed".into()
        }
    );
    for &i in &batch[21..] {
        run.record(i, true).unwrap();
    }
    assert_eq!(run.progress().dispatched, 10_000);
}

#[test]
fn above_the_blast_radius_an_approval_comes_first() {
    let mut plan = plan(1_000_000);
    plan.blast_radius_cap = Some(50_000);
    assert!(plan.dry_run(N as u64).needs_approval);
    assert!(!plan.dry_run(50_000).needs_approval);
    let mut run = MassRun::new(plan.clone(), targets(N), T0);
    assert_eq!(run.poll(T0), MassStep::AwaitApproval);
    assert_eq!(run.poll(T0 + 3_600_000), MassStep::AwaitApproval);
    assert_eq!(run.record(0, true), Err(MassError::NotDispatched(0)));
    run.approve("erin", T0 + 3_600_000).unwrap();
    assert_eq!(run.approve("erin", T0), Err(MassError::NoApprovalPending));
    let trace = drive(&mut run, T0 + 3_600_000, |_| true);
    assert_eq!(trace.last, Some(MassStep::Completed));
    // Refusing is aborting.
    let mut run = MassRun::new(plan.clone(), targets(N), T0);
    run.abort("frank", T0 + 5).unwrap();
    assert_eq!(
        run.poll(T0 + 6),
        MassStep::Aborted {
            reason: "aborted by frank".into()
        }
    );
    assert_eq!(run.approve("erin", T0), Err(MassError::Finished));
    // At the cap exactly, no approval.
    let mut run = MassRun::new(plan, targets(50_000), T0);
    assert!(matches!(run.poll(T0), MassStep::Dispatch(_)));
}

#[test]
fn undo_reverses_what_applied_in_one_run() {
    let mut plan = plan(1_000_000);
    plan.actions.push(ActionSpec::Webhook {
        endpoint: "ops".into(),
    });
    let mut run = MassRun::new(plan, targets(N), T0);
    let trace = drive(&mut run, T0, |i| i % 100 != 0);
    assert_eq!(trace.last, Some(MassStep::Completed));
    assert_eq!(run.undo_targets().len(), 99_000);
    let mut undo = run.undo(trace.end);
    assert_eq!(undo.mode(), MassMode::Undo);
    assert_eq!(
        undo.actions(),
        [ActionSpec::BrokerDisable, ActionSpec::RegistryQuarantine]
    );
    assert_eq!(undo.targets().len(), 99_000);
    assert_eq!(undo.wave_ends(), [99_000]);
    assert!(undo.targets().iter().all(|t| !t.as_str().ends_with("00")));
    // Undo never aborts: every target is attempted even when many fail.
    let undo_trace = drive(&mut undo, trace.end, |i| i % 2 == 0);
    assert_eq!(undo_trace.last, Some(MassStep::Completed));
    assert_eq!(undo.progress().dispatched, 99_000);
    // Nothing reversible: an empty undo that is complete at once.
    let mut irreversible = self::plan(10);
    irreversible.actions = vec![ActionSpec::RadiusDisconnect];
    let mut run = MassRun::new(irreversible, targets(20), T0);
    drive(&mut run, T0, |_| true);
    let mut undo = run.undo(T0);
    assert!(undo.targets().is_empty());
    assert_eq!(undo.poll(T0), MassStep::Completed);
}

#[test]
fn targets_are_sorted_and_distinct_and_reports_are_checked() {
    let mut list = targets(10);
    list.reverse();
    list.extend(targets(3));
    let mut run = MassRun::new(plan(100), list, T0);
    assert_eq!(run.targets(), targets(10).as_slice());
    assert_eq!(run.target(0).map(DeviceId::as_str), Some("dev-0000000"));
    assert_eq!(run.record(99, true), Err(MassError::UnknownTarget(99)));
    let MassStep::Dispatch(batch) = run.poll(T0) else {
        panic!()
    };
    assert_eq!(batch, [0]);
    run.record(0, true).unwrap();
    assert_eq!(run.record(0, false), Err(MassError::AlreadyRecorded(0)));
    // Persisted mid-run, restored equal.
    let json = serde_json::to_string(&run).unwrap();
    let back: MassRun = serde_json::from_str(&json).unwrap();
    assert_eq!(back, run);
    // An empty target list completes at once.
    let mut empty = MassRun::new(plan(100), Vec::new(), T0);
    assert_eq!(empty.poll(T0), MassStep::Completed);
}

#[test]
fn count_waves_and_a_final_rest_wave() {
    let mut plan = plan(1_000_000);
    plan.waves = vec![Wave::Count(10), Wave::Count(500)];
    assert_eq!(plan.dry_run(N as u64).wave_sizes, [10, 490, 99_500]);
    assert_eq!(plan.dry_run(100).wave_sizes, [10, 90]);
    assert_eq!(plan.dry_run(5).wave_sizes, [5]);
    assert_eq!(plan.dry_run(0).wave_sizes, Vec::<u64>::new());
    plan.waves = vec![Wave::Percent(0.001), Wave::Percent(50.0)];
    assert_eq!(plan.dry_run(N as u64).wave_sizes, [1, 49_999, 50_000]);
    plan.waves.clear();
    assert_eq!(plan.dry_run(N as u64).wave_sizes, [100_000]);
}

const JSON: &str = r#"{
  "selector": { "profiles": ["meter"], "firmware": ["2.3.*"], "states": ["active"] },
  "actions": [{ "action": "registry_quarantine" }, { "action": "webhook", "endpoint": "ops" }],
  "waves": [{ "percent": 1 }, { "percent": 10 }, { "percent": 100 }],
  "pause_between_waves": "5m",
  "rate_per_sec": 200,
  "abort": { "max_failure_ratio": 0.05, "max_failures": 100, "min_sample": 50 },
  "blast_radius_cap": 10000
}"#;

#[test]
fn plans_parse_from_json_and_toml() {
    let v = Validator {
        webhook_endpoints: BTreeSet::from(["ops".to_owned()]),
        ..Validator::default()
    };
    let plan = MassPlan::from_json("body", JSON, Some(&v)).unwrap();
    assert_eq!(plan.rate_per_sec, 200);
    assert_eq!(plan.pause_between_waves, DurationSpec::from_secs(300));
    assert_eq!(plan.abort.max_failures, Some(100));
    assert_eq!(plan.waves[2], Wave::Percent(100.0));
    let back = MassPlan::from_json("again", &serde_json::to_string(&plan).unwrap(), None).unwrap();
    assert_eq!(back, plan);
    let toml_text = toml::to_string(&plan).unwrap();
    assert_eq!(
        MassPlan::from_toml("p.toml", &toml_text, Some(&v)).unwrap(),
        plan
    );

    // Without an `abort` table, the default rule applies.
    let text = "rate_per_sec = 10\n[selector]\ntags = [\"pilot\"]\n[[actions]]\naction = \"broker_kick\"\n";
    let plan = MassPlan::from_toml("p.toml", text, None).unwrap();
    assert_eq!(plan.abort, AbortCondition::default());
    assert_eq!(plan.blast_radius_cap, None);
}

#[test]
fn bad_plans_are_refused_with_positions() {
    let e = MassPlan::from_json("body", &JSON.replace("\"rate_per_sec\"", "\"rate\""), None)
        .unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::UnknownField);
    assert!(
        e.to_string().starts_with("body:6:8: unknown field `rate`"),
        "{e}"
    );
    let e = MassPlan::from_json("body", "{", None).unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::Syntax);
    let e = MassPlan::from_json("body", JSON, None).unwrap();
    drop(e);
    let e = MassPlan::from_json("body", JSON, Some(&Validator::default())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "body: actions[1].endpoint: unknown webhook endpoint \"ops\" (configured: none)"
    );

    let text = "rate_per_sec = 0\npause_between_waves = \"2d\"\nwaves = [{ percent = 10 }, { percent = 5 }, { count = 3 }]\nactions = []\n[selector]\n";
    let e = MassPlan::from_toml("p.toml", text, None).unwrap_err();
    let lines: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "p.toml:1:1: rate_per_sec: must be between 1 and 1000000",
            "p.toml:2:1: pause_between_waves: a pause of \"2d\" is longer than the 1d maximum",
            "p.toml:3:1: waves: waves are all `percent` or all `count`, not a mix",
            "p.toml:4:1: actions: a mass plan needs at least one action",
            "p.toml:5:1: selector: name at least one criterion: a selector without any would match every device",
        ]
    );
    let text = "rate_per_sec = 5\nwaves = [{ percent = 10 }, { percent = 5 }, { percent = 150 }]\n[selector]\ngroups = [\"a b\"]\n[[actions]]\naction = \"siem\"\n[abort]\nmax_failure_ratio = 1.5\n";
    let e = MassPlan::from_toml("p.toml", text, None).unwrap_err();
    let lines: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "p.toml:2:28: waves[1]: waves are cumulative: each ends further than the one before",
            "p.toml:2:45: waves[2]: a percent is in (0, 100], a count at least 1",
            "p.toml:4:1: selector.groups: invalid name \"a b\": 1-64 letters, digits, '-', '_', '.', ':', '/' or '='",
            "p.toml:8:1: abort.max_failure_ratio: must be between 0 and 1",
        ]
    );
    let e = MassPlan::from_toml("p.toml", "rate_per_sec = 5\n[selector]\nstate = []\n", None)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("p.toml:3:1: selector.state: unknown field `state`"),
        "{e}"
    );
    assert!(plan(10).validate(None).is_ok());
}
