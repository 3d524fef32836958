//! The registry store.
//!
//! One [`Store`] trait with two backends that share their code and differ only in SQL dialect
//! details and migrations: SQLite, the embedded default (one file under the data directory, no
//! server to run), and PostgreSQL for shared state when Rampart runs on several machines. Both
//! are checked by one conformance suite (`tests/conformance.rs`).

#![forbid(unsafe_code)]

pub mod accounting;
mod codec;
pub mod detection;
mod imp;
pub mod incidents;
mod types;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rampart_core::{
    ApiToken, Device, DeviceId, DeviceRecord, Group, Iccid, Imsi, Label, Profile, Sim, Tenant,
    TenantId, ValidationError,
};

pub use accounting::{
    AccountingOp, AccountingStore, SessionFilter, SimBinding, StaticIps, StoredRecord,
};
pub use detection::{DetectionStore, RuleRow, SuppressionFilter, SuppressionRow};
pub use imp::{PostgresStore, SqliteStore};
pub use incidents::{
    IncidentCursor, IncidentFilter, IncidentRow, IncidentStore, OpRow, StoredTimelineRow,
    TimelineRow,
};
pub use types::{BatchOutcome, DeviceFilter, Page, PageRequest, RejectedRow, SimFilter};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist (in this tenant).
    #[error("{0} not found")]
    NotFound(String),
    /// The write would break a uniqueness rule (duplicate id, ICCID or IMSI).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value read back or given is not valid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not decode (hand-edited database, or a bug).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Persistent registry state. Every query is confined to one tenant, except the few that say
/// otherwise (tenants, tokens, and ICCID/IMSI uniqueness, which is global because a card exists
/// once in the world).
#[async_trait]
pub trait Store: AccountingStore + IncidentStore + DetectionStore + Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// Creates or renames a tenant.
    async fn put_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// One tenant.
    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    /// All tenants.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;

    /// Creates or updates a profile.
    async fn put_profile(&self, profile: &Profile) -> Result<()>;
    /// One profile.
    async fn get_profile(&self, tenant: &TenantId, name: &Label) -> Result<Option<Profile>>;
    /// A tenant's profiles.
    async fn list_profiles(&self, tenant: &TenantId) -> Result<Vec<Profile>>;
    /// Deletes a profile; devices keep the name. True when it existed.
    async fn delete_profile(&self, tenant: &TenantId, name: &Label) -> Result<bool>;

    /// Creates or updates a group.
    async fn put_group(&self, group: &Group) -> Result<()>;
    /// One group.
    async fn get_group(&self, tenant: &TenantId, name: &Label) -> Result<Option<Group>>;
    /// A tenant's groups.
    async fn list_groups(&self, tenant: &TenantId) -> Result<Vec<Group>>;
    /// Deletes a group; devices keep the membership label. True when it existed.
    async fn delete_group(&self, tenant: &TenantId, name: &Label) -> Result<bool>;

    /// Registers a new device; [`StoreError::Conflict`] if its id is taken in the tenant.
    async fn insert_device(&self, device: &Device) -> Result<Device>;
    /// One device.
    async fn get_device(&self, tenant: &TenantId, id: &DeviceId) -> Result<Option<Device>>;
    /// Replaces an existing device's fields (not its creation time).
    async fn update_device(&self, device: &Device) -> Result<Device>;
    /// Deletes a device and unbinds its SIMs. True when it existed.
    async fn delete_device(&self, tenant: &TenantId, id: &DeviceId) -> Result<bool>;
    /// Devices matching `filter`, ordered by id, one page at a time.
    async fn list_devices(
        &self,
        tenant: &TenantId,
        filter: &DeviceFilter,
        page: &PageRequest,
    ) -> Result<Page<Device>>;
    /// Devices whose static addresses contain `ip`, most specific first.
    async fn devices_by_ip(&self, tenant: &TenantId, ip: IpAddr) -> Result<Vec<DeviceId>>;

    /// Registers a SIM; conflict if its ICCID or IMSI exists, not found if its device does not.
    async fn insert_sim(&self, sim: &Sim) -> Result<Sim>;
    /// One SIM by ICCID.
    async fn get_sim(&self, tenant: &TenantId, iccid: &Iccid) -> Result<Option<Sim>>;
    /// One SIM by IMSI.
    async fn get_sim_by_imsi(&self, tenant: &TenantId, imsi: &Imsi) -> Result<Option<Sim>>;
    /// Replaces an existing SIM's fields.
    async fn update_sim(&self, sim: &Sim) -> Result<Sim>;
    /// Deletes a SIM. True when it existed.
    async fn delete_sim(&self, tenant: &TenantId, iccid: &Iccid) -> Result<bool>;
    /// SIMs matching `filter`, ordered by ICCID.
    async fn list_sims(
        &self,
        tenant: &TenantId,
        filter: &SimFilter,
        page: &PageRequest,
    ) -> Result<Page<Sim>>;

    /// Upserts a batch of fleet-file rows in one transaction: devices by id, their SIM by ICCID
    /// (bound to the device, any other SIM bound to it before is unbound). Rows that would break
    /// a rule (an ICCID or IMSI already used by another device, a repeated device id in the
    /// batch) are rejected individually and the rest land. With `dry_run` nothing is written
    /// but the outcome is the same.
    async fn import_batch(
        &self,
        tenant: &TenantId,
        rows: &[(u64, DeviceRecord)],
        dry_run: bool,
    ) -> Result<BatchOutcome>;
    /// Devices after `after` (by id) with their first bound SIM, for export.
    async fn export_page(
        &self,
        tenant: &TenantId,
        after: Option<&DeviceId>,
        limit: u32,
    ) -> Result<Vec<DeviceRecord>>;
    /// Number of devices in the tenant.
    async fn count_devices(&self, tenant: &TenantId) -> Result<u64>;
    /// Refreshes the query planner's statistics. Bulk loads call it as tables grow: PostgreSQL
    /// plans a fresh table as tiny and would scan it for every batch's look-ups, which makes a
    /// large import quadratic.
    async fn refresh_statistics(&self) -> Result<()>;

    /// Stores a token's metadata and secret hash; replaces a token with the same id.
    async fn put_token(&self, token: &ApiToken, hash: &[u8; 32]) -> Result<()>;
    /// The token whose secret hashes to `hash`.
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>>;
    /// All tokens (metadata only).
    async fn list_tokens(&self) -> Result<Vec<ApiToken>>;
    /// Deletes a token. True when it existed.
    async fn delete_token(&self, id: &str) -> Result<bool>;
}

/// Opens the store named by `database_url` (`postgres://...`), or the embedded SQLite file
/// `rampart.db` under `data_dir`, and applies pending migrations.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresStore::connect(url).await?))
        }
        Some(url) if url.starts_with("sqlite:") => {
            Ok(Arc::new(SqliteStore::connect_url(url).await?))
        }
        Some(url) => Err(StoreError::Invalid(ValidationError::Invalid {
            field: "database_url",
            value: url.split('@').next_back().unwrap_or_default().to_owned(),
            reason: "must start with postgres://, postgresql:// or sqlite:",
        })),
        None => Ok(Arc::new(SqliteStore::open_dir(data_dir).await?)),
    }
}
