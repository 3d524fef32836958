//! Decoding from compiled templates gives exactly what netflow_parser's record-by-record
//! path gives: the same flows, reports and errors, datagram by datagram, on the encoder's
//! output (intact and mutated), on every Logstash fixture and on every pmacct capture.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use rampart_core::{FlowRecord, SignalSource, Timestamp, proto};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use rampart_netflow::{Collector, CollectorLimits, conn_state};

const EXPORT_MS: i64 = 1_704_067_200_000;

/// Two collectors fed the same datagrams: compiled templates on, and off.
struct Pair {
    fast: Collector,
    parser: Collector,
    datagrams: usize,
}

impl Pair {
    fn new(limits: CollectorLimits) -> Self {
        Self {
            fast: Collector::new(limits.clone()).unwrap(),
            parser: Collector::new(limits).unwrap().with_fast_path(false),
            datagrams: 0,
        }
    }

    /// Feeds one datagram to both; panics (naming `what`) if they disagree.
    fn feed(&mut self, exporter: SocketAddr, datagram: &[u8], what: &str) -> Vec<FlowRecord> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = self.fast.ingest(exporter, datagram, &mut a);
        let rb = self.parser.ingest(exporter, datagram, &mut b);
        assert_eq!(ra, rb, "{what}: reports differ");
        assert_eq!(a, b, "{what}: flows differ");
        self.datagrams += 1;
        a
    }

    fn fast_datagrams(&self) -> u64 {
        assert_eq!(self.parser.fast_path_datagrams(), 0);
        self.fast.fast_path_datagrams()
    }
}

/// The parts a generated flow is made of.
type Parts = (IpAddr, IpAddr, u16, u16, u8, u64, u64, u8, (u64, u64, u8));

fn flow((src, dst, sp, dp, protocol, packets, bytes, flags, rev): Parts) -> FlowRecord {
    let (src, dst) = if src.is_ipv6() != dst.is_ipv6() {
        let map = |a: IpAddr| match a {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        };
        (map(src), map(dst))
    } else {
        (src, dst)
    };
    FlowRecord {
        source: SignalSource::Ipfix,
        exporter: Some(Arc::from("192.0.2.7")),
        uid: None,
        start: Timestamp(EXPORT_MS - 30_000),
        end: Timestamp(EXPORT_MS - 1_000),
        src,
        dst,
        src_port: sp,
        dst_port: dp,
        protocol,
        packets,
        bytes,
        rev_packets: rev.0,
        rev_bytes: rev.1,
        tcp_flags: flags,
        rev_tcp_flags: rev.2,
        state: conn_state(protocol, flags),
        service: None,
        facts: Default::default(),
    }
}

fn flows() -> impl Strategy<Value = Vec<FlowRecord>> {
    let addr = prop_oneof![
        3 => any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        1 => any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ];
    let flow = (
        addr.clone(),
        addr,
        any::<u16>(),
        any::<u16>(),
        prop_oneof![
            Just(proto::TCP),
            Just(proto::UDP),
            Just(proto::ICMP),
            any::<u8>()
        ],
        0..u64::from(u32::MAX),
        0..u64::from(u32::MAX),
        any::<u8>(),
        (0..1000u64, 0..100_000u64, any::<u8>()),
    )
        .prop_map(flow);
    prop::collection::vec(flow, 1..200)
}

fn version() -> impl Strategy<Value = ExportVersion> {
    prop_oneof![Just(ExportVersion::V9), Just(ExportVersion::Ipfix)]
}

fn encode(version: ExportVersion, flows: &[FlowRecord], refresh: u32, domain: u32) -> Vec<Vec<u8>> {
    let mut opts = EncoderOptions::new(version);
    opts.template_refresh = refresh;
    opts.domain_id = domain;
    // A v9 collector learns no reverse counters; keep the flows the encoder accepts.
    Encoder::new(opts)
        .encode(flows, Timestamp(EXPORT_MS))
        .unwrap()
}

/// A mutation of one datagram: flip a byte, cut the tail, or append bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Mutation::Flip(at, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..12).prop_map(Mutation::Append),
    ]
}

