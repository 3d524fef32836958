//! Every public capture in `/work/shared/data/pcap` (all subfolders) is read without error, and
//! what comes out is checked against tshark 4.x on the same files.
//!
//! Flow counts are compared with `tshark -q -z conv,tcp -z conv,udp`, the capture read with
//! timeouts long enough that a 5-tuple is one flow for the whole file, as tshark counts. The
//! tolerance per file and protocol is 1 + 2 % of tshark's count; the known differences are:
//!
//! * GTP-U: tshark lists the tunnel's outer UDP/2152 conversation *and* the inner one; this
//!   crate decapsulates and reports only the inner flow (tshark's 2152 conversations are left
//!   out of the comparison).
//! * TCP port reuse: a new SYN on a closed connection starts a new flow here, as in Zeek
//!   (`rtsp.pcap` reuses a port after a rejected attempt: one more flow than tshark).
//! * ICMP and non-IP frames (ARP, LLDP) are not in tshark's TCP/UDP tables; ICMP flows are
//!   reported here but not compared.
//!
//! With the default (Zeek) timeouts a long-idle 5-tuple is split into several flows, so the
//! count can only grow: that is checked too (`tplink_shp.pcap` polls a plug every few minutes:
//! 8 tshark conversations, 160 flows).
//!
//! Skips (with a message) when the data or tshark is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1` / `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use common::*;
use rampart_capture::{CaptureConfig, CaptureReader};
use rampart_core::ConnState;

#[test]
fn every_shared_capture_reads_without_error() {
    let Some(dir) = shared_pcap_dir() else {
        return;
    };
    let files = capture_files(&dir);
    assert!(files.len() >= 40, "only {} captures found", files.len());
    for file in files {
        let out = collect(CaptureReader::open(&file, CaptureConfig::default()).unwrap());
        let s = &out.summary;
        assert!(s.error.is_none(), "{}: {:?}", file.display(), s.error);
        assert!(s.packets > 0, "{}", file.display());
        assert!(
            s.unsupported_link_types.is_empty(),
            "{}: {:?}",
            file.display(),
            s
        );
        assert_eq!(s.table.malformed, 0, "{}: {:?}", file.display(), s);
        // Every IP packet is in exactly one flow (later fragments add bytes, not packets).
        let in_flows: u64 = out.flows.iter().map(|f| f.packets + f.rev_packets).sum();
        assert!(
            in_flows <= s.table.ip_packets && in_flows + s.table.fragments >= s.table.ip_packets,
            "{}: {in_flows} packets in flows, {:?}",
            file.display(),
            s.table
        );
        let exporter = out.flows.first().and_then(|f| f.exporter.clone()).unwrap();
        assert_eq!(&*exporter, file.file_name().unwrap().to_str().unwrap());
    }
}

/// tshark's TCP and UDP conversation counts, leaving out GTP-U tunnels (port 2152).
fn tshark_conversations(file: &Path) -> (usize, usize) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-q", "-z", "conv,tcp", "-z", "conv,udp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut tcp, mut udp, mut section) = (0, 0, "");
    for line in text.lines() {
        if line.contains("TCP Conversations") {
            section = "tcp";
        } else if line.contains("UDP Conversations") {
            section = "udp";
        } else if line.contains("<->") && !line.contains(":2152 ") {
            match section {
                "tcp" => tcp += 1,
                "udp" => udp += 1,
                _ => {}
            }
        }
    }
    (tcp, udp)
}

#[test]
fn flow_counts_agree_with_tshark() {
    let Some(dir) = shared_pcap_dir() else {
        return;
    };
    if !have_tool("tshark") {
        return;
    }
    let mut compared = 0;
    for file in capture_files(&dir) {
        let (t_tcp, t_udp) = tshark_conversations(&file);
        let whole = collect(CaptureReader::open(&file, no_timeouts()).unwrap());
        let count = |flows: &[rampart_core::FlowRecord], p: u8| {
            flows.iter().filter(|f| f.protocol == p).count()
        };
        for (name, ours, theirs) in [
            ("tcp", count(&whole.flows, 6), t_tcp),
            ("udp", count(&whole.flows, 17), t_udp),
        ] {
            let tolerance = 1 + theirs / 50;
            assert!(
                ours.abs_diff(theirs) <= tolerance,
                "{}: {name} flows {ours}, tshark {theirs}",
                file.display()
            );
        }
        let timed = collect(CaptureReader::open(&file, CaptureConfig::default()).unwrap());
        assert!(timed.flows.len() >= whole.flows.len(), "{}", file.display());
        compared += 1;
    }
    assert!(compared >= 40);
}

