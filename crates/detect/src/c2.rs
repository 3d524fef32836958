//! Command and control: repeated failed attempts to one external endpoint (a bot retrying a
//! dead or filtered controller), IRC, periodic beaconing, and destinations or names listed in
//! threat-intelligence feeds.
//!
//! Why failed attempts: a device's legitimate cloud endpoints answer. A SYN nobody answers,
//! retried by new connections again and again to the same address and port, is what a bot does
//! when its controller is down or sinkholed, and it starts at the first minutes of an
//! infection. Three attempts, each in its own connection, at least a second apart and spanning
//! two seconds, within two minutes, are asked for; more attempts than `max_raw_attempts` in the
//! window is a flood (see the DDoS detector), not retries.

use std::net::IpAddr;

use rampart_core::{FlowRecord, proto};
use serde::{Deserialize, Serialize};

use crate::finding::{Evidence, FindingKind, FlowEvidence, Fnv, Pattern, Severity};
use crate::net::{Slot, Trigger, recycle, slot_for};

/// Parameters of the C2 detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C2Config {
    /// Run the detectors.
    pub enabled: bool,
    /// Failed connection attempts to one external endpoint that make a finding.
    pub failed_attempts: u16,
    /// Window the attempts must fall in, seconds.
    pub window_s: u32,
    /// Smallest time between two attempts counted separately, milliseconds (closer ones are
    /// one attempt split by the source).
    pub min_gap_ms: u32,
    /// The counted attempts must span at least this long, seconds (retries, not a burst).
    pub min_span_s: u32,
    /// More failed flows than this to the endpoint in the window is a flood, not retries.
    pub max_raw_attempts: u16,
    /// Severity of a failed-attempts finding.
    pub severity: Severity,
    /// External endpoints tracked at once per device.
    pub max_endpoints: usize,
    /// Ports where TCP to an external host is taken as IRC.
    pub irc_ports: Vec<u16>,
    /// Severity of IRC.
    pub irc_severity: Severity,
    /// Intervals between connections needed to judge periodicity.
    pub beacon_min_intervals: u8,
    /// Largest coefficient of variation of the intervals (standard deviation / mean).
    pub beacon_max_jitter: f64,
    /// Shortest period taken as beaconing, seconds.
    pub beacon_min_period_s: u32,
    /// Longest period, seconds.
    pub beacon_max_period_s: u32,
    /// Severity of beaconing alone: devices legitimately poll their cloud on a timer, so by
    /// default it is recorded as `info` and convicts no flow.
    pub beacon_severity: Severity,
    /// Separate, answered connections needed to judge a jittered beacon (0: off).
    pub jitter_beacon_min_connections: u8,
    /// Smallest coefficient of variation of the intervals of a jittered beacon: below it the
    /// timer is a device's own (see `beacon_max_jitter`).
    pub jitter_beacon_min_jitter: f64,
    /// Largest coefficient of variation of the intervals of a jittered beacon.
    pub jitter_beacon_max_jitter: f64,
    /// Largest coefficient of variation of the bytes each way over the connections: the same
    /// check-in and the same answer every time.
    pub jitter_beacon_max_size_cv: f64,
    /// Longest mean period of a jittered beacon, seconds.
    pub jitter_beacon_max_period_s: u32,
    /// Severity of a jittered beacon.
    pub jitter_beacon_severity: Severity,
}

impl Default for C2Config {
    fn default() -> Self {
        Self {
            enabled: true,
            failed_attempts: 3,
            window_s: 120,
            min_gap_ms: 1000,
            min_span_s: 2,
            max_raw_attempts: 10,
            severity: Severity::High,
            max_endpoints: 8,
            irc_ports: vec![6665, 6666, 6667, 6668, 6669, 6697],
            irc_severity: Severity::High,
            beacon_min_intervals: 6,
            beacon_max_jitter: 0.1,
            beacon_min_period_s: 10,
            beacon_max_period_s: 3600,
            beacon_severity: Severity::Info,
            jitter_beacon_min_connections: 12,
            jitter_beacon_min_jitter: 0.1,
            jitter_beacon_max_jitter: 0.5,
            jitter_beacon_max_size_cv: 0.1,
            jitter_beacon_max_period_s: 600,
            jitter_beacon_severity: Severity::Medium,
        }
    }
}

