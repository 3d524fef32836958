//! The immutable, queryable set of indicators.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::{HashMap, HashTable};
use ipnet::IpNet;

use crate::indicator::{Indicator, Kind, MAX_DOMAIN_LEN};
use crate::parse::{ParsedFile, Source};
use crate::prefix::{Addr, PrefixTable};

/// What a lookup found: the listed indicator and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    source: Arc<Source>,
    indicator: Indicator,
}

impl Hit {
    /// The indicator as listed (canonical form): for a suffix match, the listed parent domain;
    /// for a CIDR match, the network.
    pub fn indicator(&self) -> &Indicator {
        &self.indicator
    }
    /// The indicator's kind.
    pub fn kind(&self) -> Kind {
        self.indicator.kind()
    }
    /// The configured feed name.
    pub fn feed(&self) -> &str {
        &self.source.feed
    }
    /// The malware family or threat name.
    pub fn family(&self) -> &str {
        &self.source.family
    }
    /// Provenance: feed, family, aliases and file.
    pub fn source(&self) -> &Arc<Source> {
        &self.source
    }
}

/// Counts computed when a set is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct indicators held.
    pub entries: usize,
    /// Indicators dropped because an earlier feed or line already listed them.
    pub duplicates: usize,
    /// Entries per kind.
    pub by_kind: BTreeMap<Kind, usize>,
    /// Entries per `(feed, family)`.
    pub by_family: BTreeMap<(String, String), usize>,
}

/// Per-address-family tables; `A` is `u32` for IPv4 and `u128` for IPv6.
#[derive(Debug, Clone)]
struct IpTables<A> {
    exact: HashMap<A, u32, RandomState>,
    endpoint: HashMap<(A, u16), u32, RandomState>,
    /// First `ip:port` entry per address, for callers that have no port.
    any_port: HashMap<A, u32, RandomState>,
    cidr: PrefixTable<A>,
}

impl<A: Addr + std::hash::Hash> IpTables<A> {
    fn new(state: &RandomState) -> Self {
        Self {
            exact: HashMap::with_hasher(state.clone()),
            endpoint: HashMap::with_hasher(state.clone()),
            any_port: HashMap::with_hasher(state.clone()),
            cidr: PrefixTable::build(Vec::new()),
        }
    }

    #[inline]
    fn ip(&self, a: A) -> Option<u32> {
        self.exact.get(&a).copied().or_else(|| self.cidr.lookup(a))
    }

    fn shrink(&mut self) {
        self.exact.shrink_to_fit();
        self.endpoint.shrink_to_fit();
        self.any_port.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        table_bytes::<(A, u32)>(self.exact.capacity())
            + table_bytes::<((A, u16), u32)>(self.endpoint.capacity())
            + table_bytes::<(A, u32)>(self.any_port.capacity())
            + self.cidr.heap_bytes()
    }
}

/// Approximate heap bytes of a hashbrown table: buckets (a power of two at least
/// capacity·8/7) of `T` plus one control byte each.
fn table_bytes<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity.saturating_mul(8) / 7).next_power_of_two().max(4);
    buckets * (size_of::<T>() + 1)
}

/// An immutable set of indicators with fast lookups; build with [`IntelSetBuilder`].
///
/// Every lookup returns the most specific listed indicator, and among identical indicators
/// the one added first (feeds in configuration order, files by name, lines in order).
#[derive(Debug, Clone)]
pub struct IntelSet {
    hits: Box<[Hit]>,
    state: RandomState,
    v4: IpTables<u32>,
    v6: IpTables<u128>,
    domains: HashTable<u32>,
    domain_ports: HashTable<u32>,
    urls: HashTable<u32>,
    paths: HashTable<u32>,
    stats: Stats,
}

impl Default for IntelSet {
    fn default() -> Self {
        IntelSetBuilder::new().build()
    }
}

impl IntelSet {
    /// An address listed on its own or inside a listed network (longest prefix wins).
    /// Entries listed only with a port are not found here: see [`Self::match_endpoint`].
    #[inline]
    pub fn match_ip(&self, ip: IpAddr) -> Option<&Hit> {
        let i = match ip {
            IpAddr::V4(v4) => self.v4.ip(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.ip(u32::from(v4)),
                None => self.v6.ip(u128::from(v6)),
            },
        }?;
        self.hit(i)
    }

    /// A connection's far end: `ip:port` entries first, then [`Self::match_ip`].
    #[inline]
    pub fn match_endpoint(&self, ip: IpAddr, port: u16) -> Option<&Hit> {
        let i = match canonical_ip(ip) {
            IpAddr::V4(v4) => self.v4.endpoint.get(&(u32::from(v4), port)),
            IpAddr::V6(v6) => self.v6.endpoint.get(&(u128::from(v6), port)),
        };
        match i {
            Some(&i) => self.hit(i),
            None => self.match_ip(ip),
        }
    }

