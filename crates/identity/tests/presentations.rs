//! The TLS accept loop records client certificates for the hygiene audit: a revoked one refused
//! by the CRL, with the client's address, and a valid one that completed its handshake. A
//! rustls client in the same process plays the device; no external tool is needed.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use rampart_core::{DeviceId, TenantId};
use rampart_identity::est::tls::{self, TlsConfigHandle, TlsSettings};
use rampart_identity::presence::{PresenceConfig, PresentationLog, Presented};
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, Issued, RevocationReason};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn device(auth: &Authority, name: &str) -> (Issued, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec();
    let issued = auth
        .issue(
            &TenantId::parse("acme").unwrap(),
            &DeviceId::parse(name).unwrap(),
            "device",
            &csr,
        )
        .unwrap();
    (issued, key)
}

/// Connects with a client certificate and asks for `/`; returns whatever came back (an error
/// or an empty answer when the server refused the certificate).
async fn connect(port: u16, root: CertificateDer<'static>, cert: &Issued, key: &KeyPair) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![cert.cert_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = match connector.connect(name, tcp).await {
        Ok(s) => s,
        Err(e) => return format!("handshake: {e}"),
    };
    let sent = stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    format!("{sent:?} {read:?} {}", String::from_utf8_lossy(&out))
}

/// Polls the log (up to 30 s) until `want` holds for the certificate with this serial.
async fn wait_for(
    log: &PresentationLog,
    cert: &Issued,
    want: impl Fn(&Presented) -> bool,
) -> Presented {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = log
            .snapshot()
            .into_iter()
            .find(|p| p.serial == cert.record.serial && want(p));
        if let Some(p) = found {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "not recorded: {:?}",
            log.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_accepted_client_certificates_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    Ca::init(dir.path(), &InitOptions::default()).unwrap();
    let auth = Authority::open(dir.path(), None, AuthorityConfig::default()).unwrap();
    let (good, good_key) = device(&auth, "meter-1");
    let (bad, bad_key) = device(&auth, "meter-2");
    auth.revoke_serial(&bad.record.serial, RevocationReason::KeyCompromise)
        .unwrap();
    let crls = auth.publish_crl().unwrap();
    let (server, server_key) = auth
        .issue_server("est", &["localhost".into()], time::Duration::days(1))
        .unwrap();
    let chain = format!("{}{}", server.cert_pem, auth.ca().current().cert_pem);
    let root = auth.ca().root_der().clone();
    let settings =
        TlsSettings::from_pem(&chain, &server_key, auth.ca().chain_der(), &crls).unwrap();
    let log = Arc::new(PresentationLog::new(PresenceConfig::default()));
    let handle = TlsConfigHandle::new(settings.server_config_recording(log.clone()).unwrap());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(tls::serve_recording(
        listener,
        handle,
        app,
        std::future::pending(),
        log.clone(),
    ));

    let answer = connect(port, root.clone(), &bad, &bad_key).await;
    assert!(
        !answer.contains("200 OK") && answer.contains("CertificateRevoked"),
        "a revoked certificate was served: {answer}"
    );
    let p = wait_for(&log, &bad, |p| p.refused_revoked >= 1).await;
    assert_eq!(p.last_addr, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(p.fingerprint, bad.record.fingerprint);

    let answer = connect(port, root, &good, &good_key).await;
    assert!(answer.contains("HTTP/1.1 200 OK"), "{answer}");
    let p = wait_for(&log, &good, |p| p.count >= 1).await;
    assert_eq!((p.refused_revoked, p.addresses.len()), (0, 1));
    assert_eq!(p.fingerprint, good.record.fingerprint);
}
