//! Attribution: which device an address belonged to at a time.
//!
//! Order: a live RADIUS session holding the address → its IMSI → the registered SIM → the
//! device the SIM is bound to; else a registry static address or network (longest prefix);
//! else unattributed. The registry side is an in-memory [`RegistryIndex`] rebuilt from the
//! store, so the hot path never waits on the database.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, PoisonError, RwLock};

use ipnet::IpNet;
use metrics::Counter;
use rampart_core::{DeviceId, RadiusSession, TenantId, Timestamp};

use crate::table::SessionTable;

/// Metric: attributions by result (`session`, `static_ip`, `unknown_imsi`, `unattributed`,
/// `ambiguous`).
pub const ATTRIBUTION_TOTAL: &str = "rampart_attribution_total";

/// Who an address belonged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribution {
    /// A registered device.
    Device {
        /// Owning tenant.
        tenant: TenantId,
        /// The device.
        device_id: DeviceId,
        /// How it was found.
        via: Via,
    },
    /// A live session whose IMSI is not a registered SIM (or a SIM bound to no device).
    UnknownImsi(String),
    /// Nothing names it (or two tenants claim the same static address).
    Unattributed,
}

/// The evidence behind an attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A live RADIUS session.
    Session,
    /// The registry's static address or network.
    StaticIp,
}

/// A registered SIM as attribution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEntry {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Bound device.
    pub device_id: Option<DeviceId>,
}

/// A static network's owner: interned tenant and device id (shared: handing it out is a
/// reference-count increment, not a parse and copy per flow).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    tenant: u32,
    device: DeviceId,
}

/// The registry's answer for a static address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticMatch {
    /// No static network contains it.
    None,
    /// One device owns the most specific network containing it.
    One(TenantId, DeviceId),
    /// Several devices (usually of different tenants with overlapping private ranges) do.
    Ambiguous,
}

/// foldhash: cheaper than SipHash on these integer keys, probed once or more per flow; seeded
/// per process.
type Fast = foldhash::fast::RandomState;

/// IMSI → SIM and static address → device, compact enough for millions of devices: IMSIs are
/// kept as integers, tenants interned, and static networks in one hash map per prefix length
/// (IPv4 mapped into IPv6) probed from the longest length in use.
#[derive(Debug, Default)]
pub struct RegistryIndex {
    tenants: Vec<TenantId>,
    tenant_ids: HashMap<TenantId, u32>,
    imsis: HashMap<u64, (u32, Option<DeviceId>), Fast>,
    nets: HashMap<(u128, u8), Vec<Owner>, Fast>,
    lengths: BTreeSet<u8>,
}

impl RegistryIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn tenant(&mut self, t: &TenantId) -> u32 {
        if let Some(&i) = self.tenant_ids.get(t) {
            return i;
        }
        let i = u32::try_from(self.tenants.len()).unwrap_or(u32::MAX);
        self.tenants.push(t.clone());
        self.tenant_ids.insert(t.clone(), i);
        i
    }

    /// Adds a registered SIM. IMSIs that are not 6-15 digits are ignored (the core type
    /// guarantees it; this keeps the index total).
    pub fn add_sim(&mut self, imsi: &str, tenant: &TenantId, device: Option<&DeviceId>) {
        let Some(key) = imsi_key(imsi) else { return };
        let t = self.tenant(tenant);
        self.imsis.insert(key, (t, device.cloned()));
    }

    /// Adds a device's static address or network.
    pub fn add_static(&mut self, net: IpNet, tenant: &TenantId, device: &DeviceId) {
        let (start, len) = v6_key(net);
        let t = self.tenant(tenant);
        let entry = self.nets.entry((start, len)).or_default();
        if !entry.iter().any(|o| o.tenant == t && o.device == *device) {
            entry.push(Owner {
                tenant: t,
                device: device.clone(),
            });
        }
        self.lengths.insert(len);
    }

    /// Number of SIMs indexed.
    pub fn sims(&self) -> usize {
        self.imsis.len()
    }

    /// Number of static networks indexed.
    pub fn statics(&self) -> usize {
        self.nets.len()
    }

    /// The registered SIM with this IMSI.
    pub fn sim(&self, imsi: &str) -> Option<SimEntry> {
        let (t, d) = self.imsis.get(&imsi_key(imsi)?)?;
        Some(SimEntry {
            tenant: self.tenants.get(*t as usize)?.clone(),
            device_id: d.clone(),
        })
    }

    /// The device owning `ip` statically: the most specific network wins; two different
    /// devices at that specificity make it ambiguous.
    pub fn static_owner(&self, ip: IpAddr) -> StaticMatch {
        let addr = u128::from(mapped(ip));
        for &len in self.lengths.iter().rev() {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            if let Some(owners) = self.nets.get(&(addr & mask, len)) {
                let [o] = owners.as_slice() else {
                    return StaticMatch::Ambiguous;
                };
                return match self.tenants.get(o.tenant as usize) {
                    Some(t) => StaticMatch::One(t.clone(), o.device.clone()),
                    None => StaticMatch::None,
                };
            }
        }
        StaticMatch::None
    }
}

