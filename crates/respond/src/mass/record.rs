//! What a mass action persists, and in which shape.
//!
//! Each operation is two rows: the operation itself (kind `mass_action`: status, progress,
//! events, bounded failures), rewritten as the run advances, and its run record (kind
//! `mass_action_run`: the full plan, the sorted targets and, once the run has ended, each
//! target's outcome), written only when the run starts and when it ends, because it grows with
//! the number of targets. Undo reads the run record.

use std::sync::atomic::{AtomicU64, Ordering};

use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_playbook::mass::{MassEventKind, MassPlan, MassProgress, MassRun};
use rampart_store::OpRow;
use serde_json::{Value, json};

use super::MassError;

/// The operation rows' kind.
pub(super) const KIND: &str = "mass_action";
/// The run records' kind.
pub(super) const RUN_KIND: &str = "mass_action_run";
/// The most failed devices an operation keeps (with their errors); the rest are counted.
pub(super) const MAX_FAILURES: usize = 1_000;
/// The most selector device ids shown in an operation row (the run record has them all).
const PLAN_IDS_SHOWN: usize = 100;

/// Operation statuses.
pub(super) mod status {
    pub(crate) const RUNNING: &str = "running";
    pub(crate) const AWAITING_APPROVAL: &str = "awaiting_approval";
    pub(crate) const COMPLETED: &str = "completed";
    pub(crate) const ABORTED: &str = "aborted";
    pub(crate) const FAILED: &str = "failed";
    pub(crate) const INTERRUPTED: &str = "interrupted";

    /// Statuses of operations that no longer dispatch anything.
    pub(crate) fn is_terminal(s: &str) -> bool {
        matches!(s, COMPLETED | ABORTED | FAILED | INTERRUPTED)
    }
}

/// Milliseconds since the Unix epoch, as the run state machine counts time.
pub(super) fn now_ms() -> u64 {
    u64::try_from(Timestamp::now().0).unwrap_or(0)
}

/// `mass-` + 16 hex digits that grow with time (and within a millisecond, per process) + 8
/// random hex digits, so ids sort by creation and stay unique across machines.
pub(super) fn new_id() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let candidate = now_ms().saturating_mul(4_096);
    let mut previous = LAST.load(Ordering::Relaxed);
    let value = loop {
        let next = candidate.max(previous.saturating_add(1));
        match LAST.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(current) => previous = current,
        }
    };
    let mut random = [0u8; 4];
    if getrandom::fill(&mut random).is_err() {
        // The time part is unique per process already; randomness only separates machines.
        random = [0; 4];
    }
    let random = u32::from_be_bytes(random);
    format!("mass-{value:016x}{random:08x}")
}

/// The run record's id for an operation.
pub(super) fn run_id(op: &str) -> String {
    format!("{op}.run")
}

/// Who started an operation, when, and what it does: what never changes.
#[derive(Debug, Clone)]
pub(super) struct OpMeta {
    pub(super) id: String,
    pub(super) tenant: TenantId,
    pub(super) actor: String,
    pub(super) created_at: Timestamp,
    /// The operation this one undoes.
    pub(super) undo_of: Option<String>,
    /// The plan as shown in the operation row (long device id lists shortened).
    pub(super) plan: Value,
}

impl OpMeta {
    pub(super) fn new(
        id: String,
        tenant: TenantId,
        actor: &str,
        undo_of: Option<String>,
        plan: &MassPlan,
    ) -> Self {
        Self {
            id,
            tenant,
            actor: actor.to_owned(),
            created_at: Timestamp::now(),
            undo_of,
            plan: shown_plan(plan),
        }
    }
}

fn shown_plan(plan: &MassPlan) -> Value {
    let mut value = serde_json::to_value(plan).unwrap_or(Value::Null);
    let ids = plan.selector.device_ids.len();
    if ids > PLAN_IDS_SHOWN
        && let Some(list) = value
            .pointer_mut("/selector/device_ids")
            .and_then(Value::as_array_mut)
    {
        list.truncate(PLAN_IDS_SHOWN);
        if let Some(obj) = value.as_object_mut() {
            obj.insert("device_ids_not_shown".into(), json!(ids - PLAN_IDS_SHOWN));
        }
    }
    value
}

