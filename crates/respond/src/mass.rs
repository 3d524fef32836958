//! Mass actions, server side: resolve a plan's selector against the registry, persist the
//! operation, and drive its [`MassRun`] against the devices through [`DeviceActions`].
//!
//! The state machine ([`rampart_playbook::mass`]) decides what to dispatch and when; this
//! module executes: each dispatched device gets the plan's actions in order, up to
//! [`MassConfig::concurrency`] devices at once, and reports one result per device. Waits
//! (pace, pauses, approval) end early when an operator approves or aborts. Progress is
//! persisted at every state change and at most every [`MassConfig::persist_every`] otherwise,
//! so an operation's row is at most that stale.
//!
//! Memory per target is the run's own (an id and a status byte); outcomes are not kept per
//! device beyond the first 1,000 failures (with their errors). The full target
//! list and each target's final outcome are written twice (start, end) to a separate run
//! record, which is what undo reads.
//!
//! One process drives the mass actions of a deployment: [`MassService::restore`] marks every
//! operation it finds running as `interrupted` and does not resume it (half a wave may have
//! run; an operator decides, and can undo it). Without a final outcome, such an undo covers
//! every target the last persisted wave could have reached, except the kept failures.
//!
//! # Operation JSON
//!
//! `get` returns `id`, `kind` (`mass_action`), `tenant`, `status` (`running`,
//! `awaiting_approval`, `completed`, `aborted`, `failed`, `interrupted`), `mode` (`apply` or
//! `undo`), `actor`, `created_at`, `updated_at`, `undo_of`, `undone_by`, `reason` (why it
//! stopped), `targets`, `wave_sizes`, `progress` (`total`, `dispatched`, `succeeded`,
//! `failed`, `skipped`: handed out but never started because the run stopped, `wave`,
//! `waves`), `plan`, `events` (`{at, kind: {event, ...}}`, `at` in ms since the epoch),
//! `failures` (`{device, errors: [{action, status, target, detail}]}`) and
//! `failures_not_kept`; interrupted operations add `previous_status`. Summaries (`list`,
//! and the answers of `create`, `approve`, `abort`, `undo`) leave out `plan`, `events` and
//! `failures`.

mod driver;
mod record;
mod select;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_playbook::PlaybookErrors;
use rampart_playbook::mass::{MassError as RunError, MassPlan, MassRun};
use rampart_store::{OpRow, Store, StoreError};
use serde_json::{Value, json};

use crate::actions::DeviceActions;
use crate::audit::AuditSink;
use driver::{Live, with};
use record::{KIND, OpMeta, RunRecord, status};

/// How long an undo waits for an operation that has just ended to store its final state.
const FINAL_STATE_WAIT: Duration = Duration::from_secs(30);

/// The finding kinds active on a device, for selectors with `finding_kinds`.
pub trait FindingKinds: Send + Sync {
    /// The kinds of the device's active findings (empty: none).
    fn kinds(&self, tenant: &TenantId, device: &DeviceId) -> Vec<String>;
}

/// No findings anywhere: a selector with `finding_kinds` matches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFindings;

impl FindingKinds for NoFindings {
    fn kinds(&self, _: &TenantId, _: &DeviceId) -> Vec<String> {
        Vec::new()
    }
}

/// How mass actions run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassConfig {
    /// Devices acted on at once per operation (each runs its actions in sequence).
    pub concurrency: usize,
    /// The most targets one operation may have; larger selections are refused.
    pub max_targets: usize,
    /// The longest an operation's persisted progress lags behind (state changes are
    /// persisted at once).
    pub persist_every: Duration,
}

impl Default for MassConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            max_targets: 2_000_000,
            persist_every: Duration::from_secs(1),
        }
    }
}

/// Why a mass-action request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MassError {
    /// No such operation (in the caller's tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The plan or request is not acceptable.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// One line per problem (field paths for plan errors).
        details: Vec<String>,
    },
    /// The operation is not in a state that allows this.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed.
    #[error("internal error: {0}")]
    Internal(String),
}

fn store_error(e: StoreError) -> MassError {
    match e {
        StoreError::NotFound(what) => MassError::NotFound(what),
        StoreError::Conflict(what) => MassError::Conflict(what),
        StoreError::Invalid(v) => MassError::Invalid {
            message: v.to_string(),
            details: Vec::new(),
        },
        other => MassError::Internal(other.to_string()),
    }
}

fn invalid_plan(e: &PlaybookErrors) -> MassError {
    MassError::Invalid {
        message: "invalid mass plan".to_owned(),
        details: e.errors().iter().map(ToString::to_string).collect(),
    }
}

fn run_conflict(id: &str, e: &RunError) -> MassError {
    MassError::Conflict(format!("mass action {id}: {e}"))
}

