//! The registry as detection sees it: a device's profile and the SIM bound to it with its IMEI
//! policy, so the binding detector judges a SIM against the IMEIs the operator allowed rather
//! than only against the first one it learned; its groups and tags, which suppression windows
//! select by.
//!
//! Detection asks from its worker threads (plain threads, outside the async runtime) when a
//! device is first seen and on every accounting record. Answers are cached per device for a
//! short time, so a policy changed through the API applies within that time, and a burst of
//! interim updates costs one look-up per device, not one per packet. Only a device never seen
//! waits for the store; an expired answer is used once more while a background look-up
//! refreshes it, so a detection worker never queues behind the database for devices it knows
//! (under a burst, that queue was most of the time from a packet to its finding). A store
//! error keeps the last answer (or none) and is counted; detection never stops for the
//! database.
//!
//! The same answers, with the device's state and SIMs, serve the responder
//! ([`RecentDevices`]): a finding's device was just looked up here, so a playbook's first
//! action need not wait for the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rampart_bus::Subject;
use rampart_core::{DeviceId, TenantId};
use rampart_detect::{ContextProvider, DeviceContext};
use rampart_respond::{RecentDevice, RecentDevices};
use rampart_store::{PageRequest, SimFilter, Store};
use tokio::runtime::Handle;

/// Metric: registry look-ups detection made, by result.
const LOOKUPS: &str = "rampart_detection_context_lookups_total";

/// When an answer was fetched, and the answer (`None`: the registry does not know the device).
type Cached = (Instant, Option<Registered>);

/// SIMs read per device (a device has one or two; the responder reads the store past this).
const SIMS: u32 = 16;

/// A device as the registry described it.
#[derive(Clone)]
struct Registered {
    context: DeviceContext,
    state: rampart_core::DeviceState,
    /// Bound SIMs' IMSIs; empty when there were more than [`SIMS`].
    imsis: Vec<String>,
}

type Key = (TenantId, DeviceId);

/// Cached registry context, looked up in the store on a miss.
pub(crate) struct RegistryContext {
    shared: Arc<Shared>,
    runtime: Handle,
}

struct Shared {
    store: Arc<dyn Store>,
    ttl: Duration,
    capacity: usize,
    cache: RwLock<HashMap<Key, Cached>>,
    /// Devices whose expired answer is being refreshed in the background.
    refreshing: Mutex<HashSet<Key>>,
}

impl RegistryContext {
    /// A provider over `store`, its answers kept for `ttl`, at most `capacity` devices cached.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        runtime: Handle,
        ttl: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                ttl,
                capacity: capacity.max(1),
                cache: RwLock::new(HashMap::new()),
                refreshing: Mutex::new(HashSet::new()),
            }),
            runtime,
        }
    }
}

impl Shared {
    async fn fetch(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> rampart_store::Result<Option<Registered>> {
        let Some(d) = self.store.get_device(tenant, device).await? else {
            return Ok(None);
        };
        let filter = SimFilter {
            device_id: Some(device.clone()),
            ..SimFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: SIMS,
        };
        let sims = self.store.list_sims(tenant, &filter, &page).await?;
        // A device with several SIMs: the one with an IMEI lock speaks for the binding.
        let sim = sims
            .items
            .iter()
            .find(|s| s.imei_policy != rampart_core::ImeiPolicy::None)
            .or_else(|| sims.items.first())
            .cloned();
        let imsis = if sims.items.len() < SIMS as usize {
            sims.items
                .iter()
                .map(|s| s.imsi.as_str().to_owned())
                .collect()
        } else {
            Vec::new()
        };
        Ok(Some(Registered {
            context: DeviceContext {
                profile: d.profile.map(|p| p.as_str().to_owned()),
                sim,
                groups: d.groups.iter().map(|g| g.as_str().to_owned()).collect(),
                tags: d.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            },
            state: d.state,
            imsis,
        }))
    }

    /// Looks the device up and caches the answer; on error, counts it and returns `Err`.
    async fn lookup(&self, key: &Key) -> Result<Option<Registered>, ()> {
        match self.fetch(&key.0, &key.1).await {
            Ok(v) => {
                metrics::counter!(LOOKUPS, "result" => if v.is_some() { "found" } else { "unknown" })
                    .increment(1);
                self.remember(key.clone(), v.clone());
                Ok(v)
            }
            Err(e) => {
                metrics::counter!(LOOKUPS, "result" => "error").increment(1);
                tracing::warn!(error = %e, "registry look-up for detection failed");
                Err(())
            }
        }
    }

    fn remember(&self, key: Key, value: Option<Registered>) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.capacity && !cache.contains_key(&key) {
            // Full: forget what has expired; if nothing has, forget everything (the next
            // look-ups refill it) rather than grow without bound.
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= self.capacity {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), value));
    }
}

impl ContextProvider for RegistryContext {
    fn context(&self, subject: &Subject) -> Option<DeviceContext> {
        let (Some(tenant), Some(device)) = (&subject.tenant, &subject.device_id) else {
            return None;
        };
        let key = (tenant.clone(), device.clone());
        let stale = {
            let cache = self
                .shared
                .cache
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            match cache.get(&key) {
                Some((at, v)) if at.elapsed() < self.shared.ttl => {
                    return v.as_ref().map(|r| r.context.clone());
                }
                Some((_, v)) => Some(v.as_ref().map(|r| r.context.clone())),
                None => None,
            }
        };
        if let Some(stale) = stale {
            // Known device, expired answer: refresh in the background (once per device at a
            // time) and judge this observation on what the registry said a moment ago.
            let first = self
                .shared
                .refreshing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone());
            if first {
                let shared = self.shared.clone();
                self.runtime.spawn(async move {
                    let _counted = shared.lookup(&key).await;
                    shared
                        .refreshing
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key);
                });
            }
            return stale;
        }
        // Detection workers are plain threads, so blocking on the runtime is allowed here;
        // inside the runtime (tests driving a shard from a task) there is no answer yet.
        if Handle::try_current().is_ok() {
            return None;
        }
        self.runtime
            .block_on(self.shared.lookup(&key))
            .ok()
            .flatten()
            .map(|r| r.context)
    }
}

impl RecentDevices for RegistryContext {
    /// Answers younger than twice the time-to-live: detection refreshes an expired answer
    /// when it next sees the device, so a device with traffic is never older than that.
    fn recent(&self, tenant: &TenantId, device: &DeviceId) -> Option<RecentDevice> {
        let cache = self
            .shared
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (at, v) = cache.get(&(tenant.clone(), device.clone()))?;
        if at.elapsed() >= self.shared.ttl.saturating_mul(2) {
            return None;
        }
        let r = v.as_ref()?;
        Some(RecentDevice {
            profile: r.context.profile.clone(),
            groups: r.context.groups.clone(),
            tags: r.context.tags.clone(),
            state: r.state,
            imsis: r.imsis.clone(),
        })
    }
}
