//! The live session table: sessions keyed by (NAS, Acct-Session-Id), indexed by framed IPv4
//! address, IPv6 prefix and IMSI; bounded; driven only by accounting records and event time.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv6Net};
use rampart_core::{AccountingRecord, RadiusSession, SimSighting, Timestamp};

use crate::event::{AcctEvent, Status};

type Key = (String, String);

/// An hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// What applying one record changed, for the caller to persist (in this order) before it
/// acknowledges the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The record, with the session as it is after the change.
    pub record: AccountingRecord,
    /// The session row to write.
    pub change: SessionChange,
    /// Octets since the previous record of the session, credited to the IMSI's hour.
    pub usage: Option<UsageDelta>,
    /// Last IMEISV and location of the IMSI.
    pub sighting: Option<SimSighting>,
    /// The session was new but the table was full: the record is kept, the session is not
    /// tracked.
    pub refused: bool,
}

/// How the session row changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// Insert or replace it.
    Upsert(Box<RadiusSession>),
    /// Delete it.
    End {
        /// NAS.
        nas: String,
        /// Acct-Session-Id.
        session_id: String,
    },
    /// Delete every session of the NAS.
    EndNas {
        /// NAS.
        nas: String,
    },
    /// Nothing to write.
    None,
}

/// Octets to add to an IMSI's hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The IMSI.
    pub imsi: String,
    /// Start of the hour (event time).
    pub hour: Timestamp,
    /// Octets from the device.
    pub up: u64,
    /// Octets to the device.
    pub down: u64,
}

/// The table. Not synchronised: the accounting server owns it behind a lock.
#[derive(Debug)]
pub struct SessionTable {
    max_sessions: usize,
    sessions: HashMap<Key, RadiusSession>,
    by_ipv4: HashMap<Ipv4Addr, Key>,
    by_ipv6: HashMap<Ipv6Net, Key>,
    /// How many indexed IPv6 prefixes have each length, to probe only lengths in use.
    v6_lengths: BTreeMap<u8, usize>,
    by_imsi: HashMap<String, Key>,
    refused: u64,
    watermark: Timestamp,
}

