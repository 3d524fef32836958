//! A mass run: one plan over a sorted target list, as a sans-IO state machine whose every
//! operation costs O(1) per target it touches (no scans per poll), so a million targets are
//! cheap. Times are milliseconds since the Unix epoch, supplied by the caller.

use rampart_core::DeviceId;
use serde::{Deserialize, Serialize};

use crate::action::ActionSpec;
use crate::mass::MassPlan;

const PENDING: u8 = 0;
const DISPATCHED: u8 = 1;
const SUCCEEDED: u8 = 2;
const FAILED: u8 = 3;

/// Whether a run applies its plan or undoes a previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassMode {
    /// Execute each action of [`MassRun::actions`] on each dispatched target.
    Apply,
    /// Undo each action of [`MassRun::actions`] (already in undo order) on each target.
    Undo,
}

/// What the caller should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MassStep {
    /// Run the actions on these targets (indexes into [`MassRun::targets`]) and report each
    /// with [`MassRun::record`]. Never repeats a target; never spans two waves.
    Dispatch(Vec<usize>),
    /// The pace allows nothing more before this time.
    Throttled {
        /// Milliseconds since the epoch.
        until: u64,
    },
    /// The wave is fully dispatched; waiting for results before judging it.
    AwaitResults {
        /// Targets dispatched without a result yet.
        outstanding: u64,
    },
    /// Between waves; poll again at this time.
    PauseUntil(u64),
    /// More targets than the plan's blast radius cap: waiting for [`MassRun::approve`].
    AwaitApproval,
    /// Stopped; late results are still recorded (for undo).
    Aborted {
        /// Why.
        reason: String,
    },
    /// Every wave done.
    Completed,
}

/// A transition of a mass run, for the operation's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassEvent {
    /// Milliseconds since the epoch (for events raised by a result report: the last poll).
    pub at: u64,
    /// What happened.
    pub kind: MassEventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MassEventKind {
    /// The run was created.
    Created {
        /// Distinct targets.
        targets: u64,
        /// Whether it must be approved first.
        needs_approval: bool,
    },
    /// Approved.
    Approved {
        /// By whom.
        by: String,
    },
    /// A wave began dispatching.
    WaveStarted {
        /// Wave number from 0.
        wave: usize,
        /// Its targets.
        size: u64,
    },
    /// Every result of a wave was in.
    WaveCompleted {
        /// Wave number from 0.
        wave: usize,
        /// Successes so far, all waves.
        succeeded: u64,
        /// Failures so far, all waves.
        failed: u64,
    },
    /// Stopped.
    Aborted {
        /// Why.
        reason: String,
    },
    /// Done.
    Completed,
}

/// Counts for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassProgress {
    /// Distinct targets.
    pub total: u64,
    /// Handed out so far.
    pub dispatched: u64,
    /// Reported applied.
    pub succeeded: u64,
    /// Reported failed.
    pub failed: u64,
    /// The current wave, from 0.
    pub wave: usize,
    /// How many waves.
    pub waves: usize,
}

/// A result report that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MassError {
    /// No such target index.
    #[error("target {0} does not exist")]
    UnknownTarget(usize),
    /// The target was never dispatched.
    #[error("target {0} was not dispatched")]
    NotDispatched(usize),
    /// The target's result is already recorded.
    #[error("target {0} already has a result")]
    AlreadyRecorded(usize),
    /// `approve` without a pending approval.
    #[error("no approval is pending")]
    NoApprovalPending,
    /// The run already completed or aborted.
    #[error("the run has finished")]
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Phase {
    AwaitingApproval,
    Running,
    Pausing { until: u64 },
    Aborted { reason: String },
    Completed,
}

/// One mass operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MassRun {
    plan: MassPlan,
    mode: MassMode,
    targets: Vec<DeviceId>,
    /// Exclusive end index of each wave.
    wave_ends: Vec<usize>,
    /// Per target: pending, dispatched, succeeded, failed.
    status: Vec<u8>,
    /// Next target to dispatch (targets go out in order).
    next: usize,
    wave: usize,
    wave_open: bool,
    phase: Phase,
    /// Token bucket in thousandths of a target.
    credit: u64,
    refilled_at: u64,
    last_poll: u64,
    dispatched: u64,
    succeeded: u64,
    failed: u64,
    events: Vec<MassEvent>,
}

impl MassRun {
    /// A run of `plan` over `targets` (sorted and deduplicated here, so the order is
    /// deterministic). Validate the plan first; parsing does. A run with more targets than
    /// the plan's blast radius cap waits for [`approve`](Self::approve).
    pub fn new(plan: MassPlan, targets: Vec<DeviceId>, now: u64) -> Self {
        Self::with_mode(plan, targets, now, MassMode::Apply)
    }

