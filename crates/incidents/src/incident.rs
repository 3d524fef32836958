//! The incident record and its lifecycle.
//!
//! Allowed status changes (anything else is a [`TransitionError`]):
//!
//! | from | to |
//! |---|---|
//! | open | acknowledged, contained, resolved, false_positive |
//! | acknowledged | contained, resolved, false_positive |
//! | contained | resolved, false_positive, open (containment lifted) |
//! | resolved | open (reopen) |
//! | false_positive | open (reopen) |

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rampart_core::{DeviceId, TenantId, Timestamp, ValidationError};
use serde::{Deserialize, Serialize};

use crate::group::FindingFacts;
use crate::text;
use crate::{IncidentId, TimelineEntry, TimelineEvent};

/// Finding ids kept on an incident (the most recent); `counts.findings` has the total.
pub const MAX_FINDING_IDS: usize = 64;
/// Distinct finding kinds kept on an incident.
pub const MAX_KINDS: usize = 32;
/// Campaign keys kept on a device incident (the most recent), to rebuild campaign tallies.
pub const MAX_CAMPAIGN_KEYS: usize = 16;

/// How bad an incident is: the highest severity of its findings. Ordered `Info < ... <
/// Critical`; JSON and storage use the lowercase name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording.
    #[default]
    Info,
    /// Unusual, probably harmless.
    Low,
    /// Should be looked at.
    Medium,
    /// Very likely a compromise or a policy breach.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// CEF severity (0-10): info 1, low 3, medium 5, high 8, critical 10, so SIEM bands
    /// (low 0-3, medium 4-6, high 7-8, very high 9-10) match.
    pub fn cef(self) -> u8 {
        match self {
            Self::Info => 1,
            Self::Low => 3,
            Self::Medium => 5,
            Self::High => 8,
            Self::Critical => 10,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ValidationError::Invalid {
                field: "severity",
                value: t.chars().take(64).collect(),
                reason: "must be one of info, low, medium, high, critical",
            })
    }
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// New, nobody has looked yet.
    #[default]
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Containment is in place (quarantine, disconnect, block).
    Contained,
    /// Dealt with.
    Resolved,
    /// Not a threat after all.
    FalsePositive,
}

impl Status {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::Acknowledged,
        Self::Contained,
        Self::Resolved,
        Self::FalsePositive,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Contained => "contained",
            Self::Resolved => "resolved",
            Self::FalsePositive => "false_positive",
        }
    }

    /// Still needs work: open, acknowledged or contained. New findings attach to it.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::Acknowledged | Self::Contained)
    }

    /// Resolved or false positive.
    pub fn is_closed(self) -> bool {
        !self.is_active()
    }

    /// The statuses this one may change to (see the module table).
    pub fn next(self) -> &'static [Status] {
        use Status as S;
        match self {
            S::Open => &[S::Acknowledged, S::Contained, S::Resolved, S::FalsePositive],
            S::Acknowledged => &[S::Contained, S::Resolved, S::FalsePositive],
            S::Contained => &[S::Resolved, S::FalsePositive, S::Open],
            S::Resolved | S::FalsePositive => &[S::Open],
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: Status) -> bool {
        self.next().contains(&to)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ValidationError::Invalid {
                field: "status",
                value: t.chars().take(64).collect(),
                reason: "must be one of open, acknowledged, contained, resolved, false_positive",
            })
    }
}

/// A status change the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an incident cannot go from {from} to {to}")]
pub struct TransitionError {
    /// The current status.
    pub from: Status,
    /// The requested one.
    pub to: Status,
}

/// What an incident is about. JSON: `{"device": "meter-1"}`, `{"host": "203.0.113.9"}`,
/// `{"campaign": {"key": ..., "devices": [...], "device_count": n}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One registered device of the tenant.
    Device(DeviceId),
    /// An address no device is attributed to (platform level unless the tenant is known).
    Host(IpAddr),
    /// The same activity on many devices of a tenant.
    Campaign {
        /// What the devices share (`c2:203.0.113.7:443`, `intel:feed/indicator`, ...).
        key: String,
        /// Member devices in the order they joined, at most the grouper's cap.
        devices: Vec<DeviceId>,
        /// All member devices, including those beyond the list's cap.
        device_count: u64,
    },
}

impl Scope {
    /// `device`, `host` or `campaign`: the store's `scope_kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Device(_) => "device",
            Self::Host(_) => "host",
            Self::Campaign { .. } => "campaign",
        }
    }

    /// The device id, the address or the campaign key: the store's `subject` column.
    pub fn subject(&self) -> String {
        match self {
            Self::Device(d) => d.as_str().to_owned(),
            Self::Host(ip) => ip.to_string(),
            Self::Campaign { key, .. } => key.clone(),
        }
    }
}

