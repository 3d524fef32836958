//! Scoring verdicts and findings against labelled flows (IoT-23 style: `Benign` or
//! `Malicious` with a detailed label such as `C&C`, `DDoS`, `PartOfAHorizontalPortScan`).
//!
//! Per flow: precision, recall, F1 and false-positive rate of the malicious verdicts. Per
//! device (the subject a flow was attributed to): an infected device (one with a malicious
//! flow) is detected when a finding of the right category, at or above the severity bar, was
//! raised; time to detect is that finding's raise time minus the start of the device's first
//! malicious flow. A clean device with a finding at or above the bar is a false positive.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::finding::{Category, Finding, Severity};
use crate::verdict::{FlowVerdict, Verdict};

/// One labelled flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledFlow {
    /// The flow id (matches [`FlowVerdict::uid`]).
    pub uid: String,
    /// The subject key the flow was attributed to ([`rampart_bus::Subject::key`]).
    pub device: String,
    /// Start of the flow, ms.
    pub start: i64,
    /// `None` for benign; the detailed label (`C&C`, `DDoS`, ...) for malicious.
    pub malicious: Option<String>,
}

/// The categories a detailed label is correctly detected as. `FileDownload` (a bot fetching
/// its payload from its controller) counts as C2.
pub fn expected_categories(label: &str) -> Vec<Category> {
    let l = label.to_ascii_lowercase();
    let mut v = Vec::new();
    if l.contains("ddos") {
        v.push(Category::Ddos);
    }
    if l.contains("portscan") || l.contains("attack") || l.contains("scan") {
        v.push(Category::Scan);
    }
    if l.contains("c&c")
        || l.contains("filedownload")
        || l.contains("heartbeat")
        || l.contains("c2")
    {
        v.push(Category::C2);
    }
    if v.is_empty() {
        // Unknown label: any detection category is accepted.
        v.extend([
            Category::C2,
            Category::Scan,
            Category::Ddos,
            Category::Alert,
        ]);
    }
    v
}

/// Bars of the evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Findings below this severity neither detect nor count as false positives.
    pub min_severity: Severity,
    /// A detection later than this after the first malicious flow is late, seconds.
    pub max_time_to_detect_s: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            min_severity: Severity::Medium,
            max_time_to_detect_s: 60.0,
        }
    }
}

/// Confusion counts with the derived rates.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    /// Malicious judged malicious.
    pub tp: u64,
    /// Benign judged malicious.
    pub fp: u64,
    /// Benign judged benign.
    pub tn: u64,
    /// Malicious judged benign.
    pub fn_: u64,
    /// tp / (tp + fp); 1 when nothing was judged malicious.
    pub precision: f64,
    /// tp / (tp + fn); 1 when nothing was malicious.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// fp / (fp + tn).
    pub fpr: f64,
}

impl Scores {
    fn finish(mut self) -> Self {
        let r = |a: u64, b: u64| {
            if a + b == 0 {
                1.0
            } else {
                a as f64 / (a + b) as f64
            }
        };
        self.precision = r(self.tp, self.fp);
        self.recall = r(self.tp, self.fn_);
        self.f1 = if self.precision + self.recall > 0.0 {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        } else {
            0.0
        };
        self.fpr = if self.fp + self.tn == 0 {
            0.0
        } else {
            self.fp as f64 / (self.fp + self.tn) as f64
        };
        self
    }
}

/// The outcome for one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceOutcome {
    /// Subject key.
    pub device: String,
    /// Malicious flows it has.
    pub malicious_flows: u64,
    /// Flows in all.
    pub flows: u64,
    /// Categories a detection may have.
    pub expected: Vec<Category>,
    /// Categories of its findings at or above the bar.
    pub found: Vec<Category>,
    /// Detected with the right category.
    pub detected: bool,
    /// Seconds from the first malicious flow to the first right finding.
    pub time_to_detect_s: Option<f64>,
    /// Highest severity of its findings (any).
    pub max_severity: Option<Severity>,
}

/// Scores of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Per flow.
    pub flows: Scores,
    /// Per device.
    pub devices: Scores,
    /// Each device.
    pub outcomes: Vec<DeviceOutcome>,
    /// Infected devices detected with the right category in time.
    pub detected_in_time: u64,
    /// Infected devices.
    pub infected: u64,
    /// Clean devices with a finding at or above the bar.
    pub clean_flagged: u64,
    /// Flows without a verdict (should be 0).
    pub missing_verdicts: u64,
}

