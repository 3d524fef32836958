//! Suppression windows: an operator mutes some findings for a while (maintenance, a known
//! test) without turning detection off. A muted finding is still raised and recorded, marked
//! with the window that muted it; what is muted is only its hand-over to incident response.
//!
//! Windows are wall-clock time, as operators give them (`from`, `until`), and each is
//! bounded ([`MAX_WINDOW_MS`]) so that a forgotten one ends by itself.
//!
//! A window belongs to one tenant and matches that tenant's findings only, or to no tenant
//! (platform operators) and matches every finding, those about unregistered hosts included;
//! such a window cannot name devices, profiles, groups or tags, which only mean something
//! within a tenant.

use rampart_core::{DeviceId, Label, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, FindingKind};
use crate::intel::DeviceContext;
use crate::rules::RuleProblem;

/// Longest window, milliseconds (30 days).
pub const MAX_WINDOW_MS: i64 = 30 * 86_400_000;
/// Longest reason, characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Which findings a window mutes: at most one of `device`, `profile`, `group`, `tag` (whom)
/// and at most one of `kind`, `rule` (what). Unset: every finding in the window's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// One device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceId>,
    /// Devices of this profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Label>,
    /// Devices in this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Label>,
    /// Devices with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Label>,
    /// Findings of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FindingKind>,
    /// Findings of this declarative rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Selector {
    /// Whether matching needs the device's registry context (profile, groups, tags).
    pub fn needs_context(&self) -> bool {
        self.profile.is_some() || self.group.is_some() || self.tag.is_some()
    }

    fn names_devices(&self) -> bool {
        self.device.is_some() || self.needs_context()
    }

    /// Whether `f` is selected; `ctx` is asked only when the selector needs it.
    fn matches(&self, f: &Finding, ctx: &mut dyn FnMut() -> Option<DeviceContext>) -> bool {
        if self.kind.is_some_and(|k| k != f.kind)
            || self
                .rule
                .as_deref()
                .is_some_and(|r| f.rule.as_deref() != Some(r))
            || self
                .device
                .as_ref()
                .is_some_and(|d| f.subject.device_id.as_ref() != Some(d))
        {
            return false;
        }
        if !self.needs_context() {
            return true;
        }
        let Some(c) = ctx() else {
            return false;
        };
        let has = |list: &[String], want: &Option<Label>| {
            want.as_ref()
                .is_none_or(|w| list.iter().any(|x| x == w.as_str()))
        };
        self.profile
            .as_ref()
            .is_none_or(|p| c.profile.as_deref() == Some(p.as_str()))
            && has(&c.groups, &self.group)
            && has(&c.tags, &self.tag)
    }
}

/// An operator's suppression window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Identifier.
    pub id: String,
    /// The tenant whose findings it mutes; `None`: every finding (platform operators).
    pub tenant: Option<TenantId>,
    /// Which findings.
    #[serde(default)]
    pub selector: Selector,
    /// Start (wall clock).
    pub from: Timestamp,
    /// End, exclusive (wall clock).
    pub until: Timestamp,
    /// Why, for the audit log and the people reading the board.
    pub reason: String,
    /// Who created it.
    pub actor: String,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Suppression {
    /// Whether the window is open at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.from <= now && now < self.until
    }

    /// Whether the window, open or not, mutes `f`; `ctx` gives the device's registry context
    /// and is asked only when the selector needs it.
    pub fn selects(&self, f: &Finding, ctx: &mut dyn FnMut() -> Option<DeviceContext>) -> bool {
        if let Some(t) = &self.tenant
            && f.subject.tenant.as_ref() != Some(t)
        {
            return false;
        }
        self.selector.matches(f, ctx)
    }
}

/// What an operator asks for: `{"selector": {...}, "from": "...", "until": "...",
/// "reason": "..."}`; `from` defaults to now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressionRequest {
    /// Which findings.
    #[serde(default)]
    pub selector: Selector,
    /// Start; now when absent.
    #[serde(default)]
    pub from: Option<Timestamp>,
    /// End.
    pub until: Timestamp,
    /// Why.
    pub reason: String,
}

