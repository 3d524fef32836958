//! EST over HTTPS against real peers: openssl makes the device keys and CSRs, curl speaks EST,
//! openssl verifies the results (chain, CRL). Skips when the tools are missing, fails then when
//! RAMPART_REQUIRE_PEERS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{
    free_port, ok, openssl_csr, openssl_foreign_client, openssl_p256_csr, require_tools, run,
};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::est::tls::{TlsConfigHandle, TlsSettings};
use rampart_identity::est::{self, Est, ManufacturerTrust};
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, RevocationReason};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::Duration;

struct Server {
    port: u16,
    tls: TlsConfigHandle,
    manufacturer_roots: Vec<CertificateDer<'static>>,
    cert_chain: String,
    key: String,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(auth: &Arc<Authority>, manufacturers: Vec<ManufacturerTrust>) -> Self {
        let (issued, key) = auth
            .issue_server(
                "est",
                &["localhost".into(), "127.0.0.1".into()],
                Duration::days(30),
            )
            .unwrap();
        let cert_chain = format!("{}{}", issued.cert_pem, auth.ca().current().cert_pem);
        let crls = auth.publish_crl().unwrap();
        let est = Arc::new(Est::new(auth.clone(), manufacturers));
        let manufacturer_roots = est.manufacturer_roots();
        let settings = TlsSettings::from_pem(
            &cert_chain,
            &key,
            client_roots(auth, &manufacturer_roots),
            &crls,
        )
        .unwrap();
        let tls = TlsConfigHandle::new(settings.server_config().unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let port = free_port();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        rt.spawn(est::tls::serve(
            listener,
            tls.clone(),
            est::router(est),
            std::future::pending(),
        ));
        Self {
            port,
            tls,
            manufacturer_roots,
            cert_chain,
            key: key.to_string(),
            _rt: rt,
        }
    }

    fn url(&self, op: &str) -> String {
        format!("https://127.0.0.1:{}/.well-known/est/{op}", self.port)
    }

    /// Publishes a CRL and swaps the TLS configuration so new handshakes check it.
    fn reload(&self, auth: &Authority) {
        let crls = auth.publish_crl().unwrap();
        let settings = TlsSettings::from_pem(
            &self.cert_chain,
            &self.key,
            client_roots(auth, &self.manufacturer_roots),
            &crls,
        )
        .unwrap();
        self.tls.replace(settings.server_config().unwrap());
    }
}

fn client_roots(
    auth: &Authority,
    extra: &[CertificateDer<'static>],
) -> Vec<CertificateDer<'static>> {
    let mut v = auth.ca().chain_der();
    v.extend_from_slice(extra);
    v
}

/// curl POST of a base64 CSR; returns (HTTP status or 0 on transport failure, response file).
fn curl_post(dir: &Path, url: &str, csr_b64: &str, out: &str, extra: &[&str]) -> u16 {
    let data = format!("@{csr_b64}");
    let mut args = vec![
        "-sS",
        "--cacert",
        "root.pem",
        "-H",
        "Content-Type: application/pkcs10",
        "--data-binary",
        &data,
        "-o",
        out,
        "-w",
        "%{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let o = run(dir, "curl", &args);
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Turns an EST base64 PKCS#7 response into PEM certificates with openssl.
fn p7_to_pem(dir: &Path, b64: &str, pem: &str) -> String {
    ok(
        dir,
        "openssl",
        &["base64", "-d", "-in", b64, "-out", "p7.der"],
    );
    ok(
        dir,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "p7.der",
            "-print_certs",
            "-out",
            pem,
        ],
    );
    std::fs::read_to_string(dir.join(pem)).unwrap()
}

fn verify(dir: &Path, cert: &str, crl: bool) -> std::process::Output {
    let mut args = vec!["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem"];
    if crl {
        args.extend_from_slice(&["-crl_check", "-CRLfile", "crl.pem"]);
    }
    args.push(cert);
    run(dir, "openssl", &args)
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, Arc<Authority>) {
    let tmp = tempfile::tempdir().unwrap();
    let ca_dir = tmp.path().join("ca");
    Ca::init(&ca_dir, &InitOptions::default()).unwrap();
    let auth = Arc::new(Authority::open(&ca_dir, None, AuthorityConfig::default()).unwrap());
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::copy(ca_dir.join("root.pem"), work.join("root.pem")).unwrap();
    std::fs::write(work.join("issuing.pem"), &auth.ca().current().cert_pem).unwrap();
    (tmp, work, auth)
}

#[test]
fn est_enrol_reenrol_revoke_with_openssl_and_curl() {
    if !require_tools(
        "est_enrol_reenrol_revoke_with_openssl_and_curl",
        &["openssl", "curl"],
    ) {
        return;
    }
    let (tmp, w, auth) = setup();
    let ca_dir = tmp.path().join("ca");
    let srv = Server::start(&auth, Vec::new());
    let (acme, dev) = (
        TenantId::parse("acme").unwrap(),
        DeviceId::parse("dev-1").unwrap(),
    );

    // cacerts: the chain as certs-only PKCS#7.
    let o = run(
        &w,
        "curl",
        &[
            "-sS",
            "--cacert",
            "root.pem",
            "-o",
            "cacerts.b64",
            "-D",
            "h.txt",
            &srv.url("cacerts"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let headers = std::fs::read_to_string(w.join("h.txt"))
        .unwrap()
        .to_lowercase();
    assert!(
        headers.contains("content-type: application/pkcs7-mime"),
        "{headers}"
    );
    assert!(
        headers.contains("content-transfer-encoding: base64"),
        "{headers}"
    );
    let chain = p7_to_pem(&w, "cacerts.b64", "cacerts.pem");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);

    // csrattrs.
    let o = run(
        &w,
        "curl",
        &[
            "-sS",
            "--cacert",
            "root.pem",
            "-o",
            "attrs.b64",
            "-w",
            "%{http_code}",
            &srv.url("csrattrs"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "200");
    ok(
        &w,
        "openssl",
        &["base64", "-d", "-in", "attrs.b64", "-out", "attrs.der"],
    );
    let parsed = ok(
        &w,
        "openssl",
        &["asn1parse", "-inform", "DER", "-in", "attrs.der"],
    );
    assert!(
        parsed.contains("ecdsa-with-SHA256") && parsed.contains("prime256v1"),
        "{parsed}"
    );

    // simpleenroll with a one-time token as the Basic password.
    let token = auth
        .tokens()
        .create("acme", "dev-1", "device", Duration::hours(1))
        .unwrap();
    let user = format!("x:{}", token.expose());
    openssl_p256_csr(&w, "dev", "/CN=whatever");
    // No credentials: 401.
    assert_eq!(
        curl_post(&w, &srv.url("simpleenroll"), "dev.csr.b64", "r0.b64", &[]),
        401
    );
    // A CSR that fails verification does not burn the token.
    std::fs::write(
        w.join("bad.b64"),
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
    )
    .unwrap();
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simpleenroll"),
            "bad.b64",
            "r1.b64",
            &["--user", &user]
        ),
        400
    );
    let status = curl_post(
        &w,
        &srv.url("simpleenroll"),
        "dev.csr.b64",
        "r2.b64",
        &["--user", &user],
    );
    assert_eq!(
        status,
        200,
        "{}",
        std::fs::read_to_string(w.join("r2.b64")).unwrap_or_default()
    );
    let pem = p7_to_pem(&w, "r2.b64", "dev.pem");
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 1);
    let v = verify(&w, "dev.pem", false);
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("dev.pem: OK"),
        "{v:?}"
    );
    let text = ok(
        &w,
        "openssl",
        &[
            "x509",
            "-in",
            "dev.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(text.contains("CN = dev-1"), "{text}");
    assert!(text.contains("URI:urn:rampart:device:acme/dev-1"), "{text}");
    // The key in the certificate is the device's own.
    let a = ok(
        &w,
        "openssl",
        &["x509", "-in", "dev.pem", "-noout", "-pubkey"],
    );
    let b = ok(&w, "openssl", &["pkey", "-in", "dev.key", "-pubout"]);
    assert_eq!(a, b);
    // The token is single use.
    openssl_p256_csr(&w, "dev-again", "/CN=dev-1");
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simpleenroll"),
            "dev-again.csr.b64",
            "r3.b64",
            &["--user", &user]
        ),
        401
    );

    // Bearer token, and a key type the profile refuses (RSA): 403.
    let t2 = auth
        .tokens()
        .create("acme", "dev-2", "device", Duration::hours(1))
        .unwrap();
    let bearer = format!("Authorization: Bearer {}", t2.expose());
    openssl_csr(&w, "rsa", "/CN=dev-2", &["-newkey", "rsa:2048"]);
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simpleenroll"),
            "rsa.csr.b64",
            "r4.b64",
            &["-H", &bearer]
        ),
        403
    );
    openssl_p256_csr(&w, "dev2", "/CN=dev-2");
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simpleenroll"),
            "dev2.csr.b64",
            "r5.b64",
            &["-H", &bearer]
        ),
        200
    );

    // simplereenroll with the current certificate as TLS client certificate.
    let auth_dev = ["--cert", "dev.pem", "--key", "dev.key"];
    openssl_p256_csr(&w, "renew", "/CN=dev-1");
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simplereenroll"),
            "renew.csr.b64",
            "r6.b64",
            &auth_dev
        ),
        200
    );
    p7_to_pem(&w, "r6.b64", "renewed.pem");
    assert!(String::from_utf8_lossy(&verify(&w, "renewed.pem", false).stdout).contains("OK"));
    // Another subject in the CSR: refused. No client certificate: 401.
    openssl_p256_csr(&w, "other", "/CN=dev-9");
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simplereenroll"),
            "other.csr.b64",
            "r7.b64",
            &auth_dev
        ),
        400
    );
    assert_eq!(
        curl_post(
            &w,
            &srv.url("simplereenroll"),
            "renew.csr.b64",
            "r8.b64",
            &[]
        ),
        401
    );

    // Revoke the device (both certificates), publish the CRL: openssl sees it revoked.
    let revoked = auth
        .revoke_device(&acme, &dev, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(revoked.len(), 2);
    srv.reload(&auth);
    std::fs::copy(ca_dir.join("crl.pem"), w.join("crl.pem")).unwrap();
    let v = verify(&w, "dev.pem", true);
    assert!(!v.status.success());
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(out.contains("certificate revoked"), "{out}");
    let v = verify(&w, "renewed.pem", true);
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("certificate revoked")
            || String::from_utf8_lossy(&v.stderr).contains("certificate revoked")
    );
    // dev-2 is untouched.
    p7_to_pem(&w, "r5.b64", "dev2.pem");
    assert!(verify(&w, "dev2.pem", true).status.success());
    // Re-enrolment with the revoked certificate is refused (TLS layer or handler).
    openssl_p256_csr(&w, "renew2", "/CN=dev-1");
    let s = curl_post(
        &w,
        &srv.url("simplereenroll"),
        "renew2.csr.b64",
        "r9.b64",
        &auth_dev,
    );
    assert_ne!(s, 200);
    assert_eq!(auth.index().by_subject("acme", "dev-1").len(), 2);
}

