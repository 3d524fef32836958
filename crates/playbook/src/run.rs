//! One playbook on one target, as a serialisable state machine that never performs I/O or
//! reads a clock: the caller polls it with the time and the facts conditions need, executes
//! the actions it asks for, and reports back.

use rampart_core::DeviceState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::action::ActionSpec;
use crate::clock::{add, rfc3339};
use crate::model::{ConditionSpec, OnTimeout, Playbook, Step};
use crate::plan::{Target, applicability};
use crate::severity::Severity;

/// What conditions look at, supplied by the caller on each poll.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunInputs {
    /// Whether the finding that started the run is still active.
    pub finding_active: bool,
    /// The device's current registry state (`None` for a host target).
    pub device_state: Option<DeviceState>,
    /// The finding's current severity.
    pub severity: Severity,
}

impl ConditionSpec {
    /// Whether every criterion given holds for `inputs`.
    pub fn holds(&self, inputs: &RunInputs) -> bool {
        self.finding_active
            .is_none_or(|want| want == inputs.finding_active)
            && self
                .device_state
                .is_none_or(|want| inputs.device_state == Some(want))
            && self.min_severity.is_none_or(|min| inputs.severity >= min)
    }
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunStep {
    /// Execute this action on the run's target, then report with [`Run::action_done`].
    /// Returned once per step; later polls say [`RunStep::InFlight`] until the report.
    Execute {
        /// The step, to quote in the report.
        step_index: usize,
        /// What to do.
        action: ActionSpec,
    },
    /// An action was handed out and its outcome is not reported yet.
    InFlight {
        /// The step.
        step_index: usize,
    },
    /// Nothing to do before `until`; poll again then.
    Sleep {
        /// When the wait ends.
        #[serde(with = "rfc3339")]
        until: OffsetDateTime,
    },
    /// Waiting for [`Run::approve`] or [`Run::deny`]; poll again at `deadline` at the latest.
    AwaitApproval {
        /// The approval step.
        step_index: usize,
        /// When the timeout rule applies.
        #[serde(with = "rfc3339")]
        deadline: OffsetDateTime,
    },
    /// The run is over.
    Finished(RunStatus),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step ran (failed actions marked `continue_on_failure` included).
    Completed,
    /// An action failed and the step did not allow carrying on.
    Failed {
        /// The failed step.
        step_index: usize,
    },
    /// Someone denied an approval.
    Denied {
        /// The approval step.
        step_index: usize,
        /// Who.
        by: String,
    },
    /// An approval timed out with `on_timeout = "abort"`.
    TimedOut {
        /// The approval step.
        step_index: usize,
    },
    /// A condition did not hold; the rest was not needed (or no longer wanted).
    ConditionNotMet {
        /// The condition step.
        step_index: usize,
    },
    /// Someone stopped the run.
    Cancelled {
        /// Who.
        by: String,
    },
}

impl RunStatus {
    /// Whether the run ended without a failure, denial or timeout (a condition that stopped
    /// it counts as success: the run did what was asked).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Completed | Self::ConditionNotMet { .. })
    }
}

/// One line of a run's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (the `now` the caller passed).
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
    /// The step concerned, if any.
    pub step_index: Option<usize>,
    /// What happened (its fields sit beside `at` and `step_index` when serialised).
    #[serde(flatten)]
    pub event: RunEvent,
}

/// A transition of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run was created.
    Started {
        /// The playbook's name.
        playbook: String,
        /// The target.
        target: Target,
    },
    /// An action was handed to the caller.
    ActionRequested {
        /// The action.
        action: ActionSpec,
    },
    /// The caller reported success.
    ActionSucceeded {
        /// The action.
        action: ActionSpec,
    },
    /// The caller reported failure.
    ActionFailed {
        /// The action.
        action: ActionSpec,
        /// Whether the run carried on (`continue_on_failure`).
        continued: bool,
    },
    /// The action does not apply to this target and was skipped.
    ActionSkipped {
        /// The action.
        action: ActionSpec,
        /// Why.
        reason: String,
    },
    /// A wait began.
    WaitStarted {
        /// When it ends.
        #[serde(with = "rfc3339")]
        until: OffsetDateTime,
    },
    /// A wait ended.
    WaitEnded,
    /// An approval was requested.
    ApprovalRequested {
        /// When it times out.
        #[serde(with = "rfc3339")]
        deadline: OffsetDateTime,
    },
    /// Approved.
    Approved {
        /// By whom.
        by: String,
    },
    /// Denied.
    Denied {
        /// By whom.
        by: String,
    },
    /// Nobody decided in time.
    ApprovalTimedOut {
        /// Whether the run carried on (`on_timeout = "proceed"`).
        proceeded: bool,
    },
    /// A condition held.
    ConditionHeld,
    /// A condition did not hold.
    ConditionNotMet,
    /// Someone stopped the run.
    Cancelled {
        /// By whom.
        by: String,
    },
    /// The run ended.
    Finished {
        /// How.
        status: RunStatus,
    },
}

