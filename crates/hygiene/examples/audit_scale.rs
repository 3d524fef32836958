//! The hygiene audit at fleet scale: N certificate records held in memory as the index holds
//! them, then N active devices; prints the time of each phase and how much the process's
//! resident memory grew while the audit ran.
//!
//! ```sh
//! cargo run --release -p rampart-hygiene --example audit_scale -- 1000000
//! ```
//!
//! One record in 100 is revoked, one in 5,000 has an RSA-1024 key, the devices whose number
//! is a multiple of 1,000 share one key, expiries are spread over 400 days, and one device in
//! 50 has no certificate.

use std::time::Instant;

use rampart_hygiene::{Audit, Policy};
use rampart_identity::index::{Revocation, RevocationReason};
use rampart_identity::{CertRecord, KeyType, Serial, Usage};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let now: i64 = 1_800_000_000;
    let day = 86_400;
    let t = Instant::now();
    let records: Vec<CertRecord> = (0..n)
        .filter(|i| i % 50 != 49)
        .map(|i| {
            let mut serial = [0u8; 16];
            serial[0] = 0x40;
            serial[8..].copy_from_slice(&(i as u64).to_be_bytes());
            CertRecord {
                serial: Serial::from_bytes(&serial),
                tenant: "bench".into(),
                subject: format!("dev-{i:08}"),
                profile: "device".into(),
                usage: Usage::Client,
                issuer: "issuing-1".into(),
                not_before: now - 100 * day,
                not_after: now + (i as i64 % 400) * day,
                fingerprint: format!("{i:064x}"),
                spki_sha256: format!("{:064x}", if i % 1000 == 0 { 0 } else { i + 1 }),
                key: Some(if i % 5000 == 0 {
                    KeyType::Rsa { bits: 1024 }
                } else {
                    KeyType::EcdsaP256
                }),
                revoked: (i % 100 == 7).then_some(Revocation {
                    at: now - day,
                    reason: RevocationReason::KeyCompromise,
                }),
            }
        })
        .collect();
    println!(
        "{} records built in {:.2} s, RSS {} MiB",
        records.len(),
        t.elapsed().as_secs_f64(),
        status_kib("VmRSS:") / 1024
    );
    let before = status_kib("VmRSS:");
    let mut audit = Audit::new(Policy::default(), now);
    let t = Instant::now();
    audit.certificates(|visit| records.iter().for_each(&mut *visit));
    let certs = t.elapsed();
    let t = Instant::now();
    let mut id = String::new();
    for i in 0..n {
        use std::fmt::Write;
        id.clear();
        if write!(id, "dev-{i:08}").is_ok() {
            audit.device("bench", &id);
        }
    }
    let devices = t.elapsed();
    let t = Instant::now();
    let report = audit.finish();
    let finish = t.elapsed();
    let after = status_kib("VmRSS:");
    println!(
        "certificates (two passes) {:.2} s, {n} devices {:.2} s, finish {:.3} s",
        certs.as_secs_f64(),
        devices.as_secs_f64(),
        finish.as_secs_f64()
    );
    println!(
        "RSS grew by {} MiB during the audit (peak RSS of the process {} MiB)",
        after.saturating_sub(before) / 1024,
        status_kib("VmHWM:") / 1024
    );
    for c in &report.checks {
        println!(
            "{:<28} checked {:>9} non-compliant {:>8} listed {:>5}",
            c.check.as_str(),
            c.checked,
            c.non_compliant,
            c.resources.len()
        );
    }
}