    /// An address listed with some port, for callers that do not know the port (a DNS
    /// answer, say). Weaker evidence than [`Self::match_endpoint`]: the listing names a
    /// service on that address, not the address as a whole.
    pub fn match_ip_any_port(&self, ip: IpAddr) -> Option<&Hit> {
        let i = match canonical_ip(ip) {
            IpAddr::V4(v4) => self.v4.any_port.get(&u32::from(v4)),
            IpAddr::V6(v6) => self.v6.any_port.get(&u128::from(v6)),
        };
        self.hit(*i?)
    }

    /// A host name, listed itself or below a listed parent (`a.b.evil.com` matches
    /// `evil.com`); case-insensitive, trailing dot ignored. The longest listed suffix wins.
    #[inline]
    pub fn match_domain(&self, name: &str) -> Option<&Hit> {
        let mut buf = [0u8; MAX_DOMAIN_LEN];
        let name = lower_name(name, &mut buf)?;
        self.suffix_lookup(&self.domains, name, None)
    }

    /// A host and port: an address goes to [`Self::match_endpoint`]; a name matches
    /// `name:port` entries (with suffixes) first, then [`Self::match_domain`].
    pub fn match_host_port(&self, host: &str, port: u16) -> Option<&Hit> {
        if let Some(ip) = parse_host_ip(host) {
            return self.match_endpoint(ip, port);
        }
        let mut buf = [0u8; MAX_DOMAIN_LEN];
        let name = lower_name(host, &mut buf)?;
        self.suffix_lookup(&self.domain_ports, name, Some(port))
            .or_else(|| self.suffix_lookup(&self.domains, name, None))
    }

