//! Data use and sessions, from RADIUS accounting (cumulative octets per session) and device
//! metrics (per-interval counters): fixed caps per period, hourly use against the device's own
//! learned baseline (exponentially weighted mean and mean absolute deviation, after a warm-up;
//! the profile's population baseline before that), reconnect storms, too many concurrent
//! sessions, and registered devices going silent (event time, driven by the watermark).

use std::collections::BTreeMap;

use rampart_bus::{AccountingObservation, Subject};
use rampart_core::{DeviceMetrics, Timestamp};
use serde::{Deserialize, Serialize};

use crate::finding::{Evidence, FindingKind, Fnv, Severity};
use crate::identity::{self, IdentityState};
use crate::intel::ContextProvider;
use crate::net::Trigger;
use crate::shard::{DeviceState, Key};
use crate::{ConfigError, DetectConfig};

/// A fixed cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// Period length, seconds (86400 for a day).
    pub period_s: u32,
    /// Bytes (both directions) allowed per period.
    pub bytes: u64,
}

/// Data-use parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// Run the detectors.
    pub enabled: bool,
    /// Caps per profile name.
    pub caps: BTreeMap<String, Cap>,
    /// Cap for devices whose profile has none.
    pub default_cap: Option<Cap>,
    /// Severity of a cap breach.
    pub cap_severity: Severity,
    /// Weight of the newest hour in the baseline (0..1).
    pub ewma_alpha: f64,
    /// Hours of history before the device's own baseline is used.
    pub warmup_hours: u32,
    /// An hour above mean + `k` × mean absolute deviation is anomalous.
    pub k: f64,
    /// ... and above this many bytes (small devices vary a lot in relative terms).
    pub min_bytes: u64,
    /// Severity of an anomaly.
    pub anomaly_severity: Severity,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            caps: BTreeMap::new(),
            default_cap: None,
            cap_severity: Severity::Medium,
            ewma_alpha: 0.1,
            warmup_hours: 24,
            k: 6.0,
            min_bytes: 1 << 20,
            anomaly_severity: Severity::Medium,
        }
    }
}

impl UsageConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.ewma_alpha.is_nan() || self.ewma_alpha <= 0.0 || self.ewma_alpha > 1.0 {
            return Err(ConfigError::invalid(
                "usage.ewma_alpha",
                "must be in (0, 1]",
            ));
        }
        if self.k.is_nan() || self.k <= 0.0 {
            return Err(ConfigError::invalid("usage.k", "must be positive"));
        }
        let default = self.default_cap.iter().map(|c| ("default", c));
        for (name, c) in self
            .caps
            .iter()
            .map(|(n, c)| (n.as_str(), c))
            .chain(default)
        {
            if c.period_s == 0 || c.bytes == 0 {
                return Err(ConfigError::invalid(
                    format!("usage.caps.{name}"),
                    "period_s and bytes must be positive",
                ));
            }
        }
        Ok(())
    }
}

/// Session parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Run the detectors.
    pub enabled: bool,
    /// Window for counting session starts, seconds.
    pub storm_window_s: u32,
    /// Session starts in the window that make a reconnect storm.
    pub storm_starts: u32,
    /// Sessions open at once above which it is a finding.
    pub max_concurrent: usize,
    /// A registered device silent this long (event time) is reported, seconds; 0: never.
    pub silence_after_s: u32,
    /// Severity of a storm or too many sessions.
    pub severity: Severity,
    /// Severity of silence.
    pub silent_severity: Severity,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            storm_window_s: 300,
            storm_starts: 10,
            max_concurrent: 2,
            silence_after_s: 6 * 3600,
            severity: Severity::Medium,
            silent_severity: Severity::Low,
        }
    }
}

/// Use and session memory of one device (allocated on its first accounting or metrics).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct UsageState {
    pub(crate) id: IdentityState,
    /// Open sessions: (hash of NAS + session id, cumulative octets, last update).
    sessions: Vec<(u64, u64, i64)>,
    storm_start: i64,
    storm_starts: u32,
    hour: i64,
    hour_bytes: u64,
    period: i64,
    period_bytes: u64,
    mean: f64,
    dev: f64,
    hours: u32,
    pub(crate) silent_at: i64,
}

