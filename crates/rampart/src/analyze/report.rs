//! What `rampart analyze` prints: findings as they come, then a summary of the inputs, of the
//! observations and of the busiest subjects. Text for people, JSON lines for tools.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rampart_bus::Observation;
use rampart_core::Timestamp;
use rampart_detect::{Finding, FlowVerdict, Verdict};
use rampart_observe::TrafficCounters;
use serde_json::json;

use super::sources::InputSummary;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Accumulates what the run saw.
pub(crate) struct Report {
    format: Format,
    flows: u64,
    dns: u64,
    names: u64,
    alerts: u64,
    packets: u64,
    bytes: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    inputs: Vec<serde_json::Value>,
    input_errors: u64,
    finding_count: usize,
}

/// Writes `uid,verdict,kind`, one row per flow.
pub(crate) fn write_verdicts(path: &Path, verdicts: &[FlowVerdict]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "uid,verdict,kind")?;
    for v in verdicts {
        let verdict = match v.verdict {
            Verdict::Malicious => "malicious",
            Verdict::Benign => "benign",
        };
        let kind = v.kind.map_or("", |k| k.as_str());
        // Uids come from the input; quote any that would break the row.
        if v.uid.contains([',', '"', '\n', '\r']) {
            writeln!(w, "\"{}\",{verdict},{kind}", v.uid.replace('"', "\"\""))?;
        } else {
            writeln!(w, "{},{verdict},{kind}", v.uid)?;
        }
    }
    w.flush()?;
    Ok(())
}

const TOP: usize = 10;

