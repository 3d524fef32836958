//! What happened to an incident, in order. The store appends entries and numbers them; the
//! incident itself keeps only the summary (status, severity, counts).

use rampart_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{IncidentId, Severity, Status};

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it was recorded.
    pub at: Timestamp,
    /// Who did it: an operator or token name; `None` for Rampart itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What happened.
    pub event: TimelineEvent,
}

impl TimelineEntry {
    /// An entry with its parts as given.
    pub fn new(at: Timestamp, actor: Option<String>, event: TimelineEvent) -> Self {
        Self { at, actor, event }
    }
}

/// The kinds of timeline entries. JSON: an object with `"type"` naming the variant in
/// snake_case, beside the variant's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// A finding that opened the incident, brought a new kind, raised its severity, or (on a
    /// campaign) brought a new device. Repeats only move the counts.
    Finding {
        /// The finding's id.
        id: String,
        /// Its kind (`command_and_control`, `ddos`, ...).
        kind: String,
        /// Its severity.
        severity: Severity,
        /// One line for the operator.
        summary: String,
        /// When detection raised it (event time).
        raised_at: Timestamp,
    },
    /// A containment action and its outcome, as the caller reports it.
    Action {
        /// The action (`disconnect`, `quarantine`, `webhook`, ...).
        name: String,
        /// Its state (`requested`, `succeeded`, `failed`, ...).
        status: String,
        /// What it acted on (a device, a session, an address).
        target: String,
        /// The caller's structured outcome.
        #[serde(default)]
        detail: serde_json::Value,
    },
    /// A decision on an action that needed approval.
    Approval {
        /// The approval request's id.
        id: String,
        /// `approved`, `rejected`, `expired`.
        decision: String,
        /// Who decided.
        by: String,
    },
    /// An operator's note.
    Note {
        /// The text (may span lines).
        text: String,
    },
    /// A lifecycle change.
    Status {
        /// Before.
        from: Status,
        /// After.
        to: Status,
    },
    /// The incident was assigned (`None`: unassigned).
    Assigned {
        /// The new assignee.
        to: Option<String>,
    },
    /// A playbook run started or changed state on this incident.
    PlaybookRun {
        /// The playbook's name.
        playbook: String,
        /// The run's state.
        state: String,
    },
    /// The incident became part of a campaign.
    Linked {
        /// The campaign incident.
        campaign: IncidentId,
        /// The campaign key the devices share.
        key: String,
    },
}

impl TimelineEvent {
    /// The `type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Finding { .. } => "finding",
            Self::Action { .. } => "action",
            Self::Approval { .. } => "approval",
            Self::Note { .. } => "note",
            Self::Status { .. } => "status",
            Self::Assigned { .. } => "assigned",
            Self::PlaybookRun { .. } => "playbook_run",
            Self::Linked { .. } => "linked",
        }
    }
}