fn imsi_key(imsi: &str) -> Option<u64> {
    if !(6..=15).contains(&imsi.len()) || !imsi.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A leading 1 keeps leading zeros significant ("001..." and "01..." differ).
    format!("1{imsi}").parse().ok()
}

fn mapped(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn v6_key(net: IpNet) -> (u128, u8) {
    let net = net.trunc();
    let len = match net {
        IpNet::V4(n) => n.prefix_len() + 96,
        IpNet::V6(n) => n.prefix_len(),
    };
    (u128::from(mapped(net.network())), len)
}

/// The attribution function over the live table and the registry index.
#[derive(Debug, Clone)]
pub struct Attributor {
    sessions: Arc<RwLock<SessionTable>>,
    registry: Arc<RwLock<Arc<RegistryIndex>>>,
    tally: Arc<Tally>,
}

/// [`ATTRIBUTION_TOTAL`] handles registered once (the labelled macro builds and hashes its key
/// on every call; attribution runs once or twice per flow). Taken when the attributor is built,
/// so it must be built after the metrics recorder is installed.
#[derive(Debug)]
struct Tally {
    session: Counter,
    static_ip: Counter,
    unknown_imsi: Counter,
    unattributed: Counter,
    ambiguous: Counter,
}

impl Tally {
    fn new() -> Self {
        let c = |label: &'static str| metrics::counter!(ATTRIBUTION_TOTAL, "result" => label);
        Self {
            session: c("session"),
            static_ip: c("static_ip"),
            unknown_imsi: c("unknown_imsi"),
            unattributed: c("unattributed"),
            ambiguous: c("ambiguous"),
        }
    }
}

impl Attributor {
    /// Attribution over shared state.
    pub fn new(
        sessions: Arc<RwLock<SessionTable>>,
        registry: Arc<RwLock<Arc<RegistryIndex>>>,
    ) -> Self {
        Self {
            sessions,
            registry,
            tally: Arc::new(Tally::new()),
        }
    }

    /// The live session of an IMSI (what containment sends Disconnect/CoA for).
    pub fn session_of_imsi(&self, imsi: &str) -> Option<RadiusSession> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_imsi(imsi)
            .cloned()
    }

    /// The registry index in use.
    pub fn registry(&self) -> Arc<RegistryIndex> {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the registry index (after a reload).
    pub fn set_registry(&self, index: RegistryIndex) {
        *self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(index);
    }

    /// Who `ip` belonged to at event time `at`. A session counts only from its start on.
    pub fn attribute(&self, ip: IpAddr, at: Timestamp) -> Attribution {
        let result = self.resolve(ip, at);
        let counter = match &result {
            Attribution::Device {
                via: Via::Session, ..
            } => &self.tally.session,
            Attribution::Device {
                via: Via::StaticIp, ..
            } => &self.tally.static_ip,
            Attribution::UnknownImsi(_) => &self.tally.unknown_imsi,
            Attribution::Unattributed => &self.tally.unattributed,
        };
        counter.increment(1);
        result
    }

    fn resolve(&self, ip: IpAddr, at: Timestamp) -> Attribution {
        let registry = self.registry();
        let imsi = {
            let table = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
            table
                .by_ip(ip)
                .filter(|s| s.started_at <= at)
                .and_then(|s| s.imsi.clone())
        };
        if let Some(imsi) = imsi {
            return match registry.sim(&imsi) {
                Some(SimEntry {
                    tenant,
                    device_id: Some(device_id),
                }) => Attribution::Device {
                    tenant,
                    device_id,
                    via: Via::Session,
                },
                _ => Attribution::UnknownImsi(imsi),
            };
        }
        match registry.static_owner(ip) {
            StaticMatch::One(tenant, device_id) => Attribution::Device {
                tenant,
                device_id,
                via: Via::StaticIp,
            },
            StaticMatch::None => Attribution::Unattributed,
            StaticMatch::Ambiguous => {
                self.tally.ambiguous.increment(1);
                Attribution::Unattributed
            }
        }
    }

    /// Fills in a session's tenant and device from its IMSI (when the record arrives).
    pub fn stamp(registry: &RegistryIndex, s: &mut RadiusSession) {
        let entry = s.imsi.as_deref().and_then(|i| registry.sim(i));
        s.tenant = entry.as_ref().map(|e| e.tenant.clone());
        s.device_id = entry.and_then(|e| e.device_id);
    }
}
