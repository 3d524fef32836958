//! Declarative behaviour rules, in the spirit of AWS IoT Device Defender: a metric of the
//! device's own reports, a comparison, a fixed threshold or a statistical one (a percentile of
//! the profile's population, from a bounded log-bucket histogram), optionally a duration the
//! metric is summed over, datapoints to alarm and to clear, and a quiet period after a clear.
//! One active alarm per device and rule: repeats update it.
//!
//! ```toml
//! [[rules.rules]]
//! name = "exfiltration"
//! profiles = ["meter"]
//! metric = "bytes_out"
//! comparison = "gt"
//! threshold = { statistic = "p99" }
//! duration_s = 300
//! datapoints_to_alarm = 2
//! datapoints_to_clear = 3
//! severity = "medium"
//! ```
//!
//! The same schema arrives as JSON through the API ([`Rule::from_json`]); either way a rule
//! is checked whole and every problem is named by its field path ([`RuleProblem`]).

mod state;

use std::collections::HashSet;
use std::fmt;

use rampart_core::DeviceMetrics;
use serde::{Deserialize, Serialize};

pub(crate) use state::{RuleOutcome, RuleState};

use crate::ConfigError;
use crate::finding::Severity;

/// Longest duration a rule may sum over, seconds (one day).
pub const MAX_DURATION_S: u32 = 86_400;
/// Longest quiet period after a clear, seconds (30 days).
pub const MAX_SUPPRESS_S: u32 = 30 * 86_400;
/// Most datapoints to alarm or to clear.
pub const MAX_DATAPOINTS: u32 = 10_000;
/// Longest rule name, bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Most rules in a set (positions are 16-bit in the per-device state).
pub const MAX_RULES: usize = u16::MAX as usize - 1;

/// What a rule measures, per device report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Bytes sent in the interval.
    BytesOut,
    /// Bytes received.
    BytesIn,
    /// Packets sent.
    PacketsOut,
    /// Packets received.
    PacketsIn,
    /// Established TCP connections.
    EstablishedConnections,
    /// Distinct remote addresses of the connections.
    DistinctDestinations,
    /// Distinct remote ports of the connections.
    DistinctPorts,
    /// TCP and UDP ports listening.
    ListeningPorts,
}

impl Metric {
    /// Whether reports carry an amount per interval (which a duration can sum), rather than
    /// a level at the time of the report.
    pub fn is_counter(self) -> bool {
        matches!(
            self,
            Self::BytesOut | Self::BytesIn | Self::PacketsOut | Self::PacketsIn
        )
    }

    fn of(self, m: &DeviceMetrics) -> Option<f64> {
        let v = match self {
            Self::BytesOut => m.bytes_out? as f64,
            Self::BytesIn => m.bytes_in? as f64,
            Self::PacketsOut => m.packets_out? as f64,
            Self::PacketsIn => m.packets_in? as f64,
            Self::EstablishedConnections => f64::from(m.established_connections?),
            Self::DistinctDestinations => m
                .remote_addrs
                .iter()
                .map(|a| a.ip())
                .collect::<HashSet<_>>()
                .len() as f64,
            Self::DistinctPorts => m
                .remote_addrs
                .iter()
                .map(|a| a.port())
                .collect::<HashSet<_>>()
                .len() as f64,
            Self::ListeningPorts => {
                (m.listening_tcp_ports.len() + m.listening_udp_ports.len()) as f64
            }
        };
        Some(v)
    }
}

/// How the value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Greater than.
    Gt,
    /// Greater or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less or equal.
    Le,
}

/// A fixed value or a percentile of the profile's population.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Limit {
    /// Fixed.
    Value {
        /// The value.
        value: f64,
    },
    /// Statistical: `p50`, `p90`, `p95`, `p99`, `p99.9`.
    Statistic {
        /// The percentile's name.
        statistic: Statistic,
    },
}

/// Percentiles a statistical threshold can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statistic {
    /// Median.
    #[serde(rename = "p50")]
    P50,
    /// 90th percentile.
    #[serde(rename = "p90")]
    P90,
    /// 95th.
    #[serde(rename = "p95")]
    P95,
    /// 99th.
    #[serde(rename = "p99")]
    P99,
    /// 99.9th.
    #[serde(rename = "p99.9")]
    P999,
}

impl Statistic {
    fn q(self) -> f64 {
        match self {
            Self::P50 => 0.5,
            Self::P90 => 0.9,
            Self::P95 => 0.95,
            Self::P99 => 0.99,
            Self::P999 => 0.999,
        }
    }
}

fn one() -> u32 {
    1
}

/// One behaviour rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique name (findings name it).
    pub name: String,
    /// Profiles it applies to; empty: every device.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// What is measured.
    pub metric: Metric,
    /// How.
    pub comparison: Comparison,
    /// Against what.
    pub threshold: Limit,
    /// Counter metrics only: the value judged is the sum of the device's reports of the last
    /// this many seconds (event time), not the one report; 0: each report alone.
    #[serde(default)]
    pub duration_s: u32,
    /// Consecutive breaching reports that raise the alarm.
    #[serde(default = "one")]
    pub datapoints_to_alarm: u32,
    /// Consecutive normal reports that clear it.
    #[serde(default = "one")]
    pub datapoints_to_clear: u32,
    /// After a clear, no new alarm for this long, seconds.
    #[serde(default)]
    pub suppress_s: u32,
    /// Severity of the finding.
    #[serde(default)]
    pub severity: Severity,
    /// Population samples a statistical threshold needs before it is used.
    #[serde(default = "min_samples")]
    pub min_samples: u32,
}

fn min_samples() -> u32 {
    100
}

