//! Network signals end to end, as a user runs them: `rampart eval` scoring detection on the
//! IoT-23 labelled flows (the scores are printed), `rampart analyze` over real captures with
//! flow verdicts, and a live `rampart serve` fed by `rampart simulate` over real RADIUS and
//! NetFlow packets, with the findings read back through the API.
//!
//! Tests needing ../shared/data skip with a message when it is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::free_udp;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        p.display()
    );
    eprintln!("skipping: {} not found", p.display());
    None
}

#[test]
fn eval_meets_the_quality_targets_on_iot23() {
    let Some(dir) = shared("iot23-labeled-flows") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let out = Command::new(BIN)
        .arg("eval")
        .arg("--check")
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The scores belong in the CI log.
    println!("rampart eval:\n{text}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "targets not met:\n{text}");
    assert!(text.contains("targets met"));

    let out = Command::new(BIN)
        .args(["eval", "--format", "json"])
        .args(&files)
        .output()
        .unwrap();
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let total: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert!(total["total"]["flows"]["precision"].as_f64().unwrap() >= 0.99);
    assert!(total["total"]["flows"]["recall"].as_f64().unwrap() >= 0.95);
    assert_eq!(total["total"]["devices"]["clean_flagged"], 0);
}

#[test]
fn analyze_reads_real_captures_and_writes_one_verdict_per_flow() {
    let (Some(scan), Some(cc)) = (
        shared("pcap/ndpi/synscan.pcap"),
        shared("pcap/slips/test-cc-capture-2.pcap"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let verdicts = tmp.path().join("verdicts.csv");
    let out = Command::new(BIN)
        .args(["analyze", "--format", "json", "--flow-verdicts"])
        .arg(&verdicts)
        .arg(&scan)
        .arg(&cc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = &lines.last().unwrap()["summary"];
    let flows = summary["observations"]["flows"].as_u64().unwrap();
    assert!(flows > 2000, "{summary}");
    assert!(summary["observations"]["dns"].as_u64().unwrap() > 0);
    // The SYN scan is found, with its evidence.
    let scans: Vec<_> = lines
        .iter()
        .filter_map(|l| l.get("finding"))
        .filter(|f| f["kind"].as_str().unwrap().ends_with("_scan"))
        .collect();
    assert!(!scans.is_empty(), "no scan finding: {stdout}");
    assert!(!scans[0]["evidence"].as_array().unwrap().is_empty());
    let csv = std::fs::read_to_string(&verdicts).unwrap();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("uid,verdict,kind"));
    let rows: Vec<&str> = rows.collect();
    assert_eq!(rows.len() as u64, flows);
    assert!(rows.iter().any(|r| r.contains(",malicious,")));
    assert!(
        rows.iter()
            .all(|r| r.contains(",malicious,") || r.contains(",benign,"))
    );
}

fn get(addr: &str, path: &str, token: &str) -> serde_json::Value {
    serde_json::from_str(&get_text(addr, path, token)).unwrap_or(serde_json::Value::Null)
}

fn get_text(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn live_findings_from_simulated_fleet_reach_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (radius, netflow) = (free_udp(), free_udp());
    let token = "live-signals-test-token-0123456789abcdef";
    std::fs::write(
        dir.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n[radius]\nlisten = \"127.0.0.1:{radius}\"\n\
             [[radius.clients]]\nname = \"sim\"\naddress = \"127.0.0.1\"\nsecret_env = \"SIM_SECRET\"\n\
             [netflow]\nlisten = [\"127.0.0.1:{netflow}\"]\n[detect.engine]\nallowed_lateness_s = 0\n"
        ),
    )
    .unwrap();
    let ok = |c: &mut Command| {
        let o = c.current_dir(dir).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(Command::new(BIN).args([
        "devices",
        "generate",
        "--count",
        "50",
        "--seed",
        "3",
        "--output",
        "fleet.csv",
    ]));
    ok(Command::new(BIN).args(["devices", "import", "--config", "rampart.toml", "fleet.csv"]));

    let mut server = Command::new(BIN)
        .current_dir(dir)
        .args([
            "serve",
            "--config",
            "rampart.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RAMPART_ADMIN_TOKEN", token)
        .env("SIM_SECRET", "sim-secret")
        .env("RAMPART_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("http api listening") {
                let addr = line.split("addr=").nth(1).unwrap_or_default();
                let _sent = tx.send(
                    addr.chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");

    let sim = Command::new(BIN)
        .current_dir(dir)
        .args([
            "simulate",
            "--target",
            "127.0.0.1",
            "--devices",
            "50",
            "--seed",
            "3",
        ])
        .args([
            "--radius-port",
            &radius.to_string(),
            "--netflow-port",
            &netflow.to_string(),
        ])
        .args([
            "--duration",
            "6",
            "--rate",
            "100",
            "--interim",
            "2",
            "--misbehave-after",
            "2",
        ])
        .args([
            "--misbehave",
            "scan=1",
            "--misbehave",
            "sim-swap=1",
            "--secret-env",
            "SIM_SECRET",
        ])
        .env("SIM_SECRET", "sim-secret")
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(report["accounting"]["failed"], 0, "{report}");

    // The scanner (the first device with a SIM) and the swapped SIM (the second) are found.
    let deadline = Instant::now() + Duration::from_secs(30);
    let kinds = loop {
        let findings = get(&addr, "/api/v1/findings?limit=100", token);
        let kinds: Vec<String> = findings
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if (kinds.iter().any(|k| k == "horizontal_scan")
            && kinds.iter().any(|k| k == "sim_imei_mismatch"))
            || Instant::now() > deadline
        {
            break kinds;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(kinds.iter().any(|k| k == "horizontal_scan"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "sim_imei_mismatch"), "{kinds:?}");
    let truth = report["misbehaving"].as_u64().unwrap();
    assert_eq!(truth, 2);

    // Flow counters of a device, attributed through its RADIUS session.
    let findings = get(&addr, "/api/v1/findings?limit=100", token);
    let scanner = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "horizontal_scan")
        .unwrap()["subject"]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let traffic = get(&addr, &format!("/api/v1/devices/{scanner}/traffic"), token);
    assert!(traffic["flows"].as_u64().unwrap() > 10, "{traffic}");
    assert!(
        traffic["flows_by_source"]["netflow_v9"].as_u64().unwrap() > 0,
        "{traffic}"
    );
    // The attribution counters count (their handles are taken once, after the recorder).
    let metrics = get_text(&addr, "/metrics", token);
    let flows = [r#"kind="flow""#, r#"result="device""#];
    assert!(
        sample(&metrics, "rampart_observations_total", &flows) > 10.0,
        "{metrics}"
    );
    let via_session = [r#"result="session""#];
    assert!(
        sample(&metrics, "rampart_attribution_total", &via_session) > 10.0,
        "{metrics}"
    );
    let _killed = server.kill();
    let _waited = server.wait();
}