/// Tallies that move on every finding, including repeats that leave no timeline entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Findings grouped into the incident.
    pub findings: u64,
    /// Event time of the earliest of them.
    pub first_finding_at: Option<Timestamp>,
    /// Event time of the latest of them.
    pub last_finding_at: Option<Timestamp>,
    /// Times it was reopened after being resolved or marked a false positive.
    pub reopened: u32,
}

/// What [`Incident::record_finding`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The finding id is already on the incident (redelivery): nothing changed.
    Duplicate,
    /// A repeat: only the counts moved.
    Counted,
    /// First finding, new kind or higher severity: this entry belongs on the timeline.
    Entry(TimelineEntry),
}

/// An incident. The whole record is the stored body; the timeline is stored beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Identifier (time-ordered).
    pub id: IncidentId,
    /// Owning tenant; `None` for platform-level host incidents.
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// What it is about.
    pub scope: Scope,
    /// Lifecycle status.
    pub status: Status,
    /// Highest severity of its findings.
    pub severity: Severity,
    /// One line naming the most severe activity.
    pub title: String,
    /// Distinct finding kinds, in the order they appeared.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Who works on it.
    #[serde(default)]
    pub assignee: Option<String>,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When something an operator should see last changed (status, severity, kinds,
    /// assignment, notes, actions). Repeated findings move `counts` only.
    pub updated_at: Timestamp,
    /// When it was resolved or marked a false positive; cleared on reopen.
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    /// The most recent finding ids, at most [`MAX_FINDING_IDS`].
    #[serde(default)]
    pub finding_ids: Vec<String>,
    /// The campaign incident this one belongs to.
    #[serde(default)]
    pub campaign: Option<IncidentId>,
    /// Campaign keys its findings carried (most recent, at most [`MAX_CAMPAIGN_KEYS`]).
    #[serde(default)]
    pub campaign_keys: Vec<String>,
    /// Tallies.
    #[serde(default)]
    pub counts: Counts,
}

impl Incident {
    /// A new open incident with no findings yet.
    pub fn new(
        id: IncidentId,
        tenant: Option<TenantId>,
        scope: Scope,
        title: &str,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            tenant,
            scope,
            status: Status::Open,
            severity: Severity::Info,
            title: text::line(title, text::TITLE_MAX),
            kinds: Vec::new(),
            assignee: None,
            opened_at: now,
            updated_at: now,
            closed_at: None,
            finding_ids: Vec::new(),
            campaign: None,
            campaign_keys: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// `device`, `host` or `campaign`.
    pub fn scope_kind(&self) -> &'static str {
        self.scope.kind()
    }

    /// The device id, address or campaign key.
    pub fn subject(&self) -> String {
        self.scope.subject()
    }

    /// Changes the status (see the module table). Closing sets `closed_at`; reopening clears
    /// it and counts the reopen.
    pub fn transition(
        &mut self,
        to: Status,
        by: Option<&str>,
        now: Timestamp,
    ) -> Result<TimelineEntry, TransitionError> {
        let from = self.status;
        if !from.can_become(to) {
            return Err(TransitionError { from, to });
        }
        self.status = to;
        self.updated_at = now;
        if to.is_closed() {
            self.closed_at = Some(now);
        } else if from.is_closed() {
            self.closed_at = None;
            self.counts.reopened = self.counts.reopened.saturating_add(1);
        }
        Ok(TimelineEntry::new(
            now,
            text::actor(by),
            TimelineEvent::Status { from, to },
        ))
    }

    /// Assigns the incident (`None` unassigns).
    pub fn assign(
        &mut self,
        to: Option<&str>,
        by: Option<&str>,
        now: Timestamp,
    ) -> Result<TimelineEntry, ValidationError> {
        let to = to.map(|t| text::name("assignee", t)).transpose()?;
        self.assignee.clone_from(&to);
        self.updated_at = now;
        Ok(TimelineEntry::new(
            now,
            text::actor(by),
            TimelineEvent::Assigned { to },
        ))
    }

    /// Adds an operator's note.
    pub fn note(
        &mut self,
        text: &str,
        by: Option<&str>,
        now: Timestamp,
    ) -> Result<TimelineEntry, ValidationError> {
        let text = text::note(text)?;
        self.updated_at = now;
        Ok(TimelineEntry::new(
            now,
            text::actor(by),
            TimelineEvent::Note { text },
        ))
    }