/// Parameters of threat-intelligence matching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Match destinations and names.
    pub enabled: bool,
    /// Severity when the feed gives none.
    pub severity: Severity,
    /// Addresses remembered per device from DNS answers (name → address).
    pub max_names: usize,
}

impl Default for IntelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::High,
            max_names: 16,
        }
    }
}

/// One external endpoint (address, port, protocol) a device talks to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EndpointSlot {
    ip: Option<IpAddr>,
    port: u16,
    proto: u8,
    window_start: i64,
    attempts: u16,
    raw: u16,
    last_attempt: i64,
    first_attempt: i64,
    last: i64,
    evidence: Vec<FlowEvidence>,
    prev_start: i64,
    intervals: Vec<u32>,
    beacon_done: bool,
    /// Recent answered connections: (start, bytes out, bytes back), oldest first.
    #[serde(default)]
    exchanges: Vec<(i64, u64, u64)>,
    #[serde(default)]
    jitter_done: bool,
}

impl Slot for EndpointSlot {
    fn reset(&mut self) {
        *self = Self {
            evidence: recycle(&mut self.evidence),
            intervals: recycle(&mut self.intervals),
            exchanges: recycle(&mut self.exchanges),
            ..Self::default()
        };
    }
}

impl Slot for NameSlot {}

/// An address a device resolved, and whether the name was listed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct NameSlot {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) name_hash: u64,
    pub(crate) listed: Option<Box<str>>,
    pub(crate) at: i64,
}

pub(crate) fn name_hash(name: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(name.as_bytes());
    h.0
}

/// Feeds one flow to an external endpoint (device as originator); returns what it triggers.
pub(crate) fn on_external_flow(
    cfg: &C2Config,
    slots: &mut Vec<EndpointSlot>,
    flow: &FlowRecord,
    remote: IpAddr,
    failed: bool,
    out: &mut Vec<Trigger>,
) {
    if !cfg.enabled {
        return;
    }
    if let Some(t) = irc(cfg, flow, remote) {
        out.push(t);
        return;
    }
    let port = flow.dst_port;
    let (i, _) = slot_for(
        slots,
        cfg.max_endpoints,
        |s| s.ip == Some(remote) && s.port == port && s.proto == flow.protocol,
        |s| s.last,
    );
    let Some(s) = slots.get_mut(i) else { return };
    s.ip = Some(remote);
    s.port = port;
    s.proto = flow.protocol;
    s.last = s.last.max(flow.end.0);
    let start = flow.start.0;
    if failed {
        attempt(cfg, s, flow, remote, start, out);
    }
    if flow.protocol == proto::TCP {
        beacon(cfg, s, flow, remote, start, out);
        if !failed {
            jitter_beacon(cfg, s, flow, remote, start, out);
        }
    }
}

/// Mean and coefficient of variation.
fn mean_cv(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let cv = if mean > 0.0 { var.sqrt() / mean } else { 1.0 };
    (mean, cv)
}

