//! CRL generation at fleet scale: an index with N revoked certificates (default 1,000,000),
//! `Authority::publish_crl` signs and writes the CRL (P-256, DER and PEM, atomically); as the
//! peer, `openssl ca -gencrl` over the same revocations in its text database with the same
//! issuing key and certificate. Also the time `openssl crl` takes to parse ours.
//!
//! `cargo run --release -p rampart-identity --example crl_scale -- [revoked] [rounds]`

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rampart_identity::index::Revocation;
use rampart_identity::{
    Authority, AuthorityConfig, Ca, CertRecord, InitOptions, RevocationReason, Serial,
};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ossl_time(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).expect("time");
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        d.year() % 100,
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

fn timed(c: &mut Command) -> f64 {
    let t = Instant::now();
    let o = c.output().expect("run openssl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    t.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ca");
    Ca::init(&dir, &InitOptions::default()).expect("ca init");
    let auth = Authority::open(&dir, None, AuthorityConfig::default()).expect("authority");
    let (issuer, cert_pem) = {
        let ca = auth.ca();
        (ca.current().id.clone(), ca.current().cert_pem.clone())
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let not_after = now + 365 * 86_400;
    let mut ossl_index = String::with_capacity(n * 64);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(100_000);
    for i in 0..n {
        let mut bytes = [0u8; 16];
        bytes[0] = 0x40;
        bytes[8..].copy_from_slice(&(i as u64).to_be_bytes());
        let serial = Serial::from_bytes(&bytes);
        let _written = writeln!(
            ossl_index,
            "R\t{}\t{},keyCompromise\t{}\tunknown\t/CN=dev-{i}",
            ossl_time(not_after),
            ossl_time(now),
            hex::encode_upper(bytes)
        );
        batch.push(CertRecord {
            serial,
            tenant: "bench".into(),
            subject: format!("dev-{i}"),
            profile: "device".into(),
            usage: Default::default(),
            issuer: issuer.clone(),
            not_before: now - 60,
            not_after,
            fingerprint: String::new(),
            spki_sha256: format!("{i:064x}"),
            key: None,
            revoked: Some(Revocation {
                at: now,
                reason: RevocationReason::KeyCompromise,
            }),
        });
        if batch.len() == 100_000 {
            auth.index().insert(&batch).expect("index insert");
            batch.clear();
        }
    }
    auth.index().insert(&batch).expect("index insert");
    println!(
        "index: {n} revoked certificates written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Peer: openssl ca -gencrl with the same key, certificate and revocations.
    let work = tmp.path().join("ossl");
    std::fs::create_dir_all(&work).expect("openssl dir");
    std::fs::write(work.join("index.txt"), &ossl_index).expect("index.txt");
    std::fs::write(work.join("index.txt.attr"), "unique_subject = no\n").expect("attr");
    std::fs::write(work.join("crlnumber"), "01\n").expect("crlnumber");
    std::fs::write(work.join("issuing.pem"), &cert_pem).expect("cert");
    let key = std::fs::read_dir(dir.join("issuing"))
        .expect("issuing dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".key.pem"))
        .expect("issuing key");
    std::fs::write(
        work.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         default_md = sha256\ndefault_crl_days = 7\n",
    )
    .expect("cnf");

    let (mut ours, mut peer, mut parse) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let set = auth.publish_crl().expect("publish");
        ours.push(t.elapsed().as_secs_f64());
        size = set.ders.first().map_or(0, |(_, d)| d.len());
        peer.push(timed(
            Command::new("openssl")
                .current_dir(&work)
                .args(["ca", "-gencrl", "-config", "ca.cnf", "-keyfile"])
                .arg(&key)
                .args(["-cert", "issuing.pem", "-out", "crl.pem"]),
        ));
        parse.push(timed(Command::new("openssl").args([
            "crl",
            "-inform",
            "DER",
            "-noout",
            "-in",
            &dir.join("crl.der").display().to_string(),
        ])));
    }
    let (o, p, q) = (median(&mut ours), median(&mut peer), median(&mut parse));
    println!(
        "revoked {n}: publish_crl median {o:.2} s ({size} bytes DER); openssl ca -gencrl median {p:.2} s \
         (ratio {:.2}x); openssl crl parses ours in {q:.2} s",
        p / o
    );
    check(&dir);
}

/// The CRL verifies against the issuing CA.
fn check(dir: &Path) {
    let o = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-CAfile"])
        .arg(dir.join("chain.pem"))
        .arg("-in")
        .arg(dir.join("crl.der"))
        .output()
        .expect("openssl crl");
    println!(
        "openssl crl -CAfile: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
}
