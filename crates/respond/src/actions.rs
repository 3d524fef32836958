//! The seam between a planned action ([`ActionSpec`]) and the world. The server implements
//! [`DeviceActions`] over the real clients (NAS, broker, registry, webhooks, SIEM); drivers
//! (playbook runs, mass actions) only decide what to do and when.

use async_trait::async_trait;
use rampart_core::{DeviceId, TenantId};
use rampart_playbook::ActionSpec;
use serde::{Deserialize, Serialize};

/// Whom an action is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionTarget {
    /// The device's tenant.
    pub tenant: TenantId,
    /// The device.
    pub device: DeviceId,
}

/// How one action (or undo) ended, for timelines and progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The change was made, or the world was already as wanted.
    pub succeeded: bool,
    /// The action's name (`radius_disconnect`, `broker_disable`, ...).
    pub action: String,
    /// Whether this was an undo.
    pub undo: bool,
    /// `applied`, `already_in_state`, `failed`, `not_reversible`, `skipped`.
    pub status: String,
    /// What it acted on, human-readable (never a secret).
    pub target: String,
    /// The full outcome (attempts, times, NAS reply, error chain).
    pub detail: serde_json::Value,
}

/// Applies actions to devices. Implementations retry transient failures themselves and never
/// panic; a failure is an `ActionResult` with `succeeded: false`.
#[async_trait]
pub trait DeviceActions: Send + Sync {
    /// Applies `action` (or, with `undo`, reverses it) to `target`; `actor` is recorded.
    async fn apply(
        &self,
        target: &ActionTarget,
        action: &ActionSpec,
        undo: bool,
        actor: &str,
    ) -> ActionResult;
}
