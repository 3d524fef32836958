//! Helpers shared by the integration tests: frame builders and in-memory captures.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;
use rampart_capture::synth::PcapWriter;
use rampart_capture::{CaptureConfig, CaptureEvent, CaptureReader, CaptureSummary, LinkType};
use rampart_core::{DnsRecord, FlowRecord, NameRecord};

/// An IPv4/TCP packet (no link layer).
pub(crate) fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sp: u16,
    dp: u16,
    seq: u32,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, seq, 1024);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(0),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// An IPv4/UDP packet.
pub(crate) fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// An IPv6/UDP packet.
pub(crate) fn udp6(src: [u8; 16], dst: [u8; 16], sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .udp(sp, dp)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// Ethernet II around an IP packet.
pub(crate) fn eth(ip: &[u8]) -> Vec<u8> {
    rampart_capture::synth::ethernet(ip)
}

/// A classic pcap (microseconds) of `(ts_ns, frame)`.
pub(crate) fn pcap(linktype: LinkType, frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype, 65535).unwrap();
    for (ts, f) in frames {
        w.write(*ts, f, None).unwrap();
    }
    w.into_inner().unwrap()
}

/// Everything a capture yields.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) flows: Vec<FlowRecord>,
    pub(crate) dns: Vec<DnsRecord>,
    pub(crate) names: Vec<NameRecord>,
    pub(crate) summary: CaptureSummary,
}

pub(crate) fn collect(mut reader: CaptureReader) -> Read {
    let mut out = Read::default();
    for e in reader.by_ref() {
        match e {
            CaptureEvent::Flow(f) => out.flows.push(f),
            CaptureEvent::Dns(d) => out.dns.push(d),
            CaptureEvent::Name(n) => out.names.push(n),
        }
    }
    out.summary = reader.into_summary();
    out
}

pub(crate) fn read_bytes(bytes: Vec<u8>, config: CaptureConfig) -> Read {
    collect(CaptureReader::from_reader(Cursor::new(bytes), config).unwrap())
}

pub(crate) fn shared_pcap_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/pcap");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: {} not found", dir.display());
    None
}

/// Every .pcap/.pcapng under `dir`, sorted.
pub(crate) fn capture_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Whether a peer tool is installed; panics when it is required but missing.
pub(crate) fn have_tool(name: &str) -> bool {
    let found = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
            "RAMPART_REQUIRE_PEERS=1 but {name} is missing"
        );
        eprintln!("skipping: {name} not installed");
    }
    found
}

/// Timeouts so long that a flow is one 5-tuple for the whole capture (as tshark counts).
pub(crate) fn no_timeouts() -> CaptureConfig {
    let forever = std::time::Duration::from_secs(1 << 40);
    CaptureConfig {
        tcp_timeout: forever,
        udp_timeout: forever,
        other_timeout: forever,
        close_delay: forever,
        attempt_timeout: forever,
        ..CaptureConfig::default()
    }
}
