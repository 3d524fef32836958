//! The containment actions a playbook or mass action can name.
//!
//! These are intents, not executions: the caller maps each one onto the containment layer
//! (RADIUS Disconnect/CoA, broker, registry, webhooks, SIEM, certificate authority) for the
//! run's target.

use std::fmt;

use rampart_core::Label;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, Issue};
use crate::spans::join;

/// An action's name as written in files (`action = "radius_disconnect"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    /// See [`ActionSpec::RadiusDisconnect`].
    RadiusDisconnect,
    /// See [`ActionSpec::RadiusQuarantine`].
    RadiusQuarantine,
    /// See [`ActionSpec::BrokerDisable`].
    BrokerDisable,
    /// See [`ActionSpec::BrokerKick`].
    BrokerKick,
    /// See [`ActionSpec::RegistryQuarantine`].
    RegistryQuarantine,
    /// See [`ActionSpec::RegistryDisable`].
    RegistryDisable,
    /// See [`ActionSpec::MoveToGroup`].
    MoveToGroup,
    /// See [`ActionSpec::Webhook`].
    Webhook,
    /// See [`ActionSpec::Siem`].
    Siem,
    /// See [`ActionSpec::RevokeCertificate`].
    RevokeCertificate,
}

impl ActionName {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RadiusDisconnect => "radius_disconnect",
            Self::RadiusQuarantine => "radius_quarantine",
            Self::BrokerDisable => "broker_disable",
            Self::BrokerKick => "broker_kick",
            Self::RegistryQuarantine => "registry_quarantine",
            Self::RegistryDisable => "registry_disable",
            Self::MoveToGroup => "move_to_group",
            Self::Webhook => "webhook",
            Self::Siem => "siem",
            Self::RevokeCertificate => "revoke_certificate",
        }
    }
}

impl fmt::Display for ActionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One containment action with its parameters.
///
/// Serialised as a table/object tagged by `action`, e.g. `{"action":"webhook","endpoint":"x"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ActionSpec {
    /// End the device's RADIUS session (Disconnect-Request). Not reversible.
    RadiusDisconnect,
    /// Apply the NAS's quarantine policy by CoA; undone by restoring the normal policy.
    RadiusQuarantine,
    /// Disable the device's broker account; undone by enabling it.
    BrokerDisable,
    /// Drop the device's MQTT connection. Not reversible (it may reconnect).
    BrokerKick,
    /// Set the device's registry state to `quarantined`; undone by restoring its prior state.
    RegistryQuarantine,
    /// Set the device's registry state to `disabled`; undone by restoring its prior state.
    RegistryDisable,
    /// Add the device to a group (e.g. one with a restrictive policy); undone by removing it.
    MoveToGroup {
        /// The group.
        group: Label,
    },
    /// POST the run's context to a configured webhook endpoint. Not reversible.
    Webhook {
        /// The endpoint's configured name.
        endpoint: String,
    },
    /// Send an event to the SIEM. Not reversible.
    Siem,
    /// Revoke the device's certificate. Not reversible.
    RevokeCertificate,
}

impl ActionSpec {
    /// The action's name.
    pub fn name(&self) -> ActionName {
        match self {
            Self::RadiusDisconnect => ActionName::RadiusDisconnect,
            Self::RadiusQuarantine => ActionName::RadiusQuarantine,
            Self::BrokerDisable => ActionName::BrokerDisable,
            Self::BrokerKick => ActionName::BrokerKick,
            Self::RegistryQuarantine => ActionName::RegistryQuarantine,
            Self::RegistryDisable => ActionName::RegistryDisable,
            Self::MoveToGroup { .. } => ActionName::MoveToGroup,
            Self::Webhook { .. } => ActionName::Webhook,
            Self::Siem => ActionName::Siem,
            Self::RevokeCertificate => ActionName::RevokeCertificate,
        }
    }

    /// Whether an undo exists, so the action belongs in an undo plan.
    pub fn is_reversible(&self) -> bool {
        matches!(
            self,
            Self::RadiusQuarantine
                | Self::BrokerDisable
                | Self::RegistryQuarantine
                | Self::RegistryDisable
                | Self::MoveToGroup { .. }
        )
    }

    /// Whether the action needs a registered device. RADIUS actions also work on a host
    /// address (they address the session holding it); webhooks and SIEM events need nothing.
    pub fn needs_device(&self) -> bool {
        !matches!(
            self,
            Self::RadiusDisconnect | Self::RadiusQuarantine | Self::Webhook { .. } | Self::Siem
        )
    }
}

impl fmt::Display for ActionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MoveToGroup { group } => write!(f, "move_to_group {group}"),
            Self::Webhook { endpoint } => write!(f, "webhook {endpoint}"),
            other => f.write_str(other.name().as_str()),
        }
    }
}

/// The written form of an action: its name plus the parameter fields some actions take.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub(crate) action: ActionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
}

impl From<&ActionSpec> for RawAction {
    fn from(a: &ActionSpec) -> Self {
        let (endpoint, group) = match a {
            ActionSpec::Webhook { endpoint } => (Some(endpoint.clone()), None),
            ActionSpec::MoveToGroup { group } => (None, Some(group.to_string())),
            _ => (None, None),
        };
        Self {
            action: a.name(),
            endpoint,
            group,
        }
    }
}

