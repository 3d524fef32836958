//! The flow table: frames in, [`CaptureEvent`]s out, no I/O.
//!
//! Flows live in a slab (one `Vec` of fixed-size entries, freed slots chained for reuse) and
//! are found through a hash table holding only the 4-byte slab index, so each key is stored
//! once. Every entry is also on one of five intrusive lists by timeout class (TCP, UDP, other,
//! closing, attempt); a packet moves its flow to the tail of its list, so each list stays in
//! order of last activity and expiry only ever looks at list heads. Time is event time: the
//! highest packet timestamp seen so far.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use rampart_core::{
    DnsRecord, FlowRecord, NameRecord, PacketFacts, SignalSource, Timestamp, proto, tcp_flags,
};

use crate::config::{CaptureConfig, CaptureEvent, TableStats};
use crate::decode::{Decoded, FragmentId, LinkType, Packet, decode};
use crate::tcpstate::{TcpTrack, udp_state};
use crate::{dns, names};

const NIL: u32 = u32::MAX;
const LIST_TCP: u8 = 0;
const LIST_UDP: u8 = 1;
const LIST_OTHER: u8 = 2;
const LIST_CLOSING: u8 = 3;
const LIST_ATTEMPT: u8 = 4;
const LIST_FREE: u8 = 255;
const LISTS: usize = 5;
/// First fragments remembered to give later fragments their ports.
const MAX_FRAGMENT_MEMORY: usize = 4096;

/// Service seen in a flow, stored as a byte per entry.
const SVC_NONE: u8 = 0;
const SVC_DNS: u8 = 1;
const SVC_TLS: u8 = 2;
const SVC_HTTP: u8 = 3;

/// Bidirectional key: the lower (address, port) endpoint first, so both directions of a
/// conversation find the same entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    lo: [u8; 16],
    hi: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    proto: u8,
    v6: bool,
}

impl FlowKey {
    /// The key and whether the packet's sender is the `lo` endpoint.
    fn of(p: &Packet<'_>) -> (Self, bool) {
        let (sport, dport) = (p.sport, p.dport);
        let sender_lo = (p.src, sport) <= (p.dst, dport);
        let (lo, lo_port, hi, hi_port) = if sender_lo {
            (p.src, sport, p.dst, dport)
        } else {
            (p.dst, dport, p.src, sport)
        };
        let key = Self {
            lo,
            hi,
            lo_port,
            hi_port,
            proto: p.proto,
            v6: p.v6,
        };
        (key, sender_lo)
    }
}

/// One flow. Kept small: this is what memory scales with.
#[derive(Debug, Clone)]
struct Entry {
    key: FlowKey,
    /// The originator is the key's `lo` endpoint.
    orig_is_lo: bool,
    /// Which list the entry is on (`LIST_*`).
    list: u8,
    /// `SVC_*`.
    svc: u8,
    /// The originator's first payload was already examined for a server name.
    app_checked: bool,
    tcp: TcpTrack,
    /// OR of TCP flags: [originator, responder].
    flags: [u8; 2],
    first_ns: i64,
    last_ns: i64,
    /// [originator, responder].
    packets: [u64; 2],
    bytes: [u64; 2],
    facts: PacketFacts,
    prev: u32,
    next: u32,
}