impl Report {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            flows: 0,
            dns: 0,
            names: 0,
            alerts: 0,
            packets: 0,
            bytes: 0,
            first: None,
            last: None,
            inputs: Vec::new(),
            input_errors: 0,
            finding_count: 0,
        }
    }

    pub(crate) fn observed(&mut self, o: &Observation) {
        match o {
            Observation::Flow(f) => {
                self.flows += 1;
                self.packets += f.record.total_packets();
                self.bytes += f.record.total_bytes();
                self.first = Some(self.first.map_or(f.record.start, |t| t.min(f.record.start)));
            }
            Observation::Dns(_) => self.dns += 1,
            Observation::Name(_) => self.names += 1,
            Observation::Alert(_) => self.alerts += 1,
            _ => {}
        }
        let t = o.event_time();
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// Prints the findings, in the order they were raised.
    pub(crate) fn findings(&mut self, findings: &[Finding]) -> anyhow::Result<()> {
        self.finding_count = findings.len();
        let mut out = std::io::stdout().lock();
        for f in findings {
            match self.format {
                Format::Json => writeln!(out, "{}", json!({ "finding": f }))?,
                Format::Text => writeln!(
                    out,
                    "{} {:<8} {:<24} {:<28} {} (evidence {}, {} .. {})",
                    f.raised_at.to_rfc3339(),
                    f.severity.as_str(),
                    f.kind.as_str(),
                    f.subject.key(),
                    f.summary,
                    f.evidence_count,
                    f.first_seen.to_rfc3339(),
                    f.last_seen.to_rfc3339(),
                )?,
            }
        }
        Ok(())
    }

    pub(crate) fn input(&mut self, path: &Path, summary: InputSummary) {
        let value = match summary {
            InputSummary::Capture(s) => {
                if s.error.is_some() {
                    self.input_errors += 1;
                }
                json!({
                    "file": path.display().to_string(),
                    "format": s.format.map(|f| format!("{f:?}").to_lowercase()),
                    "packets": s.packets,
                    "bytes": s.bytes,
                    "snapped": s.snapped,
                    "unsupported_link_types": s.unsupported_link_types.values().sum::<u64>(),
                    "flows": s.table.flows,
                    "error": s.error.map(|e| e.to_string()),
                })
            }
            InputSummary::Log {
                format,
                summary,
                first_errors,
            } => {
                self.input_errors += summary.errors;
                json!({
                    "file": path.display().to_string(),
                    "format": format,
                    "lines": summary.lines,
                    "flows": summary.flows,
                    "dns": summary.dns,
                    "names": summary.names,
                    "alerts": summary.alerts,
                    "skipped": summary.skipped,
                    "errors": summary.errors,
                    "first_errors": first_errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            }
        };
        self.inputs.push(value);
    }

    /// Prints the summary; the exit status is 0, or 2 when some input had refused lines or
    /// stopped early (everything before was still analysed).
    pub(crate) fn finish(
        self,
        traffic: &TrafficCounters,
        elapsed: Duration,
    ) -> anyhow::Result<ExitCode> {
        let mut subjects = traffic.all();
        subjects.sort_by(|a, b| b.1.flows.cmp(&a.1.flows).then_with(|| a.0.cmp(&b.0)));
        let top: Vec<_> = subjects
            .iter()
            .take(TOP)
            .map(|(k, v)| {
                json!({"subject": k, "flows": v.flows, "bytes_out": v.bytes_out,
                       "bytes_in": v.bytes_in, "packets_out": v.packets_out, "packets_in": v.packets_in})
            })
            .collect();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let summary = json!({
            "inputs": self.inputs,
            "observations": {
                "flows": self.flows, "dns": self.dns, "names": self.names, "alerts": self.alerts,
                "packets": self.packets, "bytes": self.bytes,
            },
            "event_time": {
                "first": self.first.map(Timestamp::to_rfc3339),
                "last": self.last.map(Timestamp::to_rfc3339),
            },
            "findings": self.finding_count,
            "subjects": subjects.len(),
            "top_subjects": top,
            "elapsed_s": secs,
            "observations_per_s": (self.flows + self.dns + self.names + self.alerts) as f64 / secs,
        });
        let mut out = std::io::stdout().lock();
        match self.format {
            Format::Json => writeln!(out, "{}", json!({ "summary": summary }))?,
            Format::Text => print_text(&mut out, &summary)?,
        }
        Ok(if self.input_errors > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    }
}

fn print_text(out: &mut impl Write, s: &serde_json::Value) -> std::io::Result<()> {
    let get = |v: &serde_json::Value, k: &str| v.get(k).cloned().unwrap_or(serde_json::Value::Null);
    writeln!(out, "inputs:")?;
    for input in s
        .get("inputs")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let mut line = format!(
            "  {} ({})",
            get(input, "file").as_str().unwrap_or("?"),
            get(input, "format").as_str().unwrap_or("?")
        );
        for key in [
            "packets", "lines", "flows", "dns", "names", "alerts", "errors",
        ] {
            if let Some(n) = input.get(key).and_then(serde_json::Value::as_u64) {
                line.push_str(&format!(" {key}={n}"));
            }
        }
        writeln!(out, "{line}")?;
        if let Some(e) = input.get("error").and_then(|v| v.as_str()) {
            writeln!(out, "    stopped early: {e}")?;
        }
        for e in input
            .get("first_errors")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            writeln!(out, "    {}", e.as_str().unwrap_or_default())?;
        }
    }
    let o = get(s, "observations");
    writeln!(
        out,
        "observations: flows={} dns={} names={} alerts={} packets={} bytes={}",
        get(&o, "flows"),
        get(&o, "dns"),
        get(&o, "names"),
        get(&o, "alerts"),
        get(&o, "packets"),
        get(&o, "bytes")
    )?;
    let t = get(s, "event_time");
    writeln!(
        out,
        "event time: {} .. {}",
        get(&t, "first").as_str().unwrap_or("-"),
        get(&t, "last").as_str().unwrap_or("-")
    )?;
    writeln!(out, "findings: {}", get(s, "findings"))?;
    writeln!(out, "subjects: {}", get(s, "subjects"))?;
    for row in s
        .get("top_subjects")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        writeln!(
            out,
            "  {:<40} flows={} out={}B in={}B",
            get(row, "subject").as_str().unwrap_or("?"),
            get(row, "flows"),
            get(row, "bytes_out"),
            get(row, "bytes_in")
        )?;
    }
    writeln!(
        out,
        "analysed in {:.2} s ({:.0} observations/s)",
        get(s, "elapsed_s").as_f64().unwrap_or(0.0),
        get(s, "observations_per_s").as_f64().unwrap_or(0.0)
    )
}
