//! The engine: subjects hashed to shards (one per worker thread), and snapshots of every
//! shard's state to a file so a restart continues where it stopped.

use std::path::Path;
use std::sync::Arc;

use rampart_bus::{AccountingObservation, Attributed, Observation, Subject};
use rampart_core::{
    AccountingRecord, AlertRecord, DeviceId, DeviceMetrics, DnsRecord, FlowRecord, NameRecord,
    TenantId,
};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, FindingEvent};
use crate::intel::{ContextProvider, ThreatIntel};
use crate::rules::RuleConfig;
use crate::shard::{DeviceState, Key, KeyRef, Pending, Shard, ShardStats};
use crate::{ConfigError, DetectConfig};

/// Picks the shard of a subject: the same subject always goes to the same shard (its state
/// lives there), whatever thread or process computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Router {
    shards: usize,
}

impl Router {
    /// A router over `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        Self {
            shards: shards.max(1),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard owning `subject`.
    pub fn shard_of(&self, subject: &Subject) -> usize {
        self.shard_of_key(KeyRef::of(subject))
    }

    /// The shard owning an observation's subject: `shard_of(&obs.subject())` without
    /// cloning the subject.
    pub fn shard_of_observation(&self, obs: &Observation) -> usize {
        let key = match obs {
            Observation::Accounting(a) => match &a.device_id {
                Some(d) => KeyRef::Named(a.tenant.as_ref().map(|t| t.as_str()), d.as_str()),
                None => KeyRef::None,
            },
            Observation::Flow(f) => KeyRef::of(&f.subject),
            Observation::Dns(d) => KeyRef::of(&d.subject),
            Observation::Name(n) => KeyRef::of(&n.subject),
            Observation::Alert(a) => KeyRef::of(&a.subject),
            Observation::Metrics(m) => KeyRef::of(&m.subject),
            _ => return self.shard_of(&obs.subject()),
        };
        self.shard_of_key(key)
    }

    /// The shard owning a subject given by its borrowed key (no allocation).
    fn shard_of_key(&self, key: KeyRef<'_>) -> usize {
        let h = Key::route_hash(key);
        usize::try_from(crate::finding::mix(h) % self.shards as u64).unwrap_or(0)
    }
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// File system.
    #[error("snapshot i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding or decoding.
    #[error("snapshot format: {0}")]
    Format(#[from] serde_json::Error),
    /// A snapshot of another version or shard count.
    #[error("snapshot mismatch: {0}")]
    Mismatch(String),
}

const SNAPSHOT_VERSION: u32 = 1;

/// A shard's state, serialisable.
#[derive(Serialize, Deserialize)]
pub struct ShardSnapshot {
    version: u32,
    devices: Vec<(Key, DeviceState)>,
    profiles: Vec<String>,
    findings: Vec<Finding>,
    pending: Vec<(i64, u64, StoredObs)>,
    seq: u64,
    max_seen: i64,
    next_sweep: i64,
    stats: ShardStats,
    rules: crate::rules::RuleState,
    imei_index: std::collections::BTreeMap<u64, Vec<u64>>,
    /// The rules `rules` was kept for, so a restart with other rules moves it to theirs
    /// (absent in snapshots written before rules could change while running).
    #[serde(default)]
    rule_set: Option<RuleConfig>,
}

impl std::fmt::Debug for ShardSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardSnapshot")
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

/// An observation held for reordering, in a form that can be read back.
#[derive(Serialize, Deserialize)]
enum StoredObs {
    Accounting {
        record: Box<AccountingRecord>,
        tenant: Option<TenantId>,
        device_id: Option<DeviceId>,
        unknown_imsi: bool,
    },
    Flow(Stored<FlowRecord>),
    Dns(Stored<DnsRecord>),
    Name(Stored<NameRecord>),
    Alert(Stored<AlertRecord>),
    Metrics(Stored<DeviceMetrics>),
}

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    record: T,
    #[serde(with = "crate::subject_serde")]
    subject: Subject,
    responder: bool,
}

fn store<T: Clone>(a: &Attributed<T>) -> Stored<T> {
    Stored {
        record: a.record.clone(),
        subject: a.subject.clone(),
        responder: a.subject_is_responder,
    }
}

