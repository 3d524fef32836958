//! Rule schema, validation and the move of rule state across rule changes.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use proptest::prelude::*;
use rampart_core::{DeviceMetrics, Timestamp};
use serde_json::json;

use super::state::{RuleOutcome, RuleState};
use super::*;
use crate::shard::Key;

fn rule(name: &str, threshold: f64) -> Rule {
    Rule {
        name: name.to_owned(),
        profiles: Vec::new(),
        metric: Metric::BytesOut,
        comparison: Comparison::Gt,
        threshold: Limit::Value { value: threshold },
        duration_s: 0,
        datapoints_to_alarm: 2,
        datapoints_to_clear: 1,
        suppress_s: 0,
        severity: Severity::Medium,
        min_samples: 100,
    }
}

fn fields(problems: &[RuleProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn json_rules_take_the_toml_schema_and_defaults() {
    let r = Rule::from_json(&json!({
        "name": "exfil",
        "metric": "bytes_out",
        "comparison": "gt",
        "threshold": {"statistic": "p99.9"},
        "duration_s": 300,
    }))
    .unwrap();
    assert_eq!(
        r.threshold,
        Limit::Statistic {
            statistic: Statistic::P999
        }
    );
    assert_eq!((r.datapoints_to_alarm, r.datapoints_to_clear), (1, 1));
    assert_eq!((r.min_samples, r.severity), (100, Severity::Info));
    // What the API shows is what it takes back.
    assert_eq!(
        Rule::from_json(&serde_json::to_value(&r).unwrap()).unwrap(),
        r
    );
}

#[test]
fn json_errors_name_the_field() {
    let base = json!({"name": "x", "metric": "bytes_out", "comparison": "gt",
                      "threshold": {"value": 1.0}});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        Rule::from_json(&b).unwrap_err()
    };
    let e = with("datapoints_to_alarm", json!("two"));
    assert_eq!(fields(&e), ["datapoints_to_alarm"], "{e:?}");
    let e = with("metric", json!("bytes_sideways"));
    assert_eq!(fields(&e), ["metric"], "{e:?}");
    assert!(e[0].reason.contains("bytes_sideways"), "{e:?}");
    let e = with("colour", json!("red"));
    assert_eq!(fields(&e), ["colour"], "{e:?}");
    assert!(e[0].reason.contains("unknown field"), "{e:?}");
    let e = with("threshold", json!({"value": 1.0, "statistic": "p99"}));
    assert_eq!(fields(&e), ["threshold"], "{e:?}");
    let e = with("profiles", json!(["meter", 7]));
    assert_eq!(fields(&e), ["profiles[1]"], "{e:?}");
    let e = Rule::from_json(&json!(["not", "an", "object"])).unwrap_err();
    assert_eq!(fields(&e), ["rule"], "{e:?}");
    let e = Rule::from_json(&json!({"name": "x"})).unwrap_err();
    assert!(e[0].reason.contains("metric"), "{e:?}");
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let mut r = rule(" spaced ", 1.0);
    r.profiles = vec!["meter".into(), " ".into()];
    r.threshold = Limit::Value { value: f64::NAN };
    r.metric = Metric::ListeningPorts;
    r.duration_s = 60;
    r.datapoints_to_alarm = 0;
    r.datapoints_to_clear = MAX_DATAPOINTS + 1;
    r.suppress_s = MAX_SUPPRESS_S + 1;
    assert_eq!(
        fields(&r.problems()),
        [
            "name",
            "profiles[1]",
            "threshold.value",
            "duration_s",
            "datapoints_to_alarm",
            "datapoints_to_clear",
            "suppress_s"
        ]
    );
    r = rule("x", 1.0);
    r.duration_s = MAX_DURATION_S + 1;
    assert_eq!(fields(&r.problems()), ["duration_s"]);
    r.duration_s = MAX_DURATION_S;
    assert!(r.problems().is_empty());
    assert!(rule("", 1.0).validate().is_err());
    assert!(
        rule(&"n".repeat(MAX_NAME_BYTES + 1), 1.0)
            .validate()
            .is_err()
    );
    assert!(rule("tab\there", 1.0).validate().is_err());
    assert!(rule("a name with spaces", 1.0).validate().is_ok());
}

#[test]
fn a_set_names_each_rule_once() {
    let set = RuleConfig {
        rules: vec![rule("a", 1.0), rule("b", 1.0), rule("a", 2.0)],
    };
    let p = set.problems();
    assert_eq!(fields(&p), ["rules.rules[2].name"]);
    let e = set.validate().unwrap_err().to_string();
    assert!(
        e.contains("rules.rules[2].name") && e.contains("unique"),
        "{e}"
    );
}

#[test]
fn files_hold_one_rule_or_several() {
    let one = "name = \"exfil\"\nmetric = \"bytes_out\"\ncomparison = \"gt\"\n\
               threshold = { value = 1e6 }\nduration_s = 300\n";
    let r = Rule::parse_many(one).unwrap();
    assert_eq!((r.len(), r[0].duration_s), (1, 300));
    let two = "[[rules]]\nname = 'a'\nmetric = 'bytes_out'\ncomparison = 'gt'\n\
               threshold = { value = 1.0 }\n[[rules]]\nname = 'b'\nmetric = 'bytes_in'\n\
               comparison = 'lt'\nthreshold = { statistic = 'p90' }\n";
    let names: Vec<String> = Rule::parse_many(two)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let json_one = serde_json::to_string(&rule("j", 5.0)).unwrap();
    assert_eq!(Rule::parse_many(&json_one).unwrap(), [rule("j", 5.0)]);
    let json_two = serde_json::to_string(&[rule("j", 5.0), rule("k", 6.0)]).unwrap();
    assert_eq!(Rule::parse_many(&json_two).unwrap().len(), 2);

    // Problems name the rule by position when there are several.
    let bad = two.replace("'bytes_in'", "'bytes_sideways'");
    assert_eq!(
        fields(&Rule::parse_many(&bad).unwrap_err()),
        ["rules[1].metric"]
    );
    let twice = two.replace("'b'", "'a'");
    assert_eq!(
        fields(&Rule::parse_many(&twice).unwrap_err()),
        ["rules[1].name"]
    );
    let zero = one.replace("duration_s = 300", "datapoints_to_alarm = 0");
    assert_eq!(
        fields(&Rule::parse_many(&zero).unwrap_err()),
        ["datapoints_to_alarm"]
    );
    assert_eq!(fields(&Rule::parse_many("name = ").unwrap_err()), ["toml"]);
    assert_eq!(
        fields(&Rule::parse_many("{\"name\": ").unwrap_err()),
        ["json"]
    );
    assert_eq!(fields(&Rule::parse_many("[]").unwrap_err()), ["rules"]);
    assert_eq!(fields(&Rule::parse_many("").unwrap_err()), ["rule"]);
}

fn report(t: i64, bytes_out: u64) -> DeviceMetrics {
    DeviceMetrics {
        time: Timestamp(t),
        bytes_out: Some(bytes_out),
        ..DeviceMetrics::default()
    }
}

/// Feeds one report; returns `alarm:NAME` / `clear:NAME` per outcome.
fn feed(st: &mut RuleState, rules: &[Rule], t: i64, bytes: u64) -> Vec<String> {
    let mut out = Vec::new();
    st.on_metrics(rules, &Key::None, None, &report(t, bytes), &mut out);
    out.into_iter()
        .map(|o| match o {
            RuleOutcome::Alarm(tr) => format!("alarm:{}", tr.rule.unwrap_or_default()),
            RuleOutcome::Clear(n) => format!("clear:{n}"),
        })
        .collect()
}

#[test]
fn unchanged_rules_keep_their_state_when_the_set_changes() {
    let a = rule("a", 100.0);
    let old = vec![a.clone()];
    let mut st = RuleState::default();
    assert!(
        feed(&mut st, &old, 1_000, 500).is_empty(),
        "one of two datapoints"
    );
    // A rule is added before it: `a` moves to position 1 and keeps its count.
    let new = vec![rule("z", 1e12), a.clone()];
    assert_eq!(st.retarget(&old, &new), Vec::<String>::new());
    assert_eq!(feed(&mut st, &new, 2_000, 500), ["alarm:a"]);
    // Deleting `z` moves `a` back, alarm and all: the next normal report clears it.
    let back = vec![a];
    assert_eq!(st.retarget(&new, &back), ["z"]);
    assert_eq!(feed(&mut st, &back, 3_000, 10), ["clear:a"]);
}

#[test]
fn a_redefined_rule_starts_over_and_a_deleted_one_is_gone() {
    let old = vec![rule("a", 100.0), rule("b", 100.0)];
    let mut st = RuleState::default();
    feed(&mut st, &old, 1_000, 500);
    assert_eq!(feed(&mut st, &old, 2_000, 500), ["alarm:a", "alarm:b"]);
    // `a` gets a new threshold: its alarm no longer stands, its count starts over.
    let new = vec![rule("a", 200.0), rule("b", 100.0)];
    assert_eq!(st.retarget(&old, &new), ["a"]);
    assert_eq!(feed(&mut st, &new, 3_000, 500), ["alarm:b"]);
    assert_eq!(feed(&mut st, &new, 4_000, 500), ["alarm:a", "alarm:b"]);
    // `b` is deleted then defined again as it was: nothing of it survived.
    let without = vec![rule("a", 200.0)];
    assert_eq!(st.retarget(&new, &without), ["b"]);
    let again = vec![rule("a", 200.0), rule("b", 100.0)];
    assert!(st.retarget(&without, &again).is_empty());
    assert_eq!(feed(&mut st, &again, 5_000, 500), ["alarm:a"]);
}

#[test]
fn a_redefined_rule_keeps_the_population_of_its_metric() {
    let mut stat = rule("p", 0.0);
    stat.threshold = Limit::Statistic {
        statistic: Statistic::P90,
    };
    stat.min_samples = 20;
    stat.datapoints_to_alarm = 1;
    let old = vec![stat.clone()];
    let mut st = RuleState::default();
    for i in 0..30 {
        assert!(feed(&mut st, &old, i * 1000, 100 + (i as u64 % 5)).is_empty());
    }
    // Same metric, other severity: the population is kept, so the next outlier alarms.
    let mut redefined = stat;
    redefined.severity = Severity::High;
    let new = vec![redefined.clone()];
    assert_eq!(st.retarget(&old, &new), ["p"]);
    assert_eq!(feed(&mut st, &new, 40_000, 100_000), ["alarm:p"]);
    // Another metric: the population is not the same quantity, so it is dropped.
    let mut other = redefined;
    other.metric = Metric::BytesIn;
    let gone = vec![other];
    assert_eq!(st.retarget(&new, &gone), ["p"]);
    let mut out = Vec::new();
    let m = DeviceMetrics {
        time: Timestamp(50_000),
        bytes_in: Some(1_000_000),
        ..DeviceMetrics::default()
    };
    st.on_metrics(&gone, &Key::None, None, &m, &mut out);
    assert!(out.is_empty(), "no population yet");
}

#[test]
fn a_duration_sums_the_reports_inside_it() {
    let mut r = rule("burst", 1000.0);
    r.duration_s = 60;
    r.datapoints_to_alarm = 1;
    let rules = vec![r];
    let mut st = RuleState::default();
    // 400 bytes every 20 s: three reports in any 60 s sum to 1200.
    assert!(feed(&mut st, &rules, 0, 400).is_empty());
    assert!(feed(&mut st, &rules, 20_000, 400).is_empty());
    assert_eq!(feed(&mut st, &rules, 40_000, 400), ["alarm:burst"]);
    // The first report leaves the window at 60 s: 400 + 400 + 100 = 900 clears.
    assert_eq!(feed(&mut st, &rules, 60_000, 100), ["clear:burst"]);
    // Far later, the window holds only the new report.
    assert!(feed(&mut st, &rules, 10_000_000, 999).is_empty());
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    let metric = prop_oneof![
        Just(Metric::BytesOut),
        Just(Metric::PacketsIn),
        Just(Metric::DistinctPorts),
        Just(Metric::ListeningPorts),
    ];
    let comparison = prop_oneof![
        Just(Comparison::Gt),
        Just(Comparison::Ge),
        Just(Comparison::Lt),
        Just(Comparison::Le),
    ];
    let limit = prop_oneof![
        (-1e12f64..1e12).prop_map(|value| Limit::Value { value }),
        Just(Limit::Statistic {
            statistic: Statistic::P99
        }),
        Just(Limit::Statistic {
            statistic: Statistic::P999
        }),
    ];
    (
        "[a-z][a-z0-9 _.-]{0,20}[a-z0-9]",
        proptest::collection::vec("[a-z]{1,8}", 0..3),
        metric,
        comparison,
        limit,
        0..=MAX_DURATION_S,
        (1..=MAX_DATAPOINTS, 1..=MAX_DATAPOINTS),
        0..=MAX_SUPPRESS_S,
        0u32..1000,
    )
        .prop_map(
            |(name, profiles, metric, comparison, threshold, d, dp, s, n)| Rule {
                name,
                profiles,
                metric,
                comparison,
                threshold,
                duration_s: if metric.is_counter() { d } else { 0 },
                datapoints_to_alarm: dp.0,
                datapoints_to_clear: dp.1,
                suppress_s: s,
                severity: Severity::High,
                min_samples: n,
            },
        )
}

proptest! {
    /// A valid rule survives JSON (the API) and TOML (the configuration file) unchanged.
    #[test]
    fn valid_rules_round_trip(r in arb_rule()) {
        prop_assert!(r.problems().is_empty(), "{:?}", r.problems());
        let json = serde_json::to_value(&r).unwrap();
        prop_assert_eq!(&Rule::from_json(&json).unwrap(), &r);
        let toml = toml::to_string(&RuleConfig { rules: vec![r.clone()] }).unwrap();
        let back: RuleConfig = toml::from_str(&toml).unwrap();
        prop_assert_eq!(back.rules, vec![r]);
    }

    /// Whatever JSON arrives, parsing answers (a rule or named problems), never panics.
    #[test]
    fn any_json_is_answered(v in arb_json()) {
        match Rule::from_json(&v) {
            Ok(r) => prop_assert!(r.problems().is_empty()),
            Err(p) => prop_assert!(!p.is_empty() && p.iter().all(|p| !p.field.is_empty())),
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z_.0-9]{0,8}".prop_map(serde_json::Value::from),
        Just(json!("bytes_out")),
        Just(json!("gt")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("metric".to_owned()),
                    Just("comparison".to_owned()),
                    Just("threshold".to_owned()),
                    Just("value".to_owned()),
                    "[a-z_]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn rule_state_survives_json_and_reads_the_older_empty_form() {
    let rules = vec![rule("a", 100.0)];
    let mut st = RuleState::default();
    feed(&mut st, &rules, 1_000, 500);
    let text = serde_json::to_string(&st).unwrap();
    let mut back: RuleState = serde_json::from_str(&text).unwrap();
    assert_eq!(feed(&mut back, &rules, 2_000, 500), ["alarm:a"], "{text}");
    let old: RuleState = serde_json::from_str(r#"{"devices": {}, "sketches": {}}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&old).unwrap(),
        r#"{"devices":[],"sketches":[]}"#
    );
}