    fn with_mode(plan: MassPlan, mut targets: Vec<DeviceId>, now: u64, mode: MassMode) -> Self {
        targets.sort_unstable();
        targets.dedup();
        let n = targets.len();
        let needs_approval = plan.blast_radius_cap.is_some_and(|cap| n as u64 > cap);
        let rate = u64::from(plan.rate_per_sec.max(1));
        let mut run = Self {
            wave_ends: plan.wave_ends(n),
            plan,
            mode,
            status: vec![PENDING; n],
            targets,
            next: 0,
            wave: 0,
            wave_open: false,
            phase: if needs_approval {
                Phase::AwaitingApproval
            } else {
                Phase::Running
            },
            credit: rate * 1_000,
            refilled_at: now,
            last_poll: now,
            dispatched: 0,
            succeeded: 0,
            failed: 0,
            events: Vec::new(),
        };
        run.log(
            now,
            MassEventKind::Created {
                targets: n as u64,
                needs_approval,
            },
        );
        run
    }

    /// The run that undoes this one: the plan's reversible actions in reverse order, over
    /// [`undo_targets`](Self::undo_targets), in one wave at the same pace, without an abort
    /// rule or approval. With no reversible action it has no targets and completes at once.
    pub fn undo(&self, now: u64) -> Self {
        let plan = self.plan.undo_plan();
        let targets = if plan.actions.is_empty() {
            Vec::new()
        } else {
            self.undo_targets()
                .into_iter()
                .filter_map(|i| self.targets.get(i).cloned())
                .collect()
        };
        Self::with_mode(plan, targets, now, MassMode::Undo)
    }

    /// Advances at `now` (milliseconds since the epoch) and says what to do.
    pub fn poll(&mut self, now: u64) -> MassStep {
        self.last_poll = now;
        // Each iteration returns or moves to a later wave or phase: it terminates.
        loop {
            match &self.phase {
                Phase::AwaitingApproval => return MassStep::AwaitApproval,
                Phase::Aborted { reason } => {
                    return MassStep::Aborted {
                        reason: reason.clone(),
                    };
                }
                Phase::Completed => return MassStep::Completed,
                Phase::Pausing { until } => {
                    if now < *until {
                        return MassStep::PauseUntil(*until);
                    }
                    self.phase = Phase::Running;
                    self.next_wave();
                }
                Phase::Running => {
                    let Some(&end) = self.wave_ends.get(self.wave) else {
                        self.phase = Phase::Completed;
                        self.log(now, MassEventKind::Completed);
                        continue;
                    };
                    if !self.wave_open {
                        self.wave_open = true;
                        let size = end.saturating_sub(self.next) as u64;
                        self.log(
                            now,
                            MassEventKind::WaveStarted {
                                wave: self.wave,
                                size,
                            },
                        );
                    }
                    if self.next < end {
                        return self.dispatch(now, end);
                    }
                    let outstanding = self.outstanding();
                    if outstanding > 0 {
                        return MassStep::AwaitResults { outstanding };
                    }
                    self.log(
                        now,
                        MassEventKind::WaveCompleted {
                            wave: self.wave,
                            succeeded: self.succeeded,
                            failed: self.failed,
                        },
                    );
                    if let Some(reason) = self.abort_reason() {
                        self.set_aborted(now, reason);
                        continue;
                    }
                    if self.wave + 1 >= self.wave_ends.len() {
                        self.phase = Phase::Completed;
                        self.log(now, MassEventKind::Completed);
                        continue;
                    }
                    let pause = self.plan.pause_between_waves.as_millis();
                    if pause == 0 {
                        self.next_wave();
                    } else {
                        self.phase = Phase::Pausing {
                            until: now.saturating_add(pause),
                        };
                    }
                }
            }
        }
    }

    fn rate(&self) -> u64 {
        u64::from(self.plan.rate_per_sec.max(1))
    }

    fn dispatch(&mut self, now: u64, end: usize) -> MassStep {
        let rate = self.rate();
        let elapsed = now.saturating_sub(self.refilled_at);
        self.credit = self
            .credit
            .saturating_add(elapsed.saturating_mul(rate))
            .min(rate * 1_000);
        self.refilled_at = self.refilled_at.max(now);
        let tokens = usize::try_from(self.credit / 1_000).unwrap_or(usize::MAX);
        let k = tokens.min(end - self.next);
        if k == 0 {
            let missing = 1_000 - self.credit;
            return MassStep::Throttled {
                until: now.saturating_add(missing.div_ceil(rate)),
            };
        }
        self.credit -= k as u64 * 1_000;
        let batch: Vec<usize> = (self.next..self.next + k).collect();
        if let Some(slots) = self.status.get_mut(self.next..self.next + k) {
            slots.fill(DISPATCHED);
        }
        self.next += k;
        self.dispatched += k as u64;
        MassStep::Dispatch(batch)
    }

