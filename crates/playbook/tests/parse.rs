//! Parsing and validation: good files, every kind of error with its exact position, whole-set
//! refusal, references, matching order.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::BTreeSet;

use rampart_core::{DeviceState, Label};
use rampart_playbook::{
    ActionSpec, ConditionSpec, DurationSpec, ErrorKind, FindingFacts, OnTimeout, PlaybookErrors,
    PlaybookSet, Scope, Severity, Step, Validator,
};

const FULL: &str = r#"name = "sim-in-foreign-imei"
description = "SIM in an unauthorised IMEI: disconnect and quarantine"
enabled = true
priority = 10
[match]
kinds = ["sim_imei_mismatch"]
min_severity = "medium"
profiles = []
groups = []
tags = []
scope = "device"
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

fn errors(text: &str) -> PlaybookErrors {
    PlaybookSet::parse_one("playbooks/sim.toml", text).unwrap_err()
}

fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.errors().len(), 1, "{e}");
    e.to_string()
}

/// A minimal valid playbook with `extra` lines appended to its only step, or `steps` given.
fn with_steps(steps: &str) -> String {
    format!("name = \"x\"\n[match]\nkinds = [\"a\"]\n{steps}")
}

#[test]
fn the_full_format_parses() {
    let p = PlaybookSet::parse_one("sim.toml", FULL).unwrap();
    assert_eq!(p.name, "sim-in-foreign-imei");
    assert!(p.enabled);
    assert_eq!(p.priority, 10);
    assert_eq!(p.matcher.kinds, ["sim_imei_mismatch"]);
    assert_eq!(p.matcher.min_severity, Severity::Medium);
    assert_eq!(p.matcher.scope, Scope::Device);
    assert_eq!(
        p.steps,
        vec![
            Step::Action {
                action: ActionSpec::RadiusDisconnect,
                continue_on_failure: false
            },
            Step::Action {
                action: ActionSpec::BrokerDisable,
                continue_on_failure: false
            },
            Step::Wait {
                duration: DurationSpec::from_secs(30)
            },
            Step::Approval {
                timeout: DurationSpec::from_secs(900),
                on_timeout: OnTimeout::Abort
            },
            Step::Condition {
                condition: ConditionSpec {
                    finding_active: Some(true),
                    ..ConditionSpec::default()
                }
            },
            Step::Action {
                action: ActionSpec::Webhook {
                    endpoint: "sim-platform".into()
                },
                continue_on_failure: false
            },
            Step::Action {
                action: ActionSpec::RegistryQuarantine,
                continue_on_failure: false
            },
        ]
    );
    // The written form reads back equal, in TOML and JSON.
    let again = PlaybookSet::parse_one("again.toml", &p.to_toml().unwrap()).unwrap();
    assert_eq!(again, p);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(
        serde_json::from_str::<rampart_playbook::Playbook>(&json).unwrap(),
        p
    );
}

#[test]
fn defaults_and_every_step_option() {
    let text = with_steps(
        r#"[[steps]]
action = "move_to_group"
group = "quarantine"
continue_on_failure = true
[[steps]]
approval = { timeout = "1h", on_timeout = "proceed" }
[[steps]]
condition = { device_state = "active", min_severity = "high" }
[[steps]]
action = "revoke_certificate"
"#,
    );
    let p = PlaybookSet::parse_one("x.toml", &text).unwrap();
    assert!(p.enabled);
    assert_eq!(p.priority, rampart_playbook::DEFAULT_PRIORITY);
    assert_eq!(p.description, "");
    assert_eq!(p.matcher.min_severity, Severity::Info);
    assert_eq!(p.matcher.scope, Scope::Device);
    assert_eq!(
        p.steps[0],
        Step::Action {
            action: ActionSpec::MoveToGroup {
                group: Label::parse("quarantine").unwrap()
            },
            continue_on_failure: true
        }
    );
    assert_eq!(
        p.steps[1],
        Step::Approval {
            timeout: DurationSpec::from_secs(3600),
            on_timeout: OnTimeout::Proceed
        }
    );
    assert_eq!(
        p.steps[2],
        Step::Condition {
            condition: ConditionSpec {
                finding_active: None,
                device_state: Some(DeviceState::Active),
                min_severity: Some(Severity::High)
            }
        }
    );
}

