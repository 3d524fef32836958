//! Certificate revocation through the API of a real `rampart serve`: certificates issued by
//! `rampart ca bulk`, listed and revoked over HTTP with tenant tokens made by `rampart tokens
//! create`, and the revocation seen by `openssl verify -crl_check` with the CRL served at
//! `/crl.pem`; every revocation lands in the hash-chained audit log.
//!
//! Skips with a message when openssl or curl is missing, and fails then when
//! `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "identity/peers.rs"]
mod peers;
mod support;

use std::path::Path;

use peers::*;
use serde_json::{Value, json};

/// One API call with curl: (HTTP status, JSON body).
fn api(
    dir: &Path,
    serve: &Serve,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = format!("http://{}{path}", serve.api);
    let auth = format!("Authorization: Bearer {token}");
    let mut args = vec!["-sS", "-X", method, "-H", &auth, "-w", "\n%{http_code}"];
    let text;
    if let Some(b) = body {
        text = b.to_string();
        args.extend_from_slice(&[
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &text,
        ]);
    }
    args.push(&url);
    let out = ok(dir, "curl", &args);
    let (json, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(json).unwrap_or(Value::Null),
    )
}

fn serial_of(dir: &Path, cert: &str) -> String {
    ok(dir, "openssl", &["x509", "-in", cert, "-noout", "-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
}

#[test]
fn revocation_through_the_api_reaches_the_served_crl() {
    let test = "revocation_through_the_api_reaches_the_served_crl";
    if !require(test, &["openssl", "curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    std::fs::write(
        w.join("rampart.toml"),
        "version = 1\n[store]\ndata_dir = \"data\"\n[identity]\n",
    )
    .unwrap();
    let cfg = ["--config", "rampart.toml"];
    let with_cfg = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&cfg);
        rampart_ok(w, &a)
    };
    with_cfg(&["ca", "init"]);
    let bulk = with_cfg(&[
        "ca", "bulk", "--tenant", "acme", "--count", "3", "--prefix", "meter-", "--out", "out",
    ]);
    assert!(bulk.contains("issued 3 certificates"), "{bulk}");
    with_cfg(&["tenants", "create", "acme"]);
    with_cfg(&["tenants", "create", "globex"]);
    let token = |role: &str, tenant: &str| {
        with_cfg(&[
            "tokens",
            "create",
            "--name",
            "identity test",
            "--role",
            role,
            "--tenant",
            tenant,
        ])
        .trim()
        .to_owned()
    };
    let operator = token("operator", "acme");
    let viewer = token("viewer", "acme");
    let stranger = token("operator", "globex");

    let serve = Serve::start(w, false);
    serve.fetch(w, "/crl.pem", "crl-0.pem");
    for cert in ["out/meter-0.pem", "out/meter-1.pem", "out/meter-2.pem"] {
        let (valid, out) = verify_with_crl(w, cert, "crl-0.pem");
        assert!(valid, "{cert} does not verify before any revocation: {out}");
    }

    // The listing, with what openssl says about the same certificate.
    let (code, list) = api(
        w,
        &serve,
        &viewer,
        "GET",
        "/api/v1/devices/meter-1/certificates",
        None,
    );
    assert_eq!(code, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let serial1 = serial_of(w, "out/meter-1.pem");
    assert_eq!(items[0]["serial"], serial1.to_lowercase(), "{list}");
    assert_eq!(items[0]["revoked"], false);
    assert_eq!(items[0]["status"], "valid");
    let fingerprint = ok(
        w,
        "openssl",
        &[
            "x509",
            "-in",
            "out/meter-1.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    let fingerprint: String = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(items[0]["fingerprint_sha256"], fingerprint.as_str());

    // Another tenant neither lists nor revokes acme's device; a viewer cannot revoke.
    let (code, body) = api(
        w,
        &serve,
        &stranger,
        "GET",
        "/api/v1/devices/meter-1/certificates",
        None,
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = api(
        w,
        &serve,
        &stranger,
        "POST",
        "/api/v1/devices/meter-1/revoke",
        Some(&json!({})),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = api(
        w,
        &serve,
        &viewer,
        "POST",
        "/api/v1/devices/meter-1/revoke",
        Some(&json!({})),
    );
    assert_eq!(code, 403, "{body}");
    // Bad input: 422 naming each problem, nothing revoked (no broker is configured).
    let (code, body) = api(
        w,
        &serve,
        &operator,
        "POST",
        "/api/v1/devices/meter-1/revoke",
        Some(&json!({"reason": "stolen", "cut_sessions": true})),
    );
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["error"]["details"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    // Revoke the device: the served CRL carries it at once.
    let (code, body) = api(
        w,
        &serve,
        &operator,
        "POST",
        "/api/v1/devices/meter-1/revoke",
        Some(&json!({"reason": "key_compromise"})),
    );
    assert_eq!(code, 200, "{body}\n{}", serve.log.lock().unwrap());
    assert_eq!(body["revoked"], json!([serial1.to_lowercase()]), "{body}");
    assert_eq!(body["session_cut"]["status"], "not_requested", "{body}");
    let crl_number = body["crl_number"].as_u64().unwrap();
    assert!(crl_number >= 2, "{body}");
    serve.fetch(w, "/crl.pem", "crl-1.pem");
    let (valid, out) = verify_with_crl(w, "out/meter-1.pem", "crl-1.pem");
    assert!(
        !valid && out.contains("certificate revoked"),
        "openssl does not see the revocation: {out}"
    );
    let (valid, out) = verify_with_crl(w, "out/meter-2.pem", "crl-1.pem");
    assert!(valid, "an unrevoked certificate fails: {out}");
    let crl_text = ok(
        w,
        "openssl",
        &["crl", "-in", "crl-1.pem", "-noout", "-text"],
    );
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");
    let (_, list) = api(
        w,
        &serve,
        &viewer,
        "GET",
        "/api/v1/devices/meter-1/certificates",
        None,
    );
    assert_eq!(list["items"][0]["revoked"], true, "{list}");
    assert_eq!(list["items"][0]["status"], "revoked", "{list}");
    assert_eq!(
        list["items"][0]["revocation_reason"], "key_compromise",
        "{list}"
    );

    // One certificate by the serial openssl prints (upper case), with an empty body.
    let serial2 = serial_of(w, "out/meter-2.pem");
    let (code, body) = api(
        w,
        &serve,
        &operator,
        "POST",
        &format!("/api/v1/certificates/{serial2}/revoke"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["device"], "meter-2", "{body}");
    assert_eq!(body["reason"], "unspecified", "{body}");
    assert!(body["crl_number"].as_u64().unwrap() > crl_number, "{body}");
    serve.fetch(w, "/crl.pem", "crl-2.pem");
    let (valid, out) = verify_with_crl(w, "out/meter-2.pem", "crl-2.pem");
    assert!(!valid && out.contains("certificate revoked"), "{out}");
    let (valid, out) = verify_with_crl(w, "out/meter-0.pem", "crl-2.pem");
    assert!(valid, "{out}");

    // Both revocations are in the audit log, whose chain verifies.
    drop(serve);
    let log = std::fs::read_to_string(w.join("data/audit.log")).unwrap();
    let records: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["record"].clone())
        .filter(|r| r["event"] == "certificate.revoked")
        .collect();
    assert_eq!(records.len(), 2, "{log}");
    assert_eq!(records[0]["device"], "meter-1");
    assert_eq!(records[0]["reason"], "key_compromise");
    assert_eq!(records[1]["serials"], json!([serial2.to_lowercase()]));
    assert!(
        !log.contains(&operator),
        "a token secret reached the audit log"
    );
    let verified = with_cfg(&["audit", "verify"]);
    assert!(verified.contains(": ok"), "{verified}");
}
