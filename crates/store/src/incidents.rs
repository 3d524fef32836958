//! Persistence of incidents, their timelines and containment operations (mass actions,
//! approvals, playbook runs).
//!
//! Records are JSON bodies owned by the code that writes them (the store neither knows nor
//! checks their shape) plus the few columns lists filter and sort on, which the caller
//! extracts. Bodies are JSONB on PostgreSQL and JSON text on SQLite; either way they come back
//! as the same `serde_json::Value`.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use rampart_core::{TenantId, Timestamp, ValidationError};

use crate::Result;

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    /// Identifier (primary key).
    pub id: String,
    /// Owning tenant; `None` for platform-level incidents.
    pub tenant: Option<TenantId>,
    /// `device`, `host` or `campaign`.
    pub scope_kind: String,
    /// The device id, address or campaign key.
    pub subject: String,
    /// Lifecycle status name.
    pub status: String,
    /// Severity name.
    pub severity: String,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When it last changed; lists are newest first by this.
    pub updated_at: Timestamp,
    /// The whole incident.
    pub body: serde_json::Value,
}

impl IncidentRow {
    /// The position after this row in a newest-first list: pass it as
    /// [`IncidentFilter::before`] for the next page.
    pub fn cursor(&self) -> IncidentCursor {
        IncidentCursor {
            updated_at: self.updated_at,
            id: self.id.clone(),
        }
    }
}

/// A position in the newest-first incident order: `(updated_at, id)`, both descending.
/// Text form `<updated_at ms>:<id>`, for APIs that hand it out as an opaque token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCursor {
    /// `updated_at` of the last row seen.
    pub updated_at: Timestamp,
    /// `id` of the last row seen.
    pub id: String,
}

impl fmt::Display for IncidentCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.updated_at.0, self.id)
    }
}

impl FromStr for IncidentCursor {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ValidationError::Invalid {
            field: "cursor",
            value: s.chars().take(64).collect(),
            reason: "must be a cursor returned by a previous page",
        };
        let (ms, id) = s.split_once(':').ok_or_else(invalid)?;
        let updated_at = Timestamp(ms.parse().map_err(|_| invalid())?);
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self {
            updated_at,
            id: id.to_owned(),
        })
    }
}

/// Which incidents to list, newest first. All given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this tenant's incidents (`None`: every tenant's and the platform's).
    pub tenant: Option<TenantId>,
    /// Only these statuses (an empty list matches nothing).
    pub status: Option<Vec<String>>,
    /// Only this subject (device id, address or campaign key).
    pub subject: Option<String>,
    /// At most this many (1-1000).
    pub limit: u32,
    /// Only incidents after this position (the previous page's last [`IncidentRow::cursor`]).
    pub before: Option<IncidentCursor>,
}

/// A timeline entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    /// When it happened.
    pub at: Timestamp,
    /// The entry.
    pub body: serde_json::Value,
}

/// A stored timeline entry with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTimelineRow {
    /// Position in the incident's timeline: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// The entry.
    pub body: serde_json::Value,
}

/// A containment operation the server persists: a mass action, an approval request, a
/// playbook run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRow {
    /// Identifier (primary key).
    pub id: String,
    /// `mass_action`, `approval`, `playbook_run`, ...
    pub kind: String,
    /// Owning tenant; `None` for platform-level operations.
    pub tenant: Option<TenantId>,
    /// State name (`pending`, `running`, `approved`, `done`, ...).
    pub status: String,
    /// When it last changed; lists are newest first by this.
    pub updated_at: Timestamp,
    /// The whole operation.
    pub body: serde_json::Value,
}

/// Incidents and containment operations. Cross-tenant like accounting: the grouper works for
/// every tenant at once, so reads take the tenant as a filter; API handlers always pass the
/// caller's tenant, and check the `tenant` of rows they fetch by id.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Creates or replaces an incident (its timeline is kept).
    async fn put_incident(&self, row: &IncidentRow) -> Result<()>;
    /// [`Self::put_incident`] and [`Self::append_timeline`] in one transaction: the incident
    /// and the entries that explain its change land together or not at all.
    async fn put_incident_with_timeline(
        &self,
        row: &IncidentRow,
        entries: &[TimelineRow],
    ) -> Result<Vec<u64>>;
    /// Several incidents with the entries that explain their changes, and containment
    /// operations, in one transaction: all land or none do. Lets a writer commit what queued
    /// while it was busy at once instead of a transaction per change.
    async fn put_incident_batch(
        &self,
        incidents: &[(IncidentRow, Vec<TimelineRow>)],
        ops: &[OpRow],
    ) -> Result<()>;
    /// One incident.
    async fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>>;
    /// Incidents matching `filter`, newest `updated_at` first (ties by id, descending).
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRow>>;
    /// Appends entries to an incident's timeline, all or none, and returns the numbers they
    /// got: consecutive, after every number handed out before, even under concurrent appends.
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) if the incident does not exist.
    async fn append_timeline(&self, id: &str, entries: &[TimelineRow]) -> Result<Vec<u64>>;
    /// Timeline entries numbered after `after_seq` (0: from the start), in order, at most
    /// `limit` (1-1000).
    async fn timeline(
        &self,
        id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredTimelineRow>>;
    /// Creates or replaces a containment operation.
    async fn put_op(&self, op: &OpRow) -> Result<()>;
    /// One containment operation.
    async fn get_op(&self, id: &str) -> Result<Option<OpRow>>;
    /// Operations of `kind`, optionally only one tenant's and in one status, newest
    /// `updated_at` first, at most `limit` (1-1000).
    async fn list_ops(
        &self,
        kind: &str,
        tenant: Option<&TenantId>,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<OpRow>>;
}
