//! Incidents: what an operator works on. Findings about one device (or one unattributed host)
//! are grouped into one incident with a lifecycle and a timeline; when the same activity (a C2
//! endpoint, a feed indicator, a profile's firmware doing the same thing) shows up on many
//! devices of a tenant, a campaign incident ties their incidents together.
//!
//! Pure logic: no I/O and no clock reads. Callers pass `now`, and randomness for identifiers,
//! so every rule is testable and the same code restores its state from stored incidents.
//!
//! * [`Incident`], [`Status`] and [`Incident::transition`]: the lifecycle.
//! * [`TimelineEntry`] / [`TimelineEvent`]: what happened to an incident, in order.
//! * [`Grouper`]: findings → [`GroupDecision`]s (attach, create, reopen, campaigns).
//! * [`Incident::to_json_line`] and [`incident_cef_fields`]: SIEM export.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod export;
mod group;
mod id;
mod incident;
mod text;
mod timeline;

pub use export::{CefFields, incident_cef_fields};
pub use group::{
    CampaignLink, FindingFacts, GroupDecision, Grouper, GrouperConfig, GrouperStats,
    IncidentChange, Outcome,
};
pub use id::{IdGenerator, IncidentId};
pub use incident::{
    Counts, Incident, MAX_CAMPAIGN_KEYS, MAX_FINDING_IDS, MAX_KINDS, Recorded, Scope, Severity,
    Status, TransitionError,
};
pub use timeline::{TimelineEntry, TimelineEvent};
