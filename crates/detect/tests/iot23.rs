//! Replays the IoT-23 labelled flows through the engine and checks the quality targets: every
//! infected device detected with the right kind within 60 s of its first malicious flow, no
//! finding of medium severity or above on a clean device, malicious-flow precision ≥ 0.99 and
//! recall ≥ 0.95.
//!
//! Skips (with a message) when the data directory is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::sync::Arc;

use rampart_detect::eval::{EvalConfig, evaluate};
use rampart_detect::{Analyzer, DetectConfig, NoContext, NoIntel};

fn run(file: &str) -> Option<rampart_detect::eval::EvalReport> {
    let dir = common::shared_data()?.join("iot23-labeled-flows");
    let path = dir.join(file);
    if !path.is_file() {
        assert!(
            std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{} is missing",
            path.display()
        );
        eprintln!("skipping: {} not found", path.display());
        return None;
    }
    let (obs, labels) = common::load(&path);
    let mut a = Analyzer::new(
        DetectConfig::default(),
        Arc::new(NoIntel),
        Arc::new(NoContext),
    )
    .unwrap();
    for o in obs {
        a.push(o);
    }
    let report = a.finish();
    for f in &report.findings {
        eprintln!(
            "{file}: {} {:?} {:?} {} raised {} n={}",
            f.subject.key(),
            f.kind,
            f.severity,
            f.summary,
            f.raised_at.to_rfc3339(),
            f.evidence_count
        );
    }
    let eval = evaluate(
        &EvalConfig::default(),
        &labels,
        &report.verdicts,
        &report.findings,
    );
    eprintln!(
        "{file}: flows tp={} fp={} fn={} tn={} precision={:.4} recall={:.4}",
        eval.flows.tp,
        eval.flows.fp,
        eval.flows.fn_,
        eval.flows.tn,
        eval.flows.precision,
        eval.flows.recall
    );
    for o in eval
        .outcomes
        .iter()
        .filter(|o| o.malicious_flows > 0 || o.max_severity.is_some())
    {
        eprintln!("{file}: {o:?}");
    }
    assert_eq!(eval.missing_verdicts, 0);
    Some(eval)
}

fn check_infected(file: &str) {
    let Some(eval) = run(file) else { return };
    assert!(eval.infected > 0, "{file}: no infected device in labels");
    assert_eq!(
        eval.detected_in_time, eval.infected,
        "{file}: infected devices not detected with the right kind within 60 s"
    );
    assert_eq!(eval.clean_flagged, 0, "{file}: clean device flagged");
    assert!(
        eval.flows.precision >= 0.99,
        "{file}: precision {}",
        eval.flows.precision
    );
    assert!(
        eval.flows.recall >= 0.95,
        "{file}: recall {}",
        eval.flows.recall
    );
}

fn check_benign(file: &str) {
    let Some(eval) = run(file) else { return };
    assert_eq!(eval.infected, 0);
    assert_eq!(
        eval.clean_flagged, 0,
        "{file}: benign device flagged at medium or above"
    );
    assert_eq!(eval.flows.fp, 0, "{file}: benign flows convicted");
}

#[test]
fn mirai_44_1() {
    check_infected("CTU-Malware-Capture-44-1-labeled.csv");
}

#[test]
fn hakai_8_1() {
    check_infected("CTU-Malware-Capture-8-1-labeled.csv");
}

#[test]
fn torii_20_1() {
    check_infected("CTU-Malware-Capture-20-1-labeled.csv");
}

#[test]
fn amazon_echo_5_1() {
    check_benign("CTU-Honeypot-Capture-5-1-labeled.csv");
}

#[test]
fn somfy_lock_7_1() {
    check_benign("CTU-Honeypot-Capture-7-1-labeled.csv");
}
