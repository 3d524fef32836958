//! Detection rules and suppression windows end to end, as an operator uses them: `rampart
//! serve` with a rule in its configuration file and a real Mosquitto broker carrying device
//! metrics reports; a rule added with `rampart rules put` applies without a restart and its
//! finding opens an incident; a window opened with `rampart suppressions create` keeps the
//! same finding of another device from incident response while the board shows it muted;
//! deleting the rule clears its alarm; rules and windows are back after a restart; every
//! change is in the audit log.
//!
//! Skips visibly when mosquitto or mosquitto_pub is missing; fails then when
//! `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Killed, free_tcp, have};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const TOKEN: &str = "rules-test-token-0123456789abcdef";

fn mosquitto(dir: &Path) -> (Killed, u16) {
    let port = free_tcp();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("persistence false\nallow_anonymous true\nlistener {port} 127.0.0.1\n"),
    )
    .unwrap();
    let child = Killed(
        Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("mosquitto.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

/// Starts `rampart serve` in `dir`; returns it and its API address.
/// Stops the server as an operator would (SIGTERM): it saves its state on the way out.
fn terminate(mut server: Killed) {
    let pid = server.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(dir: &Path) -> (Killed, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args([
            "serve",
            "--config",
            "rampart.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--radius-listen", "off", "--netflow-listen", "off"])
        .env("RAMPART_ADMIN_TOKEN", TOKEN)
        .env("RAMPART_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = dir.join("serve.log");
    std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            writeln!(file, "{line}").ok();
            if line.contains("http api listening") {
                let addr = line.split("addr=").nth(1).unwrap_or_default();
                let addr: String = addr.chars().take_while(|c| !c.is_whitespace()).collect();
                tx.send(addr).ok();
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");
    (Killed(child), addr)
}

fn http(addr: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Runs a CLI command against the server; returns its standard output as JSON.
fn cli(dir: &Path, addr: &str, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .args(["--api", &format!("http://{addr}")])
        .env("RAMPART_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rampart {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Publishes one metrics report for `device`, `bytes_out` sent.
fn report(port: u16, device: &str, n: i64, bytes_out: u64) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let payload = json!({
        "header": {"report_id": n, "version": "1.0"},
        "timestamp": now_ms + n,
        "metrics": {"network_stats": {"bytes_out": bytes_out, "bytes_in": 10}},
    });
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", &format!("rampart/devices/{device}/metrics")])
        .args(["-m", &payload.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `check` every 200 ms for up to 30 s; returns its last answer.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Publishes a breaching report for `device` every second until `check` answers (a report
/// sent before the server's subscription is in place is lost, so one is never enough).
fn feed_until<T>(port: u16, device: &str, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let mut n = 0;
    wait_for(what, || {
        if n % 5 == 0 {
            report(port, device, n, 500_000);
        }
        n += 1;
        check()
    })
}

fn finding(addr: &str, device: &str, rule: &str) -> Option<Value> {
    let (_, all) = http(
        addr,
        "GET",
        &format!("/api/v1/findings?device={device}"),
        None,
    );
    all.as_array()?.iter().find(|f| f["rule"] == rule).cloned()
}

fn incidents(addr: &str, device: &str) -> Vec<Value> {
    let (status, page) = http(
        addr,
        "GET",
        &format!("/api/v1/incidents?device={device}"),
        None,
    );
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .or_else(|| page["incidents"].as_array())
        .cloned()
        .unwrap_or_default()
}

#[test]
fn rules_and_suppression_windows_through_the_api_and_cli() {
    let missing: Vec<&str> = ["mosquitto", "mosquitto_pub"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{missing:?} missing, but RAMPART_REQUIRE_PEERS=1"
        );
        eprintln!("SKIPPED: {missing:?} not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_broker, mq_port) = mosquitto(dir);
    std::fs::write(
        dir.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:{mq_port}\"\nclient_id = \"rampart-rules-test\"\n\
             [detect.engine]\nallowed_lateness_s = 0\n\
             [[detect.rules.rules]]\nname = \"listening\"\nmetric = \"listening_ports\"\n\
             comparison = \"gt\"\nthreshold = {{ value = 100.0 }}\n"
        ),
    )
    .unwrap();
    let (server, addr) = serve(dir);

    // A rule from a file, through the CLI; the configuration's rule is listed read-only.
    std::fs::write(
        dir.join("exfil.toml"),
        "name = \"exfil\"\nmetric = \"bytes_out\"\ncomparison = \"gt\"\n\
         threshold = { value = 100000.0 }\ndatapoints_to_alarm = 2\nseverity = \"high\"\n",
    )
    .unwrap();
    let put = cli(dir, &addr, &["rules", "put", "exfil.toml"]);
    assert_eq!(put["source"], "api", "{put}");
    let listed = cli(dir, &addr, &["rules", "list"]);
    let sources: Vec<(String, String)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["source"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("exfil".into(), "api".into()),
            ("listening".into(), "config".into())
        ]
    );
    let (status, body) = http(&addr, "PUT", "/api/v1/rules/listening", Some(&json!({})));
    assert_eq!(status, 409, "{body}");
    // Refused whole, every problem named by its field; nothing changes.
    let bad = json!({"metric": "listening_ports", "comparison": "gt",
                     "threshold": {"value": 1.0}, "duration_s": 60, "datapoints_to_alarm": 0});
    let (status, body) = http(&addr, "PUT", "/api/v1/rules/bad", Some(&bad));
    assert_eq!(status, 422, "{body}");
    let details: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.starts_with("duration_s:")),
        "{body}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("datapoints_to_alarm:")),
        "{body}"
    );
    assert_eq!(http(&addr, "GET", "/api/v1/rules/bad", None).0, 404);

    // The new rule applies without a restart: two breaching reports raise one finding, and
    // the third repeats it (no second finding, no second incident).
    let f1 = feed_until(mq_port, "meter-1", "the rule's finding on meter-1", || {
        finding(&addr, "meter-1", "exfil").filter(|f| f["evidence_count"].as_u64() >= Some(2))
    });
    assert_eq!(f1["kind"], "rule");
    assert!(f1.get("suppressed").is_none(), "{f1}");
    let inc = wait_for("meter-1's incident", || {
        let i = incidents(&addr, "meter-1");
        (!i.is_empty()).then_some(i)
    });
    // One incident holding the one finding: the repeat did not reach response again.
    assert_eq!(inc.len(), 1, "{inc:?}");
    assert_eq!(inc[0]["finding_ids"], json!([f1["id"]]), "{inc:?}");

    // A window for meter-2's findings of this rule (a platform token names the tenant whose
    // device it means).
    let window = cli(
        dir,
        &addr,
        &[
            "suppressions",
            "create",
            "--device",
            "meter-2",
            "--rule",
            "exfil",
            "--for",
            "1h",
            "--reason",
            "firmware rollout",
            "--tenant",
            "default",
        ],
    );
    let window_id = window["id"].as_str().unwrap().to_owned();
    assert_eq!(window["active"], true, "{window}");
    assert_eq!(window["tenant"], "default", "{window}");
    let listed = cli(dir, &addr, &["suppressions", "list"]);
    assert_eq!(listed["items"][0]["id"], window_id.as_str(), "{listed}");

    // meter-2's finding is recorded and shown muted; meter-3's, raised after it, is not.
    let f2 = feed_until(mq_port, "meter-2", "meter-2's muted finding", || {
        finding(&addr, "meter-2", "exfil")
    });
    assert_eq!(f2["suppressed"], true, "{f2}");
    assert_eq!(f2["suppression"], window_id.as_str(), "{f2}");
    let f3 = feed_until(mq_port, "meter-3", "meter-3's finding", || {
        finding(&addr, "meter-3", "exfil")
    });
    assert!(f3.get("suppressed").is_none(), "{f3}");
    wait_for("meter-3's incident", || {
        (!incidents(&addr, "meter-3").is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        incidents(&addr, "meter-2").is_empty(),
        "a muted finding reached response"
    );
    let (_, metrics_text) = {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        ((), raw)
    };
    assert!(
        metrics_text
            .lines()
            .any(|l| l.starts_with("rampart_findings_suppressed_total") && !l.ends_with(" 0")),
        "no suppressed-findings count"
    );

    // A second window, opened now, must still apply after a restart.
    let later = cli(
        dir,
        &addr,
        &[
            "suppressions",
            "create",
            "--device",
            "meter-4",
            "--kind",
            "rule",
            "--for",
            "2h",
            "--reason",
            "bench test",
            "--tenant",
            "default",
        ],
    );
    let later_id = later["id"].as_str().unwrap().to_owned();

    // Once its window is gone, meter-2's finding, still active, goes to response at its next
    // repeat; the board keeps the window's id.
    cli(dir, &addr, &["suppressions", "delete", &window_id]);
    let path = format!("/api/v1/suppressions/{window_id}");
    assert_eq!(http(&addr, "GET", &path, None).0, 404);
    feed_until(
        mq_port,
        "meter-2",
        "meter-2's incident once its window is gone",
        || (!incidents(&addr, "meter-2").is_empty()).then_some(()),
    );
    let f2 = finding(&addr, "meter-2", "exfil").unwrap();
    assert_eq!(f2["suppressed"], false, "{f2}");
    assert_eq!(f2["suppression"], window_id.as_str(), "{f2}");

    // Deleting the rule clears its active alarms.
    cli(dir, &addr, &["rules", "delete", "exfil"]);
    wait_for("meter-1's finding cleared", || {
        finding(&addr, "meter-1", "exfil").filter(|f| f["state"] == "cleared")
    });
    let (status, _) = http(&addr, "GET", "/api/v1/rules/exfil", None);
    assert_eq!(status, 404);
    let again = json!({"metric": "bytes_out", "comparison": "gt",
                       "threshold": {"value": 100000.0}, "severity": "medium"});
    assert_eq!(
        http(&addr, "PUT", "/api/v1/rules/exfil-2", Some(&again)).0,
        201
    );

    // meter-4's finding is muted by the later window before the restart; a window for meter-5
    // is opened too.
    let f4 = feed_until(mq_port, "meter-4", "meter-4's muted finding", || {
        finding(&addr, "meter-4", "exfil-2")
    });
    assert_eq!(f4["suppressed"], true, "{f4}");
    let fifth = cli(
        dir,
        &addr,
        &[
            "suppressions",
            "create",
            "--device",
            "meter-5",
            "--kind",
            "rule",
            "--for",
            "2h",
            "--reason",
            "field trial",
            "--tenant",
            "default",
        ],
    );
    let fifth_id = fifth["id"].as_str().unwrap().to_owned();

    // Rules and windows are stored, and a graceful stop saves the findings with their marks: a
    // restart loads them, meter-4's restored finding is still muted, and the window mutes
    // meter-5's new one.
    terminate(server);
    let (_server, addr) = serve(dir);
    let (_, rule) = http(&addr, "GET", "/api/v1/rules/exfil-2", None);
    assert_eq!(rule["source"], "api", "{rule}");
    assert_eq!(rule["severity"], "medium", "{rule}");
    let f4 = finding(&addr, "meter-4", "exfil-2").expect("meter-4's finding restored");
    assert_eq!(f4["suppressed"], true, "{f4}");
    assert_eq!(f4["suppression"], later_id.as_str(), "{f4}");
    let f5 = feed_until(mq_port, "meter-5", "meter-5's finding", || {
        finding(&addr, "meter-5", "exfil-2")
    });
    assert_eq!(f5["suppressed"], true, "{f5}");
    assert_eq!(f5["suppression"], fifth_id.as_str(), "{f5}");
    cli(dir, &addr, &["suppressions", "delete", &later_id]);
    cli(dir, &addr, &["suppressions", "delete", &fifth_id]);

    // Every change is in the audit log, with who made it.
    let audit = std::fs::read_to_string(dir.join("data/audit.log")).unwrap();
    let events: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["record"].clone())
        .collect();
    let find = |event: &str, key: &str, value: &str| {
        events
            .iter()
            .any(|r| r["event"] == event && r[key] == value && r["actor"].is_string())
    };
    assert!(find("rule.put", "rule", "exfil"), "{audit}");
    assert!(find("rule.deleted", "rule", "exfil"), "{audit}");
    assert!(find("rule.put", "rule", "exfil-2"), "{audit}");
    assert!(
        find("suppression.created", "suppression", &window_id),
        "{audit}"
    );
    for id in [&window_id, &later_id, &fifth_id] {
        assert!(find("suppression.created", "suppression", id), "{audit}");
        assert!(find("suppression.deleted", "suppression", id), "{audit}");
    }
}
