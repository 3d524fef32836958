//! The grouper's bounded state: the incidents it holds (open ones, and closed ones until their
//! reopen window passes), which incident each subject maps to, and the per-key device tallies
//! that decide when a campaign forms. Everything is evicted by age and, at the hard caps, least
//! recently used first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use rampart_core::{DeviceId, TenantId, Timestamp};

use crate::{Incident, IncidentChange, IncidentId, Scope, TimelineEntry};

/// What incidents are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Subject {
    Device(TenantId, DeviceId),
    Host(Option<TenantId>, IpAddr),
    Campaign(TenantId, String),
}

impl Subject {
    /// The subject of a stored incident (`None` for a device or campaign without a tenant,
    /// which the grouper never creates).
    pub(super) fn of(incident: &Incident) -> Option<Self> {
        match (&incident.scope, &incident.tenant) {
            (Scope::Device(d), Some(t)) => Some(Self::Device(t.clone(), d.clone())),
            (Scope::Host(ip), t) => Some(Self::Host(t.clone(), *ip)),
            (Scope::Campaign { key, .. }, Some(t)) => Some(Self::Campaign(t.clone(), key.clone())),
            _ => None,
        }
    }
}

/// A position in an eviction order: milliseconds, then a tie-breaking sequence number.
pub(super) type Order = (i64, u64);

pub(super) struct Held {
    pub(super) incident: Incident,
    subject: Subject,
    lru: Order,
    closed: Option<i64>,
}

/// Distinct devices seen with one campaign key, each with its latest event time.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) devices: BTreeMap<DeviceId, i64>,
    order: Order,
}

pub(super) type KeyId = (TenantId, String);

#[derive(Default)]
pub(super) struct Index {
    pub(super) held: HashMap<IncidentId, Held>,
    pub(super) by_subject: HashMap<Subject, IncidentId>,
    lru: BTreeSet<(Order, IncidentId)>,
    closed: BTreeSet<(i64, IncidentId)>,
    pub(super) tallies: HashMap<KeyId, Tally>,
    tally_order: BTreeSet<(Order, KeyId)>,
    seq: u64,
    /// Latest event time seen on a campaign key: tallies older than the window are dropped.
    event_clock: i64,
    pub(super) evicted_incidents: u64,
    pub(super) evicted_keys: u64,
}

impl Index {
    fn next_order(&mut self, ms: i64) -> Order {
        self.seq += 1;
        (ms, self.seq)
    }

    /// The incident mapped to `subject`.
    pub(super) fn for_subject(&self, subject: &Subject) -> Option<&IncidentId> {
        self.by_subject.get(subject)
    }

    pub(super) fn get_mut(&mut self, id: &IncidentId) -> Option<&mut Incident> {
        self.held.get_mut(id).map(|h| &mut h.incident)
    }

    pub(super) fn get(&self, id: &IncidentId) -> Option<&Incident> {
        self.held.get(id).map(|h| &h.incident)
    }

    /// Holds `incident` (replacing a held copy with the same id). A subject maps to one
    /// incident: an active incident takes the subject from a closed one, otherwise the one
    /// already mapped keeps it and `incident` is not held. True when held.
    pub(super) fn hold(&mut self, incident: Incident, touch_ms: i64) -> bool {
        let Some(subject) = Subject::of(&incident) else {
            return false;
        };
        let id = incident.id.clone();
        if self.held.get(&id).is_some_and(|h| h.subject != subject) {
            self.drop_held(&id);
        }
        if let Some(other) = self.by_subject.get(&subject).cloned()
            && other != id
        {
            let other_active = self
                .held
                .get(&other)
                .is_some_and(|h| h.incident.status.is_active());
            if other_active || incident.status.is_closed() {
                return false;
            }
            self.drop_held(&other);
        }
        let order = self.next_order(touch_ms);
        let closed = incident
            .status
            .is_closed()
            .then(|| incident.closed_at.unwrap_or(incident.updated_at).0);
        if let Some(old) = self.held.insert(
            id.clone(),
            Held {
                incident,
                subject: subject.clone(),
                lru: order,
                closed,
            },
        ) {
            self.lru.remove(&(old.lru, id.clone()));
            if let Some(c) = old.closed {
                self.closed.remove(&(c, id.clone()));
            }
        }
        self.lru.insert((order, id.clone()));
        if let Some(c) = closed {
            self.closed.insert((c, id.clone()));
        }
        self.by_subject.insert(subject, id);
        true
    }

    /// Re-files a held incident after it changed (status, activity).
    pub(super) fn touch(&mut self, id: &IncidentId, now: Timestamp) {
        let order = self.next_order(now.0);
        let Some(h) = self.held.get_mut(id) else {
            return;
        };
        self.lru.remove(&(h.lru, id.clone()));
        h.lru = order;
        self.lru.insert((order, id.clone()));
        if let Some(c) = h.closed.take() {
            self.closed.remove(&(c, id.clone()));
        }
        if h.incident.status.is_closed() {
            let c = h.incident.closed_at.unwrap_or(h.incident.updated_at).0;
            h.closed = Some(c);
            self.closed.insert((c, id.clone()));
        }
    }

