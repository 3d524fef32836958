//! The responder: findings become incidents (grouped, stored with their timeline), matching
//! playbooks run as tasks whose every step lands on the incident's timeline and in the audit
//! log, approvals wait for an operator or their deadline, and an incident's actions can be
//! undone in one call.
//!
//! One lock (async) guards the grouper and serialises incident writes, so an incident's
//! timeline is in the order things happened; actions themselves run outside it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_incidents::{
    FindingFacts as IncidentFacts, Grouper, GrouperConfig, Incident, IncidentChange, Status,
    TimelineEntry, TimelineEvent,
};
use rampart_playbook::{FindingFacts as PlaybookFacts, Playbook, PlaybookSet, Scope, Validator};
use rampart_store::{IncidentRow, Store, TimelineRow};
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::actions::{ActionTarget, DeviceActions};
use crate::audit::AuditSink;
use crate::recent::RecentDevices;

mod operator;
mod runs;
mod writer;

use writer::{WRITE_ERRORS, Write, writer};

/// Metric: findings the responder took in.
const FINDINGS: &str = "rampart_respond_findings_total";
/// Metric: playbook runs started, by playbook.
const RUNS: &str = "rampart_respond_runs_total";
/// Finding ids remembered as active (for playbook conditions).
const ACTIVE_CAP: usize = 200_000;
/// (incident, playbook) pairs remembered as already run.
const STARTED_CAP: usize = 200_000;

/// A finding as the responder needs it.
#[derive(Debug, Clone)]
pub struct FindingInput {
    /// Finding id.
    pub id: String,
    /// Kind (`sim_imei_mismatch`, `ddos`, ...).
    pub kind: String,
    /// Severity name.
    pub severity: String,
    /// Tenant of the device, if attributed.
    pub tenant: Option<TenantId>,
    /// The device, if attributed.
    pub device: Option<DeviceId>,
    /// The address, for findings about a host no registry names.
    pub host: Option<IpAddr>,
    /// One line.
    pub summary: String,
    /// Event time it was raised.
    pub raised_at: Timestamp,
    /// Causes shared across devices (`c2:1.2.3.4:443`, `intel:feed/indicator`).
    pub campaign_keys: Vec<String>,
}

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// No such object, or not visible.
    #[error("{0}")]
    NotFound(String),
    /// Bad request; `details` lists every problem.
    #[error("{message}")]
    Invalid {
        /// One line.
        message: String,
        /// Every problem.
        details: Vec<String>,
    },
    /// Not allowed in the current state.
    #[error("{0}")]
    Conflict(String),
    /// Store or peer failure.
    #[error("{0}")]
    Internal(String),
}