/// Where the later fragments of a packet are counted.
#[derive(Debug, Clone, Copy)]
struct FragmentTarget {
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    v6: bool,
    /// The first fragment was a tunnel packet whose inner packet the flow is about.
    tunneled: bool,
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// Sans-IO flow assembly: feed frames with [`FlowTable::process`], take events with
/// [`FlowTable::pop_event`], call [`FlowTable::finish`] at end of input.
#[derive(Debug)]
pub struct FlowTable {
    cfg: CaptureConfig,
    timeouts_ns: [i64; LISTS],
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slab: Vec<Entry>,
    free: u32,
    lists: [List; LISTS],
    active: usize,
    now_ns: i64,
    events: VecDeque<CaptureEvent>,
    fragments: HashMap<FragmentId, FragmentTarget>,
    fragment_order: VecDeque<FragmentId>,
    stats: TableStats,
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl FlowTable {
    /// Bytes one flow entry takes in the slab (the hash index adds about 5–10 more).
    pub const ENTRY_BYTES: usize = size_of::<Entry>();

    /// An empty table.
    pub fn new(cfg: CaptureConfig) -> Self {
        let timeouts_ns = [
            nanos(cfg.tcp_timeout),
            nanos(cfg.udp_timeout),
            nanos(cfg.other_timeout),
            nanos(cfg.close_delay),
            nanos(cfg.attempt_timeout),
        ];
        Self {
            cfg,
            timeouts_ns,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slab: Vec::new(),
            free: NIL,
            lists: [List {
                head: NIL,
                tail: NIL,
            }; LISTS],
            active: 0,
            now_ns: i64::MIN,
            events: VecDeque::new(),
            fragments: HashMap::new(),
            fragment_order: VecDeque::new(),
            stats: TableStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Flows currently held.
    pub fn active_flows(&self) -> usize {
        self.active
    }

    /// Heap bytes held by the slab and the index (not counting pending events).
    pub fn memory_bytes(&self) -> usize {
        self.slab.capacity() * Self::ENTRY_BYTES + self.index.capacity() * (size_of::<u32>() + 1)
    }

    /// Sets the exporter name stamped on flows from now on.
    pub fn set_exporter(&mut self, exporter: Option<Arc<str>>) {
        self.cfg.exporter = exporter;
    }

    /// The next event, oldest first.
    pub fn pop_event(&mut self) -> Option<CaptureEvent> {
        self.events.pop_front()
    }

    /// Events waiting to be taken.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Moves event time forward without a packet (for live input that falls silent), reporting
    /// flows idle past their timeout.
    pub fn advance_to(&mut self, ts_ns: i64) {
        if ts_ns > self.now_ns {
            self.now_ns = ts_ns;
            self.expire();
        }
    }

    /// Ends input: every flow still held is reported, oldest last packet first.
    pub fn finish(&mut self) {
        let mut rest = Vec::with_capacity(self.active);
        for list in 0..LISTS {
            let mut at = self.lists[list].head;
            while at != NIL {
                let Some(e) = self.slab.get(at as usize) else {
                    break;
                };
                rest.push((e.last_ns, e.first_ns, at));
                at = e.next;
            }
        }
        rest.sort_unstable();
        for (_, _, idx) in rest {
            self.remove_and_emit(idx);
        }
    }

    /// Feeds one frame captured at `ts_ns` (nanoseconds since the Unix epoch).
    pub fn process(&mut self, ts_ns: i64, linktype: LinkType, frame: &[u8]) {
        self.stats.packets += 1;
        self.stats.bytes += frame.len() as u64;
        self.advance_to(ts_ns);
        let packet = match decode(linktype, frame, self.cfg.gtp_decap) {
            Decoded::Ip(p) => p,
            Decoded::NotIp => {
                self.stats.non_ip += 1;
                return;
            }
            Decoded::UnsupportedLink => {
                self.stats.unsupported_link += 1;
                return;
            }
            Decoded::Malformed => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.ip_packets += 1;
        // An inner packet cut by the outer fragmentation is not a capture truncation.
        if packet.truncated && packet.outer_fragment.is_none() {
            self.stats.truncated += 1;
        }
        if packet.tunnel_depth > 0 {
            self.stats.tunneled += 1;
        }
        let mut packet = packet;
        self.attribute_fragment(&mut packet);
        self.account(ts_ns, &packet);
    }

    /// Gives a later IP fragment the identity (addresses, protocol, ports) of the flow its
    /// first fragment went to, and remembers first fragments for that.
    fn attribute_fragment(&mut self, p: &mut Packet<'_>) {
        if let Some(outer) = p.outer_fragment {
            self.remember_fragment(outer, p);
        }
        let Some((id, first)) = p.fragment else {
            return;
        };
        self.stats.fragments += 1;
        let key = (p.src, p.dst, id, p.proto);
        if first {
            if p.has_ports {
                self.remember_fragment(key, p);
            }
        } else if let Some(target) = self.fragments.get(&key) {
            if target.tunneled {
                // The inner header's length already counted these bytes.
                p.ip_len = 0;
            }
            p.src = target.src;
            p.dst = target.dst;
            p.sport = target.sport;
            p.dport = target.dport;
            p.proto = target.proto;
            p.v6 = target.v6;
            p.has_ports = true;
        } else {
            self.stats.orphan_fragments += 1;
        }
    }

    fn remember_fragment(&mut self, key: FragmentId, p: &Packet<'_>) {
        if self.fragments.contains_key(&key) {
            return;
        }
        if self.fragment_order.len() >= MAX_FRAGMENT_MEMORY
            && let Some(old) = self.fragment_order.pop_front()
        {
            self.fragments.remove(&old);
        }
        let target = FragmentTarget {
            src: p.src,
            dst: p.dst,
            sport: p.sport,
            dport: p.dport,
            proto: p.proto,
            v6: p.v6,
            tunneled: p.outer_fragment == Some(key),
        };
        self.fragments.insert(key, target);
        self.fragment_order.push_back(key);
    }

    fn account(&mut self, ts_ns: i64, p: &Packet<'_>) {
        let (key, sender_lo) = FlowKey::of(p);
        let hash = self.hasher.hash_one(key);
        let is_tcp = p.proto == proto::TCP;
        let flags = if is_tcp { p.tcp_flags } else { 0 };
        let pure_syn = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;

        let slab = &self.slab;
        let mut found = self
            .index
            .find(hash, |&i| {
                slab.get(i as usize).is_some_and(|e| e.key == key)
            })
            .copied();
        // A new SYN on a connection already closed starts a new connection (port reuse).
        if let Some(idx) = found
            && is_tcp
            && pure_syn
            && self.slab.get(idx as usize).map(|e| e.list) == Some(LIST_CLOSING)
        {
            self.remove_and_emit(idx);
            found = None;
        }
        let idx = match found {
            Some(idx) => idx,
            None => {
                // The SYN-ACK's receiver is the originator when the SYN was missed.
                let synack =
                    flags & (tcp_flags::SYN | tcp_flags::ACK) == (tcp_flags::SYN | tcp_flags::ACK);
                let orig_is_lo = if is_tcp && synack {
                    !sender_lo
                } else {
                    sender_lo
                };
                self.insert(key, hash, orig_is_lo, ts_ns)
            }
        };
        let Some(e) = self.slab.get_mut(idx as usize) else {
            return;
        };
        let from_orig = sender_lo == e.orig_is_lo;
        let dir = usize::from(!from_orig);
        // A later fragment is the rest of a packet already counted: bytes, not a packet, and
        // no transport header to read.
        let later = matches!(p.fragment, Some((_, false)));
        if !later {
            e.packets[dir] += 1;
        }
        e.bytes[dir] += u64::from(p.ip_len);
        e.last_ns = e.last_ns.max(ts_ns);
        e.first_ns = e.first_ns.min(ts_ns);
        let new_list = if later && usize::from(e.list) < LISTS {
            e.list
        } else if later {
            match p.proto {
                proto::TCP => LIST_TCP,
                proto::UDP => LIST_UDP,
                _ => LIST_OTHER,
            }
        } else if is_tcp {
            e.flags[dir] |= flags;
            e.tcp.update(from_orig, flags, p.payload.len());
            if from_orig && pure_syn {
                e.facts.syns = e.facts.syns.saturating_add(1);
                if !p.v6 && p.tcp_seq.to_be_bytes() == p.dst[..4] {
                    e.facts.seq_eq_dst_syns = e.facts.seq_eq_dst_syns.saturating_add(1);
                }
            }
            if !from_orig {
                if flags & (tcp_flags::SYN | tcp_flags::ACK) == (tcp_flags::SYN | tcp_flags::ACK) {
                    e.facts.syn_acks = e.facts.syn_acks.saturating_add(1);
                }
                if flags & tcp_flags::RST != 0 {
                    e.facts.rev_rsts = e.facts.rev_rsts.saturating_add(1);
                }
            }
            if e.tcp.is_closed() {
                LIST_CLOSING
            } else if e.tcp.is_attempt() {
                LIST_ATTEMPT
            } else {
                LIST_TCP
            }
        } else if p.proto == proto::UDP {
            LIST_UDP
        } else {
            LIST_OTHER
        };
        let check_name =
            is_tcp && from_orig && !e.app_checked && !p.payload.is_empty() && self.cfg.names;
        if check_name {
            e.app_checked = true;
        }
        let check_dns =
            p.proto == proto::UDP && self.cfg.dns && p.sport == 53 && p.has_ports && !later;
        self.relink(idx, new_list);

        if check_name && let Some((name, via)) = names::server_name(p.payload) {
            if let Some(e) = self.slab.get_mut(idx as usize) {
                e.svc = match via {
                    names::Via::Tls => SVC_TLS,
                    names::Via::Http => SVC_HTTP,
                };
            }
            self.stats.names += 1;
            self.events.push_back(CaptureEvent::Name(NameRecord {
                source: SignalSource::Pcap,
                time: to_ms(ts_ns),
                client: addr(&p.src, p.v6),
                server: addr(&p.dst, p.v6),
                port: p.dport,
                name: name.into_boxed_str(),
                via: via.as_str().into(),
            }));
        }
        if check_dns {
            match dns::parse_response(p.payload) {
                Ok(answer) => {
                    if let Some(e) = self.slab.get_mut(idx as usize) {
                        e.svc = SVC_DNS;
                    }
                    self.stats.dns += 1;
                    self.events.push_back(CaptureEvent::Dns(DnsRecord {
                        source: SignalSource::Pcap,
                        time: to_ms(ts_ns),
                        client: addr(&p.dst, p.v6),
                        server: addr(&p.src, p.v6),
                        query: answer.query.into_boxed_str(),
                        qtype: Some(answer.qtype),
                        rcode: Some(answer.rcode),
                        answers: answer.addrs,
                        ttl: answer.min_ttl,
                    }));
                }
                Err(_) => self.stats.dns_errors += 1,
            }
        }
    }

    /// Creates an entry (evicting the least recently active flow when full).
    fn insert(&mut self, key: FlowKey, hash: u64, orig_is_lo: bool, ts_ns: i64) -> u32 {
        if self.active >= self.cfg.max_flows.max(1)
            && let Some(victim) = self.least_recent()
        {
            self.stats.evicted += 1;
            self.remove_and_emit(victim);
        }
        let entry = Entry {
            key,
            orig_is_lo,
            list: LIST_FREE,
            svc: SVC_NONE,
            app_checked: false,
            tcp: TcpTrack::default(),
            flags: [0; 2],
            first_ns: ts_ns,
            last_ns: ts_ns,
            packets: [0; 2],
            bytes: [0; 2],
            facts: PacketFacts::default(),
            prev: NIL,
            next: NIL,
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            if let Some(slot) = self.slab.get_mut(idx as usize) {
                self.free = slot.next;
                *slot = entry;
            }
            idx
        } else {
            let idx = u32::try_from(self.slab.len()).unwrap_or(NIL - 1);
            self.slab.push(entry);
            idx
        };
        let slab = &self.slab;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, idx, |&i| {
            slab.get(i as usize).map_or(0, |e| hasher.hash_one(e.key))
        });
        self.active += 1;
        self.stats.peak_flows = self.stats.peak_flows.max(self.active as u64);
        idx
    }

    /// The flow whose last packet is oldest, across all lists.
    fn least_recent(&self) -> Option<u32> {
        self.lists
            .iter()
            .filter_map(|l| {
                let e = self.slab.get(l.head as usize)?;
                Some((e.last_ns, l.head))
            })
            .min()
            .map(|(_, idx)| idx)
    }

    /// Reports flows whose list timeout has passed, in order of their expiry time.
    fn expire(&mut self) {
        loop {
            let mut best: Option<(i64, u32)> = None;
            for (list, l) in self.lists.iter().enumerate() {
                let Some(e) = self.slab.get(l.head as usize) else {
                    continue;
                };
                let due = e.last_ns.saturating_add(self.timeouts_ns[list]);
                if due < self.now_ns && best.is_none_or(|(d, _)| due < d) {
                    best = Some((due, l.head));
                }
            }
            match best {
                Some((_, idx)) => self.remove_and_emit(idx),
                None => return,
            }
        }
    }

    /// Moves an entry to the tail of `list`.
    fn relink(&mut self, idx: u32, list: u8) {
        let li = usize::from(list).min(LISTS - 1);
        let list = li as u8;
        if self.lists[li].tail == idx && self.slab.get(idx as usize).map(|e| e.list) == Some(list) {
            return;
        }
        self.unlink(idx);
        let tail = self.lists[li].tail;
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.list = list;
            e.prev = tail;
            e.next = NIL;
        }
        match self.slab.get_mut(tail as usize) {
            Some(t) => t.next = idx,
            None => self.lists[li].head = idx,
        }
        self.lists[li].tail = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let (list, prev, next) = (e.list, e.prev, e.next);
        if usize::from(list) >= LISTS {
            return;
        }
        match self.slab.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.lists[usize::from(list)].head = next,
        }
        match self.slab.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.lists[usize::from(list)].tail = prev,
        }
        if let Some(e) = self.slab.get_mut(idx as usize) {
            e.list = LIST_FREE;
            e.prev = NIL;
            e.next = NIL;
        }
    }

