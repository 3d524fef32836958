//! Mutual TLS at a real Mosquitto broker with certificates from this authority: the device
//! connects and publishes, a certificate from another CA is refused, and after revocation, CRL
//! rewrite and SIGHUP the device is refused. Skips when the tools are missing, fails then when
//! RAMPART_REQUIRE_PEERS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use common::{free_port, ok, openssl_foreign_client, openssl_p256_csr, require_tools, run};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, RevocationReason};
use time::Duration;

struct Broker {
    child: Child,
    log: std::path::PathBuf,
}

impl Broker {
    fn start(dir: &Path, conf: &Path, port: u16) -> Self {
        let log = dir.join("mosquitto.log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let deadline = Instant::now() + StdDuration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(StdDuration::from_millis(50));
        }
        Self { child, log }
    }

    fn hup(&self) {
        ok(
            Path::new("/"),
            "kill",
            &["-HUP", &self.child.id().to_string()],
        );
        // Wait for the reload to be logged.
        let deadline = Instant::now() + StdDuration::from_secs(5);
        while !self.log_text().contains("Reloading config") {
            assert!(Instant::now() < deadline, "mosquitto did not reload");
            std::thread::sleep(StdDuration::from_millis(50));
        }
        std::thread::sleep(StdDuration::from_millis(300));
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            f.read_to_string(&mut s).ok();
        }
        s
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn publish(dir: &Path, port: u16, cert: &str, key: &str) -> std::process::Output {
    run(
        dir,
        "mosquitto_pub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--cafile",
            "chain.pem",
            "--cert",
            cert,
            "--key",
            key,
            "-t",
            "rampart/test",
            "-m",
            "hello",
            "-q",
            "1",
            "-d",
        ],
    )
}

#[test]
fn mosquitto_mutual_tls_with_crl_reload() {
    if !require_tools(
        "mosquitto_mutual_tls_with_crl_reload",
        &["openssl", "mosquitto", "mosquitto_pub"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    Ca::init(&ca_dir, &InitOptions::default()).unwrap();
    let auth = Authority::open(&ca_dir, None, AuthorityConfig::default()).unwrap();
    let w = tmp.path().join("work");
    std::fs::create_dir(&w).unwrap();
    std::fs::copy(ca_dir.join("chain.pem"), w.join("chain.pem")).unwrap();

    // Broker certificate from our CA; the file carries the issuing CA too.
    let (broker, broker_key) = auth
        .issue_server(
            "broker",
            &["localhost".into(), "127.0.0.1".into()],
            Duration::days(30),
        )
        .unwrap();
    std::fs::write(
        w.join("broker.pem"),
        format!("{}{}", broker.cert_pem, auth.ca().current().cert_pem),
    )
    .unwrap();
    std::fs::write(w.join("broker.key"), broker_key.as_bytes()).unwrap();
    auth.publish_crl().unwrap();

    // Device key and CSR by openssl; certificate from the authority.
    openssl_p256_csr(&w, "dev", "/CN=meter-7");
    let der = std::fs::read(w.join("dev.csr.der")).unwrap();
    let (acme, dev) = (
        TenantId::parse("acme").unwrap(),
        DeviceId::parse("meter-7").unwrap(),
    );
    let issued = auth.issue(&acme, &dev, "device", &der).unwrap();
    std::fs::write(w.join("dev.pem"), &issued.cert_pem).unwrap();
    openssl_foreign_client(&w, "rogue", "/CN=meter-7");

    let port = free_port();
    let conf = w.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "# Runs as the invoking user so it can read the CA directory.\n\
             user {user}\n\
             per_listener_settings true\n\
             persistence false\n\
             log_dest file {log}\n\
             log_type all\n\
             listener {port} 127.0.0.1\n\
             cafile {chain}\n\
             certfile {cert}\n\
             keyfile {key}\n\
             crlfile {crl}\n\
             require_certificate true\n\
             use_identity_as_username true\n\
             allow_anonymous false\n",
            user = std::env::var("USER").unwrap_or_else(|_| "root".into()),
            log = w.join("mosquitto.log").display(),
            chain = ca_dir.join("chain.pem").display(),
            cert = w.join("broker.pem").display(),
            key = w.join("broker.key").display(),
            crl = ca_dir.join("crl.pem").display(),
        ),
    )
    .unwrap();
    let b = Broker::start(&w, &conf, port);

    let o = publish(&w, port, "dev.pem", "dev.key");
    assert!(
        o.status.success(),
        "device refused: {:?}\n{}",
        o,
        b.log_text()
    );
    let log = b.log_text();
    assert!(
        log.contains("u'meter-7'"),
        "identity not used as username:\n{log}"
    );

    let o = publish(&w, port, "rogue.pem", "rogue.key");
    assert!(!o.status.success(), "foreign certificate accepted");

    // Revoke, rewrite the CRL, SIGHUP: the device is now refused.
    auth.revoke_device(&acme, &dev, RevocationReason::KeyCompromise)
        .unwrap();
    auth.publish_crl().unwrap();
    b.hup();
    let o = publish(&w, port, "dev.pem", "dev.key");
    assert!(
        !o.status.success(),
        "revoked device still connects:\n{}",
        b.log_text()
    );
    // Why it was refused: the broker logs only "certificate verify failed" and, under TLS 1.3,
    // whether the client prints the certificate_revoked alert or a bare protocol error depends on
    // timing. So the refusal must come after the reload, and openssl must find the certificate
    // revoked by the very CRL file the broker reads.
    // The broker writes its log after the client has already seen the refusal: wait for it.
    let refused_after_reload = |log: &str| {
        log.find("Reloading config")
            .is_some_and(|at| log[at..].contains("certificate verify failed"))
    };
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let mut log = b.log_text();
    while !refused_after_reload(&log) && Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(100));
        log = b.log_text();
    }
    assert!(
        refused_after_reload(&log),
        "refusal after reload not logged:\n{log}"
    );
    let crl = ca_dir.join("crl.pem");
    let chain = ca_dir.join("chain.pem");
    let v = run(
        &w,
        "openssl",
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            chain.to_str().unwrap(),
            "-CRLfile",
            crl.to_str().unwrap(),
            "dev.pem",
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        !v.status.success() && text.contains("certificate revoked"),
        "openssl does not see the revocation: {text}"
    );
}
