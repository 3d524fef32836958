//! One shard: the state of the subjects routed to it, and the event-time clock (watermark)
//! that orders its input, clears its findings and sweeps idle state. A shard is owned by one
//! thread; nothing in it is shared or locked.
//!
//! The per-observation path allocates nothing for a known subject on a quiet flow: the
//! subject is looked up by a key borrowed from the observation ([`KeyRef`]), once, and the
//! reorder buffer appends in-order input to a queue.

mod flow;
mod key;
mod raise;
mod reorder;
mod signals;
mod swap;

use std::sync::Arc;

use hashbrown::hash_map::EntryRef;
use rampart_bus::{Observation, Subject};
use rampart_core::Timestamp;
use serde::{Deserialize, Serialize};

pub(crate) use key::{Key, KeyRef, Map};
pub(crate) use reorder::{Pending, Reorder};

use crate::finding::{Finding, FindingEvent, FindingKind, Pattern, Severity};
use crate::intel::{ContextProvider, ThreatIntel};
use crate::net::Trigger;
use crate::{DetectConfig, policy, rules, usage};

/// A finding that is still active on a device: what dedup and pattern matching need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Alarm {
    pub(crate) id: Box<str>,
    pub(crate) kind: FindingKind,
    pub(crate) severity: Severity,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) rule: Option<Box<str>>,
    pub(crate) last_seen: i64,
    /// The [`Updates`] round in which its finding was last marked changed (not saved).
    #[serde(skip)]
    pub(crate) marked: u64,
}

/// Findings changed by repeats since the last [`Shard::take_updates`]: one
/// [`FindingEvent::Updated`] per finding per round, with its latest state, instead of one per
/// repeating observation (a flooding device repeats its finding on every flow).
#[derive(Debug)]
pub(crate) struct Updates {
    round: u64,
    ids: Vec<Box<str>>,
}

impl Default for Updates {
    fn default() -> Self {
        // Alarms start (and are restored) with `marked` 0: unmarked in the first round.
        Self {
            round: 1,
            ids: Vec::new(),
        }
    }
}

impl Updates {
    /// Notes that the alarm's finding changed.
    pub(crate) fn mark(&mut self, alarm: &mut Alarm) {
        if alarm.marked != self.round {
            alarm.marked = self.round;
            self.ids.push(alarm.id.clone());
        }
    }

    /// Before a finding leaves (cleared): its pending change goes out first, so the last
    /// count and time are not lost.
    pub(crate) fn flush_one(&self, alarm: &Alarm, f: &Finding, out: &mut Vec<FindingEvent>) {
        if alarm.marked == self.round {
            out.push(update_of(f));
        }
    }
}

/// The update event carrying a finding's current count and last-seen time.
fn update_of(f: &Finding) -> FindingEvent {
    FindingEvent::Updated {
        id: f.id.clone(),
        last_seen: f.last_seen,
        evidence_count: f.evidence_count,
    }
}

/// Removes a cleared alarm's finding: its pending update, then [`FindingEvent::Cleared`]
/// (into `out` when given).
pub(crate) fn retire(
    findings: &mut Map<Box<str>, Finding>,
    stats: &mut ShardStats,
    updates: &Updates,
    alarm: &Alarm,
    at: i64,
    out: Option<&mut Vec<FindingEvent>>,
) {
    let Some(mut f) = findings.remove(&alarm.id) else {
        return;
    };
    f.state = crate::finding::AlarmState::Cleared;
    f.cleared_at = Some(Timestamp(at));
    stats.cleared += 1;
    if let Some(out) = out {
        updates.flush_one(alarm, &f, out);
        out.push(FindingEvent::Cleared {
            id: f.id,
            at: Timestamp(at),
        });
    }
}

/// Everything kept about one subject. At rest (no recent flow) it is the fixed part only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DeviceState {
    pub(crate) first_seen: i64,
    pub(crate) last_seen: i64,
    /// Interned profile (0 = none), resolved from the registry on first sight.
    pub(crate) profile: u16,
    pub(crate) net: Option<Box<crate::net::NetState>>,
    pub(crate) usage: Option<Box<usage::UsageState>>,
    pub(crate) alarms: Vec<Alarm>,
}

/// Counters of a shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStats {
    /// Observations taken.
    pub observations: u64,
    /// Observations older than the watermark on arrival (processed out of order).
    pub late: u64,
    /// Observations of new subjects refused because the shard was full.
    pub refused: u64,
    /// Findings raised.
    pub raised: u64,
    /// Findings cleared.
    pub cleared: u64,
}