/// What is wrong with a rule: the field's path (`threshold.value`, `rules.rules[2].name`) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl RuleProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl From<RuleProblem> for ConfigError {
    fn from(p: RuleProblem) -> Self {
        Self::invalid(p.field, p.reason)
    }
}

impl Rule {
    /// A rule from its JSON form (the TOML schema, as JSON), checked whole: every problem,
    /// each with its field path. A value of the wrong type or an unknown key is the only
    /// problem reported (nothing after it can be read).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<RuleProblem>> {
        if !value.is_object() {
            return Err(vec![RuleProblem::new("rule", "must be an object")]);
        }
        let rule: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "rule".to_owned() } else { path };
            vec![RuleProblem::new(field, e.into_inner().to_string())]
        })?;
        let problems = rule.problems();
        if problems.is_empty() {
            Ok(rule)
        } else {
            Err(problems)
        }
    }

    /// Rules from a file: JSON (one object, or an array of them) or TOML (one rule as
    /// top-level keys, or several as `[[rules]]` tables). Every rule is checked whole; the
    /// fields of problems are prefixed with the rule's position when there are several.
    pub fn parse_many(text: &str) -> Result<Vec<Self>, Vec<RuleProblem>> {
        let trimmed = text.trim_start();
        // `[` opens a JSON array or a TOML table header: JSON first, then TOML.
        let json = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => Some(Ok(v)),
                Err(e) if trimmed.starts_with('{') => Some(Err(e)),
                Err(_) => None,
            }
        } else {
            None
        };
        let (values, many) = match json {
            Some(Ok(serde_json::Value::Array(items))) => (items, true),
            Some(Ok(one)) => (vec![one], false),
            Some(Err(e)) => return Err(vec![RuleProblem::new("json", e.to_string())]),
            None => {
                let t: toml::Table = toml::from_str(text).map_err(|e| {
                    vec![RuleProblem::new(
                        "toml",
                        e.to_string().trim_end().replace('\n', " "),
                    )]
                })?;
                match t.get("rules") {
                    Some(toml::Value::Array(items)) if t.len() == 1 => (
                        items
                            .iter()
                            .map(|i| serde_json::to_value(i).unwrap_or_default())
                            .collect(),
                        true,
                    ),
                    _ => (vec![serde_json::to_value(t).unwrap_or_default()], false),
                }
            }
        };
        if values.is_empty() {
            return Err(vec![RuleProblem::new("rules", "no rule in the file")]);
        }
        let mut rules: Vec<Self> = Vec::new();
        let mut problems = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let at = |field: &str| {
                if many {
                    format!("rules[{i}].{field}")
                } else {
                    field.to_owned()
                }
            };
            match Self::from_json(v) {
                Ok(r) if rules.iter().any(|x| x.name == r.name) => problems.push(RuleProblem::new(
                    at("name"),
                    format!("must be unique: {:?} is used twice", r.name),
                )),
                Ok(r) => rules.push(r),
                Err(ps) => problems.extend(
                    ps.into_iter()
                        .map(|p| RuleProblem::new(at(&p.field), p.reason)),
                ),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    /// Every rule this rule breaks, fields named relative to the rule.
    pub fn problems(&self) -> Vec<RuleProblem> {
        let mut out = Vec::new();
        let mut bad = |field: &str, reason: &str| out.push(RuleProblem::new(field, reason));
        let name = self.name.trim();
        if name.is_empty() {
            bad("name", "must not be empty");
        } else if self.name.len() > MAX_NAME_BYTES {
            bad("name", "must be at most 128 bytes");
        } else if self.name.chars().any(char::is_control) || name != self.name {
            bad(
                "name",
                "must not contain control characters or surrounding spaces",
            );
        }
        for (i, p) in self.profiles.iter().enumerate() {
            if p.trim().is_empty() {
                bad(&format!("profiles[{i}]"), "must not be empty");
            }
        }
        if let Limit::Value { value } = self.threshold
            && !value.is_finite()
        {
            bad("threshold.value", "must be finite");
        }
        if self.duration_s > MAX_DURATION_S {
            bad("duration_s", "must be at most 86400 (one day)");
        } else if self.duration_s > 0 && !self.metric.is_counter() {
            bad(
                "duration_s",
                "applies to counter metrics only (bytes_out, bytes_in, packets_out, packets_in)",
            );
        }
        for (field, v) in [
            ("datapoints_to_alarm", self.datapoints_to_alarm),
            ("datapoints_to_clear", self.datapoints_to_clear),
        ] {
            if v == 0 || v > MAX_DATAPOINTS {
                bad(field, "datapoints to alarm and to clear must be 1 to 10000");
            }
        }
        if self.suppress_s > MAX_SUPPRESS_S {
            bad("suppress_s", "must be at most 2592000 (30 days)");
        }
        out
    }

    /// The first problem, as a configuration error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(p) => Err(p.into()),
            None => Ok(()),
        }
    }
}

/// All rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
}

impl RuleConfig {
    /// Every problem of every rule, and names used twice; fields named from the
    /// configuration's root (`rules.rules[i].field`).
    pub fn problems(&self) -> Vec<RuleProblem> {
        let mut out = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            for p in r.problems() {
                out.push(RuleProblem::new(
                    format!("rules.rules[{i}].{}", p.field),
                    p.reason,
                ));
            }
            if !names.insert(r.name.as_str()) {
                out.push(RuleProblem::new(
                    format!("rules.rules[{i}].name"),
                    format!("must be unique: {:?} is used twice", r.name),
                ));
            }
        }
        if self.rules.len() > MAX_RULES {
            out.push(RuleProblem::new("rules.rules", "too many rules"));
        }
        out
    }

    /// The first problem, as a configuration error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(p) => Err(p.into()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