fn load<T>(s: Stored<T>) -> Box<Attributed<T>> {
    Box::new(Attributed {
        record: s.record,
        subject: s.subject,
        subject_is_responder: s.responder,
    })
}

impl StoredObs {
    fn of(o: &Observation) -> Option<Self> {
        Some(match o {
            Observation::Accounting(a) => Self::Accounting {
                record: Box::new(a.record.clone()),
                tenant: a.tenant.clone(),
                device_id: a.device_id.clone(),
                unknown_imsi: a.unknown_imsi,
            },
            Observation::Flow(f) => Self::Flow(store(f)),
            Observation::Dns(d) => Self::Dns(store(d)),
            Observation::Name(n) => Self::Name(store(n)),
            Observation::Alert(a) => Self::Alert(store(a)),
            Observation::Metrics(m) => Self::Metrics(store(m)),
            _ => return None,
        })
    }

    fn into_obs(self) -> Observation {
        match self {
            Self::Accounting {
                record,
                tenant,
                device_id,
                unknown_imsi,
            } => Observation::Accounting(Box::new(AccountingObservation {
                record: *record,
                tenant,
                device_id,
                unknown_imsi,
            })),
            Self::Flow(s) => Observation::Flow(load(s)),
            Self::Dns(s) => Observation::Dns(load(s)),
            Self::Name(s) => Observation::Name(load(s)),
            Self::Alert(s) => Observation::Alert(load(s)),
            Self::Metrics(s) => Observation::Metrics(load(s)),
        }
    }
}

impl Shard {
    /// The shard's whole state (including observations held for reordering).
    pub fn snapshot(&self) -> ShardSnapshot {
        let mut devices: Vec<(Key, DeviceState)> = self
            .devices
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        devices.sort_by(|a, b| a.0.cmp(&b.0));
        let mut pending: Vec<(i64, u64, StoredObs)> = self
            .pending
            .iter()
            .filter_map(|p| StoredObs::of(&p.obs).map(|o| (p.at, p.seq, o)))
            .collect();
        pending.sort_by_key(|p| (p.0, p.1));
        ShardSnapshot {
            version: SNAPSHOT_VERSION,
            devices,
            profiles: self.profiles.clone(),
            findings: self.active_findings(),
            pending,
            seq: self.seq,
            max_seen: self.max_seen,
            next_sweep: self.next_sweep,
            stats: self.stats,
            rules: self.rules.clone(),
            imei_index: self.imei_index.clone(),
            rule_set: Some((*self.rule_set).clone()),
        }
    }

    /// A shard from a snapshot, with the (possibly new) configuration and lookups.
    pub fn restore(
        snap: ShardSnapshot,
        cfg: Arc<DetectConfig>,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Result<Self, SnapshotError> {
        if snap.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Mismatch(format!(
                "version {} (expected {SNAPSHOT_VERSION})",
                snap.version
            )));
        }
        let mut s = Self::new(cfg, intel, context);
        s.devices = snap.devices.into_iter().collect();
        s.profiles = snap.profiles;
        s.findings = snap
            .findings
            .into_iter()
            .map(|f| (f.id.clone().into_boxed_str(), f))
            .collect();
        s.pending = snap
            .pending
            .into_iter()
            .map(|(at, seq, o)| Pending {
                at,
                seq,
                obs: o.into_obs(),
            })
            .collect();
        s.seq = snap.seq;
        s.max_seen = snap.max_seen;
        s.next_sweep = snap.next_sweep;
        s.stats = snap.stats;
        s.rules = snap.rules;
        s.imei_index = snap.imei_index;
        if let Some(saved) = snap.rule_set
            && saved != *s.rule_set
        {
            s.adopt_rules(&saved);
        }
        Ok(s)
    }
}

/// Every shard in one place: the offline engine (`rampart analyze` feeds it observations in
/// event order on one thread), and the factory of the shards live workers own.
pub struct Engine {
    router: Router,
    shards: Vec<Shard>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("shards", &self.shards)
            .finish()
    }
}

/// The engine's state, serialisable.
#[derive(Debug, Serialize, Deserialize)]
pub struct EngineSnapshot {
    shards: Vec<ShardSnapshot>,
}

