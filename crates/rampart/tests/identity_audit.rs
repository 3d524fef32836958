//! The identity hygiene audit as an operator meets it. Certificates come from `rampart ca bulk`,
//! devices and SIMs from `rampart devices import`; one device's key is also certified for
//! another (a record carried over from an index written before duplicate keys were refused),
//! one device has no certificate, one SIM has no IMEI lock, one certificate is revoked.
//! `rampart ca audit` reports each; then `rampart serve` records the revoked certificate
//! presented to its EST listener (a rustls client in this process), `POST
//! /api/v1/identity/audit` reports it, and the shared key's findings reach the incident list,
//! where a playbook revokes the certificates, after which the next run clears the finding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use support::free_tcp;

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const TOKEN: &str = "identity-audit-test-token-0123456789";

fn rampart(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("RAMPART_CONFIG")
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_DATABASE_URL")
        .env_remove("RAMPART_CA_DIR")
        .env("RAMPART_LOG", "warn")
        .output()
        .unwrap()
}

fn rampart_ok(dir: &Path, args: &[&str]) -> String {
    let o = rampart(dir, args);
    assert!(
        o.status.success(),
        "rampart {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn luhn(base: &str) -> String {
    format!("{base}{}", rampart_core::luhn_check_digit(base).unwrap())
}

/// The CA, five registered devices, three certificates (one revoked) and a shared key.
fn fleet(dir: &Path) -> Value {
    rampart_ok(dir, &["ca", "init", "--data-dir", "data"]);
    rampart_ok(
        dir,
        &[
            "ca",
            "bulk",
            "--data-dir",
            "data",
            "--tenant",
            "default",
            "--count",
            "3",
            "--prefix",
            "meter-",
            "--out",
            "certs",
        ],
    );
    let csv = format!(
        "device_id,imsi,iccid,imei_policy\n\
         meter-0,214070000000001,{},none\n\
         meter-1,214070000000002,{},learn\n\
         meter-2,,,\n\
         meter-3,,,\n\
         meter-4,,,\n",
        luhn("893407000000000001"),
        luhn("893407000000000002"),
    );
    std::fs::write(dir.join("fleet.csv"), csv).unwrap();
    rampart_ok(
        dir,
        &["devices", "import", "--data-dir", "data", "fleet.csv"],
    );
    rampart_ok(
        dir,
        &[
            "ca",
            "revoke",
            "--data-dir",
            "data",
            "--tenant",
            "default",
            "--device",
            "meter-2",
        ],
    );
    // meter-0's key certified for meter-4 too.
    let index = dir.join("data/ca/index.jsonl");
    let text = std::fs::read_to_string(&index).unwrap();
    let mut copy: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["op"] == "issued" && v["subject"] == "meter-0")
        .unwrap();
    copy["subject"] = "meter-4".into();
    copy["serial"] = "4a00000000000000000000000000c0de".into();
    copy["fingerprint"] = "ab".repeat(32).into();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&index)
        .unwrap();
    writeln!(f, "{copy}").unwrap();
    copy
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn devices_of(c: &Value) -> Vec<String> {
    let mut v: Vec<String> = c["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["device"].as_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

#[test]
fn ca_audit_reports_each_check_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fleet(dir);
    let out = rampart_ok(
        dir,
        &[
            "ca",
            "audit",
            "--data-dir",
            "data",
            "--format",
            "json",
            "--expiry-warning-days",
            "400",
            "--ca-expiry-warning-days",
            "2000",
        ],
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    let c = check(&r, "shared_key");
    assert_eq!(c["non_compliant"], 2, "{c:#}");
    assert_eq!(devices_of(c), vec!["meter-0", "meter-4"]);
    assert_eq!(c["resources"][0]["count"], 2);
    assert_eq!(c["severity"], "high");
    let c = check(&r, "device_without_identity");
    assert_eq!(devices_of(c), vec!["meter-2", "meter-3"], "{c:#}");
    assert_eq!(c["checked"], 5);
    let c = check(&r, "sim_without_imei_lock");
    assert_eq!(
        (c["checked"].as_u64(), c["non_compliant"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(devices_of(c), vec!["meter-0"]);
    // 365-day certificates are within 400 days: the newest unrevoked one of each device.
    let c = check(&r, "certificate_expiring");
    assert_eq!(
        devices_of(c),
        vec!["meter-0", "meter-1", "meter-4"],
        "{c:#}"
    );
    // The 5-year issuing CA is within 2000 days, the 20-year root is not.
    let c = check(&r, "ca_expiring");
    assert_eq!(c["non_compliant"], 1, "{c:#}");
    assert_eq!(c["resources"][0]["id"], "issuing-1");
    assert_eq!(check(&r, "weak_key")["non_compliant"], 0);
    for name in ["revoked_certificate_in_use", "shared_certificate"] {
        assert!(
            check(&r, name)["note"]
                .as_str()
                .unwrap()
                .contains("rampart serve")
        );
    }

    // Default thresholds: nothing expiring; text output; --fail-on-findings.
    let out = rampart_ok(dir, &["ca", "audit", "--data-dir", "data"]);
    assert!(
        out.contains("shared_key") && out.contains("meter-4"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("certificate_expiring"))
        .unwrap();
    assert!(line.trim_end().ends_with(" 0"), "{line}");
    let o = rampart(
        dir,
        &["ca", "audit", "--data-dir", "data", "--fail-on-findings"],
    );
    assert_eq!(o.status.code(), Some(2));
}

/// A running `rampart serve`; killed on drop.
struct Serve {
    child: Child,
    api: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn serve(dir: &Path) -> Serve {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args([
            "serve",
            "--config",
            "rampart.toml",
            "--listen",
            "127.0.0.1:0",
            "--radius-listen",
            "off",
            "--netflow-listen",
            "off",
        ])
        .env_remove("RAMPART_DATA_DIR")
        .env_remove("RAMPART_DATABASE_URL")
        .env_remove("RAMPART_CA_DIR")
        .env("RAMPART_ADMIN_TOKEN", TOKEN)
        .env("RAMPART_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        let (mut api, mut est) = (None, false);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
            if line.contains("http api listening") {
                let addr = line.split("addr=").nth(1).unwrap_or_default();
                api = Some(
                    addr.chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect::<String>(),
                );
            }
            est |= line.contains("est listening");
            if est && let Some(a) = api.take() {
                let _sent = tx.send(a);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(api) => Serve { child, api, log },
        Err(_) => {
            child.kill().ok();
            panic!("serve did not start:\n{}", log.lock().unwrap());
        }
    }
}

fn http(addr: &str, method: &str, path: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
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

/// Presents a device certificate to the EST listener; the handshake is expected to fail.
fn present(dir: &Path, port: u16, device: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("data/ca/root.pem")).unwrap())
        .unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(format!("certs/{device}.pem")))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join(format!("certs/{device}.key.pem"))).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let sent = tls.write_all(
        b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let mut out = Vec::new();
    let read = tls.read_to_end(&mut out);
    format!("{sent:?} {read:?} {}", String::from_utf8_lossy(&out))
}

/// Runs the audit through the API until `done` holds for the report (up to 60 s).
fn audit_until(s: &Serve, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, report) = http(&s.api, "POST", "/api/v1/identity/audit");
        assert_eq!(code, 200, "{report}\n{}", s.log.lock().unwrap());
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {report:#}\n{}",
            s.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn serve_audits_presentations_and_a_playbook_acts_on_the_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let copied = fleet(dir);
    let revoked_serial = {
        let text = std::fs::read_to_string(dir.join("data/ca/index.jsonl")).unwrap();
        let v: Value = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["op"] == "issued" && v["subject"] == "meter-2")
            .unwrap();
        v["serial"].as_str().unwrap().to_owned()
    };
    let est = free_tcp();
    std::fs::write(
        dir.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n\
             [identity]\nest_listen = \"127.0.0.1:{est}\"\naudit_interval_secs = 0\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("data/playbooks")).unwrap();
    std::fs::write(
        dir.join("data/playbooks/shared-device-key.toml"),
        "name = \"shared-device-key\"\n\
         description = \"A key certified for several devices: revoke their certificates\"\n\
         [match]\nkinds = [\"shared_key\"]\n\
         [[steps]]\naction = \"revoke_certificate\"\n",
    )
    .unwrap();
    let s = serve(dir);
    let (code, _) = http(&s.api, "GET", "/api/v1/identity/audit");
    assert_eq!(code, 404, "no run yet (the schedule is off)");

    // The revoked certificate, presented to the EST listener, is refused and recorded.
    let answer = present(dir, est, "meter-2");
    assert!(!answer.contains("200 OK"), "{answer}");
    let report = audit_until(&s, "revoked certificate not reported", |r| {
        check(r, "revoked_certificate_in_use")["non_compliant"] == 1
    });
    let c = check(&report, "revoked_certificate_in_use");
    let res = &c["resources"][0];
    assert_eq!(res["id"], revoked_serial.as_str());
    assert_eq!(res["device"], "meter-2");
    assert_eq!(res["addresses"][0], "127.0.0.1");
    assert!(res["count"].as_u64().unwrap() >= 1);
    assert!(c.get("note").is_none(), "{c:#}");

    // The shared key's findings reach the incident list, and the playbook revokes.
    for device in ["meter-0", "meter-4"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, list) = http(&s.api, "GET", &format!("/api/v1/incidents?device={device}"));
            assert_eq!(code, 200, "{list}");
            let incidents = list["incidents"].as_array().cloned().unwrap_or_default();
            let shared_key = incidents.iter().any(|i| {
                i["kinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "shared_key"))
            });
            let revoked = incidents.iter().any(|i| {
                let id = i["id"].as_str().unwrap_or_default();
                let (_, full) = http(&s.api, "GET", &format!("/api/v1/incidents/{id}"));
                full["timeline"].as_array().is_some_and(|tl| {
                    tl.iter().any(|e| {
                        e["event"]["type"] == "action"
                            && e["event"]["name"] == "revoke_certificate"
                            && e["event"]["status"] == "applied"
                    })
                })
            });
            if shared_key && revoked {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{device}: no shared_key incident with the revocation applied: {list:#}\n{}",
                s.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    // The next run finds the key no longer shared; the finding is cleared on the board.
    let report = audit_until(&s, "shared key still reported", |r| {
        check(r, "shared_key")["non_compliant"] == 0
    });
    assert_eq!(
        devices_of(check(&report, "device_without_identity")),
        vec!["meter-0", "meter-2", "meter-3", "meter-4"]
    );
    let (code, findings) = http(&s.api, "GET", "/api/v1/findings?limit=1000");
    assert_eq!(code, 200);
    let shared: Vec<&Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "shared_key")
        .collect();
    assert_eq!(shared.len(), 2, "{findings:#}");
    assert!(
        shared.iter().all(|f| f["state"] == "cleared"),
        "{shared:#?}"
    );
    let spki = copied["spki_sha256"].as_str().unwrap();
    assert!(
        shared
            .iter()
            .all(|f| f["summary"].as_str().unwrap().contains(&spki[..16])),
        "{shared:#?}"
    );
    let (code, last) = http(&s.api, "GET", "/api/v1/identity/audit");
    assert_eq!(code, 200);
    assert_eq!(check(&last, "shared_key")["non_compliant"], 0);
}