#[test]
fn invalid_duration_names_file_line_column_and_path() {
    let text = with_steps("[[steps]]\naction = \"siem\"\n[[steps]]\n  wait = \"3x\"\n");
    assert_eq!(
        error(&text),
        r#"playbooks/sim.toml:7:3: steps[1].wait: invalid duration "3x""#
    );
    let e = &errors(&text).0[0];
    assert_eq!(
        (e.line, e.column, e.kind),
        (Some(7), Some(3), ErrorKind::Invalid)
    );
}

#[test]
fn syntax_errors() {
    let e = errors("name = \"x\n[match]\n");
    assert_eq!(e.0[0].kind, ErrorKind::Syntax);
    assert_eq!((e.0[0].line, e.0[0].column), (Some(1), Some(10)));
    let e = errors("name = \"x\"\nname = \"y\"\n");
    assert_eq!(e.0[0].kind, ErrorKind::Syntax);
    assert_eq!(e.to_string(), "playbooks/sim.toml:2:1: duplicate key");
}

#[test]
fn unknown_fields_are_refused_by_name() {
    let text = with_steps("[[steps]]\naction = \"siem\"\n[[steps]]\nwiat = \"3s\"\n");
    let e = errors(&text);
    assert_eq!(e.0[0].kind, ErrorKind::UnknownField);
    assert_eq!(
        e.to_string(),
        "playbooks/sim.toml:7:1: steps[1].wiat: unknown field `wiat`, expected one of \
         `action`, `endpoint`, `group`, `continue_on_failure`, `wait`, `approval`, `condition`"
    );
    // At the top level and in [match].
    assert_eq!(
        error("nmae = \"x\"\n"),
        "playbooks/sim.toml:1:1: nmae: unknown field `nmae`, expected one of `name`, \
         `description`, `enabled`, `priority`, `match`, `steps`"
    );
    let text = "name = \"x\"\n[match]\nkinds = [\"a\"]\nseverity = \"high\"\n[[steps]]\naction = \"siem\"\n";
    assert!(
        error(text).starts_with(
            "playbooks/sim.toml:4:1: match.severity: unknown field `severity`, expected one of"
        ),
        "{}",
        error(text)
    );
    // Inside an inline table.
    let text = with_steps(
        "[[steps]]\napproval = { timeout = \"1m\", then = \"abort\" }\n[[steps]]\naction = \"siem\"\n",
    );
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:30: steps[0].approval.then: unknown field `then`, expected \
         `timeout` or `on_timeout`"
    );
    // A parameter with the wrong action.
    let text = with_steps("[[steps]]\naction = \"siem\"\nendpoint = \"x\"\n");
    let e = errors(&text);
    assert_eq!(e.0[0].kind, ErrorKind::UnknownField);
    assert_eq!(
        e.to_string(),
        "playbooks/sim.toml:6:1: steps[0].endpoint: `endpoint` only goes with action \"webhook\", not \"siem\""
    );
}

#[test]
fn wrong_types_and_unknown_names() {
    assert_eq!(
        error("name = \"x\"\nenabled = \"yes\"\n"),
        "playbooks/sim.toml:2:1: enabled: invalid type: string \"yes\", expected a boolean"
    );
    let text = "name = \"x\"\n[match]\nkinds = [\"a\"]\nmin_severity = \"severe\"\n[[steps]]\naction = \"siem\"\n";
    assert_eq!(
        error(text),
        "playbooks/sim.toml:4:1: match.min_severity: unknown variant `severe`, expected one of \
         `info`, `low`, `medium`, `high`, `critical`"
    );
    let text = with_steps("[[steps]]\naction = \"radius_disconect\"\n");
    let msg = error(&text);
    assert!(
        msg.starts_with(
            "playbooks/sim.toml:5:1: steps[0].action: unknown variant `radius_disconect`, expected one of `radius_disconnect`"
        ),
        "{msg}"
    );
    let text = "name = \"x\"\n[match]\nkinds = \"a\"\n";
    assert_eq!(
        error(text),
        "playbooks/sim.toml:3:1: match.kinds: invalid type: string \"a\", expected a sequence"
    );
    let text = "name = \"x\"\n[match]\nkinds = [\"a\", 7]\n";
    assert_eq!(
        error(text),
        "playbooks/sim.toml:3:15: match.kinds[1]: invalid type: integer `7`, expected a string"
    );
}

