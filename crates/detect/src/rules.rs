//! Declarative behaviour rules, in the spirit of AWS IoT Device Defender: a metric of the
//! device's own reports, a comparison, a fixed threshold or a statistical one (a percentile of
//! the profile's population, from a bounded log-bucket histogram), datapoints to alarm and to
//! clear, and a suppression window after a clear. One active alarm per device and rule:
//! repeats update it.
//!
//! ```toml
//! [[rules.rules]]
//! name = "exfiltration"
//! profiles = ["meter"]
//! metric = "bytes_out"
//! comparison = "gt"
//! threshold = { statistic = "p99" }
//! datapoints_to_alarm = 2
//! datapoints_to_clear = 3
//! severity = "medium"
//! ```

use std::collections::{BTreeMap, HashSet};

use rampart_core::{DeviceMetrics, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ConfigError;
use crate::finding::{Evidence, FindingKind, Severity};
use crate::net::Trigger;
use crate::shard::Key;

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

/// All rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
}

impl RuleConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let field = |f: &str| format!("rules.rules[{i}].{f}");
            if r.name.trim().is_empty() || !names.insert(r.name.as_str()) {
                return Err(ConfigError::invalid(
                    field("name"),
                    "must be unique and non-empty",
                ));
            }
            if r.datapoints_to_alarm == 0 || r.datapoints_to_clear == 0 {
                return Err(ConfigError::invalid(
                    field("datapoints_to_alarm"),
                    "datapoints to alarm and to clear must be at least 1",
                ));
            }
            if let Limit::Value { value } = r.threshold
                && !value.is_finite()
            {
                return Err(ConfigError::invalid(field("threshold"), "must be finite"));
            }
        }
        if self.rules.len() > usize::from(u16::MAX) {
            return Err(ConfigError::invalid("rules.rules", "too many rules"));
        }
        Ok(())
    }
}

/// A bounded quantile sketch: counts in logarithmic buckets (10% wide), so any percentile is
/// known to within 10% whatever the population, in at most a few hundred counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Sketch {
    zero: u64,
    buckets: BTreeMap<i16, u64>,
    n: u64,
}

impl Sketch {
    const GAMMA: f64 = 1.1;

    pub(crate) fn add(&mut self, v: f64) {
        self.n += 1;
        if v <= 0.0 || !v.is_finite() {
            self.zero += 1;
            return;
        }
        let i = (v.ln() / Self::GAMMA.ln()).ceil().clamp(-2000.0, 2000.0) as i16;
        *self.buckets.entry(i).or_default() += 1;
    }

    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = (q * (self.n - 1) as f64).floor() as u64;
        if rank < self.zero {
            return Some(0.0);
        }
        let mut seen = self.zero;
        for (&i, &c) in &self.buckets {
            seen += c;
            if seen > rank {
                return Some(Self::GAMMA.powi(i32::from(i)));
            }
        }
        None
    }
}

/// Alarm state of one device for one rule.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct RuleDevice {
    breaching: u32,
    normal: u32,
    active: bool,
    suppressed_until: i64,
}

/// Rule state of a shard: per device and rule, and the population sketches per profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RuleState {
    devices: BTreeMap<(Key, u16), RuleDevice>,
    sketches: BTreeMap<(String, u16), Sketch>,
}

/// What evaluating a report decided.
pub(crate) enum RuleOutcome {
    Alarm(Trigger),
    Clear(String),
}

impl RuleState {
    pub(crate) fn on_metrics(
        &mut self,
        cfg: &RuleConfig,
        key: &Key,
        profile: Option<&str>,
        m: &DeviceMetrics,
        out: &mut Vec<RuleOutcome>,
    ) {
        let at = m.time.0;
        for (i, rule) in cfg.rules.iter().enumerate() {
            let applies = rule.profiles.is_empty()
                || profile.is_some_and(|p| rule.profiles.iter().any(|x| x == p));
            let (Some(v), true) = (rule.metric.of(m), applies) else {
                continue;
            };
            let idx = u16::try_from(i).unwrap_or(u16::MAX);
            let sketch = self
                .sketches
                .entry((profile.unwrap_or_default().to_owned(), idx))
                .or_default();
            let (limit, basis) = match rule.threshold {
                Limit::Value { value } => (Some(value), "fixed".to_owned()),
                Limit::Statistic { statistic } => (
                    (sketch.n >= u64::from(rule.min_samples))
                        .then(|| sketch.quantile(statistic.q()))
                        .flatten(),
                    format!("profile_{statistic:?}").to_lowercase(),
                ),
            };
            // The population learns from every report, after it was judged.
            sketch.add(v);
            let Some(limit) = limit else { continue };
            let breach = match rule.comparison {
                Comparison::Gt => v > limit,
                Comparison::Ge => v >= limit,
                Comparison::Lt => v < limit,
                Comparison::Le => v <= limit,
            };
            let st = self.devices.entry((key.clone(), idx)).or_default();
            if breach {
                st.breaching += 1;
                st.normal = 0;
            } else {
                st.normal += 1;
                st.breaching = 0;
            }
            if st.active && st.normal >= rule.datapoints_to_clear {
                st.active = false;
                st.suppressed_until = at + i64::from(rule.suppress_s) * 1000;
                out.push(RuleOutcome::Clear(rule.name.clone()));
            } else if breach
                && (st.active
                    || (st.breaching >= rule.datapoints_to_alarm && at >= st.suppressed_until))
            {
                st.active = true;
                out.push(RuleOutcome::Alarm(Trigger {
                    kind: FindingKind::Rule,
                    severity: rule.severity,
                    pattern: None,
                    summary: format!(
                        "rule {}: {:?} = {v} is {:?} {limit} ({basis}) for {} reports",
                        rule.name, rule.metric, rule.comparison, st.breaching
                    )
                    .to_lowercase(),
                    evidence: vec![Evidence::Metric {
                        time: Timestamp(at),
                        name: format!("{:?}", rule.metric).to_lowercase(),
                        value: v,
                    }],
                    count: 1,
                    first_seen: at,
                    threshold: Trigger::threshold(
                        &format!("{:?}", rule.metric).to_lowercase(),
                        limit,
                        v,
                        &basis,
                    ),
                    rule: Some(rule.name.clone()),
                }));
            }
        }
    }
}
