//! Property tests: playbooks survive their written form; mass runs keep their promises
//! (no target twice, never above the pace, waves in order with their pauses).

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rampart_core::{DeviceId, DeviceState, Label};
use rampart_playbook::mass::{AbortCondition, MassPlan, MassRun, MassStep, Selector, Wave};
use rampart_playbook::{
    ActionSpec, ConditionSpec, DurationSpec, MatchSpec, OnTimeout, Playbook, PlaybookSet, Scope,
    Severity, Step,
};

fn label() -> impl Strategy<Value = Label> {
    "[A-Za-z0-9_.:/=-]{1,20}".prop_map(|s| Label::parse(&s).unwrap())
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn action(host_only: bool) -> BoxedStrategy<ActionSpec> {
    let anywhere = prop_oneof![
        Just(ActionSpec::RadiusDisconnect),
        Just(ActionSpec::RadiusQuarantine),
        Just(ActionSpec::Siem),
        "[A-Za-z0-9._-]{1,20}".prop_map(|endpoint| ActionSpec::Webhook { endpoint }),
    ];
    if host_only {
        return anywhere.boxed();
    }
    prop_oneof![
        anywhere,
        Just(ActionSpec::BrokerDisable),
        Just(ActionSpec::BrokerKick),
        Just(ActionSpec::RegistryQuarantine),
        Just(ActionSpec::RegistryDisable),
        Just(ActionSpec::RevokeCertificate),
        label().prop_map(|group| ActionSpec::MoveToGroup { group }),
    ]
    .boxed()
}

fn step(host_only: bool) -> impl Strategy<Value = Step> {
    prop_oneof![
        (action(host_only), any::<bool>()).prop_map(|(action, continue_on_failure)| {
            Step::Action {
                action,
                continue_on_failure,
            }
        }),
        (1u64..=86_400).prop_map(|s| Step::Wait {
            duration: DurationSpec::from_secs(s)
        }),
        (1u64..=604_800, any::<bool>()).prop_map(|(s, proceed)| Step::Approval {
            timeout: DurationSpec::from_secs(s),
            on_timeout: if proceed {
                OnTimeout::Proceed
            } else {
                OnTimeout::Abort
            },
        }),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(prop::sample::select(vec![
                DeviceState::Active,
                DeviceState::Quarantined,
                DeviceState::Disabled,
                DeviceState::Decommissioned,
            ])),
            proptest::option::of(severity()),
        )
            .prop_filter("a condition needs a criterion", |(a, b, c)| {
                a.is_some() || b.is_some() || c.is_some()
            })
            .prop_map(
                |(finding_active, device_state, min_severity)| Step::Condition {
                    condition: ConditionSpec {
                        finding_active,
                        device_state,
                        min_severity,
                    },
                }
            ),
    ]
}

fn playbook() -> impl Strategy<Value = Playbook> {
    prop::sample::select(vec![Scope::Device, Scope::Host, Scope::Any]).prop_flat_map(|scope| {
        let host_only = scope == Scope::Host;
        (
            "[a-z0-9][a-z0-9._-]{0,20}",
            "[^\\p{Cc}]{0,40}|[a-z \n\t]{0,40}",
            any::<bool>(),
            any::<i64>(),
            prop::collection::vec("[a-z][a-z0-9_]{0,15}|\\*", 1..4),
            severity(),
            prop::collection::vec(label(), 0..3),
            prop::collection::vec(label(), 0..3),
            prop::collection::vec(label(), 0..3),
            prop::collection::vec(step(host_only), 0..8),
            action(host_only),
        )
            .prop_map(
                move |(
                    name,
                    description,
                    enabled,
                    priority,
                    kinds,
                    min_severity,
                    profiles,
                    groups,
                    tags,
                    mut steps,
                    last,
                )| {
                    // End on an action: a playbook needs one, and cannot end on an approval.
                    steps.push(Step::Action {
                        action: last,
                        continue_on_failure: false,
                    });
                    Playbook {
                        name,
                        description,
                        enabled,
                        priority,
                        matcher: MatchSpec {
                            kinds,
                            min_severity,
                            profiles,
                            groups,
                            tags,
                            scope,
                        },
                        steps,
                    }
                },
            )
    })
}