#[test]
fn missing_fields() {
    let e = errors("name = \"x\"\n[match]\nkinds = [\"a\"]\n");
    assert_eq!(e.0[0].kind, ErrorKind::MissingField);
    assert_eq!(
        e.to_string(),
        "playbooks/sim.toml:1:1: steps: missing field `steps`"
    );
    let text = with_steps(
        "[[steps]]\napproval = { on_timeout = \"abort\" }\n[[steps]]\naction = \"siem\"\n",
    );
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:1: steps[0].approval.timeout: missing field `timeout`"
    );
    let text = "name = \"x\"\n[match]\n[[steps]]\naction = \"siem\"\n";
    assert_eq!(
        error(text),
        "playbooks/sim.toml:2:1: match.kinds: name at least one finding kind (\"*\" for every kind)"
    );
    let text = with_steps("[[steps]]\naction = \"webhook\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:4:1: steps[0].endpoint: action \"webhook\" needs an `endpoint`"
    );
    let text = with_steps("[[steps]]\ncontinue_on_failure = true\n");
    let e = errors(&text);
    assert_eq!(
        e.to_string(),
        "playbooks/sim.toml:4:1: steps[0]: a step needs one of `action`, `wait`, `approval` or `condition`"
    );
    let text = with_steps("[[steps]]\ncondition = {}\n[[steps]]\naction = \"siem\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:1: steps[0].condition: a condition needs at least one of \
         `finding_active`, `device_state`, `min_severity`"
    );
}

#[test]
fn rule_violations() {
    // Two things in one step.
    let text = with_steps("[[steps]]\naction = \"siem\"\nwait = \"1s\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:6:1: steps[0].wait: a step takes one of `action`, `wait`, \
         `approval` or `condition`, not both `action` and `wait`"
    );
    // An approval last.
    let text =
        with_steps("[[steps]]\naction = \"siem\"\n[[steps]]\napproval = { timeout = \"5m\" }\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:7:1: steps[1].approval: an approval cannot be the last step: \
         there is nothing after it to approve"
    );
    // Durations out of bounds.
    let text = with_steps("[[steps]]\nwait = \"25h\"\n[[steps]]\naction = \"siem\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:1: steps[0].wait: a wait of \"25h\" is longer than the 1d maximum"
    );
    let text = with_steps("[[steps]]\nwait = \"0s\"\n[[steps]]\naction = \"siem\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:1: steps[0].wait: a wait of \"0s\" is too short: at least 1s"
    );
    let text =
        with_steps("[[steps]]\napproval = { timeout = \"8d\" }\n[[steps]]\naction = \"siem\"\n");
    assert_eq!(
        error(&text),
        "playbooks/sim.toml:5:14: steps[0].approval.timeout: an approval timeout of \"8d\" is \
         longer than the 7d maximum"
    );
    // No steps at all, no action at all.
    assert_eq!(
        error("name = \"x\"\nsteps = []\n[match]\nkinds = [\"a\"]\n"),
        "playbooks/sim.toml:2:1: steps: a playbook needs at least one step"
    );
    assert_eq!(
        error(&with_steps("[[steps]]\nwait = \"1s\"\n")),
        "playbooks/sim.toml:4:1: steps: a playbook needs at least one action step"
    );
    // Names, kinds and labels.
    let e =
        error("name = \"Sim Playbook\"\n[match]\nkinds = [\"a\"]\n[[steps]]\naction = \"siem\"\n");
    assert!(
        e.starts_with("playbooks/sim.toml:1:1: name: invalid playbook name \"Sim Playbook\""),
        "{e}"
    );
    let text = "name = \"x\"\n[match]\nkinds = [\"a\", \"Bad-Kind\"]\ngroups = [\"ok\", \"no spaces\"]\n[[steps]]\naction = \"siem\"\n";
    let e = errors(text);
    assert_eq!(
        e.to_string(),
        "playbooks/sim.toml:3:15: match.kinds[1]: invalid finding kind \"Bad-Kind\": a snake_case name or \"*\"\n\
         playbooks/sim.toml:4:17: match.groups[1]: invalid name \"no spaces\": 1-64 letters, digits, '-', '_', '.', ':', '/' or '='"
    );
    // Host scope with an action that needs a device.
    let text = "name = \"x\"\n[match]\nkinds = [\"a\"]\nscope = \"host\"\n[[steps]]\naction = \"siem\"\n[[steps]]\naction = \"registry_quarantine\"\n";
    assert_eq!(
        error(text),
        "playbooks/sim.toml:8:1: steps[1].action: \"registry_quarantine\" needs a registered \
         device, but this playbook only matches host findings (scope = \"host\")"
    );
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let text = with_steps(
        "[[steps]]\nwait = \"3x\"\n[[steps]]\naction = \"webhook\"\n[[steps]]\napproval = { timeout = \"9d\" }\n",
    );
    let e = errors(&text);
    let lines: Vec<String> = e.errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "playbooks/sim.toml:5:1: steps[0].wait: invalid duration \"3x\"",
            "playbooks/sim.toml:6:1: steps[1].endpoint: action \"webhook\" needs an `endpoint`",
            "playbooks/sim.toml:9:14: steps[2].approval.timeout: an approval timeout of \"9d\" is longer than the 7d maximum",
        ]
    );
}

