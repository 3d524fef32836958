//! `rampart analyze FILE...`: the live pipeline run offline over captures and logs — the same
//! readers' records, the same attribution (hosts by address, or registered devices with
//! `--config`), the same detectors — at full speed on event time, then a summary.

pub(crate) mod report;
mod sources;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use ipnet::IpNet;
use rampart_detect::{Analyzer, DetectConfig, NoContext, NoIntel, ThreatIntel};
use rampart_observe::{HomeNets, Observer, TrafficCounters};

use self::report::{Format, Report};
use self::sources::{Input, Merge, Record};

/// `rampart analyze` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    /// pcap, pcapng, Zeek conn/dns logs (TSV, JSON, CSV) or Suricata EVE JSON files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output: `text` (human) or `json` (one JSON object per line: findings, then a summary).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The fleet's own networks, taken as the device side of a flow when no registry names
    /// an address (repeatable; default: private, CGNAT and unique-local ranges).
    #[arg(long = "home-net")]
    home_nets: Vec<IpNet>,
    /// No progress bar even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Write one CSV row per input flow: `uid,verdict,kind` (verdict `malicious` or
    /// `benign`; uid is the Zeek uid for conn.log input).
    #[arg(long)]
    flow_verdicts: Option<PathBuf>,
    #[command(flatten)]
    detection: DetectionArgs,
}

/// Detection settings shared by `analyze` and `eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct DetectionArgs {
    /// Detection settings (TOML: detector parameters, rules, profile policies).
    #[arg(long = "detect-config")]
    detect_config: Option<PathBuf>,
    /// Threat-intel list (IPs, networks, domains; a file or directory; repeatable).
    #[arg(long)]
    intel: Vec<PathBuf>,
    /// Maltrail trail files or directories (repeatable).
    #[arg(long)]
    trails: Vec<PathBuf>,
}

impl DetectionArgs {
    /// The analyzer these settings describe. `home_nets`, when given, are the fleet's networks
    /// for detection too, so attribution and detection agree on which side is external.
    pub(crate) fn analyzer(&self, home_nets: &[IpNet]) -> anyhow::Result<Analyzer> {
        let mut config = match &self.detect_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                DetectConfig::from_toml_str(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => DetectConfig::default(),
        };
        if !home_nets.is_empty() {
            config.engine.home_nets = rampart_detect::HomeNets(home_nets.to_vec());
        }
        let intel: Arc<dyn ThreatIntel> = match crate::intel::from_paths(&self.intel, &self.trails)?
        {
            Some(feeds) => Arc::new(feeds),
            None => Arc::new(NoIntel),
        };
        Analyzer::new(config, intel, Arc::new(NoContext)).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<std::process::ExitCode> {
    let started = Instant::now();
    let read = Arc::new(AtomicU64::new(0));
    let mut total_bytes = 0u64;
    let mut inputs = Vec::with_capacity(args.files.len());
    for path in &args.files {
        total_bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        inputs.push(Input::open(path, read.clone())?);
    }
    let home = if args.home_nets.is_empty() {
        HomeNets::private()
    } else {
        HomeNets::new(args.home_nets.clone())
    };
    let observer = Observer::new(None, home, Arc::new(TrafficCounters::new(10_000_000)));
    let progress = (!args.no_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total_bytes);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });

    let mut analyzer = args.detection.analyzer(&args.home_nets)?;
    let mut report = Report::new(args.format);
    let mut merge = Merge::new(inputs);
    let mut n = 0u64;
    for record in merge.by_ref() {
        let observation = match record {
            Record::Flow(f) => observer.flow(f),
            Record::Dns(d) => observer.dns(d),
            Record::Name(nr) => observer.name(nr),
            Record::Alert(a) => observer.alert(a),
        };
        report.observed(&observation);
        analyzer.push(observation);
        n += 1;
        if n.is_multiple_of(8192)
            && let Some(bar) = &progress
        {
            bar.set_position(read.load(Ordering::Relaxed));
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    for input in &mut merge.inputs {
        if let Some(summary) = input.take_summary() {
            report.input(&input.path, summary);
        }
    }
    let result = analyzer.finish();
    if let Some(path) = &args.flow_verdicts {
        report::write_verdicts(path, &result.verdicts)?;
    }
    report.findings(&result.findings)?;
    report.finish(observer.traffic(), started.elapsed())
}
