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

/// CPU time of the process so far (user + system), seconds, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    ticks as f64 / 100.0
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
    let (t, c) = (Instant::now(), cpu_secs());
    audit.certificates(records.len(), |visit| records.iter().for_each(&mut *visit));
    let certs = (t.elapsed().as_secs_f64(), cpu_secs() - c);
    let after_certs = status_kib("VmRSS:");
    let (t, c) = (Instant::now(), cpu_secs());
    let mut id = String::new();
    for i in 0..n {
        use std::fmt::Write;
        id.clear();
        if write!(id, "dev-{i:08}").is_ok() {
            audit.device("bench", &id);
        }
    }
    let devices = (t.elapsed().as_secs_f64(), cpu_secs() - c);
    let after_devices = status_kib("VmRSS:");
    let (t, c) = (Instant::now(), cpu_secs());
    let report = audit.finish();
    let finish = (t.elapsed().as_secs_f64(), cpu_secs() - c);
    println!(
        "certificates (two passes) {:.2} s wall, {:.2} s CPU; {n} devices {:.2} s wall, \
         {:.2} s CPU; finish {:.3} s wall",
        certs.0, certs.1, devices.0, devices.1, finish.0
    );
    println!(
        "audit state: RSS +{} MiB after the certificates, +{} MiB after the devices",
        after_certs.saturating_sub(before) / 1024,
        after_devices.saturating_sub(before) / 1024,
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