fn mutate(d: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip(at, x) if !d.is_empty() => {
            let i = at % d.len();
            d[i] ^= x;
        }
        Mutation::Truncate(at) if !d.is_empty() => d.truncate(at % d.len()),
        Mutation::Append(bytes) => d.extend_from_slice(bytes),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Intact encoder output, templates every `refresh` datagrams, two exporters and two
    /// domains interleaved, sent twice over.
    #[test]
    fn encoder_output(
        version in version(),
        flows in flows(),
        refresh in prop_oneof![Just(0u32), 1..5u32],
    ) {
        let mut pair = Pair::new(CollectorLimits::default());
        let a = encode(version, &flows, refresh, 1);
        let b = encode(version, &flows, refresh, 2);
        let exporters: [SocketAddr; 2] =
            ["192.0.2.7:2055".parse().unwrap(), "[2001:db8::7]:2055".parse().unwrap()];
        let mut total = 0;
        for round in 0..2 {
            for (i, (da, db)) in a.iter().zip(&b).enumerate() {
                for e in exporters {
                    total += pair.feed(e, da, &format!("round {round} datagram {i} domain 1")).len();
                    total += pair.feed(e, db, &format!("round {round} datagram {i} domain 2")).len();
                }
            }
        }
        prop_assert_eq!(total, flows.len() * 8);
        // Every datagram after the first that carries no template is data-only.
        if refresh != 1 && a.len() > 2 {
            prop_assert!(pair.fast_datagrams() > 0);
        }
    }

    /// Data datagrams mutated after the templates are known: both paths agree on what is
    /// decoded, skipped or refused.
    #[test]
    fn mutated_datagrams(
        version in version(),
        flows in flows(),
        mutations in prop::collection::vec((any::<usize>(), mutation()), 1..24),
    ) {
        let mut pair = Pair::new(CollectorLimits::default());
        let packets = encode(version, &flows, 0, 1);
        let exporter: SocketAddr = "192.0.2.7:2055".parse().unwrap();
        pair.feed(exporter, &packets[0], "templates");
        for (n, (which, m)) in mutations.iter().enumerate() {
            let mut d = packets[which % packets.len()].clone();
            mutate(&mut d, m);
            pair.feed(exporter, &d, &format!("mutation {n}: {m:?}"));
            // The intact datagram still decodes the same way afterwards.
            let intact = &packets[(which + 1) % packets.len()];
            pair.feed(exporter, intact, &format!("after mutation {n}"));
        }
    }

    /// Tight caps: template and scope evictions (which the parser decides on its LRU order)
    /// come out the same with and without compiled templates.
    #[test]
    fn evictions(
        flows in flows(),
        order in prop::collection::vec((0..6usize, 0..3u32, any::<bool>()), 1..60),
    ) {
        let limits = CollectorLimits {
            max_exporters: 3,
            max_templates_per_exporter: 1,
            ..CollectorLimits::default()
        };
        let mut pair = Pair::new(limits);
        let mut streams = BTreeMap::new();
        for (n, (who, domain, ipfix)) in order.iter().enumerate() {
            let version = if *ipfix { ExportVersion::Ipfix } else { ExportVersion::V9 };
            let packets = streams
                .entry((*domain, *ipfix))
                .or_insert_with(|| encode(version, &flows, 3, *domain));
            let exporter = SocketAddr::from(([192, 0, 2, *who as u8], 2055));
            let d = &packets[n % packets.len()];
            pair.feed(exporter, d, &format!("step {n}"));
        }
    }
}

