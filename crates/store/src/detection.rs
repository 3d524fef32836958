//! Persistence of detection's operator-managed state: the rules defined through the API and
//! the suppression windows.
//!
//! Like incidents, records are JSON bodies owned by the code that writes them (the store
//! neither knows nor checks their shape) plus the columns lists filter and sort on, which the
//! caller extracts.

use async_trait::async_trait;
use rampart_core::{TenantId, Timestamp};

use crate::Result;

/// A detection rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// The rule's name (primary key).
    pub name: String,
    /// When it was last written.
    pub updated_at: Timestamp,
    /// Who wrote it.
    pub updated_by: String,
    /// The whole rule.
    pub body: serde_json::Value,
}

/// A suppression window as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionRow {
    /// Identifier (primary key).
    pub id: String,
    /// The tenant whose findings it mutes; `None`: every tenant's.
    pub tenant: Option<TenantId>,
    /// Start of the window.
    pub starts_at: Timestamp,
    /// End of the window (exclusive).
    pub ends_at: Timestamp,
    /// When it was created.
    pub created_at: Timestamp,
    /// The whole window.
    pub body: serde_json::Value,
}

/// Which suppression windows to list, by start then id. All given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct SuppressionFilter {
    /// Only this tenant's windows (`None`: every tenant's and the platform's).
    pub tenant: Option<TenantId>,
    /// With `tenant`, also the windows over every tenant (they apply to it too).
    pub include_platform: bool,
    /// Only windows ending after this time (those not over yet).
    pub ending_after: Option<Timestamp>,
    /// At most this many (1-10000).
    pub limit: u32,
}

/// Detection rules and suppression windows. Rules are platform-wide; windows carry their
/// tenant, which API handlers check on rows they fetch by id.
#[async_trait]
pub trait DetectionStore: Send + Sync {
    /// Creates or replaces a rule; true when it was created.
    async fn put_rule(&self, row: &RuleRow) -> Result<bool>;
    /// One rule.
    async fn get_rule(&self, name: &str) -> Result<Option<RuleRow>>;
    /// Every rule, by name.
    async fn list_rules(&self) -> Result<Vec<RuleRow>>;
    /// Deletes a rule. True when it existed.
    async fn delete_rule(&self, name: &str) -> Result<bool>;

    /// Stores a new window; [`StoreError::Conflict`](crate::StoreError::Conflict) if its id
    /// is taken.
    async fn insert_suppression(&self, row: &SuppressionRow) -> Result<()>;
    /// One window.
    async fn get_suppression(&self, id: &str) -> Result<Option<SuppressionRow>>;
    /// Windows matching `filter`, by start then id.
    async fn list_suppressions(&self, filter: &SuppressionFilter) -> Result<Vec<SuppressionRow>>;
    /// Deletes a window. True when it existed.
    async fn delete_suppression(&self, id: &str) -> Result<bool>;
    /// Deletes the windows that ended before `ended_before`; returns how many.
    async fn purge_suppressions(&self, ended_before: Timestamp) -> Result<u64>;
}
