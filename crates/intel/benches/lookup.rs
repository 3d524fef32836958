//! Lookup throughput and memory of `IntelSet` on the Maltrail trails in shared/data, against
//! string-keyed hash maps probed the way Maltrail's sensor probes its trail dictionary
//! (address formatted as text, `ip` and `ip:port` keys; lowercased name and each parent),
//! and, for CIDRs, against one hash map per prefix length probed longest first.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-intel cargo bench -p rampart-intel --bench lookup`.
//! Prints memory per entry first (computed heap bytes and resident-set growth).

#![allow(clippy::unwrap_used, missing_docs)] // Benchmark harness.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};
use rampart_intel::{Format, Indicator, IntelSet, IntelSetBuilder, ParsedFile, parse};

const PROBES: usize = 1024;
const CIDRS: usize = 10_000;

/// Deterministic pseudo-random numbers (xorshift64*), so runs probe the same addresses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn load_trails() -> Vec<ParsedFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/threat-intel");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the benchmark needs shared/data)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            let name = p.file_name().unwrap().to_str().unwrap();
            parse(Format::Maltrail, &bytes, "maltrail", name, None)
        })
        .collect()
}

fn random_cidrs(rng: &mut Rng) -> Vec<IpNet> {
    (0..CIDRS)
        .map(|_| {
            let len = 8 + (rng.next() % 25) as u8;
            let addr = Ipv4Addr::from(rng.next() as u32);
            IpNet::V4(Ipv4Net::new(addr, len).unwrap().trunc())
        })
        .collect()
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Maltrail's shape: every trail as a string key.
struct StringDict {
    trails: HashMap<String, usize>,
}

impl StringDict {
    fn new(files: &[ParsedFile]) -> Self {
        let mut trails = HashMap::new();
        for (i, e) in files.iter().flat_map(|f| f.entries.iter()).enumerate() {
            trails.entry(e.to_string()).or_insert(i);
        }
        Self { trails }
    }

    fn endpoint(&self, ip: IpAddr, port: u16) -> Option<usize> {
        let ip = ip.to_string();
        self.trails
            .get(&format!("{ip}:{port}"))
            .or_else(|| self.trails.get(&ip))
            .copied()
    }

    fn domain(&self, name: &str) -> Option<usize> {
        let name = name.trim_end_matches('.').to_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(&i) = self.trails.get(rest) {
                return Some(i);
            }
            rest = rest.split_once('.')?.1;
        }
    }
}

/// Longest-prefix match with one hash map per prefix length.
struct PerLength {
    lengths: Vec<(u8, HashMap<u32, usize>)>,
}

impl PerLength {
    fn new(nets: &[IpNet]) -> Self {
        let mut by_len: HashMap<u8, HashMap<u32, usize>> = HashMap::new();
        for (i, n) in nets.iter().enumerate() {
            if let IpNet::V4(n) = n {
                by_len
                    .entry(n.prefix_len())
                    .or_default()
                    .entry(u32::from(n.network()))
                    .or_insert(i);
            }
        }
        let mut lengths: Vec<_> = by_len.into_iter().collect();
        lengths.sort_by_key(|l| std::cmp::Reverse(l.0));
        Self { lengths }
    }

    fn lookup(&self, ip: Ipv4Addr) -> Option<usize> {
        let a = u32::from(ip);
        self.lengths.iter().find_map(|(len, map)| {
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
            map.get(&(a & mask)).copied()
        })
    }
}

struct Fixture {
    set: IntelSet,
    cidr_set: IntelSet,
    dict: StringDict,
    per_length: PerLength,
    endpoints: Vec<(IpAddr, u16)>,
    domains: Vec<String>,
    urls: Vec<String>,
    cidr_probes: Vec<Ipv4Addr>,
}