/// Accounting: binding, location, sessions, use.
#[allow(clippy::too_many_arguments)] // The shard's parts a record touches.
pub(crate) fn on_accounting(
    cfg: &DetectConfig,
    context: &dyn ContextProvider,
    dev: &mut DeviceState,
    subject: &Subject,
    sims_of_imei: &mut BTreeMap<u64, Vec<u64>>,
    profile: Option<&str>,
    a: &AccountingObservation,
    out: &mut Vec<Trigger>,
) {
    if a.unknown_imsi || subject.device_id.is_none() {
        return;
    }
    let st = dev.usage.get_or_insert_with(Box::default);
    let at = a.record.event_time.0;
    let ctx = context.context(subject);
    identity::binding(&cfg.binding, &mut st.id, ctx.as_ref(), sims_of_imei, a, out);
    identity::location(&cfg.location, &mut st.id, profile, a, out);
    let s = &a.record.session;
    let mut h = Fnv::default();
    h.write(s.nas.as_bytes());
    h.write(s.session_id.as_bytes());
    let sid = h.0;
    let total = s.input_octets.saturating_add(s.output_octets);
    let status = a.record.status.as_str();
    let prev = st.sessions.iter().position(|x| x.0 == sid);
    let delta = match prev.and_then(|i| st.sessions.get(i)) {
        Some(&(_, last, _)) => total.saturating_sub(last),
        None => total,
    };
    match (status, prev) {
        ("Stop", Some(i)) => {
            st.sessions.remove(i);
        }
        ("Stop", None) => {}
        (_, Some(i)) => {
            if let Some(x) = st.sessions.get_mut(i) {
                *x = (sid, total, at);
            }
        }
        (_, None) => {
            if st.sessions.len() >= 16 {
                st.sessions.remove(0);
            }
            st.sessions.push((sid, total, at));
        }
    }
    let evidence = || Evidence::Session {
        time: a.record.event_time,
        status: a.record.status.clone(),
        session: format!("{}/{}", s.nas, s.session_id),
        imsi: s.imsi.clone(),
        imeisv: s.imeisv.clone(),
        location: None,
    };
    let sc = &cfg.sessions;
    if sc.enabled && status == "Start" {
        let window = i64::from(sc.storm_window_s) * 1000;
        if st.storm_starts == 0 || at - st.storm_start > window {
            st.storm_start = at;
            st.storm_starts = 0;
        }
        st.storm_starts += 1;
        if st.storm_starts >= sc.storm_starts.max(2) {
            out.push(Trigger {
                kind: FindingKind::ReconnectStorm,
                severity: sc.severity,
                pattern: None,
                summary: format!(
                    "{} session starts within {} s",
                    st.storm_starts, sc.storm_window_s
                ),
                evidence: vec![evidence()],
                count: u64::from(st.storm_starts),
                first_seen: st.storm_start,
                threshold: Trigger::threshold(
                    "session_starts",
                    f64::from(sc.storm_starts),
                    f64::from(st.storm_starts),
                    "fixed",
                ),
                rule: None,
            });
            st.storm_starts = 0;
        }
    }
    if sc.enabled && st.sessions.len() > sc.max_concurrent {
        out.push(Trigger {
            kind: FindingKind::ConcurrentSessions,
            severity: sc.severity,
            pattern: None,
            summary: format!("{} sessions open at once", st.sessions.len()),
            evidence: vec![evidence()],
            count: 1,
            first_seen: at,
            threshold: Trigger::threshold(
                "concurrent_sessions",
                sc.max_concurrent as f64,
                st.sessions.len() as f64,
                "fixed",
            ),
            rule: None,
        });
    }
    add_bytes(&cfg.usage, st, profile, at, delta, out);
}

/// Device metrics: GPS and use.
pub(crate) fn on_metrics(
    cfg: &DetectConfig,
    dev: &mut DeviceState,
    profile: Option<&str>,
    m: &DeviceMetrics,
    out: &mut Vec<Trigger>,
) {
    let st = dev.usage.get_or_insert_with(Box::default);
    identity::gps(&cfg.location, &mut st.id, profile, m, out);
    let bytes = m
        .bytes_in
        .unwrap_or(0)
        .saturating_add(m.bytes_out.unwrap_or(0));
    add_bytes(&cfg.usage, st, profile, m.time.0, bytes, out);
}