/// An action the caller reported as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedAction {
    /// Its step.
    pub step_index: usize,
    /// The action.
    pub action: ActionSpec,
    /// When it was reported.
    #[serde(with = "rfc3339")]
    pub at: OffsetDateTime,
}

/// A report or decision that does not fit the run's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// `action_done` for a step that is not the one in flight.
    #[error("step {step_index} has no action in flight")]
    NotInFlight {
        /// The step reported.
        step_index: usize,
    },
    /// `approve`/`deny` while no approval is pending.
    #[error("no approval is pending")]
    NoApprovalPending,
    /// `approve`/`deny` at or after the deadline; the next poll applies the timeout rule.
    #[error("the approval deadline has passed")]
    ApprovalExpired,
    /// The run is over.
    #[error("the run has finished")]
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum RunState {
    Ready,
    Executing {
        step_index: usize,
    },
    Sleeping {
        step_index: usize,
        #[serde(with = "rfc3339")]
        until: OffsetDateTime,
    },
    AwaitingApproval {
        step_index: usize,
        #[serde(with = "rfc3339")]
        deadline: OffsetDateTime,
    },
    Finished {
        status: RunStatus,
    },
}

/// One playbook on one target.
///
/// The playbook is copied in at start, so editing or reloading files never changes a run in
/// progress. Serialise it to persist across restarts; an action in flight at a crash stays in
/// flight and the caller reports what it knows (failed when it cannot tell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    playbook: Playbook,
    target: Target,
    #[serde(with = "rfc3339")]
    started_at: OffsetDateTime,
    next_step: usize,
    state: RunState,
    applied: Vec<AppliedAction>,
    history: Vec<HistoryEntry>,
}

impl Run {
    /// Starts `playbook` on `target`; nothing happens until the first poll.
    pub fn start(playbook: &Playbook, target: Target, now: OffsetDateTime) -> Self {
        let mut run = Self {
            playbook: playbook.clone(),
            target: target.clone(),
            started_at: now,
            next_step: 0,
            state: RunState::Ready,
            applied: Vec::new(),
            history: Vec::new(),
        };
        run.log(
            now,
            None,
            RunEvent::Started {
                playbook: playbook.name.clone(),
                target,
            },
        );
        run
    }

