//! Per-subject traffic counters: what the API shows as a device's flow activity. Sharded
//! so that collector tasks on several threads rarely meet on one lock, and capped so that a
//! flood of spoofed source addresses cannot grow memory without bound (new subjects past the
//! cap are counted as refused, existing ones keep counting).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use foldhash::fast::RandomState;
use hashbrown::Equivalent;

use rampart_bus::Subject;
use rampart_core::{DeviceId, DeviceMetrics, FlowRecord, SignalSource, TenantId, Timestamp};
use serde::Serialize;

const SHARDS: usize = 16;

/// Metric: subjects not counted because the table was full.
pub const TRAFFIC_REFUSED_TOTAL: &str = "rampart_traffic_subjects_refused_total";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Device(TenantId, DeviceId),
    Host(IpAddr),
}

/// A [`Key`] borrowed from a subject: what each flow's look-up hashes and compares, so that
/// counting a flow copies no names (only a subject seen for the first time is copied).
#[derive(Debug, Clone, Copy)]
enum KeyRef<'a> {
    Device(&'a TenantId, &'a DeviceId),
    Host(IpAddr),
}

impl<'a> KeyRef<'a> {
    fn of(s: &'a Subject) -> Option<Self> {
        match (&s.tenant, &s.device_id, s.host) {
            (Some(t), Some(d), _) => Some(Self::Device(t, d)),
            (_, _, Some(h)) => Some(Self::Host(h)),
            _ => None,
        }
    }

    fn to_key(self) -> Key {
        match self {
            Self::Device(t, d) => Key::Device(t.clone(), d.clone()),
            Self::Host(h) => Key::Host(h),
        }
    }
}

impl Key {
    fn borrowed(&self) -> KeyRef<'_> {
        match self {
            Self::Device(t, d) => KeyRef::Device(t, d),
            Self::Host(h) => KeyRef::Host(*h),
        }
    }
}

/// One hash for both forms, so that a borrowed key finds its owned entry.
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Self::Device(t, d) => {
                h.write_u8(0);
                t.as_str().hash(h);
                d.as_str().hash(h);
            }
            Self::Host(ip) => {
                h.write_u8(1);
                ip.hash(h);
            }
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.borrowed().hash(h);
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (Self::Device(t, d), Key::Device(kt, kd)) => *t == kt && *d == kd,
            (Self::Host(a), Key::Host(b)) => a == b,
            _ => false,
        }
    }
}

/// Counters of one subject, from the device's point of view ("out" = sent by the device).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrafficSnapshot {
    /// Flows seen.
    pub flows: u64,
    /// Bytes the device sent.
    pub bytes_out: u64,
    /// Bytes the device received.
    pub bytes_in: u64,
    /// Packets the device sent.
    pub packets_out: u64,
    /// Packets the device received.
    pub packets_in: u64,
    /// Flows the device opened.
    pub flows_originated: u64,
    /// Flows opened towards the device.
    pub flows_received: u64,
    /// Metric reports the device sent.
    pub metric_reports: u64,
    /// Event time of the first observation.
    pub first_seen: Option<Timestamp>,
    /// Event time of the last observation.
    pub last_seen: Option<Timestamp>,
    /// Flows per source kind.
    pub flows_by_source: SourceCounts,
}

/// Flows per source kind: a few pairs in first-seen order, searched linearly (a subject has
/// one or two sources, so this beats a hash map per subject in time and memory). Serialized
/// as a map from source name to count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCounts(Vec<(SignalSource, u64)>);

impl SourceCounts {
    fn add(&mut self, source: SignalSource) {
        match self.0.iter_mut().find(|(s, _)| *s == source) {
            Some((_, n)) => *n += 1,
            None => self.0.push((source, 1)),
        }
    }

    /// The count of one source (0 when none was seen).
    pub fn get(&self, source: SignalSource) -> u64 {
        self.0
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(0, |(_, n)| *n)
    }

    /// Every source with its count, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (SignalSource, u64)> + '_ {
        self.0.iter().copied()
    }
}

