//! The pmacct regression captures decode to the flows pmacct's nfacctd produced for them
//! (its golden JSON output): per 5-tuple, the same packets and bytes.
//!
//! nfacctd aggregates records sharing its key primitives, so both sides are summed per
//! (source, destination, ports, protocol) before comparing.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use rampart_core::FlowRecord;
use rampart_netflow::{Collector, CollectorLimits};

type Key = (IpAddr, IpAddr, u16, u16, u8);

fn proto_number(name: &str) -> u8 {
    match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" => 58,
        "vrrp" => 112,
        "gre" => 47,
        "ospf" => 89,
        "pim" => 103,
        "igmp" => 2,
        "esp" => 50,
        other => other.parse().unwrap_or_else(|_| panic!("protocol {other}")),
    }
}

/// Sums (packets, bytes) per key of nfacctd's JSON lines.
fn golden(path: &Path) -> BTreeMap<Key, (u64, u64)> {
    let mut sums = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let proto = proto_number(v["ip_proto"].as_str().unwrap());
        let ports = |k: &str| u16::try_from(v[k].as_u64().unwrap_or(0)).unwrap();
        let (sp, dp) = if matches!(proto, 6 | 17) {
            (ports("port_src"), ports("port_dst"))
        } else {
            (0, 0)
        };
        let key = (
            v["ip_src"].as_str().unwrap().parse().unwrap(),
            v["ip_dst"].as_str().unwrap().parse().unwrap(),
            sp,
            dp,
            proto,
        );
        let e = sums.entry(key).or_insert((0, 0));
        e.0 += v["packets"].as_u64().unwrap();
        e.1 += v["bytes"].as_u64().unwrap();
    }
    sums
}

fn ours(flows: &[FlowRecord]) -> BTreeMap<Key, (u64, u64)> {
    let mut sums = BTreeMap::new();
    for f in flows {
        let (sp, dp) = if matches!(f.protocol, 6 | 17) {
            (f.src_port, f.dst_port)
        } else {
            (0, 0)
        };
        let e = sums
            .entry((f.src, f.dst, sp, dp, f.protocol))
            .or_insert((0, 0));
        e.0 += f.packets;
        e.1 += f.bytes;
    }
    sums
}

fn decode(dir: &Path, pcaps: &[&str]) -> Vec<FlowRecord> {
    let mut collector = Collector::new(CollectorLimits::default()).unwrap();
    let mut flows = Vec::new();
    for pcap in pcaps {
        for d in common::pcap::udp_datagrams(&dir.join(pcap)) {
            if let Err(e) = collector.ingest(d.src, &d.payload, &mut flows) {
                panic!("{pcap}: datagram from {} refused: {e}", d.src);
            }
        }
    }
    flows
}

fn check(scenario: &str, pcaps: &[&str], output: &str) {
    let Some(root) = common::shared_data("netflow/pmacct") else {
        return;
    };
    let dir = root.join(scenario);
    let flows = decode(&dir, pcaps);
    let expected = golden(&dir.join(output));
    let got = ours(&flows);
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got.get(k) != Some(v))
        .map(|(k, v)| (k, v, got.get(k)))
        .collect();
    assert!(
        missing.is_empty(),
        "{scenario}: {} of {} golden aggregates differ, e.g. {:?}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(5)]
    );
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(k)).collect();
    assert!(
        extra.is_empty(),
        "{scenario}: flows pmacct did not report: {:?}",
        &extra[..extra.len().min(5)]
    );
    eprintln!(
        "{scenario}: {} flows, {} aggregates match",
        flows.len(),
        expected.len()
    );
}

#[test]
fn ipfix_cisco() {
    check(
        "100-IPFIXv10-CISCO",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn nfv9_cisco_custom_primitives() {
    check(
        "101-NFv9-CISCO-cust_primitives",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn nfv9_cisco_two_source_ids() {
    check(
        "102-NFv9-CISCO-f2rd-pretag-sampling-reload",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn ipfix_cisco_json() {
    check(
        "103-IPFIXv10-CISCO-pretag-JSON_encoding",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn ipfix_ipv6_sampling_option() {
    check(
        "104-IPFIXv10-IPv6-CISCO-sampling_option",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn multiple_sources() {
    check(
        "110-IPFIXv10-NFv9-multiple-sources",
        &["traffic-00.pcap", "traffic-01.pcap", "traffic-02.pcap"],
        "output-flow-00.json",
    );
}

#[test]
fn ipfix_options_reassignment() {
    check(
        "112-IPFIXv10-CISCO-options-map-reassignment",
        &["traffic-00.pcap"],
        "output-flow-00.json",
    );
}