fn fixture() -> Fixture {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let files = load_trails();

    let before = resident_bytes();
    let mut b = IntelSetBuilder::new();
    for f in &files {
        b.add_parsed(f);
    }
    let set = b.build();
    let set_rss = resident_bytes().saturating_sub(before);
    let before = resident_bytes();
    let dict = StringDict::new(&files);
    let dict_rss = resident_bytes().saturating_sub(before);
    let n = set.len();
    println!(
        "memory: {n} entries; IntelSet heap {} B ({:.1} B/entry), resident growth {} B \
         ({:.1} B/entry); string dict resident growth {} B ({:.1} B/entry)",
        set.heap_bytes(),
        set.heap_bytes() as f64 / n as f64,
        set_rss,
        set_rss as f64 / n as f64,
        dict_rss,
        dict_rss as f64 / n as f64,
    );

    let nets = random_cidrs(&mut rng);
    let src = files[0].source.clone();
    let mut b = IntelSetBuilder::new();
    for n in &nets {
        b.add(&src, Indicator::Cidr(*n));
    }
    let cidr_set = b.build();
    println!(
        "memory: {CIDRS} random IPv4 CIDRs; IntelSet heap {} B ({:.1} B/entry)",
        cidr_set.heap_bytes(),
        cidr_set.heap_bytes() as f64 / cidr_set.len() as f64
    );
    let per_length = PerLength::new(&nets);

    // Half listed, half random (almost all misses): the mix a C2 check sees is mostly misses,
    // but hits must not be slow either.
    let listed_eps: Vec<(IpAddr, u16)> = set
        .iter()
        .filter_map(|h| match h.indicator() {
            Indicator::IpPort(ip, p) => Some((*ip, *p)),
            Indicator::Ip(ip) => Some((*ip, 80)),
            _ => None,
        })
        .collect();
    let listed_names: Vec<String> = set
        .iter()
        .filter_map(|h| match h.indicator() {
            Indicator::Domain(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    let listed_paths: Vec<String> = set
        .iter()
        .filter_map(|h| match h.indicator() {
            Indicator::UrlPath(p) => Some(p.to_string()),
            _ => None,
        })
        .collect();
    let pick = |rng: &mut Rng, v: &[String]| v[(rng.next() as usize) % v.len()].clone();
    let mut endpoints = Vec::new();
    let mut domains = Vec::new();
    let mut urls = Vec::new();
    for i in 0..PROBES {
        if i % 2 == 0 {
            endpoints.push(listed_eps[(rng.next() as usize) % listed_eps.len()]);
            domains.push(format!("www.{}", pick(&mut rng, &listed_names)));
            urls.push(format!(
                "http://192.0.2.{}/bins{}",
                i % 256,
                pick(&mut rng, &listed_paths)
            ));
        } else {
            endpoints.push((IpAddr::V4(Ipv4Addr::from(rng.next() as u32)), 443));
            domains.push(format!(
                "host{}.cdn{}.example.com",
                rng.next() % 1000,
                rng.next() % 100
            ));
            urls.push(format!(
                "http://update{}.example.net/firmware/v{}.bin",
                i,
                rng.next() % 9
            ));
        }
    }
    let cidr_probes = (0..PROBES)
        .map(|_| Ipv4Addr::from(rng.next() as u32))
        .collect();
    Fixture {
        set,
        cidr_set,
        dict,
        per_length,
        endpoints,
        domains,
        urls,
        cidr_probes,
    }
}

fn benches(c: &mut Criterion, f: &Fixture) {
    let mut g = c.benchmark_group("endpoint");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("intel_set", |b| {
        b.iter(|| {
            f.endpoints
                .iter()
                .filter(|(ip, p)| f.set.match_endpoint(*ip, *p).is_some())
                .count()
        })
    });
    g.bench_function("string_dict", |b| {
        b.iter(|| {
            f.endpoints
                .iter()
                .filter(|(ip, p)| f.dict.endpoint(*ip, *p).is_some())
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("domain");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("intel_set", |b| {
        b.iter(|| {
            f.domains
                .iter()
                .filter(|d| f.set.match_domain(d).is_some())
                .count()
        })
    });
    g.bench_function("string_dict", |b| {
        b.iter(|| {
            f.domains
                .iter()
                .filter(|d| f.dict.domain(d).is_some())
                .count()
        })
    });
    g.finish();

    // The same probes split into listed (`www.` + a listed name) and unlisted names.
    let hits: Vec<&String> = f.domains.iter().step_by(2).collect();
    let misses: Vec<&String> = f.domains.iter().skip(1).step_by(2).collect();
    let mut g = c.benchmark_group("domain_split");
    g.throughput(Throughput::Elements(hits.len() as u64));
    for (name, probes) in [("hits", &hits), ("misses", &misses)] {
        g.bench_function(format!("intel_set_{name}"), |b| {
            b.iter(|| {
                probes
                    .iter()
                    .filter(|d| f.set.match_domain(d).is_some())
                    .count()
            })
        });
        g.bench_function(format!("string_dict_{name}"), |b| {
            b.iter(|| probes.iter().filter(|d| f.dict.domain(d).is_some()).count())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cidr_10k");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("intel_set", |b| {
        b.iter(|| {
            f.cidr_probes
                .iter()
                .filter(|ip| f.cidr_set.match_ip(IpAddr::V4(**ip)).is_some())
                .count()
        })
    });
    g.bench_function("per_length_hash", |b| {
        b.iter(|| {
            f.cidr_probes
                .iter()
                .filter(|ip| f.per_length.lookup(**ip).is_some())
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("url");
    g.throughput(Throughput::Elements(PROBES as u64));
    g.bench_function("intel_set", |b| {
        b.iter(|| {
            f.urls
                .iter()
                .filter(|u| f.set.match_url(u).is_some())
                .count()
        })
    });
    g.finish();
}

fn main() {
    let f = fixture();
    // Same answers from both sides, or the comparison means nothing.
    let ours = f
        .endpoints
        .iter()
        .filter(|(ip, p)| f.set.match_endpoint(*ip, *p).is_some())
        .count();
    let theirs = f
        .endpoints
        .iter()
        .filter(|(ip, p)| f.dict.endpoint(*ip, *p).is_some())
        .count();
    assert_eq!(ours, theirs, "endpoint hit counts differ");
    let ours = f
        .domains
        .iter()
        .filter(|d| f.set.match_domain(d).is_some())
        .count();
    let theirs = f
        .domains
        .iter()
        .filter(|d| f.dict.domain(d).is_some())
        .count();
    assert_eq!(ours, theirs, "domain hit counts differ");
    let ours = f
        .cidr_probes
        .iter()
        .filter(|ip| f.cidr_set.match_ip(IpAddr::V4(**ip)).is_some())
        .count();
    let theirs = f
        .cidr_probes
        .iter()
        .filter(|ip| f.per_length.lookup(**ip).is_some())
        .count();
    assert_eq!(ours, theirs, "cidr hit counts differ");
    println!("cidr probes matched: {ours} of {PROBES}");

    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    benches(&mut c, &f);
    c.final_summary();
}