/// A beacon with a randomised sleep: a new answered connection to the endpoint again and
/// again, the intervals varying by 10-50 % around their mean (the jitter implants add so that
/// no fixed period gives them away), and the same exchange each time (bytes each way within
/// 10 %). A device's own timer has next to no jitter (that is `beacon`, `info`), and a device
/// that polls often keeps its connection open rather than opening one per poll.
fn jitter_beacon(
    cfg: &C2Config,
    s: &mut EndpointSlot,
    flow: &FlowRecord,
    remote: IpAddr,
    start: i64,
    out: &mut Vec<Trigger>,
) {
    let n = usize::from(cfg.jitter_beacon_min_connections);
    if s.jitter_done || n < 3 || flow.bytes == 0 || flow.rev_bytes == 0 {
        return;
    }
    if s.exchanges
        .last()
        .is_some_and(|&(t, _, _)| start - t < 1000)
    {
        // The same check-in split in several connections, or connections in parallel.
        return;
    }
    if s.exchanges.len() >= n {
        s.exchanges.remove(0);
    } else if s.exchanges.capacity() == 0 {
        s.exchanges.reserve_exact(n);
    }
    s.exchanges.push((start, flow.bytes, flow.rev_bytes));
    if s.exchanges.len() < n {
        return;
    }
    let gaps = s
        .exchanges
        .windows(2)
        .filter_map(|w| Some((w.get(1)?.0 - w.first()?.0) as f64));
    let (period_ms, jitter) = mean_cv(gaps);
    let (_, out_cv) = mean_cv(s.exchanges.iter().map(|e| e.1 as f64));
    let (_, back_cv) = mean_cv(s.exchanges.iter().map(|e| e.2 as f64));
    let size_cv = out_cv.max(back_cv);
    if jitter <= cfg.jitter_beacon_min_jitter
        || jitter > cfg.jitter_beacon_max_jitter
        || size_cv > cfg.jitter_beacon_max_size_cv
        || period_ms > f64::from(cfg.jitter_beacon_max_period_s) * 1000.0
    {
        return;
    }
    s.jitter_done = true;
    let first_seen = s.exchanges.first().map_or(start, |e| e.0);
    out.push(Trigger {
        kind: FindingKind::CommandAndControl,
        severity: cfg.jitter_beacon_severity,
        pattern: Some(Pattern {
            dst: Some(remote),
            dst_port: Some(s.port),
            protocol: Some(s.proto),
            failed_only: false,
        }),
        summary: format!(
            "{n} connections to {remote}:{} about every {:.1} s with {:.0}% jitter, each the same exchange (sizes within {:.0}%): a beacon with a randomised sleep",
            s.port,
            period_ms / 1000.0,
            jitter * 100.0,
            size_cv * 100.0
        ),
        evidence: vec![Evidence::Flow(FlowEvidence::of(flow))],
        count: n as u64,
        first_seen,
        threshold: Trigger::threshold(
            "interval_jitter",
            cfg.jitter_beacon_min_jitter,
            jitter,
            "fixed",
        ),
        rule: None,
    });
}

fn attempt(
    cfg: &C2Config,
    s: &mut EndpointSlot,
    flow: &FlowRecord,
    remote: IpAddr,
    start: i64,
    out: &mut Vec<Trigger>,
) {
    let window = i64::from(cfg.window_s) * 1000;
    if s.attempts == 0 || start - s.window_start > window {
        s.window_start = start;
        s.attempts = 0;
        s.raw = 0;
        s.evidence.clear();
    }
    s.raw = s.raw.saturating_add(1);
    if s.attempts == 0 || start - s.last_attempt >= i64::from(cfg.min_gap_ms) {
        if s.attempts == 0 {
            s.first_attempt = start;
        }
        s.attempts = s.attempts.saturating_add(1);
        s.last_attempt = start;
        let keep = usize::from(cfg.failed_attempts).max(1);
        if s.evidence.len() < keep {
            if s.evidence.capacity() == 0 {
                s.evidence.reserve_exact(keep);
            }
            s.evidence.push(FlowEvidence::of(flow));
        }
    }
    let span = s.last_attempt - s.first_attempt;
    if s.attempts >= cfg.failed_attempts.max(1)
        && s.raw <= cfg.max_raw_attempts
        && span >= i64::from(cfg.min_span_s) * 1000
    {
        let evidence: Vec<Evidence> = s.evidence.drain(..).map(Evidence::Flow).collect();
        out.push(Trigger {
            kind: FindingKind::CommandAndControl,
            severity: cfg.severity,
            pattern: Some(Pattern {
                dst: Some(remote),
                ..Pattern::default()
            }),
            summary: format!(
                "{} failed connection attempts to {remote}:{} within {} s: a bot retrying its controller",
                s.attempts,
                s.port,
                span / 1000
            ),
            count: u64::from(s.raw),
            first_seen: s.first_attempt,
            evidence,
            threshold: Trigger::threshold(
                "failed_attempts",
                f64::from(cfg.failed_attempts),
                f64::from(s.attempts),
                "fixed",
            ),
            rule: None,
        });
        s.attempts = 0;
        s.raw = 0;
    }
}

