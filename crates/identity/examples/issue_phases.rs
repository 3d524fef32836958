//! Where issuance spends its CPU: each phase of the CSR → certificate path run on its own over
//! the same P-256 CSRs, on one thread, timed with this thread's CPU clock
//! (`/proc/thread-self/schedstat`, nanoseconds on the CPU) as well as the wall clock, so a
//! loaded machine inflates the wall figures but much less the CPU ones.
//!
//! `cargo run --release -p rampart-identity --example issue_phases -- [count]`
//! Files go under `$TMPDIR` (default /tmp).

use std::time::Instant;

use rampart_core::{DeviceId, TenantId};
use rampart_identity::{Authority, AuthorityConfig, Ca, InitOptions, bulk, csr};
use rcgen::{CertificateParams, DnType, KeyPair};

/// Seconds this thread has run on a CPU.
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn phase(name: &str, n: usize, f: &mut dyn FnMut()) {
    let (cpu, wall) = (thread_cpu(), Instant::now());
    f();
    let per = |secs: f64| secs * 1e6 / n as f64;
    println!(
        "{name:<44} {:>7.1} us CPU  {:>7.1} us wall  per certificate",
        per(thread_cpu() - cpu),
        per(wall.elapsed().as_secs_f64())
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let pems: Vec<String> = (0..n)
        .map(|i| {
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
            let mut p = CertificateParams::default();
            p.distinguished_name
                .push(DnType::CommonName, format!("dev-{i}"));
            p.serialize_request(&key).expect("csr").pem().expect("pem")
        })
        .collect();
    let ca = tmp.path().join("ca");
    Ca::init(&ca, &InitOptions::default()).expect("init");
    let auth = Authority::open(&ca, None, AuthorityConfig::default()).expect("open");
    let tenant = TenantId::parse("bench").expect("tenant");
    let devices: Vec<DeviceId> = (0..n)
        .map(|i| DeviceId::parse(&format!("dev-{i}")).expect("id"))
        .collect();
    println!("{n} P-256 CSRs, one thread");

    let mut ders = Vec::new();
    phase("decode the PEM body", n, &mut || {
        ders = pems
            .iter()
            .map(|p| csr::decode_body(p.as_bytes()).expect("decode"))
            .collect();
    });
    phase("parse + verify the CSR signature", n, &mut || {
        for d in &ders {
            csr::verify(d).expect("verify");
        }
    });
    let mut signed = Vec::new();
    phase("sign_request (verify, policy, build, sign)", n, &mut || {
        signed = devices
            .iter()
            .zip(&ders)
            .map(|(d, der)| auth.sign_request(&tenant, d, "device", der))
            .collect();
    });
    let mut issued = Vec::new();
    phase(
        &format!("commit, {} per index fdatasync", bulk::BATCH),
        n,
        &mut || {
            let mut batch = Vec::new();
            for s in signed.drain(..) {
                batch.push(s);
                if batch.len() == bulk::BATCH {
                    issued.extend(auth.commit(std::mem::take(&mut batch)).expect("commit"));
                }
            }
            issued.extend(auth.commit(batch).expect("commit"));
        },
    );
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out dir");
    phase("write <device>.pem (create, write, close)", n, &mut || {
        for r in &issued {
            let cert = r.as_ref().expect("issued");
            std::fs::write(
                out.join(format!("{}.pem", cert.record.subject)),
                &cert.cert_pem,
            )
            .expect("write");
        }
    });
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    phase("reference: P-256 signature alone", n, &mut || {
        for _ in 0..n {
            rcgen::SigningKey::sign(&key, b"a tbsCertificate of a few hundred octets")
                .expect("sign");
        }
    });
}
