//! What a playbook would do to each target, without doing it.

use std::fmt;
use std::net::IpAddr;

use rampart_core::DeviceId;
use serde::{Deserialize, Serialize};

use crate::action::ActionSpec;
use crate::model::{Playbook, Step};

/// What a run acts on: a registered device, or an address no device owns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A registered device (within the caller's tenant).
    Device(DeviceId),
    /// An address no device owns.
    Host(IpAddr),
}

impl Target {
    /// Whether this is a registered device.
    pub fn is_device(&self) -> bool {
        matches!(self, Self::Device(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(id) => write!(f, "device {id}"),
            Self::Host(ip) => write!(f, "host {ip}"),
        }
    }
}

/// Whether an action applies to a target; `Err` says why not.
pub(crate) fn applicability(action: &ActionSpec, target: &Target) -> Result<(), String> {
    if action.needs_device() && !target.is_device() {
        return Err(format!(
            "\"{}\" needs a registered device; {target} is not one",
            action.name()
        ));
    }
    Ok(())
}

/// A dry run of one playbook over some targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// The playbook's name.
    pub playbook: String,
    /// One plan per target, in the order given.
    pub targets: Vec<TargetPlan>,
    /// Actions that would run across all targets once every approval is given and every
    /// condition holds.
    pub total_actions: usize,
}

/// What would happen to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPlan {
    /// The target.
    pub target: Target,
    /// Every step, in order.
    pub steps: Vec<PlannedStep>,
    /// The first approval step: the run would stop there until someone decides.
    pub blocks_at: Option<usize>,
}

/// One step as it would play out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// Index in the playbook's steps.
    pub index: usize,
    /// What the step is (`action radius_disconnect`, `wait 30s`, ...).
    pub description: String,
    /// How it would play out.
    pub disposition: Disposition,
    /// Approval steps that must pass before this one runs.
    pub after_approvals: Vec<usize>,
    /// Condition steps that must hold before this one runs.
    pub after_conditions: Vec<usize>,
}

/// How one step would play out for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Disposition {
    /// The action would be executed.
    Executes,
    /// The action would be skipped: it does not apply to this target.
    Skipped {
        /// Why.
        reason: String,
    },
    /// The run would pause.
    Waits,
    /// The run would stop here until approved, denied or timed out.
    AwaitsApproval,
    /// The run would check a condition and stop if it does not hold.
    Checks,
}

/// Plans `playbook` over `targets`: per target, each step and what would block it.
pub fn plan(playbook: &Playbook, targets: &[Target]) -> DryRun {
    let mut total_actions = 0;
    let targets = targets
        .iter()
        .map(|target| {
            let mut approvals = Vec::new();
            let mut conditions = Vec::new();
            let mut steps = Vec::with_capacity(playbook.steps.len());
            for (index, step) in playbook.steps.iter().enumerate() {
                let disposition = match step {
                    Step::Action { action, .. } => match applicability(action, target) {
                        Ok(()) => {
                            total_actions += 1;
                            Disposition::Executes
                        }
                        Err(reason) => Disposition::Skipped { reason },
                    },
                    Step::Wait { .. } => Disposition::Waits,
                    Step::Approval { .. } => Disposition::AwaitsApproval,
                    Step::Condition { .. } => Disposition::Checks,
                };
                steps.push(PlannedStep {
                    index,
                    description: step.describe(),
                    disposition,
                    after_approvals: approvals.clone(),
                    after_conditions: conditions.clone(),
                });
                match step {
                    Step::Approval { .. } => approvals.push(index),
                    Step::Condition { .. } => conditions.push(index),
                    _ => {}
                }
            }
            TargetPlan {
                target: target.clone(),
                blocks_at: playbook
                    .steps
                    .iter()
                    .position(|s| matches!(s, Step::Approval { .. })),
                steps,
            }
        })
        .collect();
    DryRun {
        playbook: playbook.name.clone(),
        targets,
        total_actions,
    }
}
