//! `rampart eval FILE...`: scores detection against labelled flows (IoT-23 style: Zeek conn
//! fields plus `label` and `detailed-label`). Each file is one capture of its own network and
//! is analysed on its own, exactly as `rampart analyze` would; the scores are then summed:
//! per flow (precision, recall, F1, false-positive rate of the malicious-flow verdicts) and
//! per device (an infected device counts as detected when a finding of medium severity or
//! more of the right kind — C2, DDoS, scan — was raised; time to detect is measured in event
//! time from its first malicious flow).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use rampart_detect::eval::{EvalConfig, EvalReport, LabelledFlow, evaluate};
use rampart_logs::LabelledFlows;
use rampart_observe::{HomeNets, Observer, TrafficCounters};
use serde_json::json;

use crate::analyze::DetectionArgs;
use crate::analyze::report::Format;

/// `rampart eval` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Labelled flow files (IoT-23 CSV or labelled Zeek conn.log).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output: `text` or `json` (one object per file, then the totals).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The fleet's own networks (see `rampart analyze`).
    #[arg(long = "home-net")]
    home_nets: Vec<IpNet>,
    /// Exit with status 1 unless every target holds: flow precision ≥ --min-precision and
    /// recall ≥ --min-recall, every infected device detected within --max-ttd seconds, no
    /// finding of medium severity or more on a clean device.
    #[arg(long)]
    check: bool,
    /// Flow precision target.
    #[arg(long, default_value_t = 0.99)]
    min_precision: f64,
    /// Flow recall target.
    #[arg(long, default_value_t = 0.95)]
    min_recall: f64,
    /// Time-to-detect target, seconds of event time.
    #[arg(long, default_value_t = 60.0)]
    max_ttd: f64,
    #[command(flatten)]
    detection: DetectionArgs,
}

#[derive(Default)]
struct Totals {
    tp: u64,
    fp: u64,
    fn_: u64,
    tn: u64,
    infected: u64,
    in_time: u64,
    clean_flagged: u64,
    clean: u64,
    missing: u64,
    worst_ttd: Option<f64>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if a + b == 0 {
        1.0
    } else {
        a as f64 / (a + b) as f64
    }
}

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let config = EvalConfig {
        max_time_to_detect_s: args.max_ttd,
        ..EvalConfig::default()
    };
    let home = if args.home_nets.is_empty() {
        HomeNets::private()
    } else {
        HomeNets::new(args.home_nets.clone())
    };
    let mut totals = Totals::default();
    for path in &args.files {
        let (report, flows, errors) = score_file(&args, &config, &home, path)?;
        totals.tp += report.flows.tp;
        totals.fp += report.flows.fp;
        totals.fn_ += report.flows.fn_;
        totals.tn += report.flows.tn;
        totals.infected += report.infected;
        totals.in_time += report.detected_in_time;
        totals.clean_flagged += report.clean_flagged;
        totals.missing += report.missing_verdicts;
        for o in &report.outcomes {
            if o.malicious_flows == 0 {
                totals.clean += 1;
            }
            if let Some(t) = o.time_to_detect_s.filter(|_| o.malicious_flows > 0) {
                totals.worst_ttd = Some(totals.worst_ttd.map_or(t, |w: f64| w.max(t)));
            }
        }
        print_file(args.format, path, flows, errors, &report)?;
    }
    let precision = ratio(totals.tp, totals.fp);
    let recall = ratio(totals.tp, totals.fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let fpr = if totals.fp + totals.tn == 0 {
        0.0
    } else {
        totals.fp as f64 / (totals.fp + totals.tn) as f64
    };
    let pass = precision >= args.min_precision
        && recall >= args.min_recall
        && totals.in_time == totals.infected
        && totals.clean_flagged == 0
        && totals.missing == 0;
    match args.format {
        Format::Json => println!(
            "{}",
            json!({"total": {
                "flows": {"tp": totals.tp, "fp": totals.fp, "fn": totals.fn_, "tn": totals.tn,
                          "precision": precision, "recall": recall, "f1": f1, "fpr": fpr},
                "devices": {"infected": totals.infected, "detected_in_time": totals.in_time,
                            "clean": totals.clean, "clean_flagged": totals.clean_flagged,
                            "worst_time_to_detect_s": totals.worst_ttd},
                "targets_met": pass,
            }})
        ),
        Format::Text => {
            println!(
                "TOTAL flows: precision {precision:.4} recall {recall:.4} F1 {f1:.4} FPR {fpr:.5} \
                 (tp {} fp {} fn {} tn {})",
                totals.tp, totals.fp, totals.fn_, totals.tn
            );
            println!(
                "TOTAL devices: {}/{} infected detected with the right kind within {}s \
                 (worst {}); {} of {} clean devices with a finding of medium severity or more",
                totals.in_time,
                totals.infected,
                args.max_ttd,
                totals
                    .worst_ttd
                    .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}s")),
                totals.clean_flagged,
                totals.clean
            );
            println!("targets {}", if pass { "met" } else { "NOT met" });
        }
    }
    Ok(if args.check && !pass {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn score_file(
    args: &EvalArgs,
    config: &EvalConfig,
    home: &HomeNets,
    path: &PathBuf,
) -> anyhow::Result<(EvalReport, u64, u64)> {
    let observer = Observer::new(
        None,
        home.clone(),
        Arc::new(TrafficCounters::new(1_000_000)),
    );
    let mut analyzer = args.detection.analyzer(&args.home_nets)?;
    let reader =
        LabelledFlows::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut labels = Vec::new();
    let (mut flows, mut errors) = (0u64, 0u64);
    for item in reader {
        let Ok(labelled) = item else {
            errors += 1;
            continue;
        };
        flows += 1;
        let uid = labelled.flow.uid.as_deref().map(str::to_owned);
        let start = labelled.flow.start.0;
        let observation = observer.flow(labelled.flow);
        if let Some(uid) = uid {
            labels.push(LabelledFlow {
                uid,
                device: observation.subject().key(),
                start,
                malicious: labelled.label.malicious.then(|| {
                    labelled
                        .label
                        .detail
                        .unwrap_or_else(|| "Malicious".to_owned())
                }),
            });
        }
        analyzer.push(observation);
    }
    let result = analyzer.finish();
    Ok((
        evaluate(config, &labels, &result.verdicts, &result.findings),
        flows,
        errors,
    ))
}

fn print_file(
    format: Format,
    path: &std::path::Path,
    flows: u64,
    errors: u64,
    r: &EvalReport,
) -> anyhow::Result<()> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match format {
        Format::Json => println!(
            "{}",
            json!({"file": name, "flows": flows, "errors": errors, "report": r})
        ),
        Format::Text => {
            println!(
                "{name}: {flows} flows ({errors} unreadable); malicious flows precision {:.4} recall {:.4} \
                 F1 {:.4} FPR {:.5}; infected {} detected in time {}; clean flagged {}",
                r.flows.precision,
                r.flows.recall,
                r.flows.f1,
                r.flows.fpr,
                r.infected,
                r.detected_in_time,
                r.clean_flagged
            );
            for o in &r.outcomes {
                if o.malicious_flows > 0 || o.max_severity.is_some() {
                    println!(
                        "  {:<32} flows {:>6} malicious {:>6} expected {:?} found {:?} ttd {} max severity {}",
                        o.device,
                        o.flows,
                        o.malicious_flows,
                        o.expected,
                        o.found,
                        o.time_to_detect_s
                            .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}s")),
                        o.max_severity.map_or("-", |s| s.as_str())
                    );
                }
            }
        }
    }
    Ok(())
}