impl Engine {
    /// An engine of `shards` shards; the configuration is validated.
    pub fn new(
        cfg: DetectConfig,
        shards: usize,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let cfg = Arc::new(cfg);
        let router = Router::new(shards);
        let shards = (0..router.shards())
            .map(|_| Shard::new(Arc::clone(&cfg), Arc::clone(&intel), Arc::clone(&context)))
            .collect();
        Ok(Self { router, shards })
    }

    /// Reassembles an engine from the shards live workers owned (to snapshot it at shutdown).
    pub fn from_shards(router: Router, shards: Vec<Shard>) -> Self {
        Self { router, shards }
    }

    /// The router.
    pub fn router(&self) -> Router {
        self.router
    }

    /// Routes one observation to its shard.
    pub fn process(&mut self, obs: Observation, out: &mut Vec<FindingEvent>) {
        let i = self.router.shard_of_observation(&obs);
        if let Some(s) = self.shards.get_mut(i) {
            s.process(obs, out);
            s.take_updates(out);
        }
    }

    /// Replaces the rules of every shard (validated first; on error nothing changes). The
    /// state of unchanged rules carries over; the active alarms of deleted or redefined rules
    /// are cleared into `out`.
    pub fn set_rules(
        &mut self,
        rules: RuleConfig,
        out: &mut Vec<FindingEvent>,
    ) -> Result<(), ConfigError> {
        rules.validate()?;
        let rules = Arc::new(rules);
        for s in &mut self.shards {
            s.set_rules(Arc::clone(&rules), out);
        }
        Ok(())
    }

    /// End of input on every shard.
    pub fn flush(&mut self, out: &mut Vec<FindingEvent>) {
        for s in &mut self.shards {
            s.flush(out);
        }
    }

    /// The shards, for workers that each own one (`shards[router.shard_of(s)]`).
    pub fn into_shards(self) -> (Router, Vec<Shard>) {
        (self.router, self.shards)
    }

    /// The shards.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Findings still active, across shards, by id.
    pub fn active_findings(&self) -> Vec<Finding> {
        let mut v: Vec<Finding> = self
            .shards
            .iter()
            .flat_map(Shard::active_findings)
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Subjects with state, across shards.
    pub fn devices(&self) -> usize {
        self.shards.iter().map(Shard::devices).sum()
    }

    /// Summed counters.
    pub fn stats(&self) -> ShardStats {
        self.shards.iter().fold(ShardStats::default(), |mut a, s| {
            let b = s.stats();
            a.observations += b.observations;
            a.late += b.late;
            a.refused += b.refused;
            a.raised += b.raised;
            a.cleared += b.cleared;
            a
        })
    }

    /// Every shard's state.
    pub fn snapshot(&self) -> EngineSnapshot {
        EngineSnapshot {
            shards: self.shards.iter().map(Shard::snapshot).collect(),
        }
    }

    /// Writes the state to `path` (through a temporary file renamed into place, so a crash
    /// mid-write leaves the previous snapshot).
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let tmp = path.with_extension("tmp");
        {
            let file = std::fs::File::create(&tmp)?;
            let mut w = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut w, &self.snapshot())?;
            std::io::Write::flush(&mut w)?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// An engine from a snapshot; the shard count is the snapshot's.
    pub fn restore(
        snap: EngineSnapshot,
        cfg: DetectConfig,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Result<Self, SnapshotError> {
        cfg.validate()
            .map_err(|e| SnapshotError::Mismatch(e.to_string()))?;
        let cfg = Arc::new(cfg);
        let router = Router::new(snap.shards.len());
        let shards = snap
            .shards
            .into_iter()
            .map(|s| {
                Shard::restore(
                    s,
                    Arc::clone(&cfg),
                    Arc::clone(&intel),
                    Arc::clone(&context),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        if shards.is_empty() {
            return Err(SnapshotError::Mismatch("no shard".to_owned()));
        }
        Ok(Self { router, shards })
    }

    /// Reads a snapshot written by [`Engine::save`].
    pub fn load(
        path: &Path,
        cfg: DetectConfig,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Result<Self, SnapshotError> {
        let file = std::fs::File::open(path)?;
        let snap: EngineSnapshot = serde_json::from_reader(std::io::BufReader::new(file))?;
        Self::restore(snap, cfg, intel, context)
    }
}