    /// Advances as far as possible at `now` and says what the caller should do.
    pub fn poll(&mut self, now: OffsetDateTime, inputs: &RunInputs) -> RunStep {
        // Every iteration returns, finishes the run, or moves past a step: it terminates.
        loop {
            match self.state.clone() {
                RunState::Finished { status } => return RunStep::Finished(status),
                RunState::Executing { step_index } => return RunStep::InFlight { step_index },
                RunState::Sleeping { step_index, until } => {
                    if now < until {
                        return RunStep::Sleep { until };
                    }
                    self.log(now, Some(step_index), RunEvent::WaitEnded);
                    self.advance_past(step_index);
                }
                RunState::AwaitingApproval {
                    step_index,
                    deadline,
                } => {
                    if now < deadline {
                        return RunStep::AwaitApproval {
                            step_index,
                            deadline,
                        };
                    }
                    let proceed = matches!(
                        self.playbook.steps.get(step_index),
                        Some(Step::Approval {
                            on_timeout: OnTimeout::Proceed,
                            ..
                        })
                    );
                    self.log(
                        now,
                        Some(step_index),
                        RunEvent::ApprovalTimedOut { proceeded: proceed },
                    );
                    if proceed {
                        self.advance_past(step_index);
                    } else {
                        self.finish(now, RunStatus::TimedOut { step_index });
                    }
                }
                RunState::Ready => {
                    let index = self.next_step;
                    let Some(step) = self.playbook.steps.get(index).cloned() else {
                        self.finish(now, RunStatus::Completed);
                        continue;
                    };
                    match step {
                        Step::Action { action, .. } => {
                            if let Err(reason) = applicability(&action, &self.target) {
                                self.log(
                                    now,
                                    Some(index),
                                    RunEvent::ActionSkipped { action, reason },
                                );
                                self.advance_past(index);
                                continue;
                            }
                            self.state = RunState::Executing { step_index: index };
                            self.log(
                                now,
                                Some(index),
                                RunEvent::ActionRequested {
                                    action: action.clone(),
                                },
                            );
                            return RunStep::Execute {
                                step_index: index,
                                action,
                            };
                        }
                        Step::Wait { duration } => {
                            let until = add(now, duration);
                            self.state = RunState::Sleeping {
                                step_index: index,
                                until,
                            };
                            self.log(now, Some(index), RunEvent::WaitStarted { until });
                        }
                        Step::Approval { timeout, .. } => {
                            let deadline = add(now, timeout);
                            self.state = RunState::AwaitingApproval {
                                step_index: index,
                                deadline,
                            };
                            self.log(now, Some(index), RunEvent::ApprovalRequested { deadline });
                        }
                        Step::Condition { condition } => {
                            if condition.holds(inputs) {
                                self.log(now, Some(index), RunEvent::ConditionHeld);
                                self.advance_past(index);
                            } else {
                                self.log(now, Some(index), RunEvent::ConditionNotMet);
                                self.finish(now, RunStatus::ConditionNotMet { step_index: index });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reports the outcome of the action handed out for `step_index`.
    pub fn action_done(
        &mut self,
        step_index: usize,
        succeeded: bool,
        now: OffsetDateTime,
    ) -> Result<(), RunError> {
        match self.state {
            RunState::Finished { .. } => return Err(RunError::Finished),
            RunState::Executing { step_index: s } if s == step_index => {}
            _ => return Err(RunError::NotInFlight { step_index }),
        }
        let Some(Step::Action {
            action,
            continue_on_failure,
        }) = self.playbook.steps.get(step_index).cloned()
        else {
            return Err(RunError::NotInFlight { step_index });
        };
        if succeeded {
            self.applied.push(AppliedAction {
                step_index,
                action: action.clone(),
                at: now,
            });
            self.log(now, Some(step_index), RunEvent::ActionSucceeded { action });
            self.advance_past(step_index);
        } else {
            self.log(
                now,
                Some(step_index),
                RunEvent::ActionFailed {
                    action,
                    continued: continue_on_failure,
                },
            );
            if continue_on_failure {
                self.advance_past(step_index);
            } else {
                self.finish(now, RunStatus::Failed { step_index });
            }
        }
        Ok(())
    }

    /// Approves the pending approval; the run goes on at the next poll.
    pub fn approve(&mut self, by: &str, now: OffsetDateTime) -> Result<(), RunError> {
        let step_index = self.pending_approval(now)?;
        self.log(
            now,
            Some(step_index),
            RunEvent::Approved { by: by.to_owned() },
        );
        self.advance_past(step_index);
        Ok(())
    }

    /// Denies the pending approval, which ends the run.
    pub fn deny(&mut self, by: &str, now: OffsetDateTime) -> Result<(), RunError> {
        let step_index = self.pending_approval(now)?;
        self.log(
            now,
            Some(step_index),
            RunEvent::Denied { by: by.to_owned() },
        );
        self.finish(
            now,
            RunStatus::Denied {
                step_index,
                by: by.to_owned(),
            },
        );
        Ok(())
    }

    /// Stops the run wherever it is. Actions already applied stay applied (see
    /// [`undo_actions`](Self::undo_actions)); a late report of an action in flight is refused.
    pub fn cancel(&mut self, by: &str, now: OffsetDateTime) -> Result<(), RunError> {
        if self.is_finished() {
            return Err(RunError::Finished);
        }
        let step = match self.state {
            RunState::Executing { step_index }
            | RunState::Sleeping { step_index, .. }
            | RunState::AwaitingApproval { step_index, .. } => Some(step_index),
            _ => None,
        };
        self.log(now, step, RunEvent::Cancelled { by: by.to_owned() });
        self.finish(now, RunStatus::Cancelled { by: by.to_owned() });
        Ok(())
    }

    fn pending_approval(&self, now: OffsetDateTime) -> Result<usize, RunError> {
        match self.state {
            RunState::AwaitingApproval {
                step_index,
                deadline,
            } => {
                if now >= deadline {
                    Err(RunError::ApprovalExpired)
                } else {
                    Ok(step_index)
                }
            }
            RunState::Finished { .. } => Err(RunError::Finished),
            _ => Err(RunError::NoApprovalPending),
        }
    }

    fn advance_past(&mut self, step_index: usize) {
        self.next_step = step_index.saturating_add(1);
        self.state = RunState::Ready;
    }

    fn finish(&mut self, now: OffsetDateTime, status: RunStatus) {
        self.log(
            now,
            None,
            RunEvent::Finished {
                status: status.clone(),
            },
        );
        self.state = RunState::Finished { status };
    }

    fn log(&mut self, at: OffsetDateTime, step_index: Option<usize>, event: RunEvent) {
        self.history.push(HistoryEntry {
            at,
            step_index,
            event,
        });
    }

    /// The reversible actions that were applied, most recent first: undoing them in this
    /// order puts the target back.
    pub fn undo_actions(&self) -> Vec<AppliedAction> {
        self.applied
            .iter()
            .rev()
            .filter(|a| a.action.is_reversible())
            .cloned()
            .collect()
    }

    /// Every transition, oldest first.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// Actions reported applied, in order.
    pub fn applied(&self) -> &[AppliedAction] {
        &self.applied
    }

    /// How the run ended, once it has.
    pub fn status(&self) -> Option<&RunStatus> {
        match &self.state {
            RunState::Finished { status } => Some(status),
            _ => None,
        }
    }

    /// Whether the run is over.
    pub fn is_finished(&self) -> bool {
        self.status().is_some()
    }

    /// The playbook as it was when the run started.
    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    /// What the run acts on.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// When the run started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.started_at
    }
}