    /// Records an action, approval or playbook run (names and states cleaned to one bounded
    /// line). Status changes, assignments, notes, findings and campaign links have their own
    /// methods, which keep the incident's fields in step; they are refused here.
    pub fn record(
        &mut self,
        event: TimelineEvent,
        by: Option<&str>,
        now: Timestamp,
    ) -> Result<TimelineEntry, ValidationError> {
        let n = |s: &str| text::line(s, text::NAME_MAX);
        let event = match event {
            TimelineEvent::Action {
                name,
                status,
                target,
                detail,
            } => TimelineEvent::Action {
                name: n(&name),
                status: n(&status),
                target: text::line(&target, text::KEY_MAX),
                detail,
            },
            TimelineEvent::Approval { id, decision, by } => TimelineEvent::Approval {
                id: n(&id),
                decision: n(&decision),
                by: n(&by),
            },
            TimelineEvent::PlaybookRun { playbook, state } => TimelineEvent::PlaybookRun {
                playbook: n(&playbook),
                state: n(&state),
            },
            other => {
                return Err(ValidationError::Invalid {
                    field: "event",
                    value: other.type_name().to_owned(),
                    reason: "only actions, approvals and playbook runs are recorded directly",
                });
            }
        };
        self.updated_at = now;
        Ok(TimelineEntry::new(now, text::actor(by), event))
    }

    /// Counts a finding. The first one, a new kind or a higher severity yields a timeline
    /// entry (and raises the severity, retitling the incident after the more severe kind);
    /// a repeat only moves the counts; an id already on the incident changes nothing.
    pub fn record_finding(&mut self, f: &FindingFacts, now: Timestamp) -> Recorded {
        let id = text::line(&f.finding_id, text::NAME_MAX);
        if self.finding_ids.contains(&id) {
            return Recorded::Duplicate;
        }
        push_bounded(&mut self.finding_ids, id.clone(), MAX_FINDING_IDS);
        let first = self.counts.findings == 0;
        self.counts.findings = self.counts.findings.saturating_add(1);
        let at = clamp_event_time(f.raised_at);
        self.counts.first_finding_at = Some(self.counts.first_finding_at.map_or(at, |t| t.min(at)));
        self.counts.last_finding_at = Some(self.counts.last_finding_at.map_or(at, |t| t.max(at)));
        for key in &f.campaign_keys {
            let key = text::line(key, text::KEY_MAX);
            if !key.is_empty() {
                self.campaign_keys.retain(|k| k != &key);
                push_bounded(&mut self.campaign_keys, key, MAX_CAMPAIGN_KEYS);
            }
        }
        let kind = text::line(&f.kind, text::NAME_MAX);
        let new_kind = !self.kinds.contains(&kind);
        let higher = f.severity > self.severity;
        if !(first || new_kind || higher) {
            return Recorded::Counted;
        }
        if new_kind && self.kinds.len() < MAX_KINDS {
            self.kinds.push(kind.clone());
        }
        if first || higher {
            self.severity = self.severity.max(f.severity);
            if !matches!(self.scope, Scope::Campaign { .. }) {
                self.title = title_for(&kind, &self.scope);
            }
        }
        self.updated_at = now;
        Recorded::Entry(TimelineEntry::new(
            now,
            None,
            TimelineEvent::Finding {
                id,
                kind,
                severity: f.severity,
                summary: text::line(&f.summary, text::SUMMARY_MAX),
                raised_at: at,
            },
        ))
    }

    /// Links the incident to a campaign unless it already belongs to one.
    pub fn link_campaign(
        &mut self,
        campaign: &IncidentId,
        key: &str,
        now: Timestamp,
    ) -> Option<TimelineEntry> {
        if self.campaign.is_some() || &self.id == campaign {
            return None;
        }
        self.campaign = Some(campaign.clone());
        self.updated_at = now;
        Some(TimelineEntry::new(
            now,
            None,
            TimelineEvent::Linked {
                campaign: campaign.clone(),
                key: text::line(key, text::KEY_MAX),
            },
        ))
    }

    /// Serialises the incident as one line of JSON followed by `\n`, for JSON Lines exports
    /// and SIEM inputs.
    pub fn to_json_line(&self) -> String {
        // Incidents hold only strings, numbers and string-keyed structures: this cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"));
        s.push('\n');
        s
    }
}

/// Event times come from the sources (log lines, exporters) and can be anything; stored
/// bodies must print as RFC 3339 and parse back, which holds for 1970 to 9999.
pub(crate) fn clamp_event_time(t: Timestamp) -> Timestamp {
    Timestamp(t.0.clamp(0, 253_402_300_799_999))
}

/// The title of a device or host incident whose most severe activity is `kind`.
pub(crate) fn title_for(kind: &str, scope: &Scope) -> String {
    let t = match scope {
        Scope::Device(d) => format!("{kind} on device {d}"),
        Scope::Host(ip) => format!("{kind} from host {ip}"),
        Scope::Campaign { key, .. } => format!("campaign {key}"),
    };
    text::line(&t, text::TITLE_MAX)
}

/// Appends `v`, dropping the oldest entries beyond `max`.
pub(crate) fn push_bounded<T>(list: &mut Vec<T>, v: T, max: usize) {
    list.push(v);
    if list.len() > max {
        let excess = list.len() - max;
        list.drain(..excess);
    }
}