#[test]
fn manufacturer_certificate_bootstraps_enrolment() {
    if !require_tools(
        "manufacturer_certificate_bootstraps_enrolment",
        &["openssl", "curl"],
    ) {
        return;
    }
    let (_tmp, w, auth) = setup();
    openssl_foreign_client(&w, "idevid", "/O=Maker/serialNumber=SN-0042/CN=sensor");
    openssl_foreign_client(&w, "rogue", "/CN=rogue-1");
    let mfg_root = CertificateDer::from_pem_file(w.join("idevid-ca.pem")).unwrap();
    let trust = ManufacturerTrust::new(
        "maker",
        vec![mfg_root],
        TenantId::parse("acme").unwrap(),
        "device",
    )
    .unwrap();
    let srv = Server::start(&auth, vec![trust]);
    openssl_p256_csr(&w, "op", "/CN=SN-0042");
    let s = curl_post(
        &w,
        &srv.url("simpleenroll"),
        "op.csr.b64",
        "r.b64",
        &["--cert", "idevid.pem", "--key", "idevid.key"],
    );
    assert_eq!(s, 200);
    p7_to_pem(&w, "r.b64", "op.pem");
    let subj = ok(
        &w,
        "openssl",
        &["x509", "-in", "op.pem", "-noout", "-subject"],
    );
    assert!(subj.contains("CN = SN-0042"), "{subj}");
    // A client certificate from an unknown CA is refused at the handshake or by the handler.
    openssl_p256_csr(&w, "rg", "/CN=rogue-1");
    let s = curl_post(
        &w,
        &srv.url("simpleenroll"),
        "rg.csr.b64",
        "r2.b64",
        &["--cert", "rogue.pem", "--key", "rogue.key"],
    );
    assert_ne!(s, 200);
    assert_eq!(auth.index().by_subject("acme", "rogue-1").len(), 0);
}