fn ndpi(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    let path = dir.join("ndpi").join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "{} missing",
        path.display()
    );
    eprintln!("skipping: {} not found", path.display());
    None
}

#[test]
fn synscan_is_one_source_probing_many_ports() {
    let Some(dir) = shared_pcap_dir() else {
        return;
    };
    let Some(path) = ndpi(&dir, "synscan.pcap") else {
        return;
    };
    let out = collect(CaptureReader::open(path, CaptureConfig::default()).unwrap());
    let mut by_source: BTreeMap<IpAddr, (usize, HashSet<u16>)> = BTreeMap::new();
    for f in out.flows.iter().filter(|f| f.state.is_failed_attempt()) {
        let e = by_source.entry(f.src).or_default();
        e.0 += 1;
        e.1.insert(f.dst_port);
    }
    let (scanner, (attempts, ports)) = by_source.iter().max_by_key(|(_, v)| v.0).unwrap();
    assert!(*attempts >= 1900, "{scanner}: {attempts} failed attempts");
    assert!(ports.len() >= 900, "{scanner}: {} ports", ports.len());
    let s0 = out
        .flows
        .iter()
        .filter(|f| f.state == ConnState::S0)
        .count();
    let rej = out
        .flows
        .iter()
        .filter(|f| f.state == ConnState::REJ)
        .count();
    assert!(s0 + rej >= 1900, "S0 {s0}, REJ {rej}");
    let syns: u32 = out.flows.iter().map(|f| f.facts.syns).sum();
    assert!(syns >= 1990, "{syns}");
}

/// `(query, sorted addresses)` of every DNS response tshark sees on UDP source port 53.
fn tshark_dns(file: &Path) -> Vec<(String, Vec<IpAddr>)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-Y",
            "dns.flags.response == 1 && udp.srcport == 53 && !icmp",
            "-T",
            "fields",
            "-e",
            "dns.qry.name",
            "-e",
            "dns.a",
            "-e",
            "dns.aaaa",
            "-E",
            "separator=/t",
        ])
        .output()
        .unwrap();
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split('\t');
        let name = cols.next().unwrap_or_default().to_ascii_lowercase();
        let mut addrs: Vec<IpAddr> = cols
            .flat_map(|c| c.split(','))
            .filter_map(|a| a.parse().ok())
            .collect();
        addrs.sort();
        rows.push((name, addrs));
    }
    rows.sort();
    rows
}

#[test]
fn dns_answers_agree_with_tshark() {
    let Some(dir) = shared_pcap_dir() else {
        return;
    };
    if !have_tool("tshark") {
        return;
    }
    let mut total = 0;
    for rel in [
        "slips/test-cc-capture-2.pcap",
        "ndpi/alexa-app.pcapng",
        "ndpi/nest_log_sink.pcap",
    ] {
        let path = dir.join(rel);
        if !path.exists() {
            eprintln!("skipping: {} not found", path.display());
            continue;
        }
        let out = collect(CaptureReader::open(&path, CaptureConfig::default()).unwrap());
        let mut ours: Vec<_> = out
            .dns
            .iter()
            .map(|d| {
                let mut a = d.answers.clone();
                a.sort();
                (d.query.to_string(), a)
            })
            .collect();
        ours.sort();
        let theirs = tshark_dns(&path);
        assert!(!theirs.is_empty(), "{rel}: tshark saw no DNS");
        assert_eq!(ours, theirs, "{rel}");
        assert_eq!(out.summary.table.dns_errors, 0, "{rel}");
        total += ours.len();
    }
    assert!(total >= 250 || std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"));
}