fn add_bytes(
    cfg: &UsageConfig,
    st: &mut UsageState,
    profile: Option<&str>,
    at: i64,
    bytes: u64,
    out: &mut Vec<Trigger>,
) {
    if !cfg.enabled {
        return;
    }
    roll_hour(cfg, st, at, out);
    st.hour_bytes = st.hour_bytes.saturating_add(bytes);
    let Some(cap) = profile
        .and_then(|p| cfg.caps.get(p))
        .or(cfg.default_cap.as_ref())
    else {
        return;
    };
    let period = at.div_euclid(i64::from(cap.period_s.max(1)) * 1000);
    if period != st.period {
        st.period = period;
        st.period_bytes = 0;
    }
    let before = st.period_bytes;
    st.period_bytes = st.period_bytes.saturating_add(bytes);
    if before <= cap.bytes && st.period_bytes > cap.bytes {
        out.push(Trigger {
            kind: FindingKind::DataCap,
            severity: cfg.cap_severity,
            pattern: None,
            summary: format!(
                "{} bytes used this period, cap {} per {} s",
                st.period_bytes, cap.bytes, cap.period_s
            ),
            evidence: vec![Evidence::Metric {
                time: Timestamp(at),
                name: "period_bytes".to_owned(),
                value: st.period_bytes as f64,
            }],
            count: 1,
            first_seen: period * i64::from(cap.period_s) * 1000,
            threshold: Trigger::threshold(
                "period_bytes",
                cap.bytes as f64,
                st.period_bytes as f64,
                "fixed",
            ),
            rule: Some(format!("period:{period}")),
        });
    }
}

/// Closes the hour bucket when event time has moved past it: judge, then learn.
fn roll_hour(cfg: &UsageConfig, st: &mut UsageState, at: i64, out: &mut Vec<Trigger>) {
    let hour = at.div_euclid(3_600_000);
    if st.hour == 0 {
        st.hour = hour;
        return;
    }
    if hour <= st.hour {
        return;
    }
    let x = st.hour_bytes as f64;
    let limit = st.mean + cfg.k * st.dev.max(st.mean * 0.1);
    if st.hours >= cfg.warmup_hours && x > limit && st.hour_bytes >= cfg.min_bytes {
        out.push(Trigger {
            kind: FindingKind::DataAnomaly,
            severity: cfg.anomaly_severity,
            pattern: None,
            summary: format!(
                "{} bytes in one hour; baseline {:.0} ± {:.0}",
                st.hour_bytes, st.mean, st.dev
            ),
            evidence: vec![Evidence::Metric {
                time: Timestamp((st.hour + 1) * 3_600_000),
                name: "hour_bytes".to_owned(),
                value: x,
            }],
            count: 1,
            first_seen: st.hour * 3_600_000,
            threshold: Trigger::threshold("hour_bytes", limit, x, "device_baseline"),
            rule: None,
        });
    }
    // Learn (including the quiet hours in between, at zero), capped at a day of catch-up.
    let a = cfg.ewma_alpha;
    let learn = |v: f64, st: &mut UsageState| {
        if st.hours == 0 {
            st.mean = v;
        } else {
            st.dev = (1.0 - a) * st.dev + a * (v - st.mean).abs();
            st.mean = (1.0 - a) * st.mean + a * v;
        }
        st.hours = st.hours.saturating_add(1);
    };
    learn(x, st);
    for _ in 0..(hour - st.hour - 1).min(24) {
        learn(0.0, st);
    }
    st.hour = hour;
    st.hour_bytes = 0;
}

/// Time-driven checks at the watermark: closed hours, silence.
pub(crate) fn sweep(
    cfg: &DetectConfig,
    key: &Key,
    dev: &mut DeviceState,
    wm: i64,
    out: &mut Vec<(Subject, Trigger)>,
) {
    let mut trig = Vec::new();
    if let Some(st) = dev.usage.as_deref_mut() {
        roll_hour(&cfg.usage, st, wm, &mut trig);
    }
    let sc = &cfg.sessions;
    if sc.enabled && sc.silence_after_s > 0 && matches!(key, Key::Named(_)) {
        let quiet = wm - dev.last_seen;
        let reported = dev.usage.as_ref().map_or(0, |s| s.silent_at);
        if quiet > i64::from(sc.silence_after_s) * 1000 && reported < dev.last_seen {
            dev.usage.get_or_insert_with(Box::default).silent_at = wm;
            trig.push(Trigger {
                kind: FindingKind::Silent,
                severity: sc.silent_severity,
                pattern: None,
                summary: format!("nothing heard for {} s", quiet / 1000),
                evidence: vec![Evidence::Metric {
                    time: Timestamp(dev.last_seen),
                    name: "last_seen".to_owned(),
                    value: dev.last_seen as f64,
                }],
                count: 1,
                first_seen: dev.last_seen,
                threshold: Trigger::threshold(
                    "silent_s",
                    f64::from(sc.silence_after_s),
                    (quiet / 1000) as f64,
                    "fixed",
                ),
                rule: Some(format!("since:{}", dev.last_seen)),
            });
        }
    }
    if !trig.is_empty() {
        let subject = key.subject();
        out.extend(trig.into_iter().map(|t| (subject.clone(), t)));
    }
}
