//! The registry as detection sees it: a device's profile and the SIM bound to it with its IMEI
//! policy, so the binding detector judges a SIM against the IMEIs the operator allowed rather
//! than only against the first one it learned.
//!
//! Detection asks from its worker threads (plain threads, outside the async runtime) when a
//! device is first seen and on every accounting record. Answers are cached per device for a
//! short time, so a policy changed through the API applies within that time, and a burst of
//! interim updates costs one look-up per device, not one per packet. A store error keeps the
//! last answer (or none) and is counted; detection never stops for the database.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rampart_bus::Subject;
use rampart_core::{DeviceId, TenantId};
use rampart_detect::{ContextProvider, DeviceContext};
use rampart_store::{PageRequest, SimFilter, Store};
use tokio::runtime::Handle;

/// Metric: registry look-ups detection made, by result.
const LOOKUPS: &str = "rampart_detection_context_lookups_total";

/// When an answer was fetched, and the answer (`None`: the registry does not know the device).
type Cached = (Instant, Option<DeviceContext>);

/// Cached registry context, looked up in the store on a miss.
pub(crate) struct RegistryContext {
    store: Arc<dyn Store>,
    runtime: Handle,
    ttl: Duration,
    capacity: usize,
    cache: RwLock<HashMap<(TenantId, DeviceId), Cached>>,
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
            store,
            runtime,
            ttl,
            capacity: capacity.max(1),
            cache: RwLock::new(HashMap::new()),
        }
    }

    async fn fetch(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> rampart_store::Result<Option<DeviceContext>> {
        let Some(d) = self.store.get_device(tenant, device).await? else {
            return Ok(None);
        };
        let filter = SimFilter {
            device_id: Some(device.clone()),
            ..SimFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: 8,
        };
        let sims = self.store.list_sims(tenant, &filter, &page).await?;
        // A device with several SIMs: the one with an IMEI lock speaks for the binding.
        let sim = sims
            .items
            .iter()
            .find(|s| s.imei_policy != rampart_core::ImeiPolicy::None)
            .or_else(|| sims.items.first())
            .cloned();
        Ok(Some(DeviceContext {
            profile: d.profile.map(|p| p.as_str().to_owned()),
            sim,
        }))
    }

    fn remember(&self, key: (TenantId, DeviceId), value: Option<DeviceContext>) {
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
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            match cache.get(&key) {
                Some((at, v)) if at.elapsed() < self.ttl => return v.clone(),
                Some((_, v)) => v.clone(),
                None => None,
            }
        };
        // Detection workers are plain threads, so blocking on the runtime is allowed here;
        // inside the runtime (tests driving a shard from a task) the cached answer is used.
        if Handle::try_current().is_ok() {
            return stale;
        }
        match self.runtime.block_on(self.fetch(tenant, device)) {
            Ok(v) => {
                metrics::counter!(LOOKUPS, "result" => if v.is_some() { "found" } else { "unknown" })
                    .increment(1);
                self.remember(key, v.clone());
                v
            }
            Err(e) => {
                metrics::counter!(LOOKUPS, "result" => "error").increment(1);
                tracing::warn!(error = %e, "registry look-up for detection failed");
                stale
            }
        }
    }
}