fn validator() -> Validator {
    Validator {
        webhook_endpoints: BTreeSet::from(["sim-platform".to_owned(), "soc".to_owned()]),
        known_groups: Some(BTreeSet::from(["quarantine".to_owned()])),
        known_kinds: Some(BTreeSet::from([
            "sim_imei_mismatch".to_owned(),
            "beaconing".to_owned(),
        ])),
    }
}

#[test]
fn references_are_checked_against_the_validator() {
    let v = validator();
    assert!(PlaybookSet::parse_one_with("sim.toml", FULL, &v).is_ok());
    let text = "name = \"x\"\n[match]\nkinds = [\"sim_imei_mismatch\", \"data_cap\", \"*\"]\ngroups = [\"site-a\"]\n[[steps]]\naction = \"webhook\"\nendpoint = \"pager\"\n[[steps]]\naction = \"move_to_group\"\ngroup = \"isolation\"\n";
    let e = PlaybookSet::parse_one_with("x.toml", text, &v).unwrap_err();
    assert!(
        e.errors()
            .iter()
            .all(|e| e.kind == ErrorKind::UnknownReference)
    );
    assert_eq!(
        e.to_string(),
        "x.toml:3:31: match.kinds[1]: unknown finding kind \"data_cap\"\n\
         x.toml:4:11: match.groups[0]: unknown group \"site-a\"\n\
         x.toml:7:1: steps[0].endpoint: unknown webhook endpoint \"pager\" (configured: sim-platform, soc)\n\
         x.toml:10:1: steps[1].group: unknown group \"isolation\""
    );
    // Without the validator, the same file is fine.
    assert!(PlaybookSet::parse_one("x.toml", text).is_ok());
    // Groups unchecked when not known.
    let v = Validator {
        known_groups: None,
        known_kinds: None,
        ..validator()
    };
    let e = PlaybookSet::parse_one_with("x.toml", text, &v).unwrap_err();
    assert_eq!(e.errors().len(), 1);
}

fn pb(name: &str, priority: i64, extra_match: &str) -> String {
    format!(
        "name = \"{name}\"\npriority = {priority}\n[match]\nkinds = [\"beaconing\"]\n{extra_match}\n[[steps]]\naction = \"siem\"\n"
    )
}

#[test]
fn one_bad_file_refuses_the_whole_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), pb("a", 1, "")).unwrap();
    std::fs::write(dir.path().join("c.toml"), pb("c", 1, "")).unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a playbook").unwrap();
    std::fs::write(dir.path().join(".#a.toml"), "editor lock").unwrap();
    let set = PlaybookSet::load_dir(dir.path()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.source_of("a"),
        Some(dir.path().join("a.toml").display().to_string().as_str())
    );
    std::fs::write(
        dir.path().join("b.toml"),
        with_steps("[[steps]]\nwait = \"3x\"\n[[steps]]\naction = \"siem\"\n"),
    )
    .unwrap();
    let e = PlaybookSet::load_dir(dir.path()).unwrap_err();
    let b = dir.path().join("b.toml").display().to_string();
    assert_eq!(
        e.to_string(),
        format!("{b}:5:1: steps[0].wait: invalid duration \"3x\"")
    );
}

