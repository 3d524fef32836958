//! The binary as a user runs it: `serve` on the embedded default, the API over real HTTP,
//! graceful shutdown, bulk import with bad rows, strict configuration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A running `rampart serve`, its address, and what it prints on standard output.
struct Server {
    child: Child,
    addr: String,
    stdout: mpsc::Receiver<String>,
}

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RAMPART_ADMIN_TOKEN")
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_DATABASE_URL")
        .env_remove("RAMPART_CONFIG")
        .env("RAMPART_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn rampart serve");
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("http api listening") {
                let addr = line.split("addr=").nth(1).unwrap_or_default();
                let addr: String = addr.chars().take_while(|c| !c.is_whitespace()).collect();
                let _sent = tx.send(addr);
            }
        }
    });
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _read = BufReader::new(stdout).read_to_string(&mut out);
        let _sent = out_tx.send(out);
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not start");
    Server {
        child,
        addr,
        stdout: out_rx,
    }
}

impl Server {
    /// SIGTERM (graceful shutdown); returns the exit code and everything printed on stdout.
    fn stop(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let out = self
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        (status.code().unwrap_or(-1), out)
    }
}

/// Minimal HTTP/1.1 client: one request per connection.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status: u16 = resp.split(' ').nth(1).unwrap().parse().unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[test]
fn serve_embedded_default_crud_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let addr = server.addr.clone();
    assert!(
        dir.path().join("rampart-data/rampart.db").exists(),
        "embedded sqlite under ./rampart-data"
    );
    assert_eq!(http(&addr, "GET", "/healthz", None, None).0, 200);
    assert_eq!(http(&addr, "GET", "/api/v1/devices", None, None).0, 401);
    let (code, stdout) = server.stop();
    assert_eq!(code, 0, "graceful exit on SIGTERM");
    let token = stdout
        .split_whitespace()
        .find(|w| w.starts_with("rmp_"))
        .expect("first start prints the admin token")
        .to_owned();

    // Second start: the token persists (only its hash is stored) and is not printed again.
    let server = start(dir.path(), &[]);
    let addr = server.addr.clone();
    let t = Some(token.as_str());
    let (s, _) = http(
        &addr,
        "POST",
        "/api/v1/devices",
        t,
        Some(
            r#"{"id":"meter-1","name":"Meter","profile":"smart-meter","ips":["10.20.0.7"],"tags":["site:madrid"]}"#,
        ),
    );
    assert_eq!(s, 201);
    let (s, b) = http(
        &addr,
        "POST",
        "/api/v1/sims",
        t,
        Some(
            r#"{"iccid":"89340712345678901234","imsi":"214070123456789","allowed_imeis":["490154203237518"],"device_id":"meter-1"}"#,
        ),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = http(
        &addr,
        "GET",
        "/api/v1/devices?imsi=214070123456789",
        t,
        None,
    );
    assert_eq!(s, 200);
    assert!(b.contains(r#""id":"meter-1""#), "{b}");
    let (s, b) = http(&addr, "GET", "/api/v1/devices?ip=10.20.0.7", t, None);
    assert_eq!(s, 200);
    assert!(b.contains(r#""id":"meter-1""#), "{b}");
    let (s, b) = http(
        &addr,
        "PATCH",
        "/api/v1/devices/meter-1",
        t,
        Some(r#"{"state":"quarantined"}"#),
    );
    assert_eq!(s, 200);
    assert!(b.contains(r#""state":"quarantined""#), "{b}");
    assert_eq!(
        http(&addr, "DELETE", "/api/v1/devices/meter-1", t, None).0,
        204
    );
    assert_eq!(
        http(&addr, "GET", "/api/v1/devices/meter-1", t, None).0,
        404
    );
    let (s, metrics) = http(&addr, "GET", "/metrics", t, None);
    assert_eq!(s, 200);
    assert!(metrics.contains("rampart_http_requests_total"), "{metrics}");
    let (code, stdout) = server.stop();
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("rmp_"),
        "the token is printed only on first start"
    );
}

#[test]
fn admin_token_from_environment() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[("RAMPART_ADMIN_TOKEN", "automation-secret-0123456789")],
    );
    let addr = server.addr.clone();
    let (s, _) = http(
        &addr,
        "GET",
        "/api/v1/devices",
        Some("automation-secret-0123456789"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(
        http(
            &addr,
            "GET",
            "/api/v1/devices",
            Some("wrong-secret-0123456789"),
            None
        )
        .0,
        401
    );
    let (code, stdout) = server.stop();
    assert_eq!(code, 0);
    assert!(
        !stdout.contains("rmp_"),
        "no generated token when one is given"
    );
}

#[test]
fn import_keeps_valid_rows_and_reports_each_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("fleet.csv");
    let generated = Command::new(BIN)
        .args(["devices", "generate", "--count", "50", "--seed", "3", "-o"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(generated.success());
    let mut text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header = lines[0].to_owned();
    let good: Vec<String> = lines[1..].iter().map(|s| (*s).to_owned()).collect();
    // line 52: wrong ICCID Luhn digit; 53: duplicate ICCID of line 2; 54: missing columns;
    // 55: broken quoting; 56: a valid new row after them.
    let cols: Vec<&str> = good[0].split(',').collect();
    let iccid = cols[4];
    let last = iccid.chars().last().unwrap().to_digit(10).unwrap();
    let wrong = format!("{}{}", &iccid[..iccid.len() - 1], (last + 1) % 10);
    let mut bad_luhn: Vec<String> = cols.iter().map(|s| (*s).to_owned()).collect();
    bad_luhn[0] = "bad-luhn".into();
    bad_luhn[4] = wrong;
    let mut dup: Vec<String> = cols.iter().map(|s| (*s).to_owned()).collect();
    dup[0] = "dup-iccid".into();
    dup[3] = "214079999999999".into();
    text = format!(
        "{header}\n{}\n{}\n{}\nshort-row,x\n\"broken,quote,,,,,,,,,,,,\nlate-good,Late,camera,,,,,,,,,,,\n",
        good.join("\n"),
        bad_luhn.join(","),
        dup.join(",")
    );
    std::fs::write(&file, text).unwrap();
    let out = Command::new(BIN)
        .args(["devices", "import"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "rows were rejected: {stderr}");
    assert!(stderr.contains("51 new, 0 updated, 4 rejected"), "{stderr}");
    let rejects = std::fs::read_to_string(dir.path().join("fleet.csv.rejects.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "line,reason,raw");
    let reported: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(reported, ["52", "54", "55", "53"], "{rejects}");
    assert!(rejects.contains("luhn"), "{rejects}");
    assert!(rejects.contains("duplicate iccid"), "{rejects}");
    // The valid rows landed, including the one after the bad ones.
    let show = Command::new(BIN)
        .args(["devices", "show", "late-good", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    // Re-import is idempotent: every valid row is an update.
    let again = Command::new(BIN)
        .args(["devices", "import"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("0 new, 51 updated, 4 rejected"), "{stderr}");
}

#[test]
fn config_refuses_unknown_keys_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rampart.toml");
    std::fs::write(
        &cfg,
        "version = 1\n[http]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listne"), "{stderr}");
    std::fs::write(&cfg, "version = 1\n[http]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
