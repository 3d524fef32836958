//! The written form of a playbook and its conversion (with every check that needs only the
//! one playbook) into the model.

use rampart_core::Label;
use serde::{Deserialize, Serialize};

use crate::action::{ActionName, build_action, is_label, label_message};
use crate::duration::DurationSpec;
use crate::error::{ErrorKind, Issue, issues_text};
use crate::model::{
    ConditionSpec, DEFAULT_PRIORITY, MAX_APPROVAL_TIMEOUT, MAX_LIST, MAX_STEPS, MAX_WAIT,
    MatchSpec, OnTimeout, Playbook, Step,
};
use crate::severity::{Scope, Severity};

const MAX_DESCRIPTION: usize = 4_096;

fn yes() -> bool {
    true
}

fn default_priority() -> i64 {
    DEFAULT_PRIORITY
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlaybook {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "default_priority")]
    priority: i64,
    #[serde(rename = "match")]
    matcher: RawMatch,
    steps: Vec<RawStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    min_severity: Severity,
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    scope: Scope,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<ActionName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    continue_on_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    approval: Option<RawApproval>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    condition: Option<ConditionSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    timeout: String,
    #[serde(default)]
    on_timeout: OnTimeout,
}

impl From<&Playbook> for RawPlaybook {
    fn from(p: &Playbook) -> Self {
        let labels = |v: &[Label]| v.iter().map(ToString::to_string).collect();
        Self {
            name: p.name.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
            priority: p.priority,
            matcher: RawMatch {
                kinds: p.matcher.kinds.clone(),
                min_severity: p.matcher.min_severity,
                profiles: labels(&p.matcher.profiles),
                groups: labels(&p.matcher.groups),
                tags: labels(&p.matcher.tags),
                scope: p.matcher.scope,
            },
            steps: p.steps.iter().map(RawStep::from).collect(),
        }
    }
}

impl From<&Step> for RawStep {
    fn from(s: &Step) -> Self {
        match s {
            Step::Action {
                action,
                continue_on_failure,
            } => {
                let raw = crate::action::RawAction::from(action);
                Self {
                    action: Some(raw.action),
                    endpoint: raw.endpoint,
                    group: raw.group,
                    continue_on_failure: continue_on_failure.then_some(true),
                    ..Self::default()
                }
            }
            Step::Wait { duration } => Self {
                wait: Some(duration.to_string()),
                ..Self::default()
            },
            Step::Approval {
                timeout,
                on_timeout,
            } => Self {
                approval: Some(RawApproval {
                    timeout: timeout.to_string(),
                    on_timeout: *on_timeout,
                }),
                ..Self::default()
            },
            Step::Condition { condition } => Self {
                condition: Some(condition.clone()),
                ..Self::default()
            },
        }
    }
}