/// Failed devices with their errors, at most [`MAX_FAILURES`].
#[derive(Debug, Default)]
pub(super) struct Failures {
    pub(super) list: Vec<Value>,
    pub(super) not_kept: u64,
}

impl Failures {
    pub(super) fn push(&mut self, device: &DeviceId, errors: Vec<Value>) {
        if self.list.len() < MAX_FAILURES {
            self.list
                .push(json!({ "device": device.as_str(), "errors": errors }));
        } else {
            self.not_kept += 1;
        }
    }
}

/// The status a run is in, by its own account.
pub(super) fn run_status(run: &MassRun) -> &'static str {
    let events = run.events();
    if run.is_finished() {
        if events
            .iter()
            .any(|e| matches!(e.kind, MassEventKind::Completed))
        {
            status::COMPLETED
        } else {
            status::ABORTED
        }
    } else if events.iter().any(|e| {
        matches!(
            e.kind,
            MassEventKind::Created {
                needs_approval: true,
                ..
            }
        )
    }) && !events
        .iter()
        .any(|e| matches!(e.kind, MassEventKind::Approved { .. }))
    {
        status::AWAITING_APPROVAL
    } else {
        status::RUNNING
    }
}

/// Why the run stopped, when it aborted.
pub(super) fn abort_reason(run: &MassRun) -> Option<String> {
    run.events().iter().rev().find_map(|e| match &e.kind {
        MassEventKind::Aborted { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn wave_sizes(ends: &[usize]) -> Vec<u64> {
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let size = end.saturating_sub(start) as u64;
            start = end;
            size
        })
        .collect()
}

fn progress_json(p: &MassProgress, skipped: u64) -> Value {
    json!({
        "total": p.total,
        "dispatched": p.dispatched,
        "succeeded": p.succeeded,
        "failed": p.failed,
        "skipped": skipped,
        "wave": p.wave,
        "waves": p.waves,
    })
}

/// The operation row's body: everything `get` shows.
pub(super) fn body(
    meta: &OpMeta,
    run: &MassRun,
    failures: &Failures,
    skipped: u64,
    status: &str,
) -> Value {
    let progress = run.progress();
    json!({
        "id": meta.id,
        "kind": KIND,
        "tenant": meta.tenant.as_str(),
        "status": status,
        "mode": if meta.undo_of.is_some() { "undo" } else { "apply" },
        "actor": meta.actor,
        "created_at": meta.created_at,
        "updated_at": Timestamp::now(),
        "undo_of": meta.undo_of,
        "undone_by": Value::Null,
        "reason": abort_reason(run),
        "targets": progress.total,
        "wave_sizes": wave_sizes(run.wave_ends()),
        "progress": progress_json(&progress, skipped),
        "plan": meta.plan,
        "events": run.events(),
        "failures": failures.list,
        "failures_not_kept": failures.not_kept,
    })
}

/// A body without its long parts (plan, events, failures): what lists show.
pub(super) fn summary(body: &Value) -> Value {
    let mut s = body.clone();
    if let Some(obj) = s.as_object_mut() {
        for key in ["plan", "events", "failures"] {
            obj.remove(key);
        }
    }
    s
}

/// The operation row for a body.
pub(super) fn op_row(meta: &OpMeta, status: &str, body: Value) -> OpRow {
    OpRow {
        id: meta.id.clone(),
        kind: KIND.to_owned(),
        tenant: Some(meta.tenant.clone()),
        status: status.to_owned(),
        updated_at: Timestamp::now(),
        body,
    }
}

/// Per-target outcome letters in a final run record.
const PENDING: u8 = b'p';
const DISPATCHED: u8 = b'd';
const SUCCEEDED: u8 = b's';
const FAILED: u8 = b'f';

/// The run record: the whole plan and the sorted targets, one per line (device ids contain
/// no whitespace); with `final_outcome`, each target's outcome as one letter (`p`ending,
/// `d`ispatched without a result, `s`ucceeded, `f`ailed).
pub(super) fn run_row(meta: &OpMeta, run: &MassRun, final_outcome: bool) -> OpRow {
    let targets = run.targets();
    let mut joined = String::with_capacity(targets.iter().map(|t| t.as_str().len() + 1).sum());
    for t in targets {
        joined.push_str(t.as_str());
        joined.push('\n');
    }
    let outcome = final_outcome.then(|| {
        let mut letters = vec![PENDING; targets.len()];
        let dispatched = usize::try_from(run.progress().dispatched).unwrap_or(usize::MAX);
        for l in letters.iter_mut().take(dispatched) {
            *l = DISPATCHED;
        }
        for i in run.failed_targets() {
            if let Some(l) = letters.get_mut(i) {
                *l = FAILED;
            }
        }
        for i in run.undo_targets() {
            if let Some(l) = letters.get_mut(i) {
                *l = SUCCEEDED;
            }
        }
        String::from_utf8(letters).unwrap_or_default()
    });
    OpRow {
        id: run_id(&meta.id),
        kind: RUN_KIND.to_owned(),
        tenant: Some(meta.tenant.clone()),
        status: if final_outcome { "final" } else { "started" }.to_owned(),
        updated_at: Timestamp::now(),
        body: json!({
            "plan": run.plan(),
            "targets": joined,
            "outcome": outcome,
        }),
    }
}

/// A run record read back.
pub(super) struct RunRecord {
    pub(super) plan: MassPlan,
    pub(super) targets: Vec<DeviceId>,
    pub(super) outcome: Option<Vec<u8>>,
}

impl RunRecord {
    pub(super) fn parse(body: &Value) -> Result<Self, MassError> {
        let corrupt = |what: &str| MassError::Internal(format!("stored run record: {what}"));
        let plan: MassPlan = body
            .get("plan")
            .cloned()
            .ok_or_else(|| corrupt("no plan"))
            .and_then(|p| serde_json::from_value(p).map_err(|e| corrupt(&e.to_string())))?;
        let targets = body
            .get("targets")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("no targets"))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| DeviceId::parse(l).map_err(|e| corrupt(&e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = body
            .get("outcome")
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec());
        if outcome.as_ref().is_some_and(|o| o.len() != targets.len()) {
            return Err(corrupt("outcome and targets differ in length"));
        }
        Ok(Self {
            plan,
            targets,
            outcome,
        })
    }

    /// The targets an undo covers. With a final outcome: exactly those that succeeded.
    /// Without (the run was interrupted): every target its last persisted wave could have
    /// reached, except the failures the operation row kept; undoing an action that was never
    /// applied finds the device already as wanted.
    pub(super) fn undo_targets(&self, op_body: &Value) -> Vec<DeviceId> {
        if let Some(outcome) = &self.outcome {
            return self
                .targets
                .iter()
                .zip(outcome)
                .filter(|(_, o)| **o == SUCCEEDED)
                .map(|(t, _)| t.clone())
                .collect();
        }
        let before = op_body
            .get("previous_status")
            .and_then(Value::as_str)
            .unwrap_or(status::RUNNING);
        let bound = if before == status::AWAITING_APPROVAL {
            0
        } else {
            let wave = op_body
                .pointer("/progress/wave")
                .and_then(Value::as_u64)
                .and_then(|w| usize::try_from(w).ok())
                .unwrap_or(usize::MAX);
            let ends = self.plan.wave_ends(self.targets.len());
            ends.get(wave)
                .copied()
                .unwrap_or(self.targets.len())
                .min(self.targets.len())
        };
        let failed: std::collections::HashSet<&str> = op_body
            .get("failures")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|f| f.get("device").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        self.targets
            .iter()
            .take(bound)
            .filter(|t| !failed.contains(t.as_str()))
            .cloned()
            .collect()
    }
}
