//! Playbook runs: each step executed in order, recorded on the incident's timeline and in the
//! audit log, and checkpointed in the store (a `playbook_run` operation) so that a run waiting
//! for an approval or a wait step — or cut off mid-way by a crash — carries on after a restart.
//!
//! Checkpoints go through the ordered writer, off the path to the first action. An action
//! that was in flight when the process stopped is applied again on resume: actions are
//! idempotent (a second Disconnect of a gone session is a NAK the executor counts as done, a
//! disabled client stays disabled). A pending approval keeps its id across the restart.

use std::str::FromStr;
use std::sync::{Arc, PoisonError};

use rampart_core::{DeviceId, DeviceState, TenantId, Timestamp};
use rampart_incidents::{Status, TimelineEvent};
use rampart_playbook::{ActionSpec, Playbook, Run, RunInputs, RunStep, Step, Target};
use rampart_store::OpRow;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::{PendingApproval, Responder, Write};
use crate::actions::ActionTarget;

/// Operation kind of a persisted run.
pub(crate) const RUN_OP: &str = "playbook_run";
/// Unfinished runs resumed per status at start (newest first).
const RESUME_LIMIT: u32 = 1000;
/// Metric: runs resumed after a restart.
const RESUMED: &str = "rampart_respond_runs_resumed_total";

/// A run as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) id: String,
    pub(crate) tenant: TenantId,
    pub(crate) device: DeviceId,
    pub(crate) incident: String,
    pub(crate) finding: String,
    pub(crate) severity: rampart_incidents::Severity,
    /// A containment action succeeded (the incident becomes `contained` at a successful end).
    pub(crate) contained: bool,
    /// The pending approval's id while the run waits for one.
    #[serde(default)]
    pub(crate) approval: Option<String>,
    pub(crate) run: Run,
}

impl RunRecord {
    fn status(&self) -> &'static str {
        if self.run.is_finished() {
            return "finished";
        }
        if self.approval.is_some() {
            "awaiting_approval"
        } else {
            "running"
        }
    }

    fn target(&self) -> ActionTarget {
        ActionTarget {
            tenant: self.tenant.clone(),
            device: self.device.clone(),
        }
    }

    fn actor(&self) -> String {
        format!("playbook:{}", self.run.playbook().name)
    }
}

pub(crate) fn is_containment(a: &ActionSpec) -> bool {
    !matches!(a, ActionSpec::Webhook { .. } | ActionSpec::Siem)
}