impl Serialize for SourceCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(s, n)| (s, n)))
    }
}

impl TrafficSnapshot {
    fn seen(&mut self, start: Timestamp, end: Timestamp) {
        self.first_seen = Some(self.first_seen.map_or(start, |f| f.min(start)));
        self.last_seen = Some(self.last_seen.map_or(end, |l| l.max(end)));
    }
}

/// foldhash with a per-process random seed: fast, and the host keys (addresses a flow names,
/// possibly spoofed) cannot be chosen to collide.
type Shard = hashbrown::HashMap<Key, TrafficSnapshot, RandomState>;

/// The table.
#[derive(Debug)]
pub struct TrafficCounters {
    shards: Vec<Mutex<Shard>>,
    /// Picks the shard; seeded apart from the maps' own hashers so that the keys of one shard
    /// do not all share the low bits their map indexes by.
    spread: RandomState,
    per_shard_cap: usize,
}

impl TrafficCounters {
    /// A table holding at most about `capacity` subjects.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::with_hasher(RandomState::default())))
                .collect(),
            spread: RandomState::default(),
            per_shard_cap: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: KeyRef<'_>) -> Option<&Mutex<Shard>> {
        let h = self.spread.hash_one(key);
        self.shards
            .get(usize::try_from(h % SHARDS as u64).unwrap_or(0))
    }

    fn update(&self, subject: &Subject, f: impl FnOnce(&mut TrafficSnapshot)) {
        let Some(key) = KeyRef::of(subject) else {
            return;
        };
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = map.get_mut(&key) {
            f(entry);
        } else if map.len() < self.per_shard_cap {
            f(map.entry(key.to_key()).or_default());
        } else {
            metrics::counter!(TRAFFIC_REFUSED_TOTAL).increment(1);
        }
    }

    pub(crate) fn add_flow(&self, subject: &Subject, r: &FlowRecord, responder: bool) {
        self.update(subject, |c| {
            let (out_b, out_p, in_b, in_p) = if responder {
                (r.rev_bytes, r.rev_packets, r.bytes, r.packets)
            } else {
                (r.bytes, r.packets, r.rev_bytes, r.rev_packets)
            };
            c.flows += 1;
            if responder {
                c.flows_received += 1;
            } else {
                c.flows_originated += 1;
            }
            c.bytes_out = c.bytes_out.saturating_add(out_b);
            c.packets_out = c.packets_out.saturating_add(out_p);
            c.bytes_in = c.bytes_in.saturating_add(in_b);
            c.packets_in = c.packets_in.saturating_add(in_p);
            c.flows_by_source.add(r.source);
            c.seen(r.start, r.end);
        });
    }

    pub(crate) fn add_metrics(&self, subject: &Subject, m: &DeviceMetrics) {
        self.update(subject, |c| {
            c.metric_reports += 1;
            c.seen(m.time, m.time);
        });
    }

    /// A registered device's counters.
    pub fn device(&self, tenant: &TenantId, device_id: &DeviceId) -> Option<TrafficSnapshot> {
        self.get(KeyRef::Device(tenant, device_id))
    }

    /// An unregistered host's counters.
    pub fn host(&self, ip: IpAddr) -> Option<TrafficSnapshot> {
        self.get(KeyRef::Host(ip))
    }

    fn get(&self, key: KeyRef<'_>) -> Option<TrafficSnapshot> {
        let shard = self.shard(key)?;
        let map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key).cloned()
    }

    /// Subjects counted.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// No subject counted yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every subject with its counters (for summaries), keyed as [`Subject::key`] does.
    pub fn all(&self) -> Vec<(String, TrafficSnapshot)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (k, v) in map.iter() {
                let name = match k {
                    Key::Device(t, d) => format!("{t}/{d}"),
                    Key::Host(h) => format!("host:{h}"),
                };
                out.push((name, v.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Default for TrafficCounters {
    fn default() -> Self {
        Self::new(1_000_000)
    }
}