#[test]
fn openssl_reads_our_encrypted_keys_and_we_read_its() {
    if !require_tools(
        "openssl_reads_our_encrypted_keys_and_we_read_its",
        &["openssl"],
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = rampart_identity::KeyAlgorithm::EcdsaP256
        .generate()
        .unwrap();
    let path = tmp.path().join("ours.pem");
    let prot = rampart_identity::KeyProtection {
        passphrase: Some(rampart_identity::Passphrase::new("s3cret pass")),
        kdf_iterations: 10_000,
    };
    rampart_identity::keys::write_key(&path, &key, &prot).unwrap();
    ok(
        tmp.path(),
        "openssl",
        &[
            "pkey",
            "-in",
            "ours.pem",
            "-passin",
            "pass:s3cret pass",
            "-noout",
        ],
    );
    assert!(
        !run(
            tmp.path(),
            "openssl",
            &["pkey", "-in", "ours.pem", "-passin", "pass:wrong", "-noout"]
        )
        .status
        .success()
    );
    ok(
        tmp.path(),
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes-256-cbc",
            "-pass",
            "pass:theirs",
            "-out",
            "theirs.pem",
        ],
    );
    let k = rampart_identity::keys::load_key(
        &tmp.path().join("theirs.pem"),
        Some(&rampart_identity::Passphrase::new("theirs")),
    )
    .unwrap();
    assert_eq!(k.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
}