fn beacon(
    cfg: &C2Config,
    s: &mut EndpointSlot,
    flow: &FlowRecord,
    remote: IpAddr,
    start: i64,
    out: &mut Vec<Trigger>,
) {
    if s.beacon_done || cfg.beacon_min_intervals == 0 {
        return;
    }
    let gap = start - s.prev_start;
    if s.prev_start != 0 && gap >= 1000 {
        let n = usize::from(cfg.beacon_min_intervals);
        if s.intervals.len() >= n {
            s.intervals.remove(0);
        } else if s.intervals.capacity() == 0 {
            s.intervals.reserve_exact(n);
        }
        s.intervals.push(u32::try_from(gap).unwrap_or(u32::MAX));
    }
    if s.prev_start == 0 || gap >= 1000 {
        s.prev_start = start;
    }
    if s.intervals.len() < usize::from(cfg.beacon_min_intervals) {
        return;
    }
    let n = s.intervals.len() as f64;
    let mean = s.intervals.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = s
        .intervals
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let cv = if mean > 0.0 { var.sqrt() / mean } else { 1.0 };
    let period_s = mean / 1000.0;
    if cv <= cfg.beacon_max_jitter
        && period_s >= f64::from(cfg.beacon_min_period_s)
        && period_s <= f64::from(cfg.beacon_max_period_s)
    {
        s.beacon_done = true;
        out.push(Trigger {
            kind: FindingKind::Beaconing,
            severity: cfg.beacon_severity,
            pattern: Some(Pattern {
                dst: Some(remote),
                dst_port: Some(s.port),
                protocol: Some(s.proto),
                failed_only: false,
            }),
            summary: format!(
                "connections to {remote}:{} every {period_s:.1} s (jitter {:.0}%)",
                s.port,
                cv * 100.0
            ),
            evidence: vec![Evidence::Flow(FlowEvidence::of(flow))],
            count: s.intervals.len() as u64 + 1,
            first_seen: start - s.intervals.iter().map(|&v| i64::from(v)).sum::<i64>(),
            threshold: Trigger::threshold("interval_jitter", cfg.beacon_max_jitter, cv, "fixed"),
            rule: None,
        });
    }
}

fn irc(cfg: &C2Config, flow: &FlowRecord, remote: IpAddr) -> Option<Trigger> {
    let by_service = flow.service.as_deref() == Some("irc");
    let by_port = flow.protocol == proto::TCP
        && cfg.irc_ports.contains(&flow.dst_port)
        && !crate::net::is_failed_attempt(flow);
    if !(by_service || by_port) {
        return None;
    }
    let how = if by_service {
        "IRC protocol"
    } else {
        "a connection on an IRC port"
    };
    Some(Trigger {
        kind: FindingKind::Irc,
        severity: cfg.irc_severity,
        pattern: Some(Pattern {
            dst: Some(remote),
            dst_port: Some(flow.dst_port),
            protocol: Some(flow.protocol),
            failed_only: false,
        }),
        summary: format!(
            "{how} to {remote}:{}: a classic botnet control channel",
            flow.dst_port
        ),
        evidence: vec![Evidence::Flow(FlowEvidence::of(flow))],
        count: 1,
        first_seen: flow.start.0,
        threshold: Trigger::threshold("irc_connections", 1.0, 1.0, "fixed"),
        rule: None,
    })
}

/// Remembers the addresses of a DNS answer (bounded, least recently used out).
pub(crate) fn remember_names(
    cap: usize,
    slots: &mut Vec<NameSlot>,
    name: &str,
    listed: bool,
    answers: &[IpAddr],
    at: i64,
) {
    let h = name_hash(name);
    for &ip in answers {
        let (i, _) = slot_for(slots, cap, |s| s.ip == Some(ip), |s| s.at);
        if let Some(s) = slots.get_mut(i) {
            s.ip = Some(ip);
            s.name_hash = h;
            s.listed = listed.then(|| Box::from(name));
            s.at = at;
        }
    }
}