/// The state of the subjects one worker owns.
pub struct Shard {
    pub(crate) cfg: Arc<DetectConfig>,
    pub(crate) intel: Arc<dyn ThreatIntel>,
    pub(crate) context: Arc<dyn ContextProvider>,
    pub(crate) devices: Map<Key, DeviceState>,
    pub(crate) profiles: Vec<String>,
    pub(crate) findings: Map<Box<str>, Finding>,
    pub(crate) pending: Reorder,
    pub(crate) seq: u64,
    pub(crate) max_seen: i64,
    pub(crate) next_sweep: i64,
    pub(crate) stats: ShardStats,
    pub(crate) rules: rules::RuleState,
    /// The rules evaluated: the configuration's at first, replaced while running by
    /// [`Shard::set_rules`].
    pub(crate) rule_set: Arc<rules::RuleConfig>,
    /// Allow-lists with MUD entries merged, per profile.
    pub(crate) policies: std::collections::BTreeMap<String, Vec<policy::Allow>>,
    /// Equipment → SIMs seen in it (hashes), for devices of this shard.
    pub(crate) imei_index: std::collections::BTreeMap<u64, Vec<u64>>,
    pub(crate) updates: Updates,
    scratch: Vec<Trigger>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("devices", &self.devices.len())
            .field("active_findings", &self.findings.len())
            .field("pending", &self.pending.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// An empty shard. The configuration must have been validated.
    pub fn new(
        cfg: Arc<DetectConfig>,
        intel: Arc<dyn ThreatIntel>,
        context: Arc<dyn ContextProvider>,
    ) -> Self {
        Self {
            policies: cfg.policy.compile(),
            rule_set: Arc::new(cfg.rules.clone()),
            cfg,
            intel,
            context,
            devices: Map::default(),
            profiles: Vec::new(),
            findings: Map::default(),
            pending: Reorder::default(),
            seq: 0,
            max_seen: i64::MIN,
            next_sweep: i64::MIN,
            stats: ShardStats::default(),
            rules: rules::RuleState::default(),
            imei_index: Default::default(),
            updates: Updates::default(),
            scratch: Vec::new(),
        }
    }

    /// The event-time watermark: the newest event time seen minus the allowed lateness.
    pub fn watermark(&self) -> Option<Timestamp> {
        (self.max_seen != i64::MIN).then(|| Timestamp(self.watermark_ms()))
    }

    fn watermark_ms(&self) -> i64 {
        self.max_seen
            .saturating_sub(i64::from(self.cfg.engine.allowed_lateness_s) * 1000)
    }

    /// Counters.
    pub fn stats(&self) -> ShardStats {
        self.stats
    }

    /// Subjects with state.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// The findings still active, in id order.
    pub fn active_findings(&self) -> Vec<Finding> {
        let mut v: Vec<Finding> = self.findings.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Takes one observation. It is held until the watermark passes its event time (so input
    /// out of order by less than the allowed lateness is detected as if in order); what it and
    /// the observations it releases cause is appended to `out`, except the updates of findings
    /// they repeat: those wait for [`Shard::take_updates`], once per finding.
    pub fn process(&mut self, obs: Observation, out: &mut Vec<FindingEvent>) {
        self.stats.observations += 1;
        let at = obs.event_time().0;
        if self.max_seen != i64::MIN && at < self.watermark_ms() {
            self.stats.late += 1;
        }
        self.max_seen = self.max_seen.max(at);
        self.seq += 1;
        self.pending.push(Pending {
            at,
            seq: self.seq,
            obs,
        });
        let wm = self.watermark_ms();
        self.release(wm, out);
    }

    /// Advances event time without an observation (a live worker's idle tick, driven by the
    /// other shards' or the source's clock — never the wall clock).
    pub fn advance_to(&mut self, t: Timestamp, out: &mut Vec<FindingEvent>) {
        self.max_seen = self.max_seen.max(t.0);
        let wm = self.watermark_ms();
        self.release(wm, out);
        self.take_updates(out);
    }

    /// Appends one [`FindingEvent::Updated`] for each finding repeated since the last call,
    /// with its current count and last-seen time. Call it before handing events on.
    pub fn take_updates(&mut self, out: &mut Vec<FindingEvent>) {
        for id in self.updates.ids.drain(..) {
            if let Some(f) = self.findings.get(&id) {
                out.push(update_of(f));
            }
        }
        self.updates.round += 1;
    }

    /// End of input: everything held is processed and swept at the last event time.
    pub fn flush(&mut self, out: &mut Vec<FindingEvent>) {
        self.release(i64::MAX, out);
        if self.max_seen != i64::MIN {
            self.sweep(self.max_seen, out);
        }
        self.take_updates(out);
    }

    fn release(&mut self, upto: i64, out: &mut Vec<FindingEvent>) {
        while let Some(p) = self.pending.pop_upto(upto) {
            self.handle(p.obs, out);
            if p.at >= self.next_sweep {
                let wm = self.watermark_ms().min(p.at);
                self.sweep(wm, out);
                self.next_sweep = p.at + i64::from(self.cfg.engine.sweep_interval_s) * 1000;
            }
        }
    }

    fn handle(&mut self, obs: Observation, out: &mut Vec<FindingEvent>) {
        match obs {
            Observation::Flow(f) => self.on_flow(&f, out),
            Observation::Dns(d) => self.on_dns(&d, out),
            Observation::Name(n) => self.on_name(&n, out),
            Observation::Alert(a) => self.on_alert(&a, out),
            Observation::Accounting(a) => self.on_accounting(&a, out),
            Observation::Metrics(m) => self.on_metrics(&m, out),
            _ => {}
        }
    }

    /// Makes sure the subject has state (created on first sight, with its registry context)
    /// and moves its last-seen time; false when the shard is full.
    fn ensure(&mut self, subject: &Subject, at: i64) -> bool {
        let Self {
            devices,
            profiles,
            stats,
            context,
            cfg,
            ..
        } = self;
        let max = cfg.engine.max_devices_per_shard;
        let key = KeyRef::of(subject);
        device(devices, profiles, stats, &**context, max, subject, key, at).is_some()
    }

    /// Takes a scratch trigger list (empty), to hand back with [`Self::raise_scratch`].
    fn take_scratch(&mut self) -> Vec<Trigger> {
        let mut t = std::mem::take(&mut self.scratch);
        t.clear();
        t
    }

    /// Raises what a detector triggered, and keeps the list's allocation for next time.
    fn raise_scratch(
        &mut self,
        subject: &Subject,
        at: i64,
        mut trig: Vec<Trigger>,
        out: &mut Vec<FindingEvent>,
    ) {
        if !trig.is_empty() {
            self.raise_all(subject, at, &mut trig, out);
        }
        self.scratch = trig;
    }

    /// Clears stale findings, drops idle windows, runs the time-driven detectors (silence).
    fn sweep(&mut self, wm: i64, out: &mut Vec<FindingEvent>) {
        let clear_before = wm.saturating_sub(i64::from(self.cfg.engine.clear_after_s) * 1000);
        let idle_before = wm.saturating_sub(i64::from(self.cfg.engine.idle_evict_s) * 1000);
        let mut trig: Vec<(Subject, Trigger)> = Vec::new();
        for (key, dev) in self.devices.iter_mut() {
            if dev.net.as_ref().is_some_and(|n| n.last < idle_before) {
                dev.net = None;
            }
            if dev.alarms.is_empty() {
                if dev.usage.is_some() || matches!(key, Key::Named(_)) {
                    usage::sweep(&self.cfg, key, dev, wm, &mut trig);
                }
                continue;
            }
            dev.alarms.retain(|a| {
                if a.last_seen >= clear_before {
                    return true;
                }
                let (findings, stats) = (&mut self.findings, &mut self.stats);
                retire(findings, stats, &self.updates, a, wm, Some(out));
                false
            });
            usage::sweep(&self.cfg, key, dev, wm, &mut trig);
        }
        for (subject, t) in trig {
            let mut v = vec![t];
            self.raise_all(&subject, wm, &mut v, out);
        }
    }
}

/// The state of a subject, created on first sight (with its registry context) unless the
/// shard is full; its last-seen time moved to `at`. One hash of the borrowed key; the owned
/// key is built only for a new subject.
#[allow(clippy::too_many_arguments)] // The disjoint parts of the shard it needs.
fn device<'d>(
    devices: &'d mut Map<Key, DeviceState>,
    profiles: &mut Vec<String>,
    stats: &mut ShardStats,
    context: &dyn ContextProvider,
    max_devices: usize,
    subject: &Subject,
    key: KeyRef<'_>,
    at: i64,
) -> Option<&'d mut DeviceState> {
    let full = devices.len() >= max_devices;
    match devices.entry_ref(&key) {
        EntryRef::Occupied(o) => {
            let dev = o.into_mut();
            dev.last_seen = dev.last_seen.max(at);
            Some(dev)
        }
        EntryRef::Vacant(v) => {
            if full {
                stats.refused += 1;
                return None;
            }
            let profile = match context.context(subject).and_then(|c| c.profile) {
                Some(p) => match profiles.iter().position(|x| *x == p) {
                    Some(i) => u16::try_from(i + 1).unwrap_or(0),
                    None if profiles.len() < usize::from(u16::MAX) - 1 => {
                        profiles.push(p);
                        u16::try_from(profiles.len()).unwrap_or(0)
                    }
                    None => 0,
                },
                None => 0,
            };
            Some(v.insert(DeviceState {
                first_seen: at,
                last_seen: at,
                profile,
                ..DeviceState::default()
            }))
        }
    }
}

fn profile_name(profiles: &[String], id: u16) -> Option<&str> {
    usize::from(id)
        .checked_sub(1)
        .and_then(|i| profiles.get(i))
        .map(String::as_str)
}
