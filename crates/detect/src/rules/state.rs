//! Evaluation of the declarative rules: per device and rule the alarm state (consecutive
//! breaching and normal reports, the window a duration sums over), per profile and rule the
//! population sketch statistical thresholds read; and the move of that state from one rule
//! set to the next when rules change while running.

use std::collections::{BTreeMap, VecDeque};

use rampart_core::{DeviceMetrics, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Comparison, Limit, Rule};
use crate::finding::{Evidence, FindingKind};
use crate::net::Trigger;
use crate::shard::Key;

/// Reports a duration window keeps per device and rule; past this the oldest drop out (the
/// sum then covers the most recent reports only).
pub(crate) const MAX_WINDOW: usize = 1024;

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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RuleDevice {
    breaching: u32,
    normal: u32,
    active: bool,
    suppressed_until: i64,
    /// Reports inside the rule's duration (event time, value), oldest first.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    window: VecDeque<(i64, f64)>,
}

impl RuleDevice {
    /// Adds a report to the window and sums the reports of the last `duration_ms`.
    fn windowed(&mut self, at: i64, v: f64, duration_ms: i64) -> f64 {
        self.window.push_back((at, v));
        let start = at.saturating_sub(duration_ms);
        while self
            .window
            .front()
            .is_some_and(|&(t, _)| t <= start || self.window.len() > MAX_WINDOW)
        {
            self.window.pop_front();
        }
        self.window.iter().map(|&(_, v)| v).sum()
    }
}

/// Rule state of a shard: per device and rule, and the population sketches per profile.
/// Rules are numbered by their position in the running rule set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RuleState {
    #[serde(with = "pairs")]
    devices: BTreeMap<(Key, u16), RuleDevice>,
    #[serde(with = "pairs")]
    sketches: BTreeMap<(String, u16), Sketch>,
}

/// Maps with composite keys as lists of pairs: JSON object keys can only be strings.
mod pairs {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K, V, S>(m: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize,
        V: Serialize,
        S: Serializer,
    {
        s.collect_seq(m.iter())
    }

    /// Either form: snapshots written before held these maps as objects, which could only
    /// be saved empty.
    pub(super) fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        struct Either<K, V>(PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for Either<K, V>
        where
            K: Deserialize<'de> + Ord,
            V: Deserialize<'de>,
        {
            type Value = BTreeMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of [key, value] pairs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((k, v)) = seq.next_element::<(K, V)>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut m = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<K, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }

        d.deserialize_any(Either(PhantomData))
    }
}

/// What evaluating a report decided.
pub(crate) enum RuleOutcome {
    Alarm(Trigger),
    Clear(String),
}

/// What becomes of an old rule's state in a new rule set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The same rule, now at this position: all its state moves there.
    Kept(u16),
    /// Same name, new definition, measuring the same quantity: the population stays, alarm
    /// state starts over.
    Remeasured(u16),
    /// Deleted, or redefined to measure something else: all its state goes.
    Gone,
}

fn index(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

impl RuleState {
    pub(crate) fn on_metrics(
        &mut self,
        rules: &[Rule],
        key: &Key,
        profile: Option<&str>,
        m: &DeviceMetrics,
        out: &mut Vec<RuleOutcome>,
    ) {
        let at = m.time.0;
        for (i, rule) in rules.iter().enumerate() {
            let applies = rule.profiles.is_empty()
                || profile.is_some_and(|p| rule.profiles.iter().any(|x| x == p));
            let (Some(raw), true) = (rule.metric.of(m), applies) else {
                continue;
            };
            let idx = index(i);
            let v = if rule.duration_s > 0 {
                let st = self.devices.entry((key.clone(), idx)).or_default();
                st.windowed(at, raw, i64::from(rule.duration_s) * 1000)
            } else {
                raw
            };
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
                st.breaching = st.breaching.saturating_add(1);
                st.normal = 0;
            } else {
                st.normal = st.normal.saturating_add(1);
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
                out.push(RuleOutcome::Alarm(trigger(rule, at, v, limit, &basis, st)));
            }
        }
    }

    /// Moves the state kept for the rules `old` to their positions in `new`. A rule whose
    /// definition did not change keeps everything (counters, active alarms, population);
    /// a redefined one starts its alarms over (its population stays when it still measures
    /// the same quantity); a deleted one loses all. Returns the names of the rules whose
    /// active alarms no longer stand (deleted or redefined).
    pub(crate) fn retarget(&mut self, old: &[Rule], new: &[Rule]) -> Vec<String> {
        let fates: Vec<Fate> = old
            .iter()
            .map(|o| match new.iter().position(|n| n.name == o.name) {
                Some(j) if new[j] == *o => Fate::Kept(index(j)),
                Some(j) if new[j].metric == o.metric && new[j].duration_s == o.duration_s => {
                    Fate::Remeasured(index(j))
                }
                _ => Fate::Gone,
            })
            .collect();
        let fate = |i: u16| fates.get(usize::from(i)).copied().unwrap_or(Fate::Gone);
        let devices = std::mem::take(&mut self.devices);
        self.devices = devices
            .into_iter()
            .filter_map(|((key, i), st)| match fate(i) {
                Fate::Kept(j) => Some(((key, j), st)),
                Fate::Remeasured(_) | Fate::Gone => None,
            })
            .collect();
        let sketches = std::mem::take(&mut self.sketches);
        self.sketches = sketches
            .into_iter()
            .filter_map(|((profile, i), s)| match fate(i) {
                Fate::Kept(j) | Fate::Remeasured(j) => Some(((profile, j), s)),
                Fate::Gone => None,
            })
            .collect();
        old.iter()
            .zip(&fates)
            .filter(|(_, f)| !matches!(f, Fate::Kept(_)))
            .map(|(r, _)| r.name.clone())
            .collect()
    }
}

fn trigger(rule: &Rule, at: i64, v: f64, limit: f64, basis: &str, st: &RuleDevice) -> Trigger {
    let metric = format!("{:?}", rule.metric).to_lowercase();
    let over = if rule.duration_s > 0 {
        format!(" summed over {} s", rule.duration_s)
    } else {
        String::new()
    };
    Trigger {
        kind: FindingKind::Rule,
        severity: rule.severity,
        pattern: None,
        summary: format!(
            "rule {}: {:?}{over} = {v} is {:?} {limit} ({basis}) for {} reports",
            rule.name, rule.metric, rule.comparison, st.breaching
        )
        .to_lowercase(),
        evidence: vec![Evidence::Metric {
            time: Timestamp(at),
            name: metric.clone(),
            value: v,
        }],
        count: 1,
        first_seen: at,
        threshold: Trigger::threshold(&metric, limit, v, basis),
        rule: Some(rule.name.clone()),
    }
}