/// Runs mass actions. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MassService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    actions: Arc<dyn DeviceActions>,
    audit: Arc<dyn AuditSink>,
    kinds: Arc<dyn FindingKinds>,
    config: MassConfig,
    /// Operations this process drives.
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// Serialises undo requests: the check for an earlier undo and the new one's start.
    undo_lock: tokio::sync::Mutex<()>,
}

impl Inner {
    fn audit(&self, event: &str, actor: &str, fields: Value) {
        let mut record = json!({ "event": event, "actor": actor });
        if let (Some(r), Value::Object(f)) = (record.as_object_mut(), fields) {
            r.extend(f);
        }
        self.audit.record(&record);
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove_live(&self, id: &str) {
        self.live().remove(id);
    }
}

impl fmt::Debug for MassService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MassService")
            .field("config", &self.inner.config)
            .field("live", &self.inner.live().len())
            .finish_non_exhaustive()
    }
}

fn tenant_allows(tenant: Option<&TenantId>, owner: Option<&TenantId>) -> bool {
    tenant.is_none_or(|t| owner == Some(t))
}

impl MassService {
    /// A service over the registry `store`, executing through `actions`, auditing to `audit`.
    pub fn new(
        store: Arc<dyn Store>,
        actions: Arc<dyn DeviceActions>,
        audit: Arc<dyn AuditSink>,
        kinds: Arc<dyn FindingKinds>,
        config: MassConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                actions,
                audit,
                kinds,
                config,
                live: Mutex::new(HashMap::new()),
                undo_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Validates `plan` (a [`MassPlan`] as JSON; omitted fields take their defaults) and
    /// selects its targets in `tenant`. With `dry_run`, returns `{targets, wave_sizes,
    /// needs_approval, sample, min_duration_secs}` and writes nothing; otherwise starts the
    /// operation and returns its summary.
    pub async fn create(
        &self,
        tenant: &TenantId,
        plan: Value,
        dry_run: bool,
        actor: &str,
    ) -> Result<Value, MassError> {
        let text = serde_json::to_string(&plan).map_err(|e| MassError::Invalid {
            message: "invalid mass plan".to_owned(),
            details: vec![e.to_string()],
        })?;
        drop(plan);
        let plan = MassPlan::from_json("mass plan", &text, None).map_err(|e| invalid_plan(&e))?;
        drop(text);
        let selection = select::select(
            self.inner.store.as_ref(),
            self.inner.kinds.as_ref(),
            tenant,
            &plan.selector,
            self.inner.config.max_targets,
            !dry_run,
        )
        .await?;
        if dry_run {
            let d = plan.dry_run(selection.count);
            return Ok(json!({
                "targets": d.targets,
                "wave_sizes": d.wave_sizes,
                "needs_approval": d.needs_approval,
                "sample": selection.sample,
                "min_duration_secs": d.min_duration_secs,
            }));
        }
        let meta = OpMeta::new(record::new_id(), tenant.clone(), actor, None, &plan);
        let live = self.start(meta, plan, selection.ids).await?;
        let (body, _) = live.body();
        self.inner.audit(
            "mass_action.created",
            actor,
            json!({
                "id": live.meta.id,
                "tenant": tenant.as_str(),
                "targets": body.get("targets"),
                "wave_sizes": body.get("wave_sizes"),
                "status": body.get("status"),
                "plan": live.meta.plan,
            }),
        );
        Ok(record::summary(&body))
    }

    /// Persists a new operation (run record first, then the operation row) and starts
    /// driving it.
    async fn start(
        &self,
        meta: OpMeta,
        plan: MassPlan,
        targets: Vec<DeviceId>,
    ) -> Result<Arc<Live>, MassError> {
        let run = MassRun::new(plan, targets, record::now_ms());
        let live = Arc::new(Live::new(meta, run));
        let run_row = {
            let st = live.lock();
            record::run_row(&live.meta, &st.run, false)
        };
        self.inner
            .store
            .put_op(&run_row)
            .await
            .map_err(store_error)?;
        drop(run_row);
        let (body, status) = live.body();
        self.inner
            .store
            .put_op(&record::op_row(&live.meta, status, body))
            .await
            .map_err(store_error)?;
        self.inner
            .live()
            .insert(live.meta.id.clone(), Arc::clone(&live));
        let inner = Arc::clone(&self.inner);
        let driven = Arc::clone(&live);
        tokio::spawn(async move {
            let task = tokio::spawn(driver::drive(Arc::clone(&inner), Arc::clone(&driven)));
            if let Err(e) = task.await {
                tracing::error!(op = %driven.meta.id, error = %e, "mass action driver failed");
                driver::fail(&inner, &driven, "the driver stopped unexpectedly").await;
            }
        });
        Ok(live)
    }

    /// Operations (of `tenant`, or of every tenant), newest first, as summaries: the 1,000
    /// most recently changed. Returns `{"operations": [...]}`.
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Value, MassError> {
        let rows = self
            .inner
            .store
            .list_ops(KIND, tenant, None, 1_000)
            .await
            .map_err(store_error)?;
        let mut ops: Vec<(String, Value)> = rows
            .into_iter()
            .map(|row| {
                let live = self.inner.live().get(&row.id).cloned();
                let summary = match live {
                    Some(live) => record::summary(&live.body().0),
                    None => record::summary(&row.body),
                };
                (row.id, summary)
            })
            .collect();
        // Ids grow with creation time.
        ops.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(json!({ "operations": ops.into_iter().map(|(_, s)| s).collect::<Vec<_>>() }))
    }

    /// One operation in full: progress, waves, events and kept failures.
    pub async fn get(&self, tenant: Option<&TenantId>, id: &str) -> Result<Value, MassError> {
        if let Some(live) = self.find_live(tenant, id)? {
            return Ok(live.body().0);
        }
        Ok(self.row(tenant, id).await?.body)
    }

    /// Approves an operation waiting because of its blast radius.
    pub async fn approve(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        actor: &str,
    ) -> Result<Value, MassError> {
        let live = self.live_op(tenant, id).await?;
        live.lock()
            .run
            .approve(actor, record::now_ms())
            .map_err(|e| run_conflict(id, &e))?;
        live.wake.notify_one();
        self.inner.audit(
            "mass_action.approved",
            actor,
            json!({ "id": id, "tenant": live.meta.tenant.as_str() }),
        );
        Ok(record::summary(&live.body().0))
    }

    /// Stops an operation (also how an approval is refused): nothing more is dispatched;
    /// actions in flight finish and are recorded.
    pub async fn abort(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        actor: &str,
    ) -> Result<Value, MassError> {
        let live = self.live_op(tenant, id).await?;
        {
            let mut st = live.lock();
            st.run
                .abort(actor, record::now_ms())
                .map_err(|e| run_conflict(id, &e))?;
            st.aborted_by_operator = true;
        }
        live.wake.notify_one();
        self.inner.audit(
            "mass_action.aborted",
            actor,
            json!({
                "id": id,
                "tenant": live.meta.tenant.as_str(),
                "reason": format!("aborted by {actor}"),
            }),
        );
        Ok(record::summary(&live.body().0))
    }

    /// Starts the operation that undoes `id`: its reversible actions, in reverse order, on
    /// the targets where it applied. Refused while `id` runs, for an undo, and when an
    /// earlier undo of it has not failed, been aborted or been interrupted.
    pub async fn undo(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        actor: &str,
    ) -> Result<Value, MassError> {
        let _one_at_a_time = self.inner.undo_lock.lock().await;
        if let Some(live) = self.find_live(tenant, id)? {
            let still_running = || {
                MassError::Conflict(format!(
                    "mass action {id} is still running: abort it or wait for it to end"
                ))
            };
            if !live.lock().run.is_finished() {
                return Err(still_running());
            }
            // It has ended and is storing its final state (after any in-flight actions).
            let mut ended = live.ended.subscribe();
            let stored = tokio::time::timeout(FINAL_STATE_WAIT, ended.wait_for(|e| *e)).await;
            if !matches!(stored, Ok(Ok(_))) {
                return Err(still_running());
            }
        }
        let mut original = self.row(tenant, id).await?;
        if !status::is_terminal(&original.status) {
            return Err(MassError::Conflict(format!(
                "mass action {id} is {}: it has not ended",
                original.status
            )));
        }
        if original.body.get("undo_of").is_some_and(|u| !u.is_null()) {
            return Err(MassError::Conflict(format!(
                "mass action {id} is an undo; it cannot be undone"
            )));
        }
        if let Some(previous) = original.body.get("undone_by").and_then(Value::as_str) {
            let previous_status = self
                .inner
                .store
                .get_op(previous)
                .await
                .map_err(store_error)?
                .map(|r| r.status);
            let retry = matches!(
                previous_status.as_deref(),
                Some(status::ABORTED | status::FAILED | status::INTERRUPTED)
            );
            if !retry {
                return Err(MassError::Conflict(format!(
                    "mass action {id} is already undone by {previous}"
                )));
            }
        }
        let run_row = self
            .inner
            .store
            .get_op(&record::run_id(id))
            .await
            .map_err(store_error)?
            .ok_or_else(|| MassError::Internal(format!("mass action {id} has no run record")))?;
        let run_record = RunRecord::parse(&run_row.body)?;
        drop(run_row);
        let plan = run_record.plan.undo_plan();
        let targets = if plan.actions.is_empty() {
            Vec::new()
        } else {
            run_record.undo_targets(&original.body)
        };
        drop(run_record);
        let owner = original
            .tenant
            .clone()
            .ok_or_else(|| MassError::Internal(format!("mass action {id} has no tenant")))?;
        let meta = OpMeta::new(
            record::new_id(),
            owner.clone(),
            actor,
            Some(id.to_owned()),
            &plan,
        );
        let undo_id = meta.id.clone();
        let live = self.start(meta, plan, targets).await?;

        if let Some(obj) = original.body.as_object_mut() {
            obj.insert("undone_by".into(), json!(undo_id));
            obj.insert("updated_at".into(), json!(Timestamp::now()));
            if let Some(events) = obj.get_mut("events").and_then(Value::as_array_mut) {
                events.push(json!({
                    "at": record::now_ms(),
                    "kind": { "event": "undo_started", "by": actor, "undo": undo_id },
                }));
            }
        }
        original.updated_at = Timestamp::now();
        self.inner
            .store
            .put_op(&original)
            .await
            .map_err(store_error)?;
        let (body, _) = live.body();
        self.inner.audit(
            "mass_action.undo_started",
            actor,
            json!({
                "id": undo_id,
                "undo_of": id,
                "tenant": owner.as_str(),
                "targets": body.get("targets"),
            }),
        );
        Ok(record::summary(&body))
    }

    /// At start: marks operations persisted as running or awaiting approval (by a previous
    /// process) `interrupted`, with an event; they are not resumed, and can be undone.
    /// Returns how many were marked.
    pub async fn restore(&self) -> Result<u64, MassError> {
        let mut marked = 0;
        for from in [status::RUNNING, status::AWAITING_APPROVAL] {
            loop {
                let rows = self
                    .inner
                    .store
                    .list_ops(KIND, None, Some(from), 1_000)
                    .await
                    .map_err(store_error)?;
                let full_page = rows.len() == 1_000;
                let mut changed = false;
                for row in rows {
                    if self.inner.live().contains_key(&row.id) {
                        continue;
                    }
                    self.interrupt(row, from).await?;
                    marked += 1;
                    changed = true;
                }
                if !(full_page && changed) {
                    break;
                }
            }
        }
        Ok(marked)
    }

    async fn interrupt(&self, mut row: OpRow, from: &str) -> Result<(), MassError> {
        let reason = "the process driving it stopped before it ended";
        if let Some(obj) = row.body.as_object_mut() {
            obj.insert("status".into(), json!(status::INTERRUPTED));
            obj.insert("previous_status".into(), json!(from));
            obj.insert("reason".into(), json!(reason));
            obj.insert("updated_at".into(), json!(Timestamp::now()));
            if let Some(events) = obj.get_mut("events").and_then(Value::as_array_mut) {
                events.push(json!({
                    "at": record::now_ms(),
                    "kind": { "event": "interrupted", "previous_status": from },
                }));
            }
        }
        row.status = status::INTERRUPTED.to_owned();
        row.updated_at = Timestamp::now();
        self.inner.store.put_op(&row).await.map_err(store_error)?;
        self.inner.audit(
            "mass_action.interrupted",
            "system",
            with(
                json!({ "id": row.id, "previous_status": from, "reason": reason }),
                "tenant",
                json!(row.tenant.as_ref().map(TenantId::as_str)),
            ),
        );
        Ok(())
    }

    /// The live operation `id`, if this process drives it and `tenant` may see it.
    fn find_live(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
    ) -> Result<Option<Arc<Live>>, MassError> {
        match self.inner.live().get(id) {
            Some(live) if tenant_allows(tenant, Some(&live.meta.tenant)) => {
                Ok(Some(Arc::clone(live)))
            }
            Some(_) => Err(not_found(id)),
            None => Ok(None),
        }
    }

    /// The live operation `id`; Conflict when it exists but has ended (or runs elsewhere).
    async fn live_op(&self, tenant: Option<&TenantId>, id: &str) -> Result<Arc<Live>, MassError> {
        if let Some(live) = self.find_live(tenant, id)? {
            return Ok(live);
        }
        let row = self.row(tenant, id).await?;
        Err(MassError::Conflict(format!(
            "mass action {id} is {}: it is not running here",
            row.status
        )))
    }

    /// The stored operation `id`, if `tenant` may see it.
    async fn row(&self, tenant: Option<&TenantId>, id: &str) -> Result<OpRow, MassError> {
        match self.inner.store.get_op(id).await.map_err(store_error)? {
            Some(row) if row.kind == KIND && tenant_allows(tenant, row.tenant.as_ref()) => Ok(row),
            _ => Err(not_found(id)),
        }
    }
}

fn not_found(id: &str) -> MassError {
    MassError::NotFound(format!("mass action {id}"))
}
