//! Flow verdicts: for every flow, malicious or benign and why. A flow is malicious when it is
//! evidence of a finding, or matches the pattern of a finding of its device (the C2 host, the
//! scan's port, the flood's target) around the finding's time. Flows are held for a delay in
//! event time (bounded per device) so those seen before a finding triggered are judged with
//! it: the first probes of a scan are part of the scan.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rampart_bus::Observation;
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, FindingEvent, FindingKind, FlowNote, Pattern, Severity};
use crate::intel::ContextProvider;
use crate::net::{is_failed_attempt, remote_of};
use crate::shard::{Key, Map};
use crate::{ConfigError, DetectConfig, Engine, ThreatIntel};

/// Parameters of flow verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictConfig {
    /// How long a flow waits (event time) for a finding that covers it, seconds. Must exceed
    /// the longest detector window.
    pub delay_s: u32,
    /// Flows this long before a finding's first evidence that match its pattern are part of
    /// it, seconds.
    pub lookback_s: u32,
    /// After a finding's last evidence, matching flows are still part of it for this long.
    pub linger_s: u32,
    /// Flows held per device; past this the oldest is judged early.
    pub max_flows_per_device: usize,
    /// Findings below this severity convict no flow.
    pub min_severity: Severity,
}

impl Default for VerdictConfig {
    fn default() -> Self {
        Self {
            delay_s: 600,
            lookback_s: 300,
            linger_s: 3600,
            max_flows_per_device: 4096,
            min_severity: Severity::Medium,
        }
    }
}

/// Whether a flow is part of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Evidence of, or matching, a finding.
    Malicious,
    /// Nothing implicates it.
    Benign,
}

/// The verdict on one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowVerdict {
    /// The flow's id from its source (flows without one get `#<n>`, their input position).
    pub uid: String,
    /// Malicious or benign.
    pub verdict: Verdict,
    /// The kind of the finding that convicted it.
    #[serde(default)]
    pub kind: Option<FindingKind>,
    /// That finding's id.
    #[serde(default)]
    pub finding: Option<String>,
}

#[derive(Debug, Clone)]
struct Known {
    id: String,
    kind: FindingKind,
    severity: Severity,
    pattern: Option<Pattern>,
    first: i64,
    last: i64,
    uids: HashSet<Box<str>>,
}

#[derive(Debug, Default)]
struct PerDevice {
    flows: VecDeque<FlowNote>,
    findings: Vec<Known>,
}

/// Holds flows per device until their delay has passed, then judges them.
#[derive(Debug)]
pub struct VerdictTracker {
    cfg: VerdictConfig,
    devices: Map<Key, PerDevice>,
    by_id: Map<String, Key>,
    max_seen: i64,
    unnamed: u64,
}

impl VerdictTracker {
    /// An empty tracker.
    pub fn new(cfg: VerdictConfig) -> Self {
        Self {
            cfg,
            devices: Map::default(),
            by_id: Map::default(),
            max_seen: i64::MIN,
            unnamed: 0,
        }
    }

    /// Notes a flow observation (call before handing it to the engine); other observations
    /// are ignored. Verdicts whose delay has passed are appended to `out`.
    pub fn observe(&mut self, obs: &Observation, out: &mut Vec<FlowVerdict>) {
        let Observation::Flow(a) = obs else { return };
        let f = &a.record;
        let (remote, remote_port) = remote_of(f, a.subject_is_responder);
        self.unnamed += 1;
        let uid = f
            .uid
            .clone()
            .unwrap_or_else(|| format!("#{}", self.unnamed).into_boxed_str());
        let note = FlowNote {
            uid: Some(uid),
            remote,
            remote_port,
            protocol: f.protocol,
            start: f.start.0,
            end: f.end.0,
            // Flows toward the device match no pattern (patterns are about what it sends).
            failed: is_failed_attempt(f) && !a.subject_is_responder,
        };
        let note = if a.subject_is_responder {
            FlowNote {
                protocol: u8::MAX,
                ..note
            }
        } else {
            note
        };
        let key = Key::of(&a.subject);
        self.max_seen = self.max_seen.max(f.end.0);
        let cap = self.cfg.max_flows_per_device.max(1);
        let dev = self.devices.entry(key).or_default();
        dev.flows.push_back(note);
        while dev.flows.len() > cap {
            if let Some(n) = dev.flows.pop_front() {
                out.push(judge(&self.cfg, &dev.findings, n));
            }
        }
        self.release(false, out);
    }

    /// Learns what the engine decided.
    pub fn finding_event(&mut self, ev: &FindingEvent) {
        match ev {
            FindingEvent::Raised(f) => self.raised(f),
            FindingEvent::Updated { id, last_seen, .. } => {
                if let Some(k) = self.by_id.get(id).and_then(|key| self.devices.get_mut(key))
                    && let Some(known) = k.findings.iter_mut().find(|x| x.id == *id)
                {
                    known.last = known.last.max(last_seen.0);
                }
            }
            FindingEvent::Cleared { .. } => {}
        }
    }