/// Scores `verdicts` and `findings` against `labels`.
pub fn evaluate(
    cfg: &EvalConfig,
    labels: &[LabelledFlow],
    verdicts: &[FlowVerdict],
    findings: &[Finding],
) -> EvalReport {
    let by_uid: HashMap<&str, Verdict> = verdicts
        .iter()
        .map(|v| (v.uid.as_str(), v.verdict))
        .collect();
    let mut flows = Scores::default();
    let mut missing = 0;
    #[derive(Default)]
    struct Dev {
        flows: u64,
        malicious: u64,
        first_malicious: Option<i64>,
        expected: Vec<Category>,
    }
    let mut devs: BTreeMap<&str, Dev> = BTreeMap::new();
    for l in labels {
        let v = by_uid.get(l.uid.as_str()).copied();
        if v.is_none() {
            missing += 1;
        }
        let judged = v == Some(Verdict::Malicious);
        match (&l.malicious, judged) {
            (Some(_), true) => flows.tp += 1,
            (Some(_), false) => flows.fn_ += 1,
            (None, true) => flows.fp += 1,
            (None, false) => flows.tn += 1,
        }
        let d = devs.entry(l.device.as_str()).or_default();
        d.flows += 1;
        if let Some(label) = &l.malicious {
            d.malicious += 1;
            d.first_malicious = Some(d.first_malicious.map_or(l.start, |t| t.min(l.start)));
            for c in expected_categories(label) {
                if !d.expected.contains(&c) {
                    d.expected.push(c);
                }
            }
        }
    }
    let mut by_device: HashMap<String, Vec<&Finding>> = HashMap::new();
    for f in findings {
        by_device.entry(f.subject.key()).or_default().push(f);
    }
    let mut devices = Scores::default();
    let mut outcomes = Vec::new();
    let (mut in_time, mut infected, mut clean_flagged) = (0, 0, 0);
    for (name, d) in devs {
        let fs = by_device.get(name).map(Vec::as_slice).unwrap_or(&[]);
        // Hygiene findings judge configuration, not traffic: they neither detect nor flag.
        let bar: Vec<&&Finding> = fs
            .iter()
            .filter(|f| f.severity >= cfg.min_severity && f.kind.category() != Category::Hygiene)
            .collect();
        let mut found: Vec<Category> = Vec::new();
        for f in &bar {
            let c = f.kind.category();
            if !found.contains(&c) {
                found.push(c);
            }
        }
        let right = bar
            .iter()
            .filter(|f| d.expected.contains(&f.kind.category()))
            .map(|f| f.raised_at.0)
            .min();
        let ttd = match (right, d.first_malicious) {
            (Some(r), Some(m)) => Some((r - m) as f64 / 1000.0),
            _ => None,
        };
        let is_infected = d.malicious > 0;
        let detected = is_infected && right.is_some();
        match (is_infected, !bar.is_empty()) {
            (true, _) if detected => devices.tp += 1,
            (true, _) => devices.fn_ += 1,
            (false, true) => devices.fp += 1,
            (false, false) => devices.tn += 1,
        }
        if is_infected {
            infected += 1;
            if detected && ttd.is_some_and(|t| t <= cfg.max_time_to_detect_s) {
                in_time += 1;
            }
        } else if !bar.is_empty() {
            clean_flagged += 1;
        }
        outcomes.push(DeviceOutcome {
            device: name.to_owned(),
            malicious_flows: d.malicious,
            flows: d.flows,
            expected: d.expected,
            found,
            detected,
            time_to_detect_s: ttd,
            max_severity: fs.iter().map(|f| f.severity).max(),
        });
    }
    EvalReport {
        flows: flows.finish(),
        devices: devices.finish(),
        outcomes,
        detected_in_time: in_time,
        infected,
        clean_flagged,
        missing_verdicts: missing,
    }
}

#[cfg(test)]
mod tests {
    use rampart_bus::Subject;
    use rampart_core::{DeviceId, TenantId, Timestamp};

    use super::*;
    use crate::finding::{AlarmState, FindingKind, Threshold};

    fn finding(kind: FindingKind, device: &str) -> Finding {
        Finding {
            id: format!("{}-{device}", kind.as_str()),
            kind,
            severity: Severity::High,
            subject: Subject {
                tenant: Some(TenantId::parse("acme").unwrap()),
                device_id: Some(DeviceId::parse(device).unwrap()),
                host: None,
            },
            first_seen: Timestamp(0),
            last_seen: Timestamp(0),
            raised_at: Timestamp(0),
            summary: String::new(),
            evidence: Vec::new(),
            evidence_count: 1,
            threshold: Threshold {
                metric: "m".into(),
                limit: 0.0,
                observed: 1.0,
                basis: "fixed".into(),
            },
            pattern: None,
            rule: None,
            state: AlarmState::Active,
            cleared_at: None,
        }
    }

    /// A hygiene finding about a clean device is no false positive, and one about an infected
    /// device detects nothing.
    #[test]
    fn hygiene_findings_do_not_count() {
        let labels = vec![
            LabelledFlow {
                uid: "a".into(),
                device: "acme/clean".into(),
                start: 0,
                malicious: None,
            },
            LabelledFlow {
                uid: "b".into(),
                device: "acme/bot".into(),
                start: 0,
                malicious: Some("C&C".into()),
            },
        ];
        let findings = vec![
            finding(FindingKind::SharedKey, "clean"),
            finding(FindingKind::WeakKey, "bot"),
        ];
        let r = evaluate(&EvalConfig::default(), &labels, &[], &findings);
        assert_eq!(r.clean_flagged, 0);
        assert_eq!((r.devices.fp, r.devices.tn), (0, 1));
        assert_eq!((r.devices.tp, r.devices.fn_), (0, 1));
        assert_eq!(FindingKind::SharedKey.category(), Category::Hygiene);
    }
}
