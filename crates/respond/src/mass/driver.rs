//! The task that drives one [`MassRun`] against the devices: poll, dispatch with bounded
//! concurrency, record, sleep, persist.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rampart_core::DeviceId;
use rampart_playbook::ActionSpec;
use rampart_playbook::mass::{MassProgress, MassRun, MassStep};
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::Inner;
use super::record::{self, Failures, OpMeta, status};
use crate::actions::{ActionTarget, DeviceActions};

/// The most devices acted on at once, whatever the configuration says.
const MAX_CONCURRENCY: usize = 65_536;
/// Attempts at the final writes of an operation.
const FINAL_ATTEMPTS: u32 = 5;

/// A run in progress, shared by its driver task, its device tasks and the service.
pub(super) struct Live {
    pub(super) meta: OpMeta,
    pub(super) actions: Arc<[ActionSpec]>,
    state: Mutex<LiveState>,
    /// Wakes the driver: a result came in, or an operator approved or aborted.
    pub(super) wake: Notify,
    /// Becomes true once the final state is persisted and the run has left the live set.
    pub(super) ended: watch::Sender<bool>,
}

pub(super) struct LiveState {
    pub(super) run: MassRun,
    pub(super) failures: Failures,
    /// Targets the run handed out but that were never started because it stopped first.
    pub(super) skipped: u64,
    /// Set when an operator aborted (the abort is audited then, not when the run ends).
    pub(super) aborted_by_operator: bool,
}

impl Live {
    pub(super) fn new(meta: OpMeta, run: MassRun) -> Self {
        Self {
            actions: run.actions().to_vec().into(),
            meta,
            state: Mutex::new(LiveState {
                run,
                failures: Failures::default(),
                skipped: 0,
                aborted_by_operator: false,
            }),
            wake: Notify::new(),
            ended: watch::Sender::new(false),
        }
    }

    /// The state; a panic elsewhere while holding it leaves counts that are still usable.
    pub(super) fn lock(&self) -> MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The operation body as of now, and its status.
    pub(super) fn body(&self) -> (Value, &'static str) {
        let st = self.lock();
        let status = record::run_status(&st.run);
        (
            record::body(&self.meta, &st.run, &st.failures, st.skipped, status),
            status,
        )
    }

    fn undo(&self) -> bool {
        self.meta.undo_of.is_some()
    }
}

/// What was last persisted, to skip writes that would change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    events: usize,
    progress: MassProgress,
    skipped: u64,
}

impl Mark {
    fn of(st: &LiveState) -> Self {
        Self {
            events: st.run.events().len(),
            progress: st.run.progress(),
            skipped: st.skipped,
        }
    }
}

struct Saver {
    saved: Option<Mark>,
    at: Instant,
    every: Duration,
}

impl Saver {
    /// Persists at every state change (a new event), and otherwise at most every `every`
    /// when the counts moved. Returns whether something is left unsaved.
    async fn maybe(&mut self, inner: &Inner, live: &Live) -> bool {
        let mark = Mark::of(&live.lock());
        let Some(saved) = self.saved else {
            self.save(inner, live, mark).await;
            return false;
        };
        if mark == saved {
            return false;
        }
        if mark.events != saved.events || self.at.elapsed() >= self.every {
            self.save(inner, live, mark).await;
            return false;
        }
        true
    }

    async fn save(&mut self, inner: &Inner, live: &Live, mark: Mark) {
        let (body, status) = live.body();
        if inner.put(&record::op_row(&live.meta, status, body)).await {
            self.saved = Some(mark);
        }
        self.at = Instant::now();
    }
}

/// Runs `live` to its end, then writes its final state and leaves the live set.
pub(super) async fn drive(inner: Arc<Inner>, live: Arc<Live>) {
    let concurrency = inner.config.concurrency.clamp(1, MAX_CONCURRENCY);
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut saver = Saver {
        saved: None,
        at: Instant::now(),
        every: inner.config.persist_every,
    };
    loop {
        let step = live.lock().run.poll(record::now_ms());
        let dirty = saver.maybe(&inner, &live).await;
        let cap = dirty.then_some(saver.every);
        match step {
            MassStep::Dispatch(batch) => {
                dispatch(&inner, &live, &slots, batch, &mut saver).await;
            }
            MassStep::Throttled { until } | MassStep::PauseUntil(until) => {
                let left = Duration::from_millis(until.saturating_sub(record::now_ms()));
                wait(&live, Some(cap.map_or(left, |c| c.min(left)))).await;
            }
            MassStep::AwaitResults { .. } | MassStep::AwaitApproval => wait(&live, cap).await,
            MassStep::Aborted { .. } | MassStep::Completed => break,
        }
    }
    // In-flight targets finish and are recorded: each holds a slot until it has reported.
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _drained = slots.acquire_many(all).await;
    finish(&inner, &live).await;
}

/// Sleeps until woken, or for `limit` at most.
async fn wait(live: &Live, limit: Option<Duration>) {
    match limit {
        Some(d) => {
            // Timing out is the other way to wake up.
            if tokio::time::timeout(d, live.wake.notified()).await.is_err() {}
        }
        None => live.wake.notified().await,
    }
}