impl Responder {
    /// Queues a checkpoint of `rec` for the store.
    fn checkpoint(&self, rec: &RunRecord) {
        let body = match serde_json::to_value(rec) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, run = %rec.id, "run not serialisable");
                return;
            }
        };
        let op = OpRow {
            id: rec.id.clone(),
            kind: RUN_OP.into(),
            tenant: Some(rec.tenant.clone()),
            status: rec.status().into(),
            updated_at: Timestamp::now(),
            body,
        };
        if self.writes.send(Write::Op(Box::new(op))).is_err() {
            metrics::counter!(super::WRITE_ERRORS).increment(1);
            tracing::error!(run = %rec.id, "writer stopped; run checkpoint not stored");
        }
    }

    /// Starts `pb` on the device for the finding, as a task.
    pub(super) async fn run(
        self: Arc<Self>,
        pb: Playbook,
        target: ActionTarget,
        incident: String,
        finding: String,
        severity: rampart_incidents::Severity,
        state: Option<DeviceState>,
    ) {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rec = RunRecord {
            id: format!("run-{}-{n}", Timestamp::now().0),
            tenant: target.tenant.clone(),
            device: target.device.clone(),
            incident,
            finding,
            severity,
            contained: false,
            approval: None,
            run: Run::start(
                &pb,
                Target::Device(target.device.clone()),
                OffsetDateTime::now_utc(),
            ),
        };
        let actor = rec.actor();
        self.audit
            .record_async(&json!({
                "event": "playbook.run_started", "actor": actor, "playbook": pb.name,
                "incident": rec.incident, "tenant": target.tenant.as_str(),
                "device": target.device.as_str(), "run": rec.id,
            }))
            .await;
        self.checkpoint(&rec);
        self.note_run(&rec.incident, &pb.name, "started", &actor)
            .await;
        self.drive(&mut rec, Some(state)).await;
    }

    /// Resumes the runs the last process left unfinished; returns how many.
    pub async fn resume_runs(self: &Arc<Self>) -> Result<usize, super::RespondError> {
        let mut resumed = 0;
        for status in ["running", "awaiting_approval"] {
            let rows = self
                .store
                .list_ops(RUN_OP, None, Some(status), RESUME_LIMIT)
                .await?;
            if rows.len() == RESUME_LIMIT as usize {
                tracing::warn!(
                    status,
                    limit = RESUME_LIMIT,
                    "more unfinished playbook runs than are resumed at once; older ones stay"
                );
            }
            for row in rows {
                let mut rec: RunRecord = match serde_json::from_value(row.body) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, run = %row.id, "stored run unreadable");
                        continue;
                    }
                };
                {
                    let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
                    started.insert((rec.incident.clone(), rec.run.playbook().name.clone()));
                }
                let actor = rec.actor();
                self.audit
                    .record_async(&json!({
                        "event": "playbook.run_resumed", "actor": actor,
                        "playbook": rec.run.playbook().name, "incident": rec.incident,
                        "run": rec.id,
                    }))
                    .await;
                metrics::counter!(RESUMED).increment(1);
                resumed += 1;
                let me = self.clone();
                tokio::spawn(async move {
                    let name = rec.run.playbook().name.clone();
                    me.note_run(&rec.incident, &name, "resumed", &actor).await;
                    me.drive(&mut rec, None).await;
                });
            }
        }
        Ok(resumed)
    }

    /// Polls the run to its end, executing what it hands out. `known` is the device's state
    /// as just read by the caller, used for the first poll (one registry read less on the way
    /// to the first action); later polls read it again, since actions change it.
    async fn drive(&self, rec: &mut RunRecord, mut known: Option<Option<DeviceState>>) {
        let actor = rec.actor();
        let target = rec.target();
        loop {
            let device_state = match known.take() {
                Some(state) => state,
                None => self
                    .store
                    .get_device(&target.tenant, &target.device)
                    .await
                    .ok()
                    .flatten()
                    .map(|d| d.state),
            };
            let finding_active = self
                .active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(&rec.finding);
            let inputs = RunInputs {
                finding_active,
                device_state,
                severity: rampart_playbook::Severity::from_str(rec.severity.as_str())
                    .unwrap_or(rampart_playbook::Severity::Info),
            };
            let step = rec.run.poll(OffsetDateTime::now_utc(), &inputs);
            let (step_index, action) = match step {
                RunStep::Execute { step_index, action } => (step_index, action),
                // Only a resumed run can be here: its action was in flight at the stop.
                RunStep::InFlight { step_index } => {
                    match rec.run.playbook().steps.get(step_index) {
                        Some(Step::Action { action, .. }) => (step_index, action.clone()),
                        _ => {
                            tracing::error!(run = %rec.id, step_index, "in-flight step is no action");
                            break;
                        }
                    }
                }
                RunStep::Sleep { until } => {
                    self.checkpoint(rec);
                    let d = until - OffsetDateTime::now_utc();
                    if d.is_positive() {
                        tokio::time::sleep(d.unsigned_abs()).await;
                    }
                    continue;
                }
                RunStep::AwaitApproval {
                    step_index,
                    deadline,
                } => {
                    self.await_approval(rec, step_index, deadline).await;
                    continue;
                }
                RunStep::Finished(status) => {
                    self.finish_run(rec, &status, &actor).await;
                    break;
                }
            };
            let result = self.actions.apply(&target, &action, false, &actor).await;
            if result.succeeded && result.status == "applied" && is_containment(&action) {
                rec.contained = true;
            }
            if let Err(e) =
                rec.run
                    .action_done(step_index, result.succeeded, OffsetDateTime::now_utc())
            {
                tracing::error!(error = %e, "playbook run out of step");
                break;
            }
            self.checkpoint(rec);
            let event = TimelineEvent::Action {
                name: result.action.clone(),
                status: result.status.clone(),
                target: result.target.clone(),
                detail: json!({
                    "spec": action, "tenant": target.tenant.as_str(),
                    "device": target.device.as_str(), "playbook": rec.run.playbook().name,
                    "succeeded": result.succeeded, "result": result.detail,
                }),
            };
            if let Err(e) = self
                .record(&rec.incident, vec![event], Some(&actor), None)
                .await
            {
                tracing::error!(error = %e, "action not recorded on the incident");
            }
        }
    }

    async fn finish_run(
        &self,
        rec: &mut RunRecord,
        status: &rampart_playbook::RunStatus,
        actor: &str,
    ) {
        let state = serde_json::to_value(status)
            .ok()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .unwrap_or_default();
        let playbook = rec.run.playbook().name.clone();
        self.audit
            .record_async(&json!({
                "event": "playbook.run_finished", "actor": actor, "playbook": playbook,
                "incident": rec.incident, "status": status, "run": rec.id,
            }))
            .await;
        rec.approval = None;
        self.checkpoint(rec);
        let to = (rec.contained && status.is_success()).then_some(Status::Contained);
        let ev = TimelineEvent::PlaybookRun { playbook, state };
        if let Err(e) = self.record(&rec.incident, vec![ev], Some(actor), to).await {
            tracing::warn!(error = %e, "run end not recorded on the incident");
        }
    }

    pub(super) async fn note_run(&self, incident: &str, playbook: &str, state: &str, actor: &str) {
        let ev = TimelineEvent::PlaybookRun {
            playbook: playbook.into(),
            state: state.into(),
        };
        if let Err(e) = self.record(incident, vec![ev], Some(actor), None).await {
            tracing::warn!(error = %e, "run not recorded on the incident");
        }
    }

    async fn await_approval(&self, rec: &mut RunRecord, step: usize, deadline: OffsetDateTime) {
        let pb = rec.run.playbook().name.clone();
        // A resumed run keeps the id operators may already have been given.
        let (id, new) = match &rec.approval {
            Some(id) => (id.clone(), false),
            None => {
                let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (format!("apr-{}-{n}", Timestamp::now().0), true)
            }
        };
        rec.approval = Some(id.clone());
        let notify = Arc::new(Notify::new());
        self.approvals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id.clone(),
                PendingApproval {
                    tenant: rec.tenant.clone(),
                    incident: rec.incident.clone(),
                    playbook: pb.clone(),
                    device: rec.device.clone(),
                    step,
                    deadline,
                    decision: None,
                    notify: notify.clone(),
                },
            );
        self.checkpoint(rec);
        if new {
            let ev = TimelineEvent::Approval {
                id: id.clone(),
                decision: "requested".into(),
                by: format!("playbook:{pb}"),
            };
            if let Err(e) = self.record(&rec.incident, vec![ev], None, None).await {
                tracing::warn!(error = %e, "approval request not recorded");
            }
        }
        let wait = deadline - OffsetDateTime::now_utc();
        if wait.is_positive() {
            // Woken by a decision, or the deadline passed: the outcome is read below.
            let _decided = tokio::time::timeout(wait.unsigned_abs(), notify.notified())
                .await
                .is_ok();
        }
        let decided = self
            .approvals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
            .and_then(|p| p.decision);
        rec.approval = None;
        let now = OffsetDateTime::now_utc();
        let (decision, by) = match decided {
            Some((true, by)) => (rec.run.approve(&by, now).map(|()| "approved"), by),
            Some((false, by)) => (rec.run.deny(&by, now).map(|()| "denied"), by),
            // The run applies the step's on_timeout at its next poll.
            None => (Ok("timed_out"), "deadline".to_owned()),
        };
        let decision = decision.unwrap_or("expired");
        self.checkpoint(rec);
        self.audit
            .record_async(&json!({
                "event": "approval.decided", "id": id, "decision": decision, "actor": by,
                "incident": rec.incident, "playbook": pb, "run": rec.id,
            }))
            .await;
        let ev = TimelineEvent::Approval {
            id,
            decision: decision.into(),
            by: by.clone(),
        };
        if let Err(e) = self.record(&rec.incident, vec![ev], Some(&by), None).await {
            tracing::warn!(error = %e, "approval decision not recorded");
        }
    }
}