    fn remove_and_emit(&mut self, idx: u32) {
        self.unlink(idx);
        let Some(e) = self.slab.get(idx as usize) else {
            return;
        };
        let key = e.key;
        let hash = self.hasher.hash_one(key);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == idx) {
            entry.remove();
        }
        let record = self.record(idx);
        if let Some(slot) = self.slab.get_mut(idx as usize) {
            slot.next = self.free;
            self.free = idx;
        }
        self.active = self.active.saturating_sub(1);
        if let Some(record) = record {
            self.stats.flows += 1;
            self.events.push_back(CaptureEvent::Flow(record));
        }
    }

    fn record(&self, idx: u32) -> Option<FlowRecord> {
        let e = self.slab.get(idx as usize)?;
        let k = &e.key;
        let (src, src_port, dst, dst_port) = if e.orig_is_lo {
            (&k.lo, k.lo_port, &k.hi, k.hi_port)
        } else {
            (&k.hi, k.hi_port, &k.lo, k.lo_port)
        };
        let state = match k.proto {
            proto::TCP => e.tcp.conn_state(),
            proto::UDP => udp_state(e.packets[0], e.packets[1]),
            _ => rampart_core::ConnState::OTH,
        };
        let service = match e.svc {
            SVC_DNS => Some("dns"),
            SVC_TLS => Some("ssl"),
            SVC_HTTP => Some("http"),
            _ => None,
        };
        Some(FlowRecord {
            source: SignalSource::Pcap,
            exporter: self.cfg.exporter.clone(),
            uid: None,
            start: to_ms(e.first_ns),
            end: to_ms(e.last_ns),
            src: addr(src, k.v6),
            dst: addr(dst, k.v6),
            src_port,
            dst_port,
            protocol: k.proto,
            packets: e.packets[0],
            bytes: e.bytes[0],
            rev_packets: e.packets[1],
            rev_bytes: e.bytes[1],
            tcp_flags: e.flags[0],
            rev_tcp_flags: e.flags[1],
            state,
            service: service.map(Into::into),
            facts: e.facts,
        })
    }
}

fn to_ms(ns: i64) -> Timestamp {
    Timestamp(ns.div_euclid(1_000_000))
}

fn addr(b: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}