    /// A URL (`http://host[:port]/path?query`, or `host/path` without a scheme); see
    /// [`Self::match_http`].
    pub fn match_url(&self, url: &str) -> Option<&Hit> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if !scheme.contains(['/', '?']) => rest,
            _ => url,
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (hostport, path) = rest.split_at(split);
        let (host, port) = split_query_host(hostport)?;
        self.match_http(host, port, path)
    }

    /// An HTTP request: `host` as in the Host header, `port` when not the default, `path`
    /// the request target. Tried from most to least specific: URL entries for host and path
    /// (with, then without, the query; with the port, then any port), then path entries on
    /// any host (the path, the path up to each `=`/`&` of its query, the path alone, its last
    /// segment, so `/bins/mirai.arm` matches the generic trail `/mirai.arm`, and each
    /// directory, so `/Anti_Bins/x.arm` matches `/Anti_Bins/`), then the host.
    pub fn match_http(&self, host: &str, port: Option<u16>, path: &str) -> Option<&Hit> {
        let host_ip = parse_host_ip(host);
        let mut hostbuf = [0u8; MAX_DOMAIN_LEN];
        let host_name = match host_ip {
            Some(_) => None,
            None => lower_name(host, &mut hostbuf),
        };
        // `host?query` is `host/?query`, as the request line would have it.
        let path: std::borrow::Cow<'_, str> = if path.starts_with('/') {
            path.into()
        } else {
            format!("/{path}").into()
        };
        let path = &*path;
        let variants = path_variants(path);
        if !self.urls.is_empty() {
            let mut key = String::with_capacity(host.len() + path.len() + 8);
            let hosts: [Option<u16>; 2] = [port, None];
            for p in hosts.iter().take(if port.is_some() { 2 } else { 1 }) {
                for v in &variants {
                    key.clear();
                    match (host_ip, host_name) {
                        (Some(IpAddr::V6(ip)), _) => {
                            key.push('[');
                            key.push_str(&ip.to_string());
                            key.push(']');
                        }
                        (Some(ip), _) => key.push_str(&ip.to_string()),
                        (None, Some(name)) => key.push_str(name),
                        (None, None) => break,
                    }
                    if let Some(p) = p {
                        key.push(':');
                        key.push_str(&p.to_string());
                    }
                    key.push_str(v);
                    if let Some(h) = self.find(&self.urls, &key) {
                        return Some(h);
                    }
                }
            }
        }
        for v in variants.iter().copied().chain(segments(path)) {
            if let Some(h) = self.find(&self.paths, v) {
                return Some(h);
            }
        }
        match (host_ip, host_name, port) {
            (Some(ip), _, Some(p)) => self.match_endpoint(ip, p),
            (Some(ip), _, None) => self.match_ip(ip),
            (None, Some(name), Some(p)) => self
                .suffix_lookup(&self.domain_ports, name, Some(p))
                .or_else(|| self.suffix_lookup(&self.domains, name, None)),
            (None, Some(name), None) => self.suffix_lookup(&self.domains, name, None),
            (None, None, _) => None,
        }
    }

    /// Counts computed at build time.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Distinct indicators held.
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Whether the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Every indicator, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &Hit> {
        self.hits.iter()
    }

    /// Heap bytes held by the tables, hits and their strings (the shared sources counted
    /// once each); excludes allocator overhead.
    pub fn heap_bytes(&self) -> usize {
        let mut sources = HashSet::new();
        let mut bytes = self.hits.len() * size_of::<Hit>();
        for h in self.hits.iter() {
            bytes += match &h.indicator {
                Indicator::Domain(s)
                | Indicator::DomainPort(s, _)
                | Indicator::Url(s)
                | Indicator::UrlPath(s) => s.len(),
                _ => 0,
            };
            if sources.insert(Arc::as_ptr(&h.source)) {
                let s = &h.source;
                bytes += size_of::<Source>() + 16 + s.feed.len() + s.family.len() + s.file.len();
                bytes += s.aliases.iter().map(|a| a.len() + 16).sum::<usize>();
            }
        }
        bytes
            + self.v4.heap_bytes()
            + self.v6.heap_bytes()
            + [&self.domains, &self.domain_ports, &self.urls, &self.paths]
                .iter()
                .map(|t| table_bytes::<u32>(t.capacity()))
                .sum::<usize>()
    }

    #[inline]
    fn hit(&self, i: u32) -> Option<&Hit> {
        self.hits.get(usize::try_from(i).ok()?)
    }

    /// Looks a string key up in a table of hit indices.
    #[inline]
    fn find(&self, table: &HashTable<u32>, key: &str) -> Option<&Hit> {
        let hash = self.state.hash_one(key);
        let &i = table.find(hash, |&i| {
            self.hit(i).is_some_and(|h| name_key(h) == Some(key))
        })?;
        self.hit(i)
    }

    /// Tries `name` and each parent of two labels or more (longest first) in a table keyed
    /// by name, or by `(name, port)` when `port` is given.
    #[inline]
    fn suffix_lookup(&self, table: &HashTable<u32>, name: &str, port: Option<u16>) -> Option<&Hit> {
        if table.is_empty() {
            return None;
        }
        let mut rest = name;
        loop {
            let found = match port {
                None => self.find(table, rest),
                Some(p) => {
                    let hash = self.state.hash_one((rest, p));
                    table
                        .find(hash, |&i| {
                            self.hit(i).is_some_and(|h| {
                                matches!(&h.indicator, Indicator::DomainPort(d, q) if **d == *rest && *q == p)
                            })
                        })
                        .and_then(|&i| self.hit(i))
                }
            };
            if found.is_some() {
                return found;
            }
            // Listed names have at least two labels, so a bare top-level label is never
            // probed.
            rest = rest.split_once('.')?.1;
            if !rest.contains('.') {
                return None;
            }
        }
    }
}

/// The string a hit is keyed by in the name tables.
#[inline]
fn name_key(h: &Hit) -> Option<&str> {
    match &h.indicator {
        Indicator::Domain(s) | Indicator::Url(s) | Indicator::UrlPath(s) => Some(s),
        _ => None,
    }
}

/// IPv4-mapped IPv6 addresses are looked up as IPv4, since dual-stack sockets report them.
#[inline]
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address literal as a URL host (`1.2.3.4`, `[::1]` or `::1`).
fn parse_host_ip(host: &str) -> Option<IpAddr> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    inner.parse().ok()
}

/// Splits a query's `host[:port]`, tolerating `[v6]:port`.
fn split_query_host(hostport: &str) -> Option<(&str, Option<u16>)> {
    if hostport.starts_with('[') {
        let (inside, after) = hostport.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((inside.get(1..)?, port));
    }
    if hostport.parse::<IpAddr>().is_ok() {
        return Some((hostport, None));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h, p.parse().ok())),
        None => Some((hostport, None)),
    }
}

/// ASCII-lowercases a host name into `buf` without allocating; `None` when it cannot be a
/// name (too long, not ASCII).
#[inline]
fn lower_name<'a>(name: &str, buf: &'a mut [u8; MAX_DOMAIN_LEN]) -> Option<&'a str> {
    let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
    let dst = buf.get_mut(..name.len())?;
    for (d, s) in dst.iter_mut().zip(name) {
        if !s.is_ascii() {
            return None;
        }
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(dst).ok()
}