proptest! {
    #[test]
    fn playbooks_round_trip_through_toml_and_json(p in playbook()) {
        prop_assert!(p.validate().is_ok(), "{:?}", p.validate());
        let text = p.to_toml().unwrap();
        let back = PlaybookSet::parse_one("prop.toml", &text);
        prop_assert_eq!(back.as_ref(), Ok(&p), "{}", text);
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<Playbook>(&json).unwrap(), p);
    }

    #[test]
    fn durations_round_trip(secs in 0u64..=366 * 86_400) {
        let d = DurationSpec::from_secs(secs);
        prop_assert_eq!(d.to_string().parse::<DurationSpec>(), Ok(d));
    }
}

fn waves() -> impl Strategy<Value = Vec<Wave>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::btree_set(1u32..=1000, 1..4).prop_map(|set| set
            .into_iter()
            .map(|p| Wave::Percent(f64::from(p) / 10.0))
            .collect()),
        prop::collection::btree_set(1u64..3000, 1..4)
            .prop_map(|set| set.into_iter().map(Wave::Count).collect()),
    ]
}

/// One scripted scheduler move: advance the clock, and report some outstanding results.
#[derive(Debug, Clone)]
struct Move {
    advance_ms: u64,
    report: usize,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (0u64..1500, 0usize..300).prop_map(|(advance_ms, report)| Move { advance_ms, report }),
        1..64,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mass_runs_keep_their_promises(
        n in 0usize..2500,
        waves in waves(),
        rate in 1u32..300,
        pause_s in 0u64..4,
        max_failures in proptest::option::of(0u64..200),
        fail_every in 2usize..50,
        script in moves(),
    ) {
        let plan = MassPlan {
            selector: Selector { tags: BTreeSet::from(["x".to_owned()]), ..Selector::default() },
            actions: vec![ActionSpec::RegistryDisable],
            waves,
            pause_between_waves: DurationSpec::from_secs(pause_s),
            rate_per_sec: rate,
            abort: AbortCondition { max_failure_ratio: None, max_failures, min_sample: 0 },
            blast_radius_cap: None,
        };
        prop_assert!(plan.validate(None).is_ok());
        let ids: Vec<DeviceId> =
            (0..n).map(|i| DeviceId::parse(&format!("d{i:05}")).unwrap()).collect();
        let mut run = MassRun::new(plan, ids, 0);
        let ends = run.wave_ends().to_vec();
        let wave_of = |i: usize| ends.partition_point(|&e| e <= i);
        let mut now = 0u64;
        let mut seen = vec![false; n];
        let mut recorded = vec![false; n];
        let mut outstanding: Vec<usize> = Vec::new();
        let mut dispatches: Vec<(u64, usize)> = Vec::new();
        // When each wave's last result came in.
        let mut wave_done_at: Vec<Option<u64>> = vec![None; ends.len()];
        let mut wave_left: Vec<usize> = {
            let mut start = 0;
            ends.iter().map(|&e| { let s = e - start; start = e; s }).collect()
        };
        let mut aborted = false;
        let mut finished = false;
        for round in 0..200_000usize {
            let m = &script[round % script.len()];
            // Report some results (all of them when the script says nothing moves).
            let k = if m.advance_ms == 0 && m.report == 0 { outstanding.len() } else { m.report.min(outstanding.len()) };
            for i in outstanding.drain(..k) {
                run.record(i, i % fail_every != 0).unwrap();
                recorded[i] = true;
                let w = wave_of(i);
                wave_left[w] -= 1;
                if wave_left[w] == 0 {
                    wave_done_at[w] = Some(now);
                }
            }
            match run.poll(now) {
                MassStep::Dispatch(batch) => {
                    prop_assert!(!aborted, "dispatch after abort");
                    prop_assert!(!batch.is_empty());
                    let w = wave_of(batch[0]);
                    for (j, &i) in batch.iter().enumerate() {
                        prop_assert!(!seen[i], "target {} dispatched twice", i);
                        seen[i] = true;
                        prop_assert_eq!(i, batch[0] + j, "batches are contiguous");
                        prop_assert_eq!(wave_of(i), w, "a batch stays in its wave");
                    }
                    if w > 0 {
                        // The previous wave is fully reported, and its pause is over.
                        let done = wave_done_at[w - 1];
                        prop_assert!(done.is_some(), "wave {} started before wave {} finished", w, w - 1);
                        prop_assert!(now >= done.unwrap_or(0) + pause_s * 1000, "pause not respected");
                    }
                    dispatches.push((now, batch.len()));
                    outstanding.extend(batch);
                }
                MassStep::Aborted { .. } => {
                    aborted = true;
                    if outstanding.is_empty() { finished = true; break; }
                }
                MassStep::Completed => { finished = true; break; }
                MassStep::Throttled { until } => prop_assert!(until > now),
                MassStep::PauseUntil(t) => prop_assert!(t > now),
                MassStep::AwaitResults { outstanding: o } => prop_assert_eq!(o as usize, outstanding.len()),
                MassStep::AwaitApproval => prop_assert!(false, "no approval was configured"),
            }
            now += m.advance_ms.max(if outstanding.is_empty() { 1 } else { 0 });
        }
        prop_assert!(finished, "the run did not finish");
        if !aborted {
            prop_assert!(seen.iter().all(|s| *s) && recorded.iter().all(|r| *r));
            prop_assert_eq!(run.undo_targets().len(), (0..n).filter(|i| i % fail_every != 0).count());
        }
        // Pace: in any window [a, b], at most one second's burst plus the rate over b - a.
        let mut prefix = vec![0u64];
        for (_, c) in &dispatches { prefix.push(prefix.last().copied().unwrap_or(0) + *c as u64); }
        for i in 0..dispatches.len() {
            for j in i..dispatches.len() {
                let sent = prefix[j + 1] - prefix[i];
                let window = dispatches[j].0 - dispatches[i].0;
                let allowed = u64::from(rate) + u64::from(rate) * window / 1000;
                prop_assert!(sent <= allowed, "{} sent in {} ms at {}/s", sent, window, rate);
            }
        }
    }
}

