//! Which devices a mass action covers.

use std::collections::BTreeSet;

use rampart_core::{Device, DeviceId, DeviceState};
use serde::{Deserialize, Serialize};

use crate::action::{is_label, label_message};
use crate::error::Issue;
use crate::raw::valid_kind;

/// The most entries in one selector list (device ids excepted).
pub const MAX_SELECTOR_LIST: usize = 256;
/// The most device ids one selector may name.
pub const MAX_SELECTOR_DEVICE_IDS: usize = 1_000_000;

/// Criteria a device must meet; every non-empty field must hold, an empty field accepts any.
/// Lists are sets (sorted, no duplicates), so look-ups stay cheap with many device ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Device profile, any of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub profiles: BTreeSet<String>,
    /// Group membership, any of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub groups: BTreeSet<String>,
    /// Tags, any of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// Firmware versions, any of; a trailing `*` matches by prefix (`"2.3.*"`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub firmware: BTreeSet<String>,
    /// Registry states, any of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<DeviceState>,
    /// Device ids, any of.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub device_ids: BTreeSet<String>,
    /// Finding kinds the device has, any of (`"*"`: any finding at all).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub finding_kinds: BTreeSet<String>,
}

impl Selector {
    /// Whether no criterion is given (a selector matching every device; plans refuse it).
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
            && self.groups.is_empty()
            && self.tags.is_empty()
            && self.firmware.is_empty()
            && self.states.is_empty()
            && self.device_ids.is_empty()
            && self.finding_kinds.is_empty()
    }

    /// Whether `device`, which currently has findings of `finding_kinds_of_device`, is
    /// selected.
    pub fn matches(&self, device: &Device, finding_kinds_of_device: &[String]) -> bool {
        let any_label = |wanted: &BTreeSet<String>, have: &[rampart_core::Label]| {
            wanted.is_empty() || have.iter().any(|l| wanted.contains(l.as_str()))
        };
        (self.profiles.is_empty()
            || device
                .profile
                .as_ref()
                .is_some_and(|p| self.profiles.contains(p.as_str())))
            && any_label(&self.groups, &device.groups)
            && any_label(&self.tags, &device.tags)
            && (self.firmware.is_empty()
                || device
                    .firmware
                    .as_deref()
                    .is_some_and(|fw| self.firmware.iter().any(|p| firmware_matches(p, fw))))
            && (self.states.is_empty() || self.states.contains(&device.state))
            && (self.device_ids.is_empty() || self.device_ids.contains(device.id.as_str()))
            && (self.finding_kinds.is_empty()
                || finding_kinds_of_device
                    .iter()
                    .any(|k| self.finding_kinds.contains(k) || self.finding_kinds.contains("*")))
    }

    /// The ids of the selected devices, sorted: the target list of a mass run.
    pub fn select<'a, I>(&self, devices: I) -> Vec<DeviceId>
    where
        I: IntoIterator<Item = (&'a Device, &'a [String])>,
    {
        let mut ids: Vec<DeviceId> = devices
            .into_iter()
            .filter(|(d, kinds)| self.matches(d, kinds))
            .map(|(d, _)| d.id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub(crate) fn check(&self, path: &str, issues: &mut Vec<Issue>) {
        if self.is_empty() {
            issues.push(Issue::new(
                crate::ErrorKind::MissingField,
                path,
                "name at least one criterion: a selector without any would match every device",
            ));
        }
        for (field, set) in [
            ("profiles", &self.profiles),
            ("groups", &self.groups),
            ("tags", &self.tags),
        ] {
            if set.len() > MAX_SELECTOR_LIST {
                issues.push(Issue::invalid(
                    format!("{path}.{field}"),
                    format!("at most {MAX_SELECTOR_LIST} entries"),
                ));
            }
            for s in set.iter().filter(|s| !is_label(s)) {
                issues.push(Issue::invalid(format!("{path}.{field}"), label_message(s)));
            }
        }
        if self.firmware.len() > MAX_SELECTOR_LIST {
            issues.push(Issue::invalid(
                format!("{path}.firmware"),
                format!("at most {MAX_SELECTOR_LIST} entries"),
            ));
        }
        for fw in &self.firmware {
            if fw.is_empty() || fw.len() > 64 || fw.chars().any(|c| c.is_control() || c == ';') {
                issues.push(Issue::invalid(
                    format!("{path}.firmware"),
                    format!("invalid firmware pattern {fw:?}: 1-64 characters, no control characters or ;"),
                ));
            }
        }
        if self.device_ids.len() > MAX_SELECTOR_DEVICE_IDS {
            issues.push(Issue::invalid(
                format!("{path}.device_ids"),
                format!("at most {MAX_SELECTOR_DEVICE_IDS} entries"),
            ));
        }
        // Report at most a few bad ids: a pasted list can be long.
        for id in self
            .device_ids
            .iter()
            .filter(|id| DeviceId::parse(id).map_or(true, |d| d.as_str() != id.as_str()))
            .take(5)
        {
            issues.push(Issue::invalid(
                format!("{path}.device_ids"),
                format!("invalid device id {id:?}"),
            ));
        }
        if self.finding_kinds.len() > MAX_SELECTOR_LIST {
            issues.push(Issue::invalid(
                format!("{path}.finding_kinds"),
                format!("at most {MAX_SELECTOR_LIST} entries"),
            ));
        }
        for k in self.finding_kinds.iter().filter(|k| !valid_kind(k)) {
            issues.push(Issue::invalid(
                format!("{path}.finding_kinds"),
                format!("invalid finding kind {k:?}: a snake_case name or \"*\""),
            ));
        }
    }
}

fn firmware_matches(pattern: &str, firmware: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => firmware.starts_with(prefix),
        None => pattern == firmware,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::{Label, TenantId};

    fn device(id: &str) -> Device {
        let mut d = Device::new(TenantId::default(), DeviceId::parse(id).unwrap());
        d.profile = Some(Label::parse("meter").unwrap());
        d.groups = vec![Label::parse("site-a").unwrap()];
        d.tags = vec![Label::parse("pilot").unwrap()];
        d.firmware = Some("2.3.1".into());
        d
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn criteria() {
        let d = device("m-1");
        let none: &[String] = &[];
        let kinds = ["data_cap".to_owned()];
        assert!(Selector::default().matches(&d, none));
        let s = Selector {
            profiles: set(&["meter"]),
            firmware: set(&["2.3.*"]),
            ..Selector::default()
        };
        assert!(s.matches(&d, none));
        let s = Selector {
            firmware: set(&["2.3"]),
            ..Selector::default()
        };
        assert!(!s.matches(&d, none));
        let s = Selector {
            groups: set(&["site-b", "site-a"]),
            tags: set(&["pilot"]),
            states: vec![DeviceState::Active],
            ..Selector::default()
        };
        assert!(s.matches(&d, none));
        let s = Selector {
            states: vec![DeviceState::Quarantined],
            ..Selector::default()
        };
        assert!(!s.matches(&d, none));
        let s = Selector {
            finding_kinds: set(&["data_cap"]),
            ..Selector::default()
        };
        assert!(!s.matches(&d, none));
        assert!(s.matches(&d, &kinds));
        let s = Selector {
            device_ids: set(&["m-2"]),
            ..Selector::default()
        };
        assert!(!s.matches(&d, none));
        let devices = [device("b"), device("a")];
        let all = Selector {
            profiles: set(&["meter"]),
            ..Selector::default()
        };
        let picked = all.select(devices.iter().map(|d| (d, none)));
        assert_eq!(
            picked.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
