//! The run state machine: actions, waits, approvals with timeouts, conditions, failures,
//! cancellation, undo, persistence, dry runs.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::IpAddr;

use rampart_core::{DeviceId, DeviceState};
use rampart_playbook::{
    ActionSpec, Disposition, Playbook, PlaybookSet, Run, RunError, RunEvent, RunInputs, RunStatus,
    RunStep, Severity, Target, plan,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

fn playbook(steps: &str) -> Playbook {
    let text = format!("name = \"t\"\n[match]\nkinds = [\"*\"]\nscope = \"any\"\n{steps}");
    PlaybookSet::parse_one("t.toml", &text).unwrap()
}

fn device() -> Target {
    Target::Device(DeviceId::parse("meter-1").unwrap())
}

fn active() -> RunInputs {
    RunInputs {
        finding_active: true,
        device_state: Some(DeviceState::Active),
        severity: Severity::High,
    }
}

fn execute(run: &mut Run, now: OffsetDateTime) -> (usize, ActionSpec) {
    match run.poll(now, &active()) {
        RunStep::Execute { step_index, action } => (step_index, action),
        other => panic!("expected an action, got {other:?}"),
    }
}

const FULL: &str = r#"
[[steps]]
action = "radius_disconnect"
[[steps]]
action = "broker_disable"
[[steps]]
wait = "30s"
[[steps]]
approval = { timeout = "15m", on_timeout = "abort" }
[[steps]]
condition = { finding_active = true }
[[steps]]
action = "webhook"
endpoint = "sim-platform"
[[steps]]
action = "registry_quarantine"
"#;

#[test]
fn a_full_run_with_wait_approval_and_condition() {
    let p = playbook(FULL);
    let mut run = Run::start(&p, device(), T0);
    assert_eq!(execute(&mut run, T0), (0, ActionSpec::RadiusDisconnect));
    // Asked once; until reported, the action is in flight.
    assert_eq!(run.poll(T0, &active()), RunStep::InFlight { step_index: 0 });
    run.action_done(0, true, T0).unwrap();
    assert_eq!(execute(&mut run, T0), (1, ActionSpec::BrokerDisable));
    let t1 = T0 + Duration::seconds(1);
    run.action_done(1, true, t1).unwrap();
    let until = t1 + Duration::seconds(30);
    assert_eq!(run.poll(t1, &active()), RunStep::Sleep { until });
    assert_eq!(
        run.poll(t1 + Duration::seconds(29), &active()),
        RunStep::Sleep { until }
    );
    let deadline = until + Duration::minutes(15);
    assert_eq!(
        run.poll(until, &active()),
        RunStep::AwaitApproval {
            step_index: 3,
            deadline
        }
    );
    let t2 = until + Duration::minutes(3);
    run.approve("alice", t2).unwrap();
    let (i, a) = execute(&mut run, t2);
    assert_eq!(
        (i, a),
        (
            5,
            ActionSpec::Webhook {
                endpoint: "sim-platform".into()
            }
        )
    );
    run.action_done(5, true, t2).unwrap();
    assert_eq!(execute(&mut run, t2).0, 6);
    run.action_done(6, true, t2).unwrap();
    assert_eq!(
        run.poll(t2, &active()),
        RunStep::Finished(RunStatus::Completed)
    );
    assert_eq!(run.status(), Some(&RunStatus::Completed));
    // Undo: reversible applied actions, most recent first.
    let undo: Vec<_> = run.undo_actions().into_iter().map(|a| a.action).collect();
    assert_eq!(
        undo,
        [ActionSpec::RegistryQuarantine, ActionSpec::BrokerDisable]
    );
    // The timeline, in order.
    let events: Vec<&str> = run
        .history()
        .iter()
        .map(|h| match &h.event {
            RunEvent::Started { .. } => "started",
            RunEvent::ActionRequested { .. } => "requested",
            RunEvent::ActionSucceeded { .. } => "succeeded",
            RunEvent::ActionFailed { .. } => "failed",
            RunEvent::ActionSkipped { .. } => "skipped",
            RunEvent::WaitStarted { .. } => "wait",
            RunEvent::WaitEnded => "wait-ended",
            RunEvent::ApprovalRequested { .. } => "approval",
            RunEvent::Approved { .. } => "approved",
            RunEvent::Denied { .. } => "denied",
            RunEvent::ApprovalTimedOut { .. } => "timed-out",
            RunEvent::ConditionHeld => "condition-held",
            RunEvent::ConditionNotMet => "condition-not-met",
            RunEvent::Cancelled { .. } => "cancelled",
            RunEvent::Finished { .. } => "finished",
        })
        .collect();
    assert_eq!(
        events,
        [
            "started",
            "requested",
            "succeeded",
            "requested",
            "succeeded",
            "wait",
            "wait-ended",
            "approval",
            "approved",
            "condition-held",
            "requested",
            "succeeded",
            "requested",
            "succeeded",
            "finished"
        ]
    );
    let approved = run
        .history()
        .iter()
        .find(|h| matches!(h.event, RunEvent::Approved { .. }))
        .unwrap();
    assert_eq!((approved.at, approved.step_index), (t2, Some(3)));
    // The timeline serialises for incident views.
    let json = serde_json::to_value(run.history()).unwrap();
    assert_eq!(json[8]["event"], "approved");
    assert_eq!(json[8]["by"], "alice");
    assert_eq!(json[8]["at"], "2025-03-01T12:03:31Z");
}

fn to_approval(steps: &str) -> (Run, OffsetDateTime) {
    let p = playbook(steps);
    let mut run = Run::start(&p, device(), T0);
    assert_eq!(execute(&mut run, T0).0, 0);
    run.action_done(0, true, T0).unwrap();
    let RunStep::AwaitApproval { deadline, .. } = run.poll(T0, &active()) else {
        panic!("expected an approval");
    };
    (run, deadline)
}

const APPROVAL: &str = "[[steps]]\naction = \"radius_quarantine\"\n[[steps]]\napproval = { timeout = \"10m\", on_timeout = \"ON\" }\n[[steps]]\naction = \"registry_disable\"\n";

#[test]
fn approval_timeout_aborts_or_proceeds() {
    let (mut run, deadline) = to_approval(&APPROVAL.replace("ON", "abort"));
    assert_eq!(deadline, T0 + Duration::minutes(10));
    // Still pending a moment before the deadline.
    assert!(matches!(
        run.poll(deadline - Duration::seconds(1), &active()),
        RunStep::AwaitApproval { .. }
    ));
    // At the deadline, an approval is too late and the timeout rule applies.
    assert_eq!(run.approve("bob", deadline), Err(RunError::ApprovalExpired));
    assert_eq!(
        run.poll(deadline, &active()),
        RunStep::Finished(RunStatus::TimedOut { step_index: 1 })
    );
    assert!(!run.status().unwrap().is_success());
    assert!(
        run.history()
            .iter()
            .any(|h| h.event == RunEvent::ApprovalTimedOut { proceeded: false })
    );
    assert_eq!(run.approve("bob", deadline), Err(RunError::Finished));
    // What was applied before the approval can be undone.
    assert_eq!(run.undo_actions()[0].action, ActionSpec::RadiusQuarantine);

    let (mut run, deadline) = to_approval(&APPROVAL.replace("ON", "proceed"));
    assert_eq!(
        execute(&mut run, deadline + Duration::hours(1)),
        (2, ActionSpec::RegistryDisable)
    );
    assert!(
        run.history()
            .iter()
            .any(|h| h.event == RunEvent::ApprovalTimedOut { proceeded: true })
    );
}

#[test]
fn denial_ends_the_run() {
    let (mut run, _) = to_approval(&APPROVAL.replace("ON", "proceed"));
    run.deny("carol", T0 + Duration::minutes(1)).unwrap();
    assert_eq!(
        run.poll(T0 + Duration::minutes(2), &active()),
        RunStep::Finished(RunStatus::Denied {
            step_index: 1,
            by: "carol".into()
        })
    );
    assert_eq!(run.deny("carol", T0), Err(RunError::Finished));
}

#[test]
fn decisions_and_reports_out_of_turn_are_refused() {
    let p = playbook(APPROVAL.replace("ON", "abort").as_str());
    let mut run = Run::start(&p, device(), T0);
    assert_eq!(run.approve("x", T0), Err(RunError::NoApprovalPending));
    assert_eq!(
        run.action_done(0, true, T0),
        Err(RunError::NotInFlight { step_index: 0 })
    );
    execute(&mut run, T0);
    assert_eq!(
        run.action_done(2, true, T0),
        Err(RunError::NotInFlight { step_index: 2 })
    );
    run.action_done(0, true, T0).unwrap();
    assert_eq!(
        run.action_done(0, true, T0),
        Err(RunError::NotInFlight { step_index: 0 })
    );
}

#[test]
fn conditions_gate_the_rest() {
    let steps = "[[steps]]\naction = \"siem\"\n[[steps]]\ncondition = { finding_active = true, device_state = \"active\", min_severity = \"high\" }\n[[steps]]\naction = \"registry_disable\"\n";
    let p = playbook(steps);
    let cases = [
        (active(), true),
        (
            RunInputs {
                finding_active: false,
                ..active()
            },
            false,
        ),
        (
            RunInputs {
                device_state: Some(DeviceState::Quarantined),
                ..active()
            },
            false,
        ),
        (
            RunInputs {
                severity: Severity::Medium,
                ..active()
            },
            false,
        ),
        (
            RunInputs {
                severity: Severity::Critical,
                ..active()
            },
            true,
        ),
    ];
    for (inputs, holds) in cases {
        let mut run = Run::start(&p, device(), T0);
        assert!(matches!(
            run.poll(T0, &inputs),
            RunStep::Execute { step_index: 0, .. }
        ));
        run.action_done(0, true, T0).unwrap();
        let step = run.poll(T0, &inputs);
        if holds {
            assert!(
                matches!(step, RunStep::Execute { step_index: 2, .. }),
                "{inputs:?}"
            );
        } else {
            assert_eq!(
                step,
                RunStep::Finished(RunStatus::ConditionNotMet { step_index: 1 }),
                "{inputs:?}"
            );
            assert!(run.status().unwrap().is_success());
        }
    }
}

#[test]
fn failures_stop_unless_allowed() {
    let steps = "[[steps]]\naction = \"siem\"\ncontinue_on_failure = true\n[[steps]]\naction = \"broker_disable\"\n[[steps]]\naction = \"registry_disable\"\n";
    let p = playbook(steps);
    let mut run = Run::start(&p, device(), T0);
    execute(&mut run, T0);
    run.action_done(0, false, T0).unwrap();
    assert_eq!(execute(&mut run, T0).0, 1);
    run.action_done(1, false, T0).unwrap();
    assert_eq!(
        run.poll(T0, &active()),
        RunStep::Finished(RunStatus::Failed { step_index: 1 })
    );
    assert!(run.undo_actions().is_empty());
    assert!(run.history().iter().any(|h| matches!(
        h.event,
        RunEvent::ActionFailed {
            continued: true,
            ..
        }
    )));
}

#[test]
fn host_targets_skip_device_only_actions() {
    let steps = "[[steps]]\naction = \"radius_quarantine\"\n[[steps]]\naction = \"broker_disable\"\n[[steps]]\naction = \"siem\"\n";
    let p = playbook(steps);
    let host = Target::Host("10.1.2.3".parse::<IpAddr>().unwrap());
    let mut run = Run::start(&p, host.clone(), T0);
    let inputs = RunInputs {
        device_state: None,
        ..active()
    };
    assert!(matches!(
        run.poll(T0, &inputs),
        RunStep::Execute { step_index: 0, .. }
    ));
    run.action_done(0, true, T0).unwrap();
    assert!(matches!(
        run.poll(T0, &inputs),
        RunStep::Execute {
            step_index: 2,
            action: ActionSpec::Siem
        }
    ));
    assert!(run.history().iter().any(|h| matches!(
        &h.event,
        RunEvent::ActionSkipped { action: ActionSpec::BrokerDisable, reason } if reason.contains("host 10.1.2.3")
    )));

    let dry = plan(&p, &[device(), host]);
    assert_eq!(dry.total_actions, 5);
    assert_eq!(dry.targets[0].steps[1].disposition, Disposition::Executes);
    assert!(matches!(
        dry.targets[1].steps[1].disposition,
        Disposition::Skipped { .. }
    ));
}

#[test]
fn cancel_and_persist() {
    let p = playbook(FULL);
    let mut run = Run::start(&p, device(), T0);
    execute(&mut run, T0);
    run.action_done(0, true, T0).unwrap();
    execute(&mut run, T0);
    // Persisted with an action in flight, restored, and carried on.
    let json = serde_json::to_string(&run).unwrap();
    let mut restored: Run = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, run);
    restored.action_done(1, true, T0).unwrap();
    assert!(matches!(
        restored.poll(T0, &active()),
        RunStep::Sleep { .. }
    ));
    restored.cancel("dave", T0 + Duration::seconds(5)).unwrap();
    assert_eq!(
        restored.poll(T0 + Duration::hours(1), &active()),
        RunStep::Finished(RunStatus::Cancelled { by: "dave".into() })
    );
    assert_eq!(restored.cancel("dave", T0), Err(RunError::Finished));
    // What the caller is told serialises too (for an API that exposes pending work).
    let step = RunStep::Finished(RunStatus::Cancelled { by: "dave".into() });
    let json = serde_json::to_string(&step).unwrap();
    assert_eq!(
        json,
        r#"{"type":"finished","status":"cancelled","by":"dave"}"#
    );
    assert_eq!(serde_json::from_str::<RunStep>(&json).unwrap(), step);
    assert_eq!(restored.undo_actions()[0].action, ActionSpec::BrokerDisable);
    assert_eq!(restored.playbook(), &p);
    assert_eq!(restored.target(), &device());
    assert_eq!(restored.started_at(), T0);
}

