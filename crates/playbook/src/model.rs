//! A playbook: what findings it answers, and the steps it takes.

use rampart_core::{DeviceState, Label};
use serde::{Deserialize, Serialize};

use crate::action::ActionSpec;
use crate::duration::DurationSpec;
use crate::severity::{Scope, Severity};

/// The priority of a playbook that names none; lower runs first.
pub const DEFAULT_PRIORITY: i64 = 100;
/// The longest `wait` step.
pub const MAX_WAIT: DurationSpec = DurationSpec::from_secs(24 * 3_600);
/// The longest approval timeout.
pub const MAX_APPROVAL_TIMEOUT: DurationSpec = DurationSpec::from_secs(7 * 86_400);
/// The most steps one playbook may have.
pub const MAX_STEPS: usize = 64;
/// The most entries in one match list (kinds, profiles, groups, tags).
pub const MAX_LIST: usize = 64;

/// One containment playbook, as loaded from a file (and snapshotted into each run).
///
/// Serialises (TOML or JSON) to the file format, so [`Playbook::to_toml`] output loads back
/// equal. Deserialising validates the single playbook (see [`Playbook::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    /// Unique name within a set: 1-64 of lowercase letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// Disabled playbooks load (and are validated) but never match.
    pub enabled: bool,
    /// Lower runs first when several match; ties go by name.
    pub priority: i64,
    /// Which findings it answers.
    pub matcher: MatchSpec,
    /// What it does, in order.
    pub steps: Vec<Step>,
}

/// The `[match]` table. Every criterion must hold; an empty list accepts anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatchSpec {
    /// Finding kinds (snake_case names as detection emits them); `"*"` accepts every kind.
    /// Never empty, so a playbook cannot answer everything by omission.
    pub kinds: Vec<String>,
    /// The lowest severity answered.
    pub min_severity: Severity,
    /// Device profiles; empty accepts any (and host findings, which have none, only then).
    pub profiles: Vec<Label>,
    /// Device groups, any of; empty accepts any.
    pub groups: Vec<Label>,
    /// Device tags, any of; empty accepts any.
    pub tags: Vec<Label>,
    /// Device findings, host findings or both.
    pub scope: Scope,
}

/// What a finding is, as far as matching is concerned. The caller fills it from the finding
/// and the registry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FindingFacts {
    /// The finding kind's snake_case name.
    pub kind: String,
    /// Its severity.
    pub severity: Severity,
    /// The device's profile, if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// The device's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The device's tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `device` or `host`.
    #[serde(default)]
    pub scope: Scope,
}

impl MatchSpec {
    /// Whether the finding's own facts (kind, severity, scope) are answered, whatever the
    /// device's profile, groups and tags: when this is false for every playbook, the
    /// device need not be looked up at all.
    pub fn may_match(&self, f: &FindingFacts) -> bool {
        self.kinds.iter().any(|k| k == "*" || *k == f.kind)
            && f.severity >= self.min_severity
            && self.scope.accepts(f.scope)
    }

    /// Whether a finding with these facts is answered.
    pub fn matches(&self, f: &FindingFacts) -> bool {
        let any_of = |wanted: &[Label], have: &[String]| {
            wanted.is_empty() || wanted.iter().any(|w| have.iter().any(|h| h == w.as_str()))
        };
        self.may_match(f)
            && (self.profiles.is_empty()
                || f.profile
                    .as_deref()
                    .is_some_and(|p| self.profiles.iter().any(|w| w.as_str() == p)))
            && any_of(&self.groups, &f.groups)
            && any_of(&self.tags, &f.tags)
    }
}

/// What happens when an approval is not given in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// End the run (the safe default: nobody said yes).
    #[default]
    Abort,
    /// Carry on as if approved.
    Proceed,
}

/// A guard on the rest of the run; every field given must hold. When it does not, the run
/// stops there (finished, not failed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// The finding is (`true`) or is no longer (`false`) active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_active: Option<bool>,
    /// The device is in this registry state (never holds for a host target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_state: Option<DeviceState>,
    /// The finding's current severity is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
}

impl ConditionSpec {
    /// Whether no criterion is given (refused by validation).
    pub fn is_empty(&self) -> bool {
        self.finding_active.is_none() && self.device_state.is_none() && self.min_severity.is_none()
    }
}

/// One step of a playbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask the caller to execute an action.
    Action {
        /// The action.
        action: ActionSpec,
        /// When the action fails, carry on instead of ending the run as failed.
        continue_on_failure: bool,
    },
    /// Do nothing for a while (let a disconnect settle, give a device a chance).
    Wait {
        /// How long.
        duration: DurationSpec,
    },
    /// Hold until someone approves or denies, or the timeout passes.
    Approval {
        /// How long to wait for a decision.
        timeout: DurationSpec,
        /// What the timeout means.
        on_timeout: OnTimeout,
    },
    /// Check that the rest of the run still makes sense.
    Condition {
        /// What must hold.
        condition: ConditionSpec,
    },
}

impl Step {
    /// The action, when this is an action step.
    pub fn action(&self) -> Option<&ActionSpec> {
        match self {
            Self::Action { action, .. } => Some(action),
            _ => None,
        }
    }

    /// A short description for timelines and dry runs (`action radius_disconnect`, `wait 30s`).
    pub fn describe(&self) -> String {
        match self {
            Self::Action {
                action,
                continue_on_failure,
            } => {
                let mut s = format!("action {action}");
                if *continue_on_failure {
                    s.push_str(" (continue on failure)");
                }
                s
            }
            Self::Wait { duration } => format!("wait {duration}"),
            Self::Approval {
                timeout,
                on_timeout,
            } => {
                let then = match on_timeout {
                    OnTimeout::Abort => "abort",
                    OnTimeout::Proceed => "proceed",
                };
                format!("approval within {timeout}, else {then}")
            }
            Self::Condition { condition } => {
                let mut parts = Vec::new();
                if let Some(a) = condition.finding_active {
                    parts.push(format!("finding_active = {a}"));
                }
                if let Some(s) = condition.device_state {
                    parts.push(format!("device_state = {s}"));
                }
                if let Some(s) = condition.min_severity {
                    parts.push(format!("severity >= {s}"));
                }
                format!("condition {}", parts.join(" and "))
            }
        }
    }
}

impl Playbook {
    /// Whether an enabled playbook answers a finding with these facts.
    pub fn matches(&self, facts: &FindingFacts) -> bool {
        self.enabled && self.matcher.matches(facts)
    }

    /// The file form.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}
