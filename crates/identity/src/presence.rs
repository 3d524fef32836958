//! Client certificates presented to Rampart's own TLS endpoints, remembered for the hygiene
//! audit: which certificate came from which addresses and when, and how often one was refused
//! as revoked. The TLS layer records ([`crate::est::tls`]); the audit reads a [`snapshot`].
//!
//! Memory is bounded whatever clients send: at most `capacity` certificates (the least
//! recently seen eighth is dropped when full, counted in
//! `rampart_identity_presentations_evicted_total`) and `addresses_per_certificate` addresses
//! each (the least recently seen is replaced).
//!
//! [`snapshot`]: PresentationLog::snapshot

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Serial;

/// Metric: certificates forgotten because the log was full.
const EVICTED: &str = "rampart_identity_presentations_evicted_total";
/// Metric: presented certificates whose serial could not be read.
const UNPARSABLE: &str = "rampart_identity_presentations_unparsable_total";

/// Bounds of a [`PresentationLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceConfig {
    /// Certificates remembered.
    pub capacity: usize,
    /// Source addresses remembered per certificate.
    pub addresses_per_certificate: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            addresses_per_certificate: 8,
        }
    }
}

/// What the TLS layer made of a presented certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handshake completed with it (the client proved it holds the key).
    Accepted,
    /// Refused because the CRL lists it.
    RefusedRevoked,
}

/// One source address a certificate came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressSeen {
    /// The client's address.
    pub addr: IpAddr,
    /// First presentation from it (Unix seconds).
    pub first_seen: i64,
    /// Latest presentation from it (Unix seconds).
    pub last_seen: i64,
    /// Presentations from it.
    pub count: u64,
}

/// Everything remembered about one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presented {
    /// Its serial (look it up in the index).
    pub serial: Serial,
    /// SHA-256 of its DER, hex (tells a forged certificate with a known serial apart).
    pub fingerprint: String,
    /// Presentations in all.
    pub count: u64,
    /// Presentations refused as revoked.
    pub refused_revoked: u64,
    /// Latest refusal as revoked (Unix seconds).
    pub last_refused_at: Option<i64>,
    /// First presentation (Unix seconds).
    pub first_seen: i64,
    /// Latest presentation (Unix seconds).
    pub last_seen: i64,
    /// Source of the latest presentation.
    pub last_addr: IpAddr,
    /// Source addresses, bounded.
    pub addresses: Vec<AddressSeen>,
    /// Addresses forgotten to keep the list bounded.
    pub addresses_dropped: u64,
}

/// Presented client certificates by fingerprint; safe to share between connections.
#[derive(Debug, Default)]
pub struct PresentationLog {
    config: PresenceConfig,
    entries: Mutex<HashMap<[u8; 32], Presented>>,
}

