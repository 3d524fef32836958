//! Builds the attribution index from the store, page by page.

use rampart_sessions::RegistryIndex;
use rampart_store::{Store, StoreError};

const PAGE: u32 = 20_000;

/// Reads every registered SIM and static address (all tenants) into a fresh index.
pub async fn load_index(store: &dyn Store) -> Result<RegistryIndex, StoreError> {
    let mut index = RegistryIndex::new();
    let mut after = None;
    loop {
        let page = store.sim_bindings_page(after.as_ref(), PAGE).await?;
        for s in &page {
            index.add_sim(s.imsi.as_str(), &s.tenant, s.device_id.as_ref());
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.iccid.clone()),
            _ => break,
        }
    }
    let mut after = None;
    loop {
        let page = store
            .static_ips_page(after.as_ref().map(|(t, d)| (t, d)), PAGE)
            .await?;
        for d in &page {
            for net in &d.ips {
                index.add_static(*net, &d.tenant, &d.device_id);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                after = Some((last.tenant.clone(), last.device_id.clone()));
            }
            _ => break,
        }
    }
    tracing::debug!(
        sims = index.sims(),
        statics = index.statics(),
        "attribution index loaded"
    );
    Ok(index)
}