impl From<rampart_store::StoreError> for RespondError {
    fn from(e: rampart_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

struct PendingApproval {
    tenant: TenantId,
    incident: String,
    playbook: String,
    device: DeviceId,
    step: usize,
    deadline: OffsetDateTime,
    decision: Option<(bool, String)>,
    notify: Arc<Notify>,
}

struct Playbooks {
    set: PlaybookSet,
    /// Source text by name, of those loaded through the API (kept in `dir` too).
    dir: PathBuf,
}

/// Active findings: by id (for playbook conditions) and by device (for mass-action
/// selectors naming finding kinds). Bounded: past the cap the oldest knowledge is dropped
/// wholesale, which only makes conditions and selectors see fewer active findings.
#[derive(Default)]
struct Active {
    by_id: HashMap<String, (Option<(TenantId, DeviceId)>, String)>,
    by_device: HashMap<(TenantId, DeviceId), Vec<String>>,
}

impl Active {
    fn insert(&mut self, id: String, device: Option<(TenantId, DeviceId)>, kind: String) {
        if self.by_id.len() >= ACTIVE_CAP {
            self.by_id.clear();
            self.by_device.clear();
        }
        if let Some(d) = &device {
            let ids = self.by_device.entry(d.clone()).or_default();
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
        }
        self.by_id.insert(id, (device, kind));
    }

    fn remove(&mut self, id: &str) {
        if let Some((Some(d), _)) = self.by_id.remove(id)
            && let Some(ids) = self.by_device.get_mut(&d)
        {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.by_device.remove(&d);
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    fn kinds(&self, tenant: &TenantId, device: &DeviceId) -> Vec<String> {
        let Some(ids) = self.by_device.get(&(tenant.clone(), device.clone())) else {
            return Vec::new();
        };
        let mut kinds: Vec<String> = ids
            .iter()
            .filter_map(|i| self.by_id.get(i).map(|(_, k)| k.clone()))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// Where incident changes are announced besides the store (a SIEM). Called in the order the
/// changes are made; must not block.
pub trait IncidentSink: Send + Sync {
    /// `incident` was opened or changed.
    fn incident(&self, incident: &Incident);
}

/// The response engine.
pub struct Responder {
    writes: mpsc::UnboundedSender<Write>,
    sink: Option<Arc<dyn IncidentSink>>,
    recent: Option<Arc<dyn RecentDevices>>,
    store: Arc<dyn Store>,
    actions: Arc<dyn DeviceActions>,
    audit: Arc<dyn AuditSink>,
    validator: Validator,
    playbooks: RwLock<Playbooks>,
    grouper: tokio::sync::Mutex<Grouper>,
    approvals: Mutex<HashMap<String, PendingApproval>>,
    active: Mutex<Active>,
    started: Mutex<HashSet<(String, String)>>,
    seq: std::sync::atomic::AtomicU64,
}

fn now_ts() -> Timestamp {
    Timestamp::now()
}

fn row(i: &Incident) -> Result<IncidentRow, RespondError> {
    Ok(IncidentRow {
        id: i.id.to_string(),
        tenant: i.tenant.clone(),
        scope_kind: i.scope_kind().into(),
        subject: i.subject(),
        status: i.status.as_str().into(),
        severity: i.severity.as_str().into(),
        opened_at: i.opened_at,
        updated_at: i.updated_at,
        body: serde_json::to_value(i).map_err(|e| RespondError::Internal(e.to_string()))?,
    })
}

fn entries(es: &[TimelineEntry]) -> Vec<TimelineRow> {
    es.iter()
        .filter_map(|e| {
            serde_json::to_value(e)
                .ok()
                .map(|body| TimelineRow { at: e.at, body })
        })
        .collect()
}

impl Responder {
    /// A responder over `store`, running actions through `actions`, auditing to `audit`,
    /// with the playbooks of `playbooks_dir` (a missing directory is an empty set; an
    /// invalid set is an error naming every problem). Open incidents are restored.
    pub async fn open(
        store: Arc<dyn Store>,
        actions: Arc<dyn DeviceActions>,
        audit: Arc<dyn AuditSink>,
        playbooks_dir: PathBuf,
        validator: Validator,
        grouping: GrouperConfig,
    ) -> Result<Arc<Self>, RespondError> {
        let set = if playbooks_dir.is_dir() {
            PlaybookSet::load_dir_with(&playbooks_dir, &validator).map_err(|e| {
                RespondError::Invalid {
                    message: format!("playbooks in {} refused", playbooks_dir.display()),
                    details: e.errors().iter().map(ToString::to_string).collect(),
                }
            })?
        } else {
            PlaybookSet::new()
        };
        tracing::info!(playbooks = set.len(), dir = %playbooks_dir.display(), "playbooks loaded");
        let open = store
            .list_incidents(&rampart_store::IncidentFilter {
                status: Some(vec![
                    "open".into(),
                    "acknowledged".into(),
                    "contained".into(),
                ]),
                limit: 1000,
                ..rampart_store::IncidentFilter::default()
            })
            .await?;
        let restored: Vec<Incident> = open
            .into_iter()
            .filter_map(|r| serde_json::from_value(r.body).ok())
            .collect();
        let seed =
            u64::try_from(Timestamp::now().0).unwrap_or_default() ^ u64::from(std::process::id());
        let (writes, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(store.clone(), rx));
        Ok(Arc::new(Self {
            writes,
            sink: None,
            recent: None,
            store,
            actions,
            audit,
            validator,
            playbooks: RwLock::new(Playbooks {
                set,
                dir: playbooks_dir,
            }),
            grouper: tokio::sync::Mutex::new(Grouper::restore(grouping, seed, restored)),
            approvals: Mutex::new(HashMap::new()),
            active: Mutex::new(Active::default()),
            started: Mutex::new(HashSet::new()),
            seq: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Queues incident writes (in order; the caller holds the grouper lock, so writes of one
    /// incident are queued in the order the changes were made).
    fn persist(&self, changes: &[IncidentChange]) {
        for c in changes {
            if let Some(sink) = &self.sink
                && (c.created || !c.entries.is_empty())
            {
                sink.incident(&c.incident);
            }
            match row(&c.incident) {
                Ok(r) => self.write(r, entries(&c.entries)),
                Err(e) => tracing::error!(error = %e, "incident not serialisable"),
            }
        }
    }

    fn write(&self, row: IncidentRow, timeline: Vec<TimelineRow>) {
        if self
            .writes
            .send(Write::Put(Box::new(row), timeline))
            .is_err()
        {
            metrics::counter!(WRITE_ERRORS).increment(1);
            tracing::error!("incident writer stopped; incident not stored");
        }
    }

    /// Waits until every write queued so far is in the store (reads after it see them).
    async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writes.send(Write::Flush(tx)).is_ok() {
            let _written = rx.await.is_ok();
        }
    }

    /// Announces every incident change to `sink` too (set before findings arrive).
    pub fn with_sink(self: Arc<Self>, sink: Arc<dyn IncidentSink>) -> Arc<Self> {
        self.configure("incident sink", |me| me.sink = Some(sink))
    }

    /// Takes devices from `recent` when it described them a moment ago, instead of reading
    /// the store before a run's first action (set before findings arrive).
    pub fn with_recent(self: Arc<Self>, recent: Arc<dyn RecentDevices>) -> Arc<Self> {
        self.configure("recent devices", |me| me.recent = Some(recent))
    }

    /// Applies `set` while nothing else holds the responder yet; otherwise warns that `what`
    /// was not attached and leaves it as it is.
    fn configure(self: Arc<Self>, what: &str, set: impl FnOnce(&mut Self)) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut me) => {
                set(&mut me);
                Arc::new(me)
            }
            Err(shared) => {
                tracing::warn!("{what} not attached: the responder is already in use");
                shared
            }
        }
    }

    /// Kinds of the device's active findings.
    pub fn active_kinds(&self, tenant: &TenantId, device: &DeviceId) -> Vec<String> {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kinds(tenant, device)
    }

    /// A finding was cleared: playbook conditions on `finding_active` see it.
    pub fn cleared(&self, finding_id: &str) {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(finding_id);
    }

    /// Takes in a raised finding: groups it into an incident and starts the playbooks that
    /// match it.
    pub async fn finding(self: &Arc<Self>, f: FindingInput) {
        metrics::counter!(FINDINGS).increment(1);
        {
            let device = f.tenant.clone().zip(f.device.clone());
            self.active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(f.id.clone(), device, f.kind.clone());
        }
        let severity = rampart_incidents::Severity::from_str(&f.severity).unwrap_or_default();
        let facts = IncidentFacts {
            finding_id: f.id.clone(),
            tenant: f.tenant.clone(),
            device: f.device.clone(),
            host: f.host,
            kind: f.kind.clone(),
            severity,
            summary: f.summary.clone(),
            raised_at: f.raised_at,
            campaign_keys: f.campaign_keys.clone(),
        };
        let decision = {
            let mut g = self.grouper.lock().await;
            match g.ingest(&facts, now_ts()) {
                Ok(d) => {
                    self.persist(&d.changes);
                    d
                }
                Err(e) => {
                    tracing::warn!(error = %e, "finding not grouped");
                    return;
                }
            }
        };
        let (Some(tenant), Some(device)) = (f.tenant.clone(), f.device.clone()) else {
            return;
        };
        let mut pfacts = PlaybookFacts {
            kind: f.kind.clone(),
            severity: rampart_playbook::Severity::from_str(&f.severity)
                .unwrap_or(rampart_playbook::Severity::Info),
            profile: None,
            groups: Vec::new(),
            tags: Vec::new(),
            scope: Scope::Device,
        };
        // Most findings answer no playbook: those skip the registry read.
        let may_match = self
            .playbooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .may_match(&pfacts);
        if !may_match {
            return;
        }
        let recent = self
            .recent
            .as_ref()
            .and_then(|r| r.recent(&tenant, &device));
        let state = match recent {
            Some(d) => {
                pfacts.profile = d.profile;
                pfacts.groups = d.groups;
                pfacts.tags = d.tags;
                Some(d.state)
            }
            None => match self.store.get_device(&tenant, &device).await {
                Ok(Some(d)) => {
                    pfacts.profile = d.profile.as_ref().map(|p| p.as_str().to_owned());
                    pfacts.groups = d.groups.iter().map(|g| g.as_str().to_owned()).collect();
                    pfacts.tags = d.tags.iter().map(|g| g.as_str().to_owned()).collect();
                    Some(d.state)
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "device look-up for playbooks failed");
                    None
                }
            },
        };
        let matching: Vec<Playbook> = {
            let p = self
                .playbooks
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            p.set.matching(&pfacts).into_iter().cloned().collect()
        };
        let incident = decision.incident.to_string();
        for pb in matching {
            let key = (incident.clone(), pb.name.clone());
            {
                let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
                if started.contains(&key) {
                    continue;
                }
                if started.len() >= STARTED_CAP {
                    started.clear();
                }
                started.insert(key);
            }
            metrics::counter!(RUNS, "playbook" => pb.name.clone()).increment(1);
            let me = self.clone();
            let target = ActionTarget {
                tenant: tenant.clone(),
                device: device.clone(),
            };
            let (inc, fid) = (incident.clone(), f.id.clone());
            tokio::spawn(async move { me.run(pb, target, inc, fid, severity, state).await });
        }
    }

    /// Appends events to an incident and applies a status change (loading it from the store
    /// when the grouper has let it go), then queues it for the store.
    async fn record(
        &self,
        incident: &str,
        events: Vec<TimelineEvent>,
        actor: Option<&str>,
        status: Option<Status>,
    ) -> Result<Incident, RespondError> {
        let mut g = self.grouper.lock().await;
        let id = rampart_incidents::IncidentId::parse(incident)
            .map_err(|_| RespondError::NotFound(format!("no incident {incident}")))?;
        let mut inc = match g.get(&id) {
            Some(i) => i.clone(),
            None => {
                self.flush().await;
                let r = self
                    .store
                    .get_incident(incident)
                    .await?
                    .ok_or_else(|| RespondError::NotFound(format!("no incident {incident}")))?;
                serde_json::from_value(r.body).map_err(|e| RespondError::Internal(e.to_string()))?
            }
        };
        let now = now_ts();
        let invalid = |e: rampart_core::ValidationError| RespondError::Invalid {
            message: e.to_string(),
            details: Vec::new(),
        };
        let mut es = Vec::new();
        for e in events {
            // Notes and assignments go through the incident's own methods (they validate and
            // change its fields); the rest are appended as they are.
            let entry = match e {
                TimelineEvent::Note { text } => inc.note(&text, actor, now).map_err(invalid)?,
                TimelineEvent::Assigned { to } => {
                    inc.assign(to.as_deref(), actor, now).map_err(invalid)?
                }
                other => inc.record(other, actor, now).map_err(invalid)?,
            };
            es.push(entry);
        }
        if let Some(to) = status
            && inc.status != to
        {
            match inc.transition(to, actor, now) {
                Ok(entry) => es.push(entry),
                Err(e) => return Err(RespondError::Conflict(e.to_string())),
            }
        }
        if let Some(sink) = &self.sink
            && !es.is_empty()
        {
            sink.incident(&inc);
        }
        self.write(row(&inc)?, entries(&es));
        g.update(inc.clone(), now);
        Ok(inc)
    }
}