#[test]
fn duplicate_names_across_files() {
    let e = PlaybookSet::from_sources(
        [
            ("p/one.toml", pb("same", 1, "")),
            ("p/two.toml", format!("# comment\n{}", pb("same", 2, ""))),
        ],
        None,
    )
    .unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::Duplicate);
    assert_eq!(
        e.to_string(),
        "p/two.toml:2:1: name: playbook name \"same\" is also used by p/one.toml"
    );
    let a = PlaybookSet::parse_one("a", &pb("same", 1, "")).unwrap();
    let e = PlaybookSet::from_playbooks(vec![a.clone(), a], None).unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::Duplicate);
}

#[test]
fn io_errors_name_the_directory() {
    let e = PlaybookSet::load_dir("/nonexistent/playbooks").unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::Io);
    assert!(e.to_string().starts_with("/nonexistent/playbooks: "));
}

#[test]
fn matching_order_and_criteria() {
    let set = PlaybookSet::from_sources(
        [
            ("1", pb("zeta", 5, "")),
            ("2", pb("alpha", 5, "")),
            ("3", pb("first", 1, "")),
            ("4", pb("high-only", 0, "min_severity = \"high\"")),
            ("5", pb("meters", 0, "profiles = [\"meter\"]")),
            (
                "6",
                pb(
                    "site",
                    0,
                    "groups = [\"site-a\", \"site-b\"]\ntags = [\"pilot\"]",
                ),
            ),
            ("7", pb("hosts", 0, "scope = \"host\"")),
            ("8", pb("both", 50, "scope = \"any\"")),
            (
                "9",
                pb("off", 0, "").replace("priority", "enabled = false\npriority"),
            ),
            (
                "10",
                pb("default-priority", 100, "").replace("priority = 100\n", ""),
            ),
        ],
        None,
    )
    .unwrap();
    let names = |f: &FindingFacts| -> Vec<&str> {
        set.matching(f).iter().map(|p| p.name.as_str()).collect()
    };
    let mut facts = FindingFacts {
        kind: "beaconing".into(),
        severity: Severity::Medium,
        ..FindingFacts::default()
    };
    assert_eq!(
        names(&facts),
        ["first", "alpha", "zeta", "both", "default-priority"]
    );
    facts.severity = Severity::Critical;
    facts.profile = Some("meter".into());
    facts.groups = vec!["site-b".into()];
    facts.tags = vec!["pilot".into(), "x".into()];
    assert_eq!(
        names(&facts),
        [
            "high-only",
            "meters",
            "site",
            "first",
            "alpha",
            "zeta",
            "both",
            "default-priority"
        ]
    );
    facts.scope = Scope::Host;
    facts.profile = None;
    facts.groups.clear();
    facts.tags.clear();
    // Only host and any scopes answer a host finding.
    assert_eq!(names(&facts), ["hosts", "both"]);
    facts.kind = "data_cap".into();
    assert!(names(&facts).is_empty());
    assert!(set.get("off").is_some_and(|p| !p.enabled));
    assert_eq!(set.len(), 10);
}

#[test]
fn may_match_ignores_the_device_facts() {
    let set = PlaybookSet::from_sources(
        [(
            "gw.toml",
            "name = \"gw\"\n[match]\nkinds = [\"ddos\"]\nmin_severity = \"high\"\n\
             profiles = [\"gateway\"]\n[[steps]]\naction = \"registry_quarantine\"\n",
        )],
        None,
    )
    .unwrap();
    let mut facts = FindingFacts {
        kind: "ddos".into(),
        severity: Severity::High,
        ..FindingFacts::default()
    };
    // The profile is not known yet: the playbook may still answer.
    assert!(set.may_match(&facts));
    assert!(set.matching(&facts).is_empty());
    facts.profile = Some("gateway".into());
    assert_eq!(set.matching(&facts).len(), 1);
    // Kind and severity alone rule it out.
    facts.severity = Severity::Medium;
    assert!(!set.may_match(&facts));
    facts.severity = Severity::High;
    facts.kind = "scan".into();
    assert!(!set.may_match(&facts));
}