/// A hand-built IPFIX message: header, then the given sets.
fn ipfix_message(domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&1_704_067_200u32.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    m.extend_from_slice(&domain.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    let len = u16::try_from(m.len()).unwrap();
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// A template set defining `id` as source and destination IPv4 address, destination port.
fn template_set(id: u16) -> Vec<u8> {
    let mut s = vec![0, 2, 0, 0];
    s.extend_from_slice(&id.to_be_bytes());
    s.extend_from_slice(&3u16.to_be_bytes());
    for (element, len) in [(8u16, 4u16), (12, 4), (11, 2)] {
        s.extend_from_slice(&element.to_be_bytes());
        s.extend_from_slice(&len.to_be_bytes());
    }
    let len = u16::try_from(s.len()).unwrap();
    s[2..4].copy_from_slice(&len.to_be_bytes());
    s
}

/// A data set of template `id` with `n` records.
fn data_set(id: u16, n: u8) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&[0, 0]);
    for i in 0..n {
        s.extend_from_slice(&[10, 0, 0, i, 192, 0, 2, n, 1, 187]);
    }
    let len = u16::try_from(s.len()).unwrap();
    s[2..4].copy_from_slice(&len.to_be_bytes());
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Templates learnt, used and evicted in any order across exporters and domains, with
    /// caps of two templates and two scopes: the parser evicts the same templates and scopes
    /// whether or not data went through compiled templates.
    #[test]
    fn template_and_scope_lru(
        ops in prop::collection::vec((0..3u8, 0..2u32, any::<bool>(), 300..304u16, 1..4u8), 1..80),
    ) {
        let limits = CollectorLimits {
            max_exporters: 2,
            max_templates_per_exporter: 2,
            ..CollectorLimits::default()
        };
        let mut pair = Pair::new(limits);
        for (n, (who, domain, template, id, records)) in ops.iter().enumerate() {
            let set = if *template { template_set(*id) } else { data_set(*id, *records) };
            let exporter = SocketAddr::from(([192, 0, 2, *who], 2055));
            pair.feed(exporter, &ipfix_message(*domain, &[set]), &format!("step {n}"));
        }
    }
}

#[test]
fn hand_built_messages_take_the_fast_path() {
    let mut pair = Pair::new(CollectorLimits::default());
    let exporter: SocketAddr = "192.0.2.1:4739".parse().unwrap();
    pair.feed(
        exporter,
        &ipfix_message(0, &[template_set(300)]),
        "template",
    );
    let flows = pair.feed(
        exporter,
        &ipfix_message(0, &[data_set(300, 3), data_set(300, 2)]),
        "data",
    );
    assert_eq!(flows.len(), 5);
    assert_eq!(flows[4].dst, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(flows[4].dst_port, 443);
    assert_eq!(pair.fast_datagrams(), 1);
}

fn logstash_family(name: &str) -> String {
    let stem = name.trim_end_matches(".dat");
    ["_tpl", "_data", "_opttpl", "_tplopt"]
        .iter()
        .filter_map(|m| stem.find(m))
        .min()
        .map_or_else(|| stem.to_owned(), |at| stem[..at].to_owned())
}

#[test]
fn every_logstash_fixture() {
    let Some(dir) = common::shared_data("netflow/logstash") else {
        return;
    };
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".dat") {
            families
                .entry(logstash_family(&name))
                .or_default()
                .push(name);
        }
    }
    let mut pair = Pair::new(CollectorLimits::default());
    let mut flows = 0;
    for (i, (_, mut files)) in families.into_iter().enumerate() {
        files.sort_by_key(|f| (!f.contains("tpl"), f.clone()));
        let exporter: SocketAddr = format!("192.0.2.{}:2055", i + 1).parse().unwrap();
        // Twice over: the second time every template is known before its data.
        for round in 0..2 {
            for f in &files {
                let bytes = std::fs::read(dir.join(f)).unwrap();
                flows += pair
                    .feed(exporter, &bytes, &format!("{f} round {round}"))
                    .len();
            }
        }
    }
    eprintln!(
        "{} datagrams, {flows} flows, {} decoded from compiled templates",
        pair.datagrams,
        pair.fast_datagrams()
    );
    assert!(flows >= 2 * 390, "{flows}");
    assert!(pair.fast_datagrams() > 0);
}

fn pmacct_scenario(pair: &mut Pair, dir: &Path) -> usize {
    let mut pcaps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    pcaps.sort();
    let mut flows = 0;
    for pcap in pcaps {
        for (n, d) in common::pcap::udp_datagrams(&pcap).iter().enumerate() {
            let what = format!("{} datagram {n}", pcap.display());
            flows += pair.feed(d.src, &d.payload, &what).len();
        }
    }
    flows
}

#[test]
fn every_pmacct_capture() {
    let Some(root) = common::shared_data("netflow/pmacct") else {
        return;
    };
    let mut scenarios: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    scenarios.sort();
    let (mut flows, mut fast, mut datagrams) = (0, 0, 0);
    for dir in scenarios {
        let mut pair = Pair::new(CollectorLimits::default());
        flows += pmacct_scenario(&mut pair, &dir);
        fast += pair.fast_datagrams();
        datagrams += pair.datagrams;
    }
    eprintln!("{datagrams} datagrams, {flows} flows, {fast} decoded from compiled templates");
    assert!(flows > 0);
    assert!(fast > 0);
}