impl PresentationLog {
    /// An empty log with these bounds (each at least 1).
    pub fn new(config: PresenceConfig) -> Self {
        Self {
            config: PresenceConfig {
                capacity: config.capacity.max(1),
                addresses_per_certificate: config.addresses_per_certificate.max(1),
            },
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Presented>> {
        // Entries are plain counters: a panic elsewhere cannot leave them unusable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one presentation of the DER certificate `cert_der` from `addr` at `at` (Unix
    /// seconds). Returns false, counting it, when the certificate's serial cannot be read.
    pub fn record(&self, cert_der: &[u8], addr: IpAddr, at: i64, outcome: Outcome) -> bool {
        let fp: [u8; 32] = Sha256::digest(cert_der).into();
        let mut entries = self.lock();
        if !entries.contains_key(&fp) {
            let Ok((_, x)) = x509_parser::parse_x509_certificate(cert_der) else {
                metrics::counter!(UNPARSABLE).increment(1);
                return false;
            };
            let serial = Serial::from_bytes(x.raw_serial());
            if entries.len() >= self.config.capacity {
                evict_oldest(&mut entries, self.config.capacity);
            }
            entries.insert(
                fp,
                Presented {
                    serial,
                    fingerprint: hex::encode(fp),
                    count: 0,
                    refused_revoked: 0,
                    last_refused_at: None,
                    first_seen: at,
                    last_seen: at,
                    last_addr: addr,
                    addresses: Vec::new(),
                    addresses_dropped: 0,
                },
            );
        }
        if let Some(e) = entries.get_mut(&fp) {
            note(e, addr, at, outcome, self.config.addresses_per_certificate);
        }
        true
    }

    /// A copy of everything remembered, in no particular order.
    pub fn snapshot(&self) -> Vec<Presented> {
        self.lock().values().cloned().collect()
    }

    /// Certificates remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was presented yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn note(e: &mut Presented, addr: IpAddr, at: i64, outcome: Outcome, max_addrs: usize) {
    e.count = e.count.saturating_add(1);
    e.first_seen = e.first_seen.min(at);
    if at >= e.last_seen {
        e.last_seen = at;
        e.last_addr = addr;
    }
    if outcome == Outcome::RefusedRevoked {
        e.refused_revoked = e.refused_revoked.saturating_add(1);
        e.last_refused_at = Some(e.last_refused_at.map_or(at, |t| t.max(at)));
    }
    if let Some(a) = e.addresses.iter_mut().find(|a| a.addr == addr) {
        a.count = a.count.saturating_add(1);
        a.first_seen = a.first_seen.min(at);
        a.last_seen = a.last_seen.max(at);
        return;
    }
    let seen = AddressSeen {
        addr,
        first_seen: at,
        last_seen: at,
        count: 1,
    };
    if e.addresses.len() < max_addrs {
        e.addresses.push(seen);
    } else if let Some(oldest) = e.addresses.iter_mut().min_by_key(|a| a.last_seen) {
        *oldest = seen;
        e.addresses_dropped = e.addresses_dropped.saturating_add(1);
    }
}

/// Drops the least recently seen eighth (at least one): amortised O(1) per new certificate.
fn evict_oldest(entries: &mut HashMap<[u8; 32], Presented>, capacity: usize) {
    let drop_n = (capacity / 8).max(1).min(entries.len());
    let mut ages: Vec<(i64, [u8; 32])> = entries.iter().map(|(k, v)| (v.last_seen, *k)).collect();
    if drop_n < ages.len() {
        ages.select_nth_unstable(drop_n);
    }
    for (_, k) in ages.iter().take(drop_n) {
        entries.remove(k);
    }
    metrics::counter!(EVICTED).increment(drop_n as u64);
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    fn cert(serial: u8) -> Vec<u8> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::new(vec!["d".to_owned()]).unwrap();
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x40, serial]));
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn counts_addresses_and_revoked_refusals() {
        let log = PresentationLog::new(PresenceConfig::default());
        let c = cert(1);
        assert!(log.record(&c, ip(1), 100, Outcome::Accepted));
        assert!(log.record(&c, ip(2), 105, Outcome::Accepted));
        assert!(log.record(&c, ip(1), 110, Outcome::RefusedRevoked));
        // A late report does not move the latest address back.
        assert!(log.record(&c, ip(3), 90, Outcome::Accepted));
        let s = log.snapshot();
        assert_eq!(s.len(), 1);
        let e = &s[0];
        assert_eq!(e.serial, Serial::parse("4001").unwrap());
        assert_eq!((e.count, e.refused_revoked), (4, 1));
        assert_eq!((e.first_seen, e.last_seen, e.last_addr), (90, 110, ip(1)));
        assert_eq!(e.last_refused_at, Some(110));
        let a1 = e.addresses.iter().find(|a| a.addr == ip(1)).unwrap();
        assert_eq!((a1.first_seen, a1.last_seen, a1.count), (100, 110, 2));
        assert_eq!(e.addresses.len(), 3);
        assert!(!log.record(b"not a certificate", ip(1), 1, Outcome::Accepted));
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn bounded_in_certificates_and_addresses() {
        let log = PresentationLog::new(PresenceConfig {
            capacity: 8,
            addresses_per_certificate: 2,
        });
        let certs: Vec<Vec<u8>> = (0..9).map(cert).collect();
        for (i, c) in certs.iter().enumerate() {
            log.record(c, ip(1), i as i64, Outcome::Accepted);
        }
        // Full at the ninth: the least recently seen (serial 00 at t=0) went.
        assert_eq!(log.len(), 8);
        assert!(log.snapshot().iter().all(|e| e.first_seen != 0));
        let c = &certs[8];
        for (n, t) in [(2u8, 20i64), (3, 30), (4, 40)] {
            log.record(c, ip(n), t, Outcome::Accepted);
        }
        let e = log
            .snapshot()
            .into_iter()
            .find(|e| e.first_seen == 8)
            .unwrap();
        assert_eq!(e.addresses.len(), 2);
        assert_eq!(e.addresses_dropped, 2);
        let kept: Vec<IpAddr> = e.addresses.iter().map(|a| a.addr).collect();
        assert!(kept.contains(&ip(3)) && kept.contains(&ip(4)), "{kept:?}");
    }
}