impl SessionTable {
    /// An empty table holding at most `max_sessions` sessions.
    pub fn new(max_sessions: usize) -> Self {
        Self {
            max_sessions,
            sessions: HashMap::new(),
            by_ipv4: HashMap::new(),
            by_ipv6: HashMap::new(),
            v6_lengths: BTreeMap::new(),
            by_imsi: HashMap::new(),
            refused: 0,
            watermark: Timestamp(0),
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The configured bound.
    pub fn capacity(&self) -> usize {
        self.max_sessions
    }

    /// New sessions refused because the table was full, since start.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The latest event time applied.
    pub fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Puts back a stored session (restart); false when the table is full.
    pub fn restore(&mut self, s: RadiusSession) -> bool {
        let key = (s.nas.clone(), s.session_id.clone());
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.max_sessions {
            return false;
        }
        self.watermark = self.watermark.max(s.updated_at);
        self.insert(key, s);
        true
    }

    /// The session holding `ip` (IPv4 address, or IPv6 address inside its prefix).
    pub fn by_ip(&self, ip: IpAddr) -> Option<&RadiusSession> {
        let key = match ip {
            IpAddr::V4(v4) => self.by_ipv4.get(&v4),
            IpAddr::V6(v6) => self.v6_lengths.keys().rev().find_map(|&len| {
                let net = Ipv6Net::new(v6, len).ok()?.trunc();
                self.by_ipv6.get(&net)
            }),
        }?;
        self.sessions.get(key)
    }

    /// The latest session of an IMSI.
    pub fn by_imsi(&self, imsi: &str) -> Option<&RadiusSession> {
        self.sessions.get(self.by_imsi.get(imsi)?)
    }

    /// One session.
    pub fn get(&self, nas: &str, session_id: &str) -> Option<&RadiusSession> {
        self.sessions.get(&(nas.to_owned(), session_id.to_owned()))
    }

    /// All sessions, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &RadiusSession> {
        self.sessions.values()
    }

    /// Applies a record. `stamp` fills in the tenant and device of the session's IMSI.
    pub fn apply(&mut self, ev: &AcctEvent, stamp: impl Fn(&mut RadiusSession)) -> Applied {
        self.watermark = self.watermark.max(ev.event_time);
        match ev.status {
            Status::AccountingOn | Status::AccountingOff => {
                let keys: Vec<Key> = self
                    .sessions
                    .keys()
                    .filter(|(nas, _)| *nas == ev.nas)
                    .cloned()
                    .collect();
                for k in keys {
                    self.remove(&k);
                }
                let mut session = blank(ev);
                stamp(&mut session);
                Applied {
                    record: record(ev, session),
                    change: SessionChange::EndNas {
                        nas: ev.nas.clone(),
                    },
                    usage: None,
                    sighting: None,
                    refused: false,
                }
            }
            Status::Start | Status::Interim | Status::Stop => self.apply_session(ev, stamp),
        }
    }

    fn apply_session(&mut self, ev: &AcctEvent, stamp: impl Fn(&mut RadiusSession)) -> Applied {
        let key = (ev.nas.clone(), ev.session_id.clone());
        let previous = self.remove(&key);
        let known = previous.is_some();
        let mut s = previous.unwrap_or_else(|| blank(ev));
        let (prev_in, prev_out) = if known {
            (s.input_octets, s.output_octets)
        } else {
            (0, 0)
        };
        merge(&mut s, ev);
        stamp(&mut s);
        let usage = s.imsi.as_ref().and_then(|imsi| {
            let up = counter_delta(prev_in, s.input_octets);
            let down = counter_delta(prev_out, s.output_octets);
            (up > 0 || down > 0).then(|| UsageDelta {
                imsi: imsi.clone(),
                hour: Timestamp(ev.event_time.0.div_euclid(HOUR_MS) * HOUR_MS),
                up,
                down,
            })
        });
        let sighting = s.imsi.as_ref().map(|imsi| SimSighting {
            imsi: imsi.clone(),
            imeisv: ev.imeisv.clone(),
            location: ev.location.clone(),
            seen_at: ev.event_time,
        });
        let mut refused = false;
        let change = if ev.status == Status::Stop {
            SessionChange::End {
                nas: key.0.clone(),
                session_id: key.1.clone(),
            }
        } else if !known && self.sessions.len() >= self.max_sessions {
            refused = true;
            self.refused += 1;
            SessionChange::None
        } else {
            self.insert(key, s.clone());
            SessionChange::Upsert(Box::new(s.clone()))
        };
        Applied {
            record: record(ev, s),
            change,
            usage,
            sighting,
            refused,
        }
    }

    /// Ends sessions whose last record is older than `cutoff` (event time), returning them.
    pub fn expire(&mut self, cutoff: Timestamp) -> Vec<RadiusSession> {
        let stale: Vec<Key> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.updated_at < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        stale.iter().filter_map(|k| self.remove(k)).collect()
    }

    fn insert(&mut self, key: Key, s: RadiusSession) {
        if let Some(ip) = s.ipv4 {
            self.by_ipv4.insert(ip, key.clone());
        }
        if let Some(net) = s.ipv6_prefix {
            let net = net.trunc();
            if self.by_ipv6.insert(net, key.clone()).is_none() {
                *self.v6_lengths.entry(net.prefix_len()).or_default() += 1;
            }
        }
        if let Some(imsi) = &s.imsi {
            self.by_imsi.insert(imsi.clone(), key.clone());
        }
        self.sessions.insert(key, s);
    }

    fn remove(&mut self, key: &Key) -> Option<RadiusSession> {
        let s = self.sessions.remove(key)?;
        if let Some(ip) = s.ipv4
            && self.by_ipv4.get(&ip) == Some(key)
        {
            self.by_ipv4.remove(&ip);
        }
        if let Some(net) = s.ipv6_prefix {
            let net = net.trunc();
            if self.by_ipv6.get(&net) == Some(key) {
                self.by_ipv6.remove(&net);
                let len = net.prefix_len();
                if let Some(n) = self.v6_lengths.get_mut(&len) {
                    *n -= 1;
                    if *n == 0 {
                        self.v6_lengths.remove(&len);
                    }
                }
            }
        }
        if let Some(imsi) = &s.imsi
            && self.by_imsi.get(imsi) == Some(key)
        {
            self.by_imsi.remove(imsi);
        }
        Some(s)
    }
}

/// Octets since the previous cumulative reading. A reading below the previous one means the
/// NAS reset the counter (restart, or a wrap without Gigawords): the new reading is all new.
pub fn counter_delta(previous: u64, current: u64) -> u64 {
    if current >= previous {
        current - previous
    } else {
        current
    }
}

fn blank(ev: &AcctEvent) -> RadiusSession {
    RadiusSession {
        nas: ev.nas.clone(),
        session_id: ev.session_id.clone(),
        multi_session_id: None,
        imsi: None,
        imeisv: None,
        msisdn: None,
        ipv4: None,
        ipv6_prefix: None,
        apn: None,
        rat: None,
        location: None,
        started_at: ev.event_time,
        updated_at: ev.event_time,
        input_octets: 0,
        output_octets: 0,
        input_packets: 0,
        output_packets: 0,
        tenant: None,
        device_id: None,
    }
}

/// Newer values replace older ones; absent ones keep what the session had (an Interim often
/// carries fewer attributes than the Start).
fn merge(s: &mut RadiusSession, ev: &AcctEvent) {
    fn keep<T: Clone>(slot: &mut Option<T>, v: &Option<T>) {
        if v.is_some() {
            slot.clone_from(v);
        }
    }
    keep(&mut s.multi_session_id, &ev.multi_session_id);
    keep(&mut s.imsi, &ev.imsi);
    keep(&mut s.imeisv, &ev.imeisv);
    keep(&mut s.msisdn, &ev.msisdn);
    keep(&mut s.ipv4, &ev.ipv4);
    keep(&mut s.ipv6_prefix, &ev.ipv6_prefix.map(|n| n.trunc()));
    keep(&mut s.apn, &ev.apn);
    keep(&mut s.rat, &ev.rat);
    keep(&mut s.location, &ev.location);
    if ev.status == Status::Start {
        s.started_at = ev.event_time;
    }
    s.updated_at = s.updated_at.max(ev.event_time);
    if let Some(v) = ev.input_octets {
        s.input_octets = v;
    }
    if let Some(v) = ev.output_octets {
        s.output_octets = v;
    }
    if let Some(v) = ev.input_packets {
        s.input_packets = v.into();
    }
    if let Some(v) = ev.output_packets {
        s.output_packets = v.into();
    }
}

fn record(ev: &AcctEvent, session: RadiusSession) -> AccountingRecord {
    AccountingRecord {
        status: ev.status.as_str().to_owned(),
        event_time: ev.event_time,
        received_at: ev.received_at,
        client: ev.client.clone(),
        session,
        session_time: ev.session_time,
        terminate_cause: ev.terminate_cause.clone(),
    }
}

/// The address a session is known by, for display.
pub fn session_ip(s: &RadiusSession) -> Option<IpNet> {
    s.ipv4
        .map(|v4| IpNet::from(ipnet::Ipv4Net::from(v4)))
        .or_else(|| s.ipv6_prefix.map(IpNet::from))
}