/// The forms of a request path tried against path keys, most specific first.
fn path_variants(path: &str) -> Vec<&str> {
    let mut out = vec![path];
    if let Some(q) = path.find('?') {
        // Prefixes ending at each `=` or `&` of the query, longest first, for trails such
        // as `/rx/hx.php?mac=`; bounded so a long query costs a few probes at most.
        let mut cuts: Vec<usize> = path
            .char_indices()
            .skip_while(|&(i, _)| i <= q)
            .filter(|&(_, c)| c == '=' || c == '&')
            .map(|(i, _)| i + 1)
            .take(8)
            .collect();
        cuts.reverse();
        out.extend(cuts.into_iter().filter_map(|end| path.get(..end)));
        out.extend(path.get(..q));
    }
    out.dedup();
    out
}

/// Most segments of a request path tried as generic trails; a longer path costs no more.
const MAX_SEGMENTS: usize = 16;

/// Generic trails inside a request path (query dropped), as slices of it: the last segment
/// (`/a/b/c.arm` gives `/c.arm`) and every directory (`/a/`, `/b/`), since Maltrail lists
/// both dropped file names and directory names.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let no_query = path.split('?').next().unwrap_or(path);
    let slashes: Vec<usize> = no_query
        .match_indices('/')
        .map(|(i, _)| i)
        .take(MAX_SEGMENTS + 1)
        .collect();
    let last = slashes
        .last()
        .filter(|&&i| i > 0)
        .and_then(|&i| no_query.get(i..))
        .filter(|s| s.len() > 1);
    let dirs = slashes
        .windows(2)
        .filter_map(move |w| match w {
            [a, b] if *b > *a + 1 => no_query.get(*a..=*b),
            _ => None,
        })
        .filter(move |d| *d != no_query);
    last.into_iter().chain(dirs.collect::<Vec<_>>())
}

/// Collects indicators into an [`IntelSet`].
#[derive(Debug)]
pub struct IntelSetBuilder {
    set: IntelSet,
    hits: Vec<Hit>,
    cidrs: HashSet<IpNet>,
    cidr4: Vec<(u32, u32, u32)>,
    cidr6: Vec<(u128, u128, u32)>,
    per_source: HashMap<usize, (Arc<Source>, usize), RandomState>,
}

