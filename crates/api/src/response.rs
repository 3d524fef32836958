//! Incident response: incidents, playbooks, approvals and mass actions. The serving process
//! owns them ([`ResponseControl`]); without it (tests, tools) the routes answer 503.
//!
//! Bodies cross this seam as JSON values so the API does not depend on the response engine's
//! crates; the engine validates them and answers [`ResponseError`]s the routes map to HTTP.

pub(crate) mod routes;

use async_trait::async_trait;
use rampart_core::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest playbook text `PUT /api/v1/playbooks/{name}` accepts.
pub const MAX_PLAYBOOK_BYTES: usize = 256 * 1024;

/// Which tenant's objects a caller may see: one tenant, or (platform callers) all of them
/// including platform-level host incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Only this tenant's objects.
    Tenant(TenantId),
    /// Every tenant's, and those of no tenant.
    Platform,
}

/// Why the response engine refused.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// No such object (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or breaks a rule (bad playbook, bad selector, ...); the
    /// details list every problem found (file:line:col: field: message for playbooks).
    #[error("{message}")]
    Invalid {
        /// One line.
        message: String,
        /// Every problem.
        details: Vec<String>,
    },
    /// The object is not in a state that allows this (an illegal status transition, an
    /// approval already decided, an operation already finished).
    #[error("{0}")]
    Conflict(String),
    /// The store or a peer failed.
    #[error("{0}")]
    Internal(String),
}

/// Incident list filters.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IncidentQuery {
    /// Only these statuses (open, acknowledged, contained, resolved, false_positive).
    pub status: Vec<String>,
    /// Only incidents about this device id.
    pub device: Option<String>,
    /// At most this many (1-1000).
    pub limit: u32,
    /// Continue after this cursor (from the previous page).
    pub before: Option<String>,
}

/// A change an operator makes to an incident; absent fields are left alone.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    /// New status.
    pub status: Option<String>,
    /// New assignee; an empty string clears it.
    pub assignee: Option<String>,
    /// A note to append to the timeline.
    pub note: Option<String>,
}

/// What the serving process's response engine offers the API. `actor` is the caller's token
/// name, recorded in timelines and the audit log.
#[async_trait]
pub trait ResponseControl: Send + Sync {
    /// Incidents, most recently changed first, with a `next` cursor.
    async fn list_incidents(
        &self,
        vis: &Visibility,
        query: IncidentQuery,
    ) -> Result<serde_json::Value, ResponseError>;
    /// One incident with its timeline.
    async fn get_incident(
        &self,
        vis: &Visibility,
        id: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Applies an operator's change; returns the incident.
    async fn update_incident(
        &self,
        vis: &Visibility,
        id: &str,
        update: IncidentUpdate,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Undoes every reversible action taken on the incident, newest first; returns the
    /// outcomes.
    async fn undo_incident(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;

    /// The loaded playbooks (name, source, body).
    async fn list_playbooks(&self) -> Result<serde_json::Value, ResponseError>;
    /// Validates and loads (or replaces) one playbook from its TOML text; the running set is
    /// unchanged when it is refused.
    async fn put_playbook(
        &self,
        name: &str,
        toml: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Removes a playbook loaded through the API.
    async fn delete_playbook(&self, name: &str, actor: &str) -> Result<(), ResponseError>;
    /// What a playbook would do to these devices (`{"devices": [...]}`) without doing it.
    async fn dry_run_playbook(
        &self,
        vis: &Visibility,
        name: &str,
        request: serde_json::Value,
    ) -> Result<serde_json::Value, ResponseError>;

    /// Approvals waiting for a decision.
    async fn list_approvals(&self, vis: &Visibility) -> Result<serde_json::Value, ResponseError>;
    /// Approves or denies one.
    async fn decide_approval(
        &self,
        vis: &Visibility,
        id: &str,
        approve: bool,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;

    /// Starts a mass action (or, with `dry_run`, only counts and plans it) in `tenant`.
    async fn create_mass_action(
        &self,
        tenant: &TenantId,
        plan: serde_json::Value,
        dry_run: bool,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Mass actions, newest first.
    async fn list_mass_actions(&self, vis: &Visibility)
    -> Result<serde_json::Value, ResponseError>;
    /// One mass action with its progress and events.
    async fn get_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Approves a mass action held at its blast-radius cap.
    async fn approve_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Stops a mass action between dispatches.
    async fn abort_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
    /// Undoes a whole mass action: a new operation over the devices it changed.
    async fn undo_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ResponseError>;
}