/// Whether `s` is a playbook name: 1-64 of lowercase letters, digits, `-`, `_`, `.`, starting
/// with a letter or digit (names end up in file names, URLs and timelines).
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// Whether `s` is a finding kind as detection writes it (`sim_imei_mismatch`), or `*`.
pub(crate) fn valid_kind(s: &str) -> bool {
    s == "*"
        || (!s.is_empty()
            && s.len() <= 64
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

fn labels(path: &str, items: &[String], issues: &mut Vec<Issue>) -> Vec<Label> {
    if items.len() > MAX_LIST {
        issues.push(Issue::invalid(path, format!("at most {MAX_LIST} entries")));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, s) in items.iter().enumerate() {
        match Label::parse(s) {
            Ok(l) if is_label(s) => out.push(l),
            _ => issues.push(Issue::invalid(format!("{path}[{i}]"), label_message(s))),
        }
    }
    out
}

fn duration(
    path: &str,
    text: &str,
    max: DurationSpec,
    what: &str,
    issues: &mut Vec<Issue>,
) -> Option<DurationSpec> {
    match text.parse::<DurationSpec>() {
        Err(e) => {
            issues.push(Issue::invalid(path, e.to_string()));
            None
        }
        Ok(d) if d.as_secs() == 0 => {
            issues.push(Issue::invalid(
                path,
                format!("{what} of {text:?} is too short: at least 1s"),
            ));
            None
        }
        Ok(d) if d > max => {
            issues.push(Issue::invalid(
                path,
                format!("{what} of {text:?} is longer than the {max} maximum"),
            ));
            None
        }
        Ok(d) => Some(d),
    }
}

impl RawPlaybook {
    /// Converts and checks; every problem is collected, not just the first.
    pub(crate) fn into_playbook(self) -> Result<Playbook, Vec<Issue>> {
        let mut issues = Vec::new();
        if !valid_name(&self.name) {
            issues.push(Issue::invalid(
                "name",
                format!(
                    "invalid playbook name {:?}: 1-64 lowercase letters, digits, '-', '_' or \
                     '.', starting with a letter or digit",
                    self.name
                ),
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION
            || self
                .description
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            issues.push(Issue::invalid(
                "description",
                format!("at most {MAX_DESCRIPTION} characters without control characters"),
            ));
        }
        let m = self.matcher;
        if m.kinds.is_empty() {
            issues.push(Issue::new(
                ErrorKind::MissingField,
                "match.kinds",
                "name at least one finding kind (\"*\" for every kind)",
            ));
        }
        if m.kinds.len() > MAX_LIST {
            issues.push(Issue::invalid(
                "match.kinds",
                format!("at most {MAX_LIST} entries"),
            ));
        }
        for (i, k) in m.kinds.iter().enumerate() {
            if !valid_kind(k) {
                issues.push(Issue::invalid(
                    format!("match.kinds[{i}]"),
                    format!("invalid finding kind {k:?}: a snake_case name or \"*\""),
                ));
            }
        }
        let matcher = MatchSpec {
            profiles: labels("match.profiles", &m.profiles, &mut issues),
            groups: labels("match.groups", &m.groups, &mut issues),
            tags: labels("match.tags", &m.tags, &mut issues),
            kinds: m.kinds,
            min_severity: m.min_severity,
            scope: m.scope,
        };
        if self.steps.is_empty() {
            issues.push(Issue::invalid(
                "steps",
                "a playbook needs at least one step",
            ));
        }
        if self.steps.len() > MAX_STEPS {
            issues.push(Issue::invalid(
                "steps",
                format!("at most {MAX_STEPS} steps"),
            ));
        }
        let last = self.steps.len().saturating_sub(1);
        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, raw) in self.steps.into_iter().enumerate() {
            let path = format!("steps[{i}]");
            if let Some(step) = raw.into_step(&path, &mut issues) {
                if i == last && matches!(step, Step::Approval { .. }) {
                    issues.push(Issue::invalid(
                        format!("{path}.approval"),
                        "an approval cannot be the last step: there is nothing after it to \
                         approve",
                    ));
                }
                if matcher.scope == Scope::Host
                    && let Some(a) = step.action().filter(|a| a.needs_device())
                {
                    issues.push(Issue::invalid(
                        format!("{path}.action"),
                        format!(
                            "\"{}\" needs a registered device, but this playbook only matches \
                             host findings (scope = \"host\")",
                            a.name()
                        ),
                    ));
                }
                steps.push(step);
            }
        }
        if issues.is_empty() && !steps.iter().any(|s| s.action().is_some()) {
            issues.push(Issue::invalid(
                "steps",
                "a playbook needs at least one action step",
            ));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Playbook {
            name: self.name,
            description: self.description,
            enabled: self.enabled,
            priority: self.priority,
            matcher,
            steps,
        })
    }
}

impl RawStep {
    fn into_step(self, path: &str, issues: &mut Vec<Issue>) -> Option<Step> {
        let present: Vec<&str> = [
            ("action", self.action.is_some()),
            ("wait", self.wait.is_some()),
            ("approval", self.approval.is_some()),
            ("condition", self.condition.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.then_some(n))
        .collect();
        match present.as_slice() {
            [] => {
                issues.push(Issue::new(
                    ErrorKind::MissingField,
                    path,
                    "a step needs one of `action`, `wait`, `approval` or `condition`",
                ));
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                issues.push(Issue::invalid(
                    format!("{path}.{second}"),
                    format!("a step takes one of `action`, `wait`, `approval` or `condition`, not both `{first}` and `{second}`"),
                ));
                return None;
            }
        }
        if self.action.is_none() {
            for (field, given) in [
                ("endpoint", self.endpoint.is_some()),
                ("group", self.group.is_some()),
                ("continue_on_failure", self.continue_on_failure.is_some()),
            ] {
                if given {
                    issues.push(Issue::new(
                        ErrorKind::UnknownField,
                        format!("{path}.{field}"),
                        format!("`{field}` only goes with an `action` step"),
                    ));
                }
            }
        }
        if let Some(name) = self.action {
            let action = build_action(
                path,
                name,
                self.endpoint.as_deref(),
                self.group.as_deref(),
                issues,
            )?;
            return Some(Step::Action {
                action,
                continue_on_failure: self.continue_on_failure.unwrap_or(false),
            });
        }
        if let Some(text) = self.wait {
            let duration = duration(&format!("{path}.wait"), &text, MAX_WAIT, "a wait", issues)?;
            return Some(Step::Wait { duration });
        }
        if let Some(a) = self.approval {
            let timeout = duration(
                &format!("{path}.approval.timeout"),
                &a.timeout,
                MAX_APPROVAL_TIMEOUT,
                "an approval timeout",
                issues,
            )?;
            return Some(Step::Approval {
                timeout,
                on_timeout: a.on_timeout,
            });
        }
        let condition = self.condition?;
        if condition.is_empty() {
            issues.push(Issue::new(
                ErrorKind::MissingField,
                format!("{path}.condition"),
                "a condition needs at least one of `finding_active`, `device_state`, \
                 `min_severity`",
            ));
            return None;
        }
        Some(Step::Condition { condition })
    }
}

impl Playbook {
    /// Checks everything that needs only this playbook (what loading a file checks, minus
    /// positions): names, lists, step shapes, duration bounds, an approval not last, host
    /// scope only with actions that work on hosts.
    pub fn validate(&self) -> Result<(), crate::PlaybookErrors> {
        RawPlaybook::from(self)
            .into_playbook()
            .map(drop)
            .map_err(|issues| {
                crate::PlaybookErrors::sorted(
                    issues
                        .into_iter()
                        .map(|i| crate::PlaybookError {
                            file: self.name.clone(),
                            line: None,
                            column: None,
                            path: i.path,
                            kind: i.kind,
                            message: i.message,
                        })
                        .collect(),
                )
            })
    }
}

impl Serialize for Playbook {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawPlaybook::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Playbook {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawPlaybook::deserialize(d)?
            .into_playbook()
            .map_err(|issues| serde::de::Error::custom(issues_text(&issues)))
    }
}
