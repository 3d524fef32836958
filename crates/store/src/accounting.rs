//! Persistence of RADIUS accounting: what the accounting server writes (in one transaction per
//! group of requests, before it acknowledges them) and what the API and attribution read.

use std::net::IpAddr;

use async_trait::async_trait;
use ipnet::IpNet;
use rampart_core::{
    AccountingRecord, DeviceId, Iccid, Imsi, RadiusSession, SimSighting, TenantId, Timestamp,
    UnknownImsi, UsageHour,
};

use crate::Result;

/// One change the accounting server makes; a batch of them is applied atomically.
#[derive(Debug, Clone)]
pub enum AccountingOp {
    /// Appends an accepted Accounting-Request to the record log.
    Record(Box<AccountingRecord>),
    /// Creates or replaces a live session.
    UpsertSession(Box<RadiusSession>),
    /// Ends one session (Stop, timeout).
    EndSession {
        /// The NAS.
        nas: String,
        /// Acct-Session-Id.
        session_id: String,
    },
    /// Ends every session of a NAS (Accounting-On/Off: the NAS restarted).
    EndNas {
        /// The NAS.
        nas: String,
    },
    /// Adds octets to an IMSI's hourly usage.
    Usage {
        /// The IMSI.
        imsi: String,
        /// Start of the hour (event time, ms).
        hour: Timestamp,
        /// Octets from the device.
        up: u64,
        /// Octets to the device.
        down: u64,
    },
    /// Records the last IMEISV and location of an IMSI (kept when not newer).
    Sighting(Box<SimSighting>),
    /// Counts a record from an IMSI that is not a registered SIM.
    UnknownImsi {
        /// The IMSI as sent.
        imsi: String,
        /// Event time.
        at: Timestamp,
        /// The NAS.
        nas: String,
        /// IMEISV, when sent.
        imeisv: Option<String>,
    },
}

/// Which live sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions attributed to this tenant (`None`: all tenants and unattributed ones).
    pub tenant: Option<TenantId>,
    /// Only this device.
    pub device_id: Option<DeviceId>,
    /// Only this IMSI.
    pub imsi: Option<String>,
    /// Only the session holding this address (IPv4, or an IPv6 address inside the prefix).
    pub ip: Option<IpAddr>,
    /// At most this many (1-1000).
    pub limit: u32,
}

/// A registered SIM's binding, as attribution needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBinding {
    /// Card.
    pub iccid: Iccid,
    /// Subscriber identity.
    pub imsi: Imsi,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Bound device.
    pub device_id: Option<DeviceId>,
}

/// A device's static addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIps {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Device.
    pub device_id: DeviceId,
    /// Its addresses or networks.
    pub ips: Vec<IpNet>,
}

/// A stored accounting record with its log position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in the log (increasing).
    pub id: i64,
    /// The record.
    pub record: AccountingRecord,
}

/// Accounting state. Cross-tenant by nature: the packet gateway does not know tenants, so
/// writes are keyed by NAS, session and IMSI; reads that serve the API take a tenant filter.
#[async_trait]
pub trait AccountingStore: Send + Sync {
    /// Applies `ops` in order in one transaction: all or nothing.
    async fn apply_accounting(&self, ops: &[AccountingOp]) -> Result<()>;
    /// Applies `ops` like [`Self::apply_accounting`] and records, in the same transaction,
    /// that the accounting journal `journal` is folded up to byte `position`: after a crash
    /// the journal is replayed from exactly there, so no entry is folded twice or never.
    async fn fold_accounting(
        &self,
        journal: &str,
        position: u64,
        ops: &[AccountingOp],
    ) -> Result<()>;
    /// How far the journal `journal` is folded (`None`: never).
    async fn folded_position(&self, journal: &str) -> Result<Option<u64>>;
    /// Every live session, to rebuild the in-memory table on start.
    async fn all_sessions(&self) -> Result<Vec<RadiusSession>>;
    /// Live sessions matching `filter`, newest update first.
    async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<RadiusSession>>;
    /// Hourly usage of these IMSIs from `since` on, summed per hour, oldest first.
    async fn usage_since(&self, imsis: &[&str], since: Timestamp) -> Result<Vec<UsageHour>>;
    /// Last sightings of these IMSIs, newest first.
    async fn sightings(&self, imsis: &[&str]) -> Result<Vec<SimSighting>>;
    /// IMSIs seen but not registered, most recently seen first.
    async fn unknown_imsis(&self, limit: u32) -> Result<Vec<UnknownImsi>>;
    /// Accounting records of one Acct-Session-Id, in log order.
    async fn records_for_session(&self, session_id: &str) -> Result<Vec<StoredRecord>>;
    /// Number of stored accounting records.
    async fn count_accounting_records(&self) -> Result<u64>;
    /// Registered SIMs of all tenants ordered by ICCID, after `after`, for the attribution
    /// index.
    async fn sim_bindings_page(&self, after: Option<&Iccid>, limit: u32)
    -> Result<Vec<SimBinding>>;
    /// Devices of all tenants that have static addresses, ordered by (tenant, id), after
    /// `after`.
    async fn static_ips_page(
        &self,
        after: Option<(&TenantId, &DeviceId)>,
        limit: u32,
    ) -> Result<Vec<StaticIps>>;
}