    fn next_wave(&mut self) {
        self.wave += 1;
        self.wave_open = false;
    }

    fn outstanding(&self) -> u64 {
        self.dispatched
            .saturating_sub(self.succeeded)
            .saturating_sub(self.failed)
    }

    fn abort_reason(&self) -> Option<String> {
        self.plan.abort.reason(self.succeeded, self.failed)
    }

    fn set_aborted(&mut self, at: u64, reason: String) {
        self.log(
            at,
            MassEventKind::Aborted {
                reason: reason.clone(),
            },
        );
        self.phase = Phase::Aborted { reason };
    }

    /// Reports the result of all actions on one dispatched target. The abort rule is checked
    /// at once, so a bad wave stops dispatching without waiting for its end.
    pub fn record(&mut self, target_index: usize, succeeded: bool) -> Result<(), MassError> {
        let slot = self
            .status
            .get_mut(target_index)
            .ok_or(MassError::UnknownTarget(target_index))?;
        match *slot {
            DISPATCHED => {}
            PENDING => return Err(MassError::NotDispatched(target_index)),
            _ => return Err(MassError::AlreadyRecorded(target_index)),
        }
        if succeeded {
            *slot = SUCCEEDED;
            self.succeeded += 1;
        } else {
            *slot = FAILED;
            self.failed += 1;
        }
        if matches!(self.phase, Phase::Running | Phase::Pausing { .. })
            && let Some(reason) = self.abort_reason()
        {
            self.set_aborted(self.last_poll, reason);
        }
        Ok(())
    }

    /// Approves a run waiting because of its blast radius.
    pub fn approve(&mut self, by: &str, now: u64) -> Result<(), MassError> {
        match self.phase {
            Phase::AwaitingApproval => {
                self.phase = Phase::Running;
                self.log(now, MassEventKind::Approved { by: by.to_owned() });
                Ok(())
            }
            Phase::Aborted { .. } | Phase::Completed => Err(MassError::Finished),
            _ => Err(MassError::NoApprovalPending),
        }
    }

    /// Stops the run (also how an approval is refused). Targets in flight may still report.
    pub fn abort(&mut self, by: &str, now: u64) -> Result<(), MassError> {
        match self.phase {
            Phase::Aborted { .. } | Phase::Completed => Err(MassError::Finished),
            _ => {
                self.set_aborted(now, format!("aborted by {by}"));
                Ok(())
            }
        }
    }

    /// Indexes of the targets reported applied, in order: what an undo covers. Targets that
    /// failed may have had some of several actions applied; see
    /// [`failed_targets`](Self::failed_targets).
    pub fn undo_targets(&self) -> Vec<usize> {
        self.indexes_with(SUCCEEDED)
    }

    /// Indexes of the targets reported failed.
    pub fn failed_targets(&self) -> Vec<usize> {
        self.indexes_with(FAILED)
    }

    fn indexes_with(&self, state: u8) -> Vec<usize> {
        self.status
            .iter()
            .enumerate()
            .filter_map(|(i, s)| (*s == state).then_some(i))
            .collect()
    }

    /// The sorted, distinct targets; dispatch indexes point into this.
    pub fn targets(&self) -> &[DeviceId] {
        &self.targets
    }

    /// The target at `index`.
    pub fn target(&self, index: usize) -> Option<&DeviceId> {
        self.targets.get(index)
    }

    /// The actions to run (or, in undo mode, to undo) on each dispatched target, in order.
    pub fn actions(&self) -> &[ActionSpec] {
        &self.plan.actions
    }

    /// Whether this run applies or undoes.
    pub fn mode(&self) -> MassMode {
        self.mode
    }

    /// The plan.
    pub fn plan(&self) -> &MassPlan {
        &self.plan
    }

    /// Exclusive end index of each wave.
    pub fn wave_ends(&self) -> &[usize] {
        &self.wave_ends
    }

    /// Counts so far.
    pub fn progress(&self) -> MassProgress {
        MassProgress {
            total: self.targets.len() as u64,
            dispatched: self.dispatched,
            succeeded: self.succeeded,
            failed: self.failed,
            wave: self.wave,
            waves: self.wave_ends.len(),
        }
    }

    /// Whether the run completed or aborted.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Aborted { .. } | Phase::Completed)
    }

    /// The timeline, oldest first.
    pub fn events(&self) -> &[MassEvent] {
        &self.events
    }

    fn log(&mut self, at: u64, kind: MassEventKind) {
        self.events.push(MassEvent { at, kind });
    }
}