impl SuppressionRequest {
    /// A request from its JSON form; a value of the wrong type or an unknown key is named by
    /// its path (an unknown key by itself).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<RuleProblem>> {
        if !value.is_object() {
            return Err(vec![RuleProblem::new("suppression", "must be an object")]);
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "suppression".to_owned()
            } else {
                path
            };
            vec![RuleProblem::new(field, e.into_inner().to_string())]
        })
    }

    /// The window this request opens in `tenant` (`None`: every tenant), checked whole at
    /// wall-clock time `now`: every problem, each with its field.
    pub fn into_suppression(
        self,
        id: String,
        tenant: Option<TenantId>,
        actor: &str,
        now: Timestamp,
    ) -> Result<Suppression, Vec<RuleProblem>> {
        let mut out = Vec::new();
        let mut bad = |f: &str, r: &str| out.push(RuleProblem::new(f, r));
        let s = &self.selector;
        let whom = [
            s.device.is_some(),
            s.profile.is_some(),
            s.group.is_some(),
            s.tag.is_some(),
        ];
        if whom.iter().filter(|x| **x).count() > 1 {
            bad(
                "selector",
                "name at most one of device, profile, group and tag",
            );
        }
        if s.kind.is_some() && s.rule.is_some() {
            bad("selector", "name at most one of kind and rule");
        }
        if let Some(r) = &s.rule
            && (r.trim().is_empty() || r.len() > crate::rules::MAX_NAME_BYTES)
        {
            bad("selector.rule", "must be a rule name (1-128 bytes)");
        }
        if tenant.is_none() && s.names_devices() {
            bad(
                "selector",
                "a window over every tenant cannot name devices, profiles, groups or tags; \
                 address a tenant",
            );
        }
        let from = self.from.unwrap_or(now);
        if self.until <= now {
            bad("until", "must be in the future");
        }
        if self.until <= from {
            bad("until", "must be after from");
        } else if self.until.0.saturating_sub(from.0) > MAX_WINDOW_MS {
            bad("until", "the window may last at most 30 days");
        }
        if from.0 > now.0.saturating_add(MAX_WINDOW_MS) {
            bad("from", "must be at most 30 days ahead");
        }
        let reason = self.reason.trim();
        if reason.is_empty() {
            bad("reason", "must not be empty");
        } else if reason.chars().count() > MAX_REASON_CHARS {
            bad("reason", "must be at most 500 characters");
        } else if reason.chars().any(char::is_control) {
            bad("reason", "must be one line without control characters");
        }
        if !out.is_empty() {
            return Err(out);
        }
        Ok(Suppression {
            id,
            tenant,
            selector: self.selector,
            from,
            until: self.until,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
            created_at: now,
        })
    }
}

/// The windows in force, asked once per raised finding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionSet {
    items: Vec<Suppression>,
}

impl SuppressionSet {
    /// A set of windows (ended ones may be included; they never match).
    pub fn new(mut items: Vec<Suppression>) -> Self {
        items.sort_by(|a, b| a.id.cmp(&b.id));
        Self { items }
    }

    /// The windows.
    pub fn items(&self) -> &[Suppression] {
        &self.items
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first window (by id) open at `now` that mutes `f`. The registry context is asked
    /// at most once, and only when a candidate window needs it.
    pub fn muting(
        &self,
        f: &Finding,
        now: Timestamp,
        ctx: impl FnOnce() -> Option<DeviceContext>,
    ) -> Option<&Suppression> {
        let mut ctx = Some(ctx);
        let mut got: Option<Option<DeviceContext>> = None;
        let mut lookup = || {
            if got.is_none() {
                got = Some(ctx.take().and_then(|c| c()));
            }
            got.clone().flatten()
        };
        self.items
            .iter()
            .find(|s| s.active(now) && s.selects(f, &mut lookup))
    }

    /// Drops windows ended before `now`; returns how many.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let before = self.items.len();
        self.items.retain(|s| s.until > now);
        before - self.items.len()
    }
}

#[cfg(test)]
mod tests;