/// Whether `s` can name a webhook endpoint: 1-64 of letters, digits, `-`, `_`, `.`.
pub(crate) fn valid_endpoint_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Builds an action from its written form, recording what is wrong under `path`.
pub(crate) fn build_action(
    path: &str,
    name: ActionName,
    endpoint: Option<&str>,
    group: Option<&str>,
    issues: &mut Vec<Issue>,
) -> Option<ActionSpec> {
    let before = issues.len();
    let takes_endpoint = name == ActionName::Webhook;
    let takes_group = name == ActionName::MoveToGroup;
    if endpoint.is_some() && !takes_endpoint {
        issues.push(Issue::new(
            ErrorKind::UnknownField,
            join(path, "endpoint"),
            format!("`endpoint` only goes with action \"webhook\", not \"{name}\""),
        ));
    }
    if group.is_some() && !takes_group {
        issues.push(Issue::new(
            ErrorKind::UnknownField,
            join(path, "group"),
            format!("`group` only goes with action \"move_to_group\", not \"{name}\""),
        ));
    }
    let spec = match name {
        ActionName::Webhook => match endpoint {
            None => {
                issues.push(Issue::new(
                    ErrorKind::MissingField,
                    join(path, "endpoint"),
                    "action \"webhook\" needs an `endpoint`",
                ));
                None
            }
            Some(e) if !valid_endpoint_name(e) => {
                issues.push(Issue::invalid(
                    join(path, "endpoint"),
                    format!("invalid endpoint name {e:?}: 1-64 letters, digits, '-', '_' or '.'"),
                ));
                None
            }
            Some(e) => Some(ActionSpec::Webhook {
                endpoint: e.to_owned(),
            }),
        },
        ActionName::MoveToGroup => match group {
            None => {
                issues.push(Issue::new(
                    ErrorKind::MissingField,
                    join(path, "group"),
                    "action \"move_to_group\" needs a `group`",
                ));
                None
            }
            Some(g) => match Label::parse(g) {
                Ok(group) if group.as_str() == g => Some(ActionSpec::MoveToGroup { group }),
                _ => {
                    issues.push(Issue::invalid(join(path, "group"), label_message(g)));
                    None
                }
            },
        },
        ActionName::RadiusDisconnect => Some(ActionSpec::RadiusDisconnect),
        ActionName::RadiusQuarantine => Some(ActionSpec::RadiusQuarantine),
        ActionName::BrokerDisable => Some(ActionSpec::BrokerDisable),
        ActionName::BrokerKick => Some(ActionSpec::BrokerKick),
        ActionName::RegistryQuarantine => Some(ActionSpec::RegistryQuarantine),
        ActionName::RegistryDisable => Some(ActionSpec::RegistryDisable),
        ActionName::Siem => Some(ActionSpec::Siem),
        ActionName::RevokeCertificate => Some(ActionSpec::RevokeCertificate),
    };
    if issues.len() > before { None } else { spec }
}

/// The message for a group, tag or profile name that is not a label.
pub(crate) fn label_message(s: &str) -> String {
    format!("invalid name {s:?}: 1-64 letters, digits, '-', '_', '.', ':', '/' or '='")
}

/// Whether `s` is a label exactly as written (no surrounding space).
pub(crate) fn is_label(s: &str) -> bool {
    Label::parse(s).is_ok_and(|l| l.as_str() == s)
}

impl Serialize for ActionSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawAction::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for ActionSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawAction::deserialize(d)?;
        let mut issues = Vec::new();
        build_action(
            "",
            raw.action,
            raw.endpoint.as_deref(),
            raw.group.as_deref(),
            &mut issues,
        )
        .ok_or_else(|| serde::de::Error::custom(crate::error::issues_text(&issues)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form() {
        let a = ActionSpec::Webhook {
            endpoint: "sim-platform".into(),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"action":"webhook","endpoint":"sim-platform"}"#);
        assert_eq!(serde_json::from_str::<ActionSpec>(&json).unwrap(), a);
        let q: ActionSpec = serde_json::from_str(r#"{"action":"registry_quarantine"}"#).unwrap();
        assert_eq!(q, ActionSpec::RegistryQuarantine);
        let err = serde_json::from_str::<ActionSpec>(r#"{"action":"siem","group":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`group` only goes with"), "{err}");
        let err = serde_json::from_str::<ActionSpec>(r#"{"action":"webhook"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs an `endpoint`"), "{err}");
    }

    #[test]
    fn reversibility() {
        assert!(ActionSpec::RadiusQuarantine.is_reversible());
        assert!(!ActionSpec::RadiusDisconnect.is_reversible());
        assert!(
            ActionSpec::MoveToGroup {
                group: Label::parse("quarantine").unwrap()
            }
            .is_reversible()
        );
        assert!(!ActionSpec::Siem.needs_device());
        assert!(ActionSpec::RegistryDisable.needs_device());
    }
}
