//! Runs the real Suricata over a real capture (nDPI's `alexa-app.pcapng`: an Amazon Echo's
//! DNS, TLS and HTTP) with the configuration and rules in `tests/suricata/`, then reads the
//! `eve.json` it wrote and checks the reader against the file itself, recomputed here with
//! `serde_json::Value`: the number of flows and their packet and byte sums, DNS, TLS and HTTP
//! names, and the alerts of the test rules.
//!
//! Skips (with a message) when suricata is not installed, unless `RAMPART_REQUIRE_PEERS=1`,
//! and when the data directory is absent, unless `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use rampart_core::SignalSource;
use rampart_logs::{LogEvent, LogFormat, LogReader};
use serde_json::Value;

fn suricata() -> bool {
    let ok = Command::new("suricata")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
            "RAMPART_REQUIRE_PEERS=1 but suricata is not installed"
        );
        eprintln!("skipping: suricata not installed");
    }
    ok
}

fn capture() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/pcap/ndpi/alexa-app.pcapng");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        path.display()
    );
    eprintln!("skipping: {} not found", path.display());
    None
}

/// What the EVE file holds, computed from the JSON directly.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    flows: u64,
    packets: u64,
    bytes: u64,
    rev_packets: u64,
    rev_bytes: u64,
    dns: u64,
    sni: u64,
    http_hosts: u64,
    alerts: u64,
    other: u64,
    /// Per flow: id, endpoints, ports, TCP flags each way, as the JSON gives them.
    flow_keys: Vec<(String, String, String, u64, u64, u64, u64)>,
}

fn totals_from_json(text: &str) -> Totals {
    let mut t = Totals::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap();
        let n = |path: &str| v.pointer(path).and_then(Value::as_u64).unwrap_or(0);
        match v["event_type"].as_str().unwrap() {
            "flow" => {
                t.flows += 1;
                t.packets += n("/flow/pkts_toserver");
                t.bytes += n("/flow/bytes_toserver");
                t.rev_packets += n("/flow/pkts_toclient");
                t.rev_bytes += n("/flow/bytes_toclient");
                let flags = |path: &str| {
                    v.pointer(path)
                        .and_then(Value::as_str)
                        .map_or(0, |h| u64::from_str_radix(h, 16).unwrap())
                };
                // Suricata writes IPv6 unabbreviated; ICMP flows carry type and code where
                // other flows have ports.
                let ip = |key: &str| v[key].as_str().unwrap().parse::<IpAddr>().unwrap();
                let icmp = v.get("icmp_type").is_some();
                t.flow_keys.push((
                    n("/flow_id").to_string(),
                    ip("src_ip").to_string(),
                    ip("dest_ip").to_string(),
                    if icmp {
                        n("/icmp_type")
                    } else {
                        n("/src_port")
                    },
                    if icmp {
                        n("/icmp_code")
                    } else {
                        n("/dest_port")
                    },
                    flags("/tcp/tcp_flags_ts"),
                    flags("/tcp/tcp_flags_tc"),
                ));
            }
            "dns" => {
                let named = v.pointer("/dns/rrname").is_some()
                    || v.pointer("/dns/queries/0/rrname").is_some()
                    || v.pointer("/dns/answers/0/rrname").is_some();
                if named {
                    t.dns += 1;
                } else {
                    t.other += 1;
                }
            }
            "tls" if v.pointer("/tls/sni").is_some() => t.sni += 1,
            "http" if v.pointer("/http/hostname").is_some() => t.http_hosts += 1,
            "alert" => t.alerts += 1,
            _ => t.other += 1,
        }
    }
    t
}

#[test]
fn reads_what_suricata_wrote() {
    if !suricata() {
        return;
    }
    let Some(pcap) = capture() else { return };
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suricata");
    let out = tempfile::tempdir().unwrap();
    let run = Command::new("suricata")
        .arg("-c")
        .arg(here.join("suricata.yaml"))
        .arg("-S")
        .arg(here.join("rampart.rules"))
        .arg("-r")
        .arg(&pcap)
        .arg("-l")
        .arg(out.path())
        .args(["-k", "none", "--runmode", "single"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "suricata failed: {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let eve = out.path().join("eve.json");
    let text = std::fs::read_to_string(&eve).unwrap();
    let want = totals_from_json(&text);
    eprintln!(
        "eve.json holds {} flows ({} + {} packets, {} + {} bytes), {} dns, {} sni, {} http \
         hosts, {} alerts, {} other events",
        want.flows,
        want.packets,
        want.rev_packets,
        want.bytes,
        want.rev_bytes,
        want.dns,
        want.sni,
        want.http_hosts,
        want.alerts,
        want.other
    );
    assert!(want.flows > 10 && want.dns > 0 && want.sni > 0 && want.http_hosts > 0);
    assert!(want.alerts > 0, "the test rules fire on this capture");

    let mut reader = LogReader::open(&eve).unwrap();
    assert_eq!(reader.format(), Some(LogFormat::SuricataEve));
    let mut got = Totals::default();
    let mut sids = Vec::new();
    for event in &mut reader {
        match event.unwrap() {
            LogEvent::Flow(f) => {
                assert_eq!(f.source, SignalSource::Suricata);
                assert!(f.uid.is_some() && f.end >= f.start);
                got.flows += 1;
                got.packets += f.packets;
                got.bytes += f.bytes;
                got.rev_packets += f.rev_packets;
                got.rev_bytes += f.rev_bytes;
                got.flow_keys.push((
                    f.uid.as_deref().unwrap().to_string(),
                    f.src.to_string(),
                    f.dst.to_string(),
                    u64::from(f.src_port),
                    u64::from(f.dst_port),
                    u64::from(f.tcp_flags),
                    u64::from(f.rev_tcp_flags),
                ));
            }
            LogEvent::Dns(d) => {
                assert!(!d.query.is_empty());
                got.dns += 1;
            }
            LogEvent::Name(n) if &*n.via == "tls" => got.sni += 1,
            LogEvent::Name(_) => got.http_hosts += 1,
            LogEvent::Alert(a) => {
                assert!(a.signature.starts_with("rampart test: "));
                assert_eq!(a.severity, if a.signature_id == 1_000_001 { 2 } else { 3 });
                sids.push(a.signature_id);
                got.alerts += 1;
            }
        }
    }
    got.other = reader.summary().skipped;
    for (got, want) in got.flow_keys.iter().zip(&want.flow_keys) {
        assert_eq!(got, want);
    }
    assert_eq!(got, want);
    assert_eq!(reader.summary().errors, 0);
    assert!(sids.contains(&1_000_001));
}