impl Default for IntelSetBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl IntelSetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let state = RandomState::default();
        Self {
            set: IntelSet {
                hits: Box::new([]),
                v4: IpTables::new(&state),
                v6: IpTables::new(&state),
                state,
                domains: HashTable::new(),
                domain_ports: HashTable::new(),
                urls: HashTable::new(),
                paths: HashTable::new(),
                stats: Stats::default(),
            },
            hits: Vec::new(),
            cidrs: HashSet::new(),
            cidr4: Vec::new(),
            cidr6: Vec::new(),
            per_source: HashMap::default(),
        }
    }

    /// Adds every entry of a parsed file.
    pub fn add_parsed(&mut self, parsed: &ParsedFile) {
        for e in &parsed.entries {
            self.add(&parsed.source, e.clone());
        }
    }

    /// Adds one indicator; `false` when an identical one was already added (the first
    /// keeps its source) or the set is full (2³² entries).
    pub fn add(&mut self, source: &Arc<Source>, indicator: Indicator) -> bool {
        let added = self.insert(source, indicator);
        if !added {
            self.set.stats.duplicates += 1;
        }
        added
    }

    fn insert(&mut self, source: &Arc<Source>, indicator: Indicator) -> bool {
        // Mapped IPv4 addresses are stored, and so reported, as IPv4.
        let indicator = match indicator {
            Indicator::Ip(ip) => Indicator::Ip(canonical_ip(ip)),
            Indicator::IpPort(ip, port) => Indicator::IpPort(canonical_ip(ip), port),
            other => other,
        };
        let Ok(idx) = u32::try_from(self.hits.len()) else {
            return false;
        };
        let s = &mut self.set;
        let fresh = match &indicator {
            Indicator::Ip(ip) => match canonical_ip(*ip) {
                IpAddr::V4(a) => vacant(&mut s.v4.exact, u32::from(a), idx),
                IpAddr::V6(a) => vacant(&mut s.v6.exact, u128::from(a), idx),
            },
            Indicator::IpPort(ip, port) => match canonical_ip(*ip) {
                IpAddr::V4(a) => {
                    let a = u32::from(a);
                    s.v4.any_port.entry(a).or_insert(idx);
                    vacant(&mut s.v4.endpoint, (a, *port), idx)
                }
                IpAddr::V6(a) => {
                    let a = u128::from(a);
                    s.v6.any_port.entry(a).or_insert(idx);
                    vacant(&mut s.v6.endpoint, (a, *port), idx)
                }
            },
            Indicator::Cidr(net) => {
                let fresh = self.cidrs.insert(*net);
                if fresh {
                    match net {
                        IpNet::V4(n) => {
                            self.cidr4
                                .push((u32::from(n.network()), u32::from(n.broadcast()), idx))
                        }
                        IpNet::V6(n) => self.cidr6.push((
                            u128::from(n.network()),
                            u128::from(n.broadcast()),
                            idx,
                        )),
                    }
                }
                fresh
            }
            Indicator::Domain(d) => insert_name(&s.state, &mut s.domains, &self.hits, d, idx),
            Indicator::Url(u) => insert_name(&s.state, &mut s.urls, &self.hits, u, idx),
            Indicator::UrlPath(p) => insert_name(&s.state, &mut s.paths, &self.hits, p, idx),
            Indicator::DomainPort(d, port) => {
                let hash = s.state.hash_one((&**d, *port));
                let hits = &self.hits;
                let taken = s
                    .domain_ports
                    .find(hash, |&i| {
                        usize::try_from(i).ok().and_then(|i| hits.get(i)).is_some_and(|h| {
                            matches!(&h.indicator, Indicator::DomainPort(e, q) if e == d && q == port)
                        })
                    })
                    .is_some();
                if !taken {
                    let state = &s.state;
                    s.domain_ports
                        .insert_unique(hash, idx, |&i| rehash_port(state, hits, i));
                }
                !taken
            }
        };
        if fresh {
            *s.stats.by_kind.entry(indicator.kind()).or_default() += 1;
            // Keyed by the shared source's address: one hash probe per entry, no strings.
            self.per_source
                .entry(Arc::as_ptr(source) as usize)
                .or_insert_with(|| (Arc::clone(source), 0))
                .1 += 1;
            self.hits.push(Hit {
                source: Arc::clone(source),
                indicator,
            });
        }
        fresh
    }

    /// Freezes the set: flattens the CIDRs and trims spare capacity.
    pub fn build(self) -> IntelSet {
        let mut set = self.set;
        set.v4.cidr = PrefixTable::build(self.cidr4);
        set.v6.cidr = PrefixTable::build(self.cidr6);
        set.v4.shrink();
        set.v6.shrink();
        let state = set.state.clone();
        let hits = &self.hits;
        for t in [&mut set.domains, &mut set.urls, &mut set.paths] {
            t.shrink_to_fit(|&i| rehash_name(&state, hits, i));
        }
        set.domain_ports
            .shrink_to_fit(|&i| rehash_port(&state, hits, i));
        set.stats.entries = self.hits.len();
        for (source, n) in self.per_source.into_values() {
            *set.stats
                .by_family
                .entry((source.feed.to_string(), source.family.to_string()))
                .or_default() += n;
        }
        set.hits = self.hits.into_boxed_slice();
        set
    }
}

fn vacant<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32, RandomState>, k: K, idx: u32) -> bool {
    match map.entry(k) {
        hashbrown::hash_map::Entry::Occupied(_) => false,
        hashbrown::hash_map::Entry::Vacant(v) => {
            v.insert(idx);
            true
        }
    }
}

fn insert_name(
    state: &RandomState,
    table: &mut HashTable<u32>,
    hits: &[Hit],
    key: &str,
    idx: u32,
) -> bool {
    let hash = state.hash_one(key);
    let get = |i: u32| usize::try_from(i).ok().and_then(|i| hits.get(i));
    if table
        .find(hash, |&i| get(i).and_then(name_key) == Some(key))
        .is_some()
    {
        return false;
    }
    table.insert_unique(hash, idx, |&i| rehash_name(state, hits, i));
    true
}

/// Hash of an existing entry when a name table grows (its hit is always present: indices
/// are only inserted for hits pushed right after).
fn rehash_name(state: &RandomState, hits: &[Hit], i: u32) -> u64 {
    let key = usize::try_from(i)
        .ok()
        .and_then(|i| hits.get(i))
        .and_then(name_key);
    state.hash_one(key.unwrap_or_default())
}

fn rehash_port(state: &RandomState, hits: &[Hit], i: u32) -> u64 {
    match usize::try_from(i)
        .ok()
        .and_then(|i| hits.get(i))
        .map(|h| &h.indicator)
    {
        Some(Indicator::DomainPort(d, p)) => state.hash_one((&**d, *p)),
        _ => 0,
    }
}
