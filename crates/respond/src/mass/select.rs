//! Resolving a selector against the registry.

use rampart_core::{Device, DeviceId, Label, TenantId};
use rampart_playbook::mass::Selector;
use rampart_store::{DeviceFilter, PageRequest, Store};

use super::{FindingKinds, MassError, store_error};

/// Registry page size (the store's maximum).
const PAGE: u32 = 1_000;
/// Up to this many selector device ids are fetched one by one; more, and the registry is
/// paged like for any other selector.
const DIRECT_LOOKUPS: usize = 1_000;
/// Ids shown by a dry run.
pub(super) const SAMPLE: usize = 20;

/// The devices a selector matched.
pub(super) struct Selection {
    pub(super) count: u64,
    /// Every matched id, sorted (empty when not kept).
    pub(super) ids: Vec<DeviceId>,
    /// The first matched ids, sorted.
    pub(super) sample: Vec<DeviceId>,
}

/// The registry filter that narrows the query: each field only when the selector names
/// exactly one value of it (the store filters on one value per field); [`Selector::matches`]
/// checks the rest.
fn narrowing(selector: &Selector) -> DeviceFilter {
    fn single(set: &std::collections::BTreeSet<String>) -> Option<Label> {
        match set.len() {
            1 => set.first().and_then(|s| Label::parse(s).ok()),
            _ => None,
        }
    }
    DeviceFilter {
        profile: single(&selector.profiles),
        group: single(&selector.groups),
        tag: single(&selector.tags),
        state: match selector.states.as_slice() {
            [one] => Some(*one),
            _ => None,
        },
        firmware: match selector.firmware.len() {
            1 => selector
                .firmware
                .first()
                .filter(|f| !f.ends_with('*'))
                .cloned(),
            _ => None,
        },
        ..DeviceFilter::default()
    }
}

/// Pages through the tenant's devices and keeps those `selector` matches; refuses a
/// selection of more than `max` devices as soon as it gets there.
pub(super) async fn select(
    store: &dyn Store,
    kinds: &dyn FindingKinds,
    tenant: &TenantId,
    selector: &Selector,
    max: usize,
    keep_ids: bool,
) -> Result<Selection, MassError> {
    let mut selection = Selection {
        count: 0,
        ids: Vec::new(),
        sample: Vec::new(),
    };
    let mut take = |device: &Device| -> Result<(), MassError> {
        let found = if selector.finding_kinds.is_empty() {
            Vec::new()
        } else {
            kinds.kinds(tenant, &device.id)
        };
        if !selector.matches(device, &found) {
            return Ok(());
        }
        selection.count += 1;
        if selection.count > max as u64 {
            return Err(MassError::Invalid {
                message: format!("the selector matches more than {max} devices"),
                details: vec![format!(
                    "narrow the selector, or split the action: at most {max} targets per mass action"
                )],
            });
        }
        if selection.sample.len() < SAMPLE {
            selection.sample.push(device.id.clone());
        }
        if keep_ids {
            selection.ids.push(device.id.clone());
        }
        Ok(())
    };

    if !selector.device_ids.is_empty() && selector.device_ids.len() <= DIRECT_LOOKUPS {
        // Sorted already (a set), so the selection comes out sorted like a registry page.
        for id in &selector.device_ids {
            let Ok(id) = DeviceId::parse(id) else {
                continue;
            };
            if let Some(device) = store.get_device(tenant, &id).await.map_err(store_error)? {
                take(&device)?;
            }
        }
        return Ok(selection);
    }

    let filter = narrowing(selector);
    let mut page = PageRequest {
        after: None,
        limit: PAGE,
    };
    loop {
        let devices = store
            .list_devices(tenant, &filter, &page)
            .await
            .map_err(store_error)?;
        for device in &devices.items {
            take(device)?;
        }
        match devices.next {
            Some(next) if !devices.items.is_empty() => page.after = Some(next),
            _ => break,
        }
    }
    Ok(selection)
}
