//! The device identity authority as operators and devices meet it: `rampart ca` on the command
//! line, `rampart serve` with EST over HTTPS, enrolment with openssl and curl, the CRL fetched
//! from the API listener and checked by openssl, and a real Mosquitto (mutual TLS, `crlfile`,
//! dynamic security) whose open session `rampart ca revoke --cut-sessions` closes.
//!
//! Tests skip with a message when openssl, curl or mosquitto (with its clients and dynamic
//! security plugin) are missing, and fail then when `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "identity/peers.rs"]
mod peers;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use peers::*;

#[test]
fn enrol_over_est_then_revocation_cuts_the_live_broker_session() {
    let test = "enrol_over_est_then_revocation_cuts_the_live_broker_session";
    if !require(
        test,
        &[
            "openssl",
            "curl",
            "mosquitto",
            "mosquitto_sub",
            "mosquitto_pub",
            "mosquitto_ctrl",
        ],
    ) {
        return;
    }
    let Some(plugin) = dynsec_plugin() else {
        skip(
            test,
            "the mosquitto dynamic security plugin is not installed",
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();

    // Operator: CA, a token for the device, the broker's server certificate.
    rampart_ok(w, &["ca", "init", "--data-dir", "data"]);
    for key in ["data/ca/root.key.pem", "data/ca/issuing/issuing-1.key.pem"] {
        assert_eq!(mode(&w.join(key)), 0o600, "{key}");
    }
    let token = rampart_ok(
        w,
        &[
            "ca",
            "issue-token",
            "--data-dir",
            "data",
            "--tenant",
            "acme",
            "--device",
            "meter-7",
            "--ttl",
            "1h",
        ],
    );
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    rampart_ok(
        w,
        &[
            "ca",
            "issue-server",
            "--data-dir",
            "data",
            "--name",
            "broker",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
            "--cert-out",
            "broker.pem",
            "--key-out",
            "broker.key",
        ],
    );
    assert_eq!(mode(&w.join("broker.key")), 0o600);

    let (admin_port, tls_port, est_port) = (free_port(), free_port(), free_port());
    let broker = start_mosquitto(w, &plugin, admin_port, tls_port);
    std::fs::write(w.join("admin.pw"), format!("{ADMIN_PW}\n")).unwrap();
    set_mode(&w.join("admin.pw"), 0o600);
    std::fs::write(
        w.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n[identity]\n\
             est_listen = \"127.0.0.1:{est_port}\"\n\
             crl_reload_command = [\"kill\", \"-HUP\", \"{pid}\"]\n\
             [identity.broker]\nhost = \"127.0.0.1\"\nport = {admin_port}\n\
             username = \"admin\"\npassword_file = \"admin.pw\"\n",
            pid = broker.child.id()
        ),
    )
    .unwrap();
    let serve = Serve::start(w, true);

    // Device: key and CSR with openssl, enrolment with curl over HTTPS.
    p256_csr(w, "dev", "meter-7");
    let (code, body) = enroll(w, est_port, &token, "dev");
    assert_eq!(code, 200, "{body}\n{}", serve.log.lock().unwrap());
    unwrap_p7(w, "dev");
    let subject = ok(
        w,
        "openssl",
        &["x509", "-in", "dev.pem", "-noout", "-subject"],
    );
    assert!(
        subject.contains("meter-7") && subject.contains("acme"),
        "{subject}"
    );
    serve.fetch(w, "/crl.pem", "crl-before.pem");
    let (valid, out) = verify_with_crl(w, "dev.pem", "crl-before.pem");
    assert!(valid, "fresh certificate does not verify: {out}");

    // The device's dynamic-security client (its user name is its CN) with a role.
    dynsec(w, admin_port, &["createRole", "device"]);
    dynsec(
        w,
        admin_port,
        &[
            "addRoleACL",
            "device",
            "publishClientSend",
            "meter/#",
            "allow",
        ],
    );
    dynsec(
        w,
        admin_port,
        &[
            "addRoleACL",
            "device",
            "subscribePattern",
            "meter/#",
            "allow",
        ],
    );
    dynsec(
        w,
        admin_port,
        &["createClient", "meter-7", "-p", "unused-pw-7"],
    );
    dynsec(w, admin_port, &["addClientRole", "meter-7", "device"]);

    // A live session: mosquitto_sub with the enrolled certificate.
    let port = tls_port.to_string();
    let mut sub_args = mqtt_tls_args(&port);
    sub_args.extend_from_slice(&["-t", "meter/#", "-i", "meter-7-sub", "-v"]);
    let mut sub = Command::new("mosquitto_sub")
        .current_dir(w)
        .args(&sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _sent = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while !broker.log_text().contains("as meter-7-sub") {
        assert!(
            Instant::now() < deadline,
            "mosquitto_sub did not connect:\n{}",
            broker.log_text()
        );
        assert!(sub.try_wait().unwrap().is_none(), "mosquitto_sub exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        broker.log_text().contains("u'meter-7'"),
        "certificate CN not used as user name:\n{}",
        broker.log_text()
    );
    // Subscribed and authorised: a message published with the same certificate arrives.
    let mut pub_args = mqtt_tls_args(&port);
    pub_args.extend_from_slice(&["-t", "meter/7", "-m", "hello", "-q", "1"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        ok(w, "mosquitto_pub", &pub_args);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            assert_eq!(line, "meter/7 hello");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message reached the subscriber"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sub.try_wait().unwrap().is_none(),
        "mosquitto_sub exited early"
    );

    // Revocation with --cut-sessions: the open session is closed now.
    let session = established_to(tls_port);
    assert_eq!(session.len(), 1, "expected one live session: {session:?}");
    let watched = session[0];
    let (closed_tx, closed_rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        while started.elapsed() < Duration::from_secs(30) {
            if !established_to(tls_port).contains(&watched) {
                let _sent = closed_tx.send(started.elapsed());
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let revoke = rampart(
        w,
        &[
            "ca",
            "revoke",
            "--config",
            "rampart.toml",
            "--tenant",
            "acme",
            "--device",
            "meter-7",
            "--reason",
            "key_compromise",
            "--cut-sessions",
        ],
    );
    let returned = started.elapsed();
    assert!(revoke.status.success(), "revoke failed:\n{}", text(&revoke));
    let report = text(&revoke);
    assert!(report.contains("crl reload command: ok"), "{report}");
    assert!(report.contains("client meter-7 disabled"), "{report}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sub.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            sub.kill().ok();
            panic!(
                "mosquitto_sub still connected 30 s after the revocation:\n{}",
                broker.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let exited = started.elapsed();
    let closed = closed_rx
        .recv_timeout(Duration::from_secs(1))
        .expect("the session's TCP connection was never seen closing");
    println!(
        "session cut: the broker closed the device's connection {} ms after `rampart ca revoke \
         --cut-sessions` started (the command returned after {} ms); mosquitto_sub exited \
         ({status}) after {} ms, once its automatic reconnect was refused at the TLS handshake",
        closed.as_millis(),
        returned.as_millis(),
        exited.as_millis()
    );
    assert!(
        closed < Duration::from_secs(10) && exited < Duration::from_secs(10),
        "session cut took {closed:?}, exit {exited:?}:\n{}",
        broker.log_text()
    );
    assert!(
        broker
            .log_text()
            .contains("meter-7-sub been disconnected by administrative action"),
        "{}",
        broker.log_text()
    );

    // A new connection with the same certificate is refused.
    let o = run(w, "mosquitto_pub", &pub_args);
    assert!(
        !o.status.success(),
        "revoked certificate still publishes:\n{}",
        text(&o)
    );

    // Relying parties see it in the CRL served by the API listener.
    serve.fetch(w, "/crl.pem", "crl-after.pem");
    let (valid, out) = verify_with_crl(w, "dev.pem", "crl-after.pem");
    assert!(
        !valid && out.contains("certificate revoked"),
        "openssl does not see the revocation: {out}"
    );
    serve.fetch(w, "/crl.der", "crl-after.der");
    let crl_text = ok(
        w,
        "openssl",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl-after.der",
            "-noout",
            "-text",
        ],
    );
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");
}

#[test]
fn reused_token_and_forbidden_key_type_issue_nothing() {
    let test = "reused_token_and_forbidden_key_type_issue_nothing";
    if !require(test, &["openssl", "curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    rampart_ok(w, &["ca", "init", "--data-dir", "data"]);
    let est_port = free_port();
    std::fs::write(
        w.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n[identity]\n\
             est_listen = \"127.0.0.1:{est_port}\"\n"
        ),
    )
    .unwrap();
    let token_for = |device: &str| {
        rampart_ok(
            w,
            &[
                "ca",
                "issue-token",
                "--config",
                "rampart.toml",
                "--tenant",
                "acme",
                "--device",
                device,
            ],
        )
        .trim()
        .to_owned()
    };
    let t1 = token_for("dev-a");
    let serve = Serve::start(w, true);
    let cfg = ["--config", "rampart.toml"];

    p256_csr(w, "a", "dev-a");
    let (code, body) = enroll(w, est_port, &t1, "a");
    assert_eq!(code, 200, "{body}");
    let issued = issued_count(w, &cfg);

    // The same token again, with another key: refused, nothing issued.
    p256_csr(w, "a2", "dev-a");
    let (code, body) = enroll(w, est_port, &t1, "a2");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("authentication required"), "{body}");
    assert_eq!(issued_count(w, &cfg), issued);

    // A token issued while serve runs is usable at once; an RSA CSR is refused by the profile
    // without using the token up.
    let t2 = token_for("dev-b");
    csr(w, "rsa", "dev-b", &["-newkey", "rsa:2048"]);
    let (code, body) = enroll(w, est_port, &t2, "rsa");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("not allowed by profile device"),
        "unclear refusal: {body}"
    );
    assert_eq!(issued_count(w, &cfg), issued);
    p256_csr(w, "b", "dev-b");
    let (code, body) = enroll(w, est_port, &t2, "b");
    assert_eq!(code, 200, "{body}\n{}", serve.log.lock().unwrap());
    assert_eq!(issued_count(w, &cfg), issued + 1);

    // The command line refuses the RSA CSR the same way.
    let o = rampart(
        w,
        &[
            "ca",
            "sign",
            "--config",
            "rampart.toml",
            "--tenant",
            "acme",
            "--device",
            "dev-b",
            "--csr",
            "rsa.csr.der",
            "--out",
            "rsa.pem",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not allowed by profile device"),
        "{}",
        text(&o)
    );
    assert!(!w.join("rsa.pem").exists());
    assert_eq!(issued_count(w, &cfg), issued + 1);
}

#[test]
fn offline_root_passphrase_bulk_sign_revoke_rotate() {
    let test = "offline_root_passphrase_bulk_sign_revoke_rotate";
    if !require(test, &["openssl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    let pass = [("CA_PASS", "correct horse battery staple")];
    let ca = |args: &[&str]| {
        let mut a = vec!["ca"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--data-dir", "data", "--passphrase-env", "CA_PASS"]);
        let o = rampart_cmd(w, &a, &pass).output().unwrap();
        assert!(o.status.success(), "rampart {a:?} failed:\n{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ca(&[
        "init",
        "--offline-root-dir",
        "offline",
        "--algorithm",
        "p256",
    ]);
    assert!(!w.join("data/ca/root.key.pem").exists());
    assert_eq!(mode(&w.join("offline/root.key.pem")), 0o600);

    // Encrypted keys: without the passphrase the CA does not open, and says why.
    let o = rampart(w, &["ca", "show", "--data-dir", "data"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("passphrase"), "{}", text(&o));
    let shown = ca(&["show"]);
    assert!(
        shown.contains("offline") && shown.contains("encrypted"),
        "{shown}"
    );
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");

    // Bulk with keys generated here.
    let bulk = ca(&[
        "bulk", "--tenant", "acme", "--count", "40", "--prefix", "meter-", "--out", "out",
    ]);
    println!("{bulk}");
    assert!(bulk.contains("issued 40 certificates"), "{bulk}");
    assert!(bulk.contains("certificates per CPU-second"), "{bulk}");
    assert_eq!(mode(&w.join("out/meter-07.key.pem")), 0o600);
    ok(
        w,
        "openssl",
        &["verify", "-CAfile", "data/ca/chain.pem", "out/meter-39.pem"],
    );

    // Bulk from a directory of CSRs, and one CSR signed alone.
    std::fs::create_dir(w.join("csrs")).unwrap();
    for i in 0..3 {
        p256_csr(w, &format!("csrs/gw-{i}"), &format!("gw-{i}"));
        std::fs::rename(
            w.join(format!("csrs/gw-{i}.csr.der")),
            w.join(format!("csrs/gw-{i}.csr")),
        )
        .unwrap();
    }
    let bulk = ca(&[
        "bulk",
        "--tenant",
        "acme",
        "--csr-dir",
        "csrs",
        "--out",
        "gw-out",
    ]);
    assert!(bulk.contains("issued 3 certificates"), "{bulk}");
    p256_csr(w, "one", "x");
    ca(&[
        "sign",
        "--tenant",
        "acme",
        "--device",
        "one-1",
        "--csr",
        "one.csr.b64",
        "--out",
        "one.pem",
    ]);
    let subject = ok(
        w,
        "openssl",
        &["x509", "-in", "one.pem", "-noout", "-subject"],
    );
    assert!(subject.contains("one-1"), "{subject}");

    // Revoke by serial: the CRL names it.
    let serial = ok(
        w,
        "openssl",
        &["x509", "-in", "out/meter-07.pem", "-noout", "-serial"],
    );
    let serial = serial.trim().trim_start_matches("serial=").to_owned();
    let out = ca(&["revoke", "--serial", &serial, "--reason", "superseded"]);
    assert!(out.contains("CRL 2 published"), "{out}");
    let (valid, text_out) = verify_with_crl(w, "out/meter-07.pem", "data/ca/crl.pem");
    assert!(
        !valid && text_out.contains("certificate revoked"),
        "{text_out}"
    );
    let (valid, text_out) = verify_with_crl(w, "out/meter-08.pem", "data/ca/crl.pem");
    assert!(valid, "{text_out}");

    // Rotation with the offline root: old certificates keep verifying during the overlap.
    ca(&[
        "rotate",
        "--overlap-days",
        "30",
        "--offline-root-dir",
        "offline",
    ]);
    let shown = ca(&["show"]);
    assert!(
        shown.contains("issuing-2") && shown.contains("issuing-1"),
        "{shown}"
    );
    let (valid, text_out) = verify_with_crl(w, "out/meter-08.pem", "data/ca/crl.pem");
    assert!(valid, "old certificate after rotation: {text_out}");
    let out = ca(&["crl"]);
    assert!(out.contains("CRL 4 published"), "{out}");
}

#[test]
fn manufacturer_certificate_enrols_without_a_token() {
    let test = "manufacturer_certificate_enrols_without_a_token";
    if !require(test, &["openssl", "curl"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    rampart_ok(w, &["ca", "init", "--data-dir", "data"]);
    openssl_ca_and_client(w, "mfr", "SN-0042");
    openssl_ca_and_client(w, "stranger", "SN-0043");
    let est_port = free_port();
    std::fs::write(
        w.join("rampart.toml"),
        format!(
            "version = 1\n[store]\ndata_dir = \"data\"\n[identity]\n\
             est_listen = \"127.0.0.1:{est_port}\"\n\
             [[identity.manufacturers]]\nca_file = \"mfr-ca.pem\"\ntenant = \"acme\"\n"
        ),
    )
    .unwrap();
    let serve = Serve::start(w, true);

    // The IDevID's CN becomes the device id, the configured tenant its O.
    p256_csr(w, "dev", "ignored");
    let (code, body) = enroll_with_cert(w, est_port, "mfr.pem", "dev");
    assert_eq!(code, 200, "{body}\n{}", serve.log.lock().unwrap());
    unwrap_p7(w, "dev");
    let subject = ok(
        w,
        "openssl",
        &["x509", "-in", "dev.pem", "-noout", "-subject"],
    );
    assert!(
        subject.contains("SN-0042") && subject.contains("acme"),
        "{subject}"
    );

    // A certificate from any other CA is refused at the TLS layer or by EST, and no token
    // at all is a 401.
    p256_csr(w, "other", "ignored");
    let o = run(
        w,
        "curl",
        &[
            "-sS",
            "--cacert",
            "data/ca/root.pem",
            "--cert",
            "stranger.pem",
            "--key",
            "stranger.key",
            "--data-binary",
            "@other.csr.b64",
            "-H",
            "Content-Type: application/pkcs10",
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &format!("https://127.0.0.1:{est_port}/.well-known/est/simpleenroll"),
        ],
    );
    let out = text(&o);
    assert!(
        !o.status.success() || out.starts_with("403"),
        "stranger's certificate accepted: {out}"
    );
    let (code, _) = enroll(w, est_port, "", "other");
    assert_eq!(code, 401);
}