async fn dispatch(
    inner: &Arc<Inner>,
    live: &Arc<Live>,
    slots: &Arc<Semaphore>,
    batch: Vec<usize>,
    saver: &mut Saver,
) {
    let total = batch.len();
    for (n, index) in batch.into_iter().enumerate() {
        let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
            return;
        };
        let device = {
            let mut st = live.lock();
            if st.run.is_finished() {
                // Aborted meanwhile (by an operator or the abort rule): start nothing more.
                st.skipped += (total - n) as u64;
                return;
            }
            st.run.target(index).cloned()
        };
        let Some(device) = device else {
            continue;
        };
        tokio::spawn(device_task(
            Arc::clone(inner),
            Arc::clone(live),
            index,
            device,
            slot,
        ));
        if n % 256 == 255 {
            saver.maybe(inner, live).await;
        }
    }
}

/// Applies (or undoes) every action on one device, in order, and records the result.
async fn device_task(
    inner: Arc<Inner>,
    live: Arc<Live>,
    index: usize,
    device: DeviceId,
    slot: OwnedSemaphorePermit,
) {
    let target = ActionTarget {
        tenant: live.meta.tenant.clone(),
        device,
    };
    let work = apply_all(
        inner.actions.as_ref(),
        &target,
        &live.actions,
        live.undo(),
        &live.meta.actor,
    );
    let errors = AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| vec![json!({ "error": "the action implementation panicked" })]);
    {
        let mut st = live.lock();
        if let Err(e) = st.run.record(index, errors.is_empty()) {
            tracing::warn!(op = %live.meta.id, index, error = %e, "mass action result not recorded");
        }
        if !errors.is_empty() {
            st.failures.push(&target.device, errors);
        }
    }
    drop(slot);
    live.wake.notify_one();
}

/// The errors of a device's actions; empty when all succeeded. Applying stops at the first
/// failure (later actions assume the earlier ones held); undoing tries every action, to get
/// back as far as possible.
async fn apply_all(
    actions: &dyn DeviceActions,
    target: &ActionTarget,
    specs: &[ActionSpec],
    undo: bool,
    actor: &str,
) -> Vec<Value> {
    let mut errors = Vec::new();
    for spec in specs {
        let r = actions.apply(target, spec, undo, actor).await;
        if !r.succeeded {
            errors.push(json!({
                "action": r.action,
                "status": r.status,
                "target": r.target,
                "detail": r.detail,
            }));
            if !undo {
                break;
            }
        }
    }
    errors
}

/// Writes the final state (run record first: an operation row that says it ended implies
/// the outcome is stored), leaves the live set, and audits how it ended.
async fn finish(inner: &Inner, live: &Live) {
    let (body, status, reason, operator, progress, run_row) = {
        let st = live.lock();
        let status = record::run_status(&st.run);
        (
            record::body(&live.meta, &st.run, &st.failures, st.skipped, status),
            status,
            record::abort_reason(&st.run),
            st.aborted_by_operator,
            st.run.progress(),
            record::run_row(&live.meta, &st.run, true),
        )
    };
    inner.put_retrying(&run_row).await;
    inner
        .put_retrying(&record::op_row(&live.meta, status, body))
        .await;
    inner.remove_live(&live.meta.id);
    live.ended.send_replace(true);
    metrics::counter!("rampart_mass_actions_finished_total", "status" => status).increment(1);
    let common = json!({
        "id": live.meta.id,
        "tenant": live.meta.tenant.as_str(),
        "undo_of": live.meta.undo_of,
        "targets": progress.total,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
    });
    match status {
        status::COMPLETED => inner.audit("mass_action.completed", "system", common),
        status::ABORTED if !operator => inner.audit(
            "mass_action.abort_condition",
            "system",
            with(common, "reason", json!(reason)),
        ),
        _ => {}
    }
}

/// Marks an operation whose driver died `failed`, keeping what it had recorded.
pub(super) async fn fail(inner: &Inner, live: &Live, why: &str) {
    let (mut body, previous) = live.body();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("status".into(), json!(status::FAILED));
        obj.insert("previous_status".into(), json!(previous));
        obj.insert("reason".into(), json!(why));
    }
    inner
        .put_retrying(&record::op_row(&live.meta, status::FAILED, body))
        .await;
    inner.remove_live(&live.meta.id);
    live.ended.send_replace(true);
    inner.audit(
        "mass_action.failed",
        "system",
        json!({ "id": live.meta.id, "tenant": live.meta.tenant.as_str(), "reason": why }),
    );
}

/// `value` with one more field.
pub(super) fn with(mut value: Value, key: &str, field: Value) -> Value {
    if let Some(obj) = value.as_object_mut() {
        obj.insert(key.to_owned(), field);
    }
    value
}

impl Inner {
    /// Writes a row; a failure is logged and counted, and the next write catches up.
    pub(super) async fn put(&self, row: &rampart_store::OpRow) -> bool {
        match self.store.put_op(row).await {
            Ok(()) => true,
            Err(e) => {
                metrics::counter!("rampart_mass_action_persist_failures_total").increment(1);
                tracing::warn!(op = %row.id, error = %e, "mass action not persisted");
                false
            }
        }
    }

    async fn put_retrying(&self, row: &rampart_store::OpRow) {
        for attempt in 1..=FINAL_ATTEMPTS {
            if self.put(row).await {
                return;
            }
            if attempt < FINAL_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        tracing::error!(op = %row.id, "mass action final state not persisted");
    }
}