    pub(super) fn drop_held(&mut self, id: &IncidentId) -> Option<Incident> {
        let h = self.held.remove(id)?;
        self.lru.remove(&(h.lru, id.clone()));
        if let Some(c) = h.closed {
            self.closed.remove(&(c, id.clone()));
        }
        if self.by_subject.get(&h.subject) == Some(id) {
            self.by_subject.remove(&h.subject);
        }
        Some(h.incident)
    }

    /// Forgets closed incidents whose reopen window has passed.
    pub(super) fn expire_closed(&mut self, now: Timestamp, reopen_ms: i64) {
        while let Some((closed_at, id)) = self.closed.first().cloned() {
            if now.0.saturating_sub(closed_at) <= reopen_ms {
                break;
            }
            self.drop_held(&id);
        }
    }

    /// Evicts least recently used incidents beyond `max`.
    pub(super) fn cap_incidents(&mut self, max: usize) {
        while self.held.len() > max {
            let Some((_, id)) = self.lru.first().cloned() else {
                break;
            };
            self.drop_held(&id);
            self.evicted_incidents += 1;
        }
    }

    /// Records that `device` carried `key` at event time `at` and returns the key's tally,
    /// pruned to the devices seen within `window_ms` of `at` and to `max_devices`.
    pub(super) fn tally(
        &mut self,
        key: KeyId,
        device: &DeviceId,
        at: i64,
        window_ms: i64,
        max_devices: usize,
    ) -> &Tally {
        self.event_clock = self.event_clock.max(at);
        let mut tally = self.tallies.remove(&key).unwrap_or_default();
        self.tally_order.remove(&(tally.order, key.clone()));
        let horizon = at.saturating_sub(window_ms);
        tally.devices.retain(|_, seen| *seen >= horizon);
        let seen = tally.devices.entry(device.clone()).or_insert(at);
        *seen = (*seen).max(at);
        while tally.devices.len() > max_devices {
            let oldest = tally
                .devices
                .iter()
                .filter(|(d, _)| *d != device)
                .min_by_key(|(d, seen)| (**seen, (*d).clone()))
                .map(|(d, _)| d.clone());
            match oldest {
                Some(d) => tally.devices.remove(&d),
                None => break,
            };
        }
        let last = tally.devices.values().copied().max().unwrap_or(at);
        tally.order = self.next_order(last);
        self.tally_order.insert((tally.order, key.clone()));
        self.tallies.entry(key).or_insert(tally)
    }

    /// Drops tallies idle for longer than the window (by event time) and the oldest ones
    /// beyond `max`.
    pub(super) fn cap_tallies(&mut self, window_ms: i64, max: usize) {
        let horizon = self.event_clock.saturating_sub(window_ms);
        while let Some(((seen, _), key)) = self.tally_order.first().cloned() {
            let expired = seen < horizon;
            if !expired && self.tallies.len() <= max {
                break;
            }
            self.tally_order.pop_first();
            self.tallies.remove(&key);
            if !expired {
                self.evicted_keys += 1;
            }
        }
    }
}

/// The incidents one finding changed, in the order they were first touched, with the
/// timeline entries for each.
#[derive(Default)]
pub(super) struct Changes {
    order: Vec<(IncidentId, bool, Vec<TimelineEntry>)>,
}

impl Changes {
    fn slot(&mut self, id: &IncidentId) -> &mut (IncidentId, bool, Vec<TimelineEntry>) {
        let pos = match self.order.iter().position(|(i, _, _)| i == id) {
            Some(p) => p,
            None => {
                self.order.push((id.clone(), false, Vec::new()));
                self.order.len() - 1
            }
        };
        &mut self.order[pos]
    }

    /// The incident changed without a timeline entry (counts).
    pub(super) fn touched(&mut self, id: &IncidentId) {
        self.slot(id);
    }

    /// The incident was created.
    pub(super) fn created(&mut self, id: &IncidentId) {
        self.slot(id).1 = true;
    }

    /// Adds a timeline entry.
    pub(super) fn entry(&mut self, id: &IncidentId, entry: TimelineEntry) {
        self.slot(id).2.push(entry);
    }

    /// Snapshots of the changed incidents as they are now.
    pub(super) fn finish(self, index: &Index) -> Vec<IncidentChange> {
        self.order
            .into_iter()
            .filter_map(|(id, created, entries)| {
                index.get(&id).map(|incident| IncidentChange {
                    incident: incident.clone(),
                    entries,
                    created,
                })
            })
            .collect()
    }
}