#[test]
fn dry_run_shows_where_approval_blocks() {
    let p = playbook(FULL);
    let dry = plan(&p, &[device()]);
    assert_eq!(dry.playbook, "t");
    let t = &dry.targets[0];
    assert_eq!(t.blocks_at, Some(3));
    let steps: Vec<(&str, &Disposition, &[usize], &[usize])> = t
        .steps
        .iter()
        .map(|s| {
            (
                s.description.as_str(),
                &s.disposition,
                s.after_approvals.as_slice(),
                s.after_conditions.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "action radius_disconnect",
                &Disposition::Executes,
                &[][..],
                &[][..]
            ),
            ("action broker_disable", &Disposition::Executes, &[], &[]),
            ("wait 30s", &Disposition::Waits, &[], &[]),
            (
                "approval within 15m, else abort",
                &Disposition::AwaitsApproval,
                &[],
                &[]
            ),
            (
                "condition finding_active = true",
                &Disposition::Checks,
                &[3],
                &[]
            ),
            (
                "action webhook sim-platform",
                &Disposition::Executes,
                &[3],
                &[4]
            ),
            (
                "action registry_quarantine",
                &Disposition::Executes,
                &[3],
                &[4]
            ),
        ]
    );
    assert_eq!(dry.total_actions, 4);
    assert!(
        serde_json::to_string(&dry)
            .unwrap()
            .contains("awaits_approval")
    );
}
