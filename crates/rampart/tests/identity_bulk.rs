//! Factory batches as JSON lines through `rampart ca bulk --csr-file`: keys and CSRs made by
//! openssl, the batch file built from them, the certificates in the result lines checked by
//! `openssl verify` against the CA chain. Skips with a message when openssl is missing, and
//! fails then when `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "identity/peers.rs"]
mod peers;
mod support;

use std::io::Write;
use std::process::Stdio;

use peers::*;
use serde_json::{Value, json};

#[test]
fn batch_file_of_openssl_csrs_in_result_lines_out() {
    let test = "batch_file_of_openssl_csrs_in_result_lines_out";
    if !require(test, &["openssl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    rampart_ok(w, &["ca", "init", "--data-dir", "data"]);

    // Four devices, two CSRs in PEM and two in base64 DER, and one line that is not a request.
    let mut batch = String::new();
    for i in 0..4 {
        let name = format!("meter-{i}");
        p256_csr(w, &name, &name);
        let csr = if i % 2 == 0 {
            ok(
                w,
                "openssl",
                &["req", "-inform", "DER", "-in", &format!("{name}.csr.der")],
            )
        } else {
            std::fs::read_to_string(w.join(format!("{name}.csr.b64"))).unwrap()
        };
        batch.push_str(&json!({ "device": name, "csr": csr }).to_string());
        batch.push('\n');
        if i == 1 {
            batch.push_str("{\"device\":\"meter-x\",\"csr\":\"bm90IGEgY3Ny\"}\n");
        }
    }
    std::fs::write(w.join("batch.jsonl"), &batch).unwrap();

    let bulk = |extra: &[&str]| {
        let mut args = vec![
            "ca",
            "bulk",
            "--data-dir",
            "data",
            "--tenant",
            "acme",
            "--csr-file",
            "batch.jsonl",
            "--out",
            "issued.jsonl",
        ];
        args.extend_from_slice(extra);
        rampart(w, &args)
    };
    let o = bulk(&[]);
    let said = text(&o);
    println!("{said}");
    // A refused line makes the exit status a failure; the others are issued.
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("issued 4 certificates"), "{said}");
    assert!(said.contains("certificates per CPU-second"), "{said}");
    assert!(said.contains("refused 1 of 5 request lines"), "{said}");
    assert_eq!(mode(&w.join("issued.jsonl")), 0o644);

    let out = std::fs::read_to_string(w.join("issued.jsonl")).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let devices: Vec<&str> = lines
        .iter()
        .map(|l| l["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices,
        ["meter-0", "meter-1", "meter-x", "meter-2", "meter-3"]
    );
    assert_eq!(lines[2]["line"], 3);
    assert!(lines[2]["error"].as_str().unwrap().contains("csr"), "{out}");
    for (l, i) in [0, 1, 3, 4].into_iter().zip(0..) {
        let cert = format!("meter-{i}.pem");
        std::fs::write(w.join(&cert), lines[l]["certificate"].as_str().unwrap()).unwrap();
        ok(
            w,
            "openssl",
            &["verify", "-CAfile", "data/ca/chain.pem", &cert],
        );
        // The certificate carries the key openssl made for that device.
        let cert_key = ok(w, "openssl", &["x509", "-in", &cert, "-noout", "-pubkey"]);
        let own_key = ok(
            w,
            "openssl",
            &["pkey", "-in", &format!("meter-{i}.key"), "-pubout"],
        );
        assert_eq!(cert_key, own_key);
        let serial = ok(w, "openssl", &["x509", "-in", &cert, "-noout", "-serial"]);
        let serial = serial.trim().trim_start_matches("serial=").to_lowercase();
        assert_eq!(
            lines[l]["serial"].as_str().unwrap().trim_start_matches('0'),
            serial.trim_start_matches('0')
        );
    }
    assert_eq!(issued_count(w, &["--data-dir", "data"]), 4);

    // The results are not overwritten unless asked to.
    let o = bulk(&[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(w.join("issued.jsonl")).unwrap(),
        out
    );
    let o = bulk(&["--force"]);
    assert!(text(&o).contains("issued 4 certificates"), "{}", text(&o));
    assert_eq!(issued_count(w, &["--data-dir", "data"]), 8);

    // Standard input to standard output: only result lines on stdout.
    let good: String =
        batch
            .lines()
            .filter(|l| !l.contains("meter-x"))
            .fold(String::new(), |mut s, l| {
                s.push_str(l);
                s.push('\n');
                s
            });
    let mut child = rampart_cmd(
        w,
        &[
            "ca",
            "bulk",
            "--data-dir",
            "data",
            "--tenant",
            "acme",
            "--csr-file",
            "-",
            "--out",
            "-",
        ],
        &[],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(good.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    for l in stdout.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(
            v["certificate"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
    }

    // Exactly one source.
    let o = rampart(
        w,
        &[
            "ca",
            "bulk",
            "--data-dir",
            "data",
            "--tenant",
            "acme",
            "--csr-file",
            "batch.jsonl",
            "--csr-dir",
            "csrs",
            "--out",
            "x",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot be used with"), "{}", text(&o));
}