const SEED: &str = include_str!("../examples/playbooks/c2-contact.toml");

proptest! {
    /// What the fuzz target does, on a budget: damaged playbooks are refused with positions
    /// inside the text, or parse and round-trip; never a panic.
    #[test]
    fn damaged_playbooks_never_panic(
        cut in 0usize..SEED.len(),
        len in 0usize..40,
        insert in "[ -~\n]{0,12}",
    ) {
        let mut text = SEED.as_bytes().to_vec();
        let end = (cut + len).min(text.len());
        text.splice(cut..end, insert.bytes());
        let Ok(text) = String::from_utf8(text) else { return Ok(()); };
        match PlaybookSet::parse_one("fuzz.toml", &text) {
            Ok(p) => {
                let again = PlaybookSet::parse_one("again.toml", &p.to_toml().unwrap());
                prop_assert_eq!(again, Ok(p));
            }
            Err(e) => {
                for err in e.errors() {
                    let line = err.line.unwrap_or(1);
                    prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{}", err);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        // Refusal is the expected outcome; only a panic would fail.
        drop(PlaybookSet::parse_one("fuzz.toml", &text));
        drop(MassPlan::from_toml("fuzz.toml", &text, None));
        drop(MassPlan::from_json("fuzz.json", &text, None));
    }
}