    fn raised(&mut self, f: &Finding) {
        // Hygiene findings are about configuration: they convict no flow.
        if f.severity < self.cfg.min_severity
            || f.kind.category() == crate::finding::Category::Hygiene
        {
            return;
        }
        let key = Key::of(&f.subject);
        let uids = f
            .evidence
            .iter()
            .filter_map(|e| e.uid().map(Box::from))
            .collect();
        self.by_id.insert(f.id.clone(), key.clone());
        let dev = self.devices.entry(key).or_default();
        if dev.findings.len() >= 64 {
            dev.findings.remove(0);
        }
        dev.findings.push(Known {
            id: f.id.clone(),
            kind: f.kind,
            severity: f.severity,
            pattern: f.pattern,
            first: f.first_seen.0,
            last: f.last_seen.0,
            uids,
        });
    }

    /// Judges the flows whose delay has passed (`all`: every flow, at end of input).
    pub fn release(&mut self, all: bool, out: &mut Vec<FlowVerdict>) {
        let upto = if all {
            i64::MAX
        } else {
            self.max_seen
                .saturating_sub(i64::from(self.cfg.delay_s) * 1000)
        };
        for dev in self.devices.values_mut() {
            while dev.flows.front().is_some_and(|n| n.end <= upto) {
                if let Some(n) = dev.flows.pop_front() {
                    out.push(judge(&self.cfg, &dev.findings, n));
                }
            }
        }
    }
}

fn judge(cfg: &VerdictConfig, findings: &[Known], n: FlowNote) -> FlowVerdict {
    let lookback = i64::from(cfg.lookback_s) * 1000;
    let linger = i64::from(cfg.linger_s) * 1000;
    let uid = n.uid.as_deref().unwrap_or_default();
    let hit = findings
        .iter()
        .filter(|k| k.severity >= cfg.min_severity)
        .find(|k| k.uids.contains(uid))
        .or_else(|| {
            findings.iter().find(|k| {
                k.pattern.is_some_and(|p| p.matches(&n))
                    && n.end >= k.first - lookback
                    && n.start <= k.last + linger
            })
        });
    FlowVerdict {
        uid: uid.to_owned(),
        verdict: if hit.is_some() {
            Verdict::Malicious
        } else {
            Verdict::Benign
        },
        kind: hit.map(|k| k.kind),
        finding: hit.map(|k| k.id.clone()),
    }
}

/// What an offline analysis produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Every finding raised, in the state it ended in, ordered by raise time then id.
    pub findings: Vec<Finding>,
    /// One verdict per input flow.
    pub verdicts: Vec<FlowVerdict>,
    /// Observations analysed.
    pub observations: u64,
}

/// Offline analysis: observations in (event order preferred), findings and flow verdicts out.
pub struct Analyzer {
    engine: Engine,
    tracker: VerdictTracker,
    findings: Vec<Finding>,
    index: HashMap<String, usize>,
    events: Vec<FindingEvent>,
    verdicts: Vec<FlowVerdict>,
    observations: u64,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("engine", &self.engine)
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// An analyzer over a one-shard engine.
    pub fn new(
        cfg: DetectConfig,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Result<Self, ConfigError> {
        let verdict = cfg.verdict.clone();
        Ok(Self::with_engine(
            Engine::new(cfg, 1, intel, context)?,
            verdict,
        ))
    }

    /// An analyzer over a given engine.
    pub fn with_engine(engine: Engine, verdict: VerdictConfig) -> Self {
        Self {
            engine,
            tracker: VerdictTracker::new(verdict),
            findings: Vec::new(),
            index: HashMap::new(),
            events: Vec::new(),
            verdicts: Vec::new(),
            observations: 0,
        }
    }

    /// Takes one observation.
    pub fn push(&mut self, obs: Observation) {
        self.observations += 1;
        self.tracker.observe(&obs, &mut self.verdicts);
        self.engine.process(obs, &mut self.events);
        self.apply();
    }

    fn apply(&mut self) {
        for ev in self.events.drain(..) {
            self.tracker.finding_event(&ev);
            match ev {
                FindingEvent::Raised(f) => {
                    self.index.insert(f.id.clone(), self.findings.len());
                    self.findings.push(*f);
                }
                FindingEvent::Updated {
                    id,
                    last_seen,
                    evidence_count,
                } => {
                    if let Some(f) = self.index.get(&id).and_then(|&i| self.findings.get_mut(i)) {
                        f.last_seen = last_seen;
                        f.evidence_count = evidence_count;
                    }
                }
                FindingEvent::Cleared { id, at } => {
                    if let Some(f) = self.index.get(&id).and_then(|&i| self.findings.get_mut(i)) {
                        f.state = crate::AlarmState::Cleared;
                        f.cleared_at = Some(at);
                    }
                }
            }
        }
    }

    /// The engine (for snapshots mid-run).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// End of input: flushes the engine, judges every held flow.
    pub fn finish(mut self) -> Report {
        self.engine.flush(&mut self.events);
        self.apply();
        // Evidence gathered by updates (bumps) lives in the engine's copy of active findings.
        for f in self.engine.active_findings() {
            if let Some(mine) = self
                .index
                .get(&f.id)
                .and_then(|&i| self.findings.get_mut(i))
            {
                mine.evidence = f.evidence;
            }
        }
        self.tracker.release(true, &mut self.verdicts);
        Report {
            findings: self.findings,
            verdicts: self.verdicts,
            observations: self.observations,
        }
    }
}
