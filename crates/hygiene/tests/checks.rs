//! Each check on hand-made records, edges included: exactly N days, revoked and expired,
//! a key shared across tenants, listings bounded with a total count, stable finding ids.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rampart_core::{DeviceId, Iccid, ImeiPolicy, Imsi, Sim, TenantId, Timestamp};
use rampart_detect::{Category, FindingKind, Severity};
use rampart_hygiene::{Audit, CaValidity, CheckId, CheckResult, Policy, Report, ResourceType};
use rampart_identity::index::{Revocation, RevocationReason};
use rampart_identity::presence::{AddressSeen, Presented};
use rampart_identity::{CertRecord, KeyType, Serial, Usage};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn cert(n: u32, tenant: &str, device: &str, not_after: i64) -> CertRecord {
    CertRecord {
        serial: Serial::parse(&format!("40{n:06x}")).unwrap(),
        tenant: tenant.into(),
        subject: device.into(),
        profile: "device".into(),
        usage: Usage::Client,
        issuer: "issuing-1".into(),
        not_before: NOW - 300 * DAY,
        not_after,
        fingerprint: format!("{n:064x}"),
        spki_sha256: format!("{:064x}", u64::from(n) * 7919),
        key: Some(KeyType::EcdsaP256),
        revoked: None,
    }
}

fn revoked(mut c: CertRecord, at: i64) -> CertRecord {
    c.revoked = Some(Revocation {
        at,
        reason: RevocationReason::KeyCompromise,
    });
    c
}

fn run(policy: Policy, certs: &[CertRecord], f: impl FnOnce(&mut Audit)) -> Report {
    let mut a = Audit::new(policy, NOW);
    f(&mut a);
    a.certificates(certs.len(), |visit| certs.iter().for_each(&mut *visit));
    a.finish()
}

fn check(r: &Report, c: CheckId) -> &CheckResult {
    r.checks.iter().find(|x| x.check == c).unwrap()
}

fn ids(r: &Report, c: CheckId) -> Vec<String> {
    check(r, c).resources.iter().map(|x| x.id.clone()).collect()
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, last])
}

fn presented(c: &CertRecord, addrs: &[(u8, i64, i64)], refused: u64) -> Presented {
    let addresses: Vec<AddressSeen> = addrs
        .iter()
        .map(|(a, first, last)| AddressSeen {
            addr: ip(*a),
            first_seen: *first,
            last_seen: *last,
            count: 1,
        })
        .collect();
    let last = addresses.iter().max_by_key(|a| a.last_seen).unwrap();
    Presented {
        serial: c.serial.clone(),
        fingerprint: c.fingerprint.clone(),
        count: addresses.len() as u64,
        refused_revoked: refused,
        last_refused_at: (refused > 0).then_some(last.last_seen),
        first_seen: addresses.iter().map(|a| a.first_seen).min().unwrap(),
        last_seen: last.last_seen,
        last_addr: last.addr,
        addresses,
        addresses_dropped: 0,
    }
}

fn sim(tenant: &str, n: u8, policy: ImeiPolicy, device: Option<&str>) -> Sim {
    let base = format!("89340712345678{n:04}");
    let iccid = format!("{base}{}", rampart_core::luhn_check_digit(&base).unwrap());
    Sim {
        tenant: TenantId::parse(tenant).unwrap(),
        iccid: Iccid::parse(&iccid).unwrap(),
        imsi: Imsi::parse(&format!("2140701234{n:05}")).unwrap(),
        msisdn: None,
        imei_policy: policy,
        allowed_imeis: Vec::new(),
        learned_imei: None,
        device_id: device.map(|d| DeviceId::parse(d).unwrap()),
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    }
}

#[test]
fn expiring_at_exactly_n_days_and_expired_newest_only() {
    let n = i64::from(Policy::default().expiry_warning_days);
    let certs = vec![
        cert(1, "acme", "exact", NOW + n * DAY),
        cert(2, "acme", "one-second-more", NOW + n * DAY + 1),
        cert(3, "acme", "expired", NOW - DAY),
        // Renewed: the expired one is superseded by a valid newer one.
        cert(4, "acme", "renewed", NOW - 10 * DAY),
        cert(5, "acme", "renewed", NOW + 200 * DAY),
        // Revoked and expired: out of the check (revocation is the remedy).
        revoked(cert(6, "acme", "retired", NOW - 5 * DAY), NOW - 20 * DAY),
        // The newest is revoked: the older unrevoked one is what the device has.
        cert(7, "acme", "rekeyed", NOW + 100 * DAY),
        revoked(cert(8, "acme", "rekeyed", NOW + 5 * DAY), NOW - DAY),
    ];
    let r = run(Policy::default(), &certs, |_| {});
    let c = check(&r, CheckId::CertificateExpiring);
    assert_eq!(c.non_compliant, 2, "{c:#?}");
    // Most urgent first: the expired one, then the one at exactly N days.
    assert_eq!(
        ids(&r, CheckId::CertificateExpiring),
        vec!["40000003", "40000001"]
    );
    assert_eq!(c.resources[0].severity, Severity::High);
    assert_eq!(c.resources[1].severity, Severity::Medium);
    assert_eq!(c.resources[1].device.as_deref(), Some("exact"));
    assert_eq!(c.checked, 5);
    // Once it has expired, the same certificate is a new, graver finding.
    let later = {
        let mut a = Audit::new(Policy::default(), NOW + n * DAY);
        a.certificates(certs.len(), |visit| certs.iter().for_each(&mut *visit));
        a.finish()
    };
    let now_expired = check(&later, CheckId::CertificateExpiring)
        .resources
        .iter()
        .find(|r| r.device.as_deref() == Some("exact"))
        .unwrap();
    assert_eq!(now_expired.severity, Severity::High);
    assert_ne!(now_expired.finding_id(), c.resources[1].finding_id());
    let again = run(Policy::default(), &certs, |_| {});
    assert_eq!(
        check(&again, CheckId::CertificateExpiring).resources[1].finding_id(),
        c.resources[1].finding_id()
    );
}

#[test]
fn revoked_certificate_seen_after_revocation() {
    let a = revoked(cert(1, "acme", "a", NOW + 100 * DAY), NOW - 3600);
    let b = revoked(cert(2, "acme", "b", NOW + 100 * DAY), NOW - 3600);
    let c = revoked(cert(3, "acme", "c", NOW - DAY), NOW - 2 * DAY);
    let d = cert(4, "acme", "d", NOW + 100 * DAY);
    let e = revoked(cert(5, "acme", "e", NOW + 100 * DAY), NOW - 3600);
    let mut forged = presented(&e, &[(9, NOW - 60, NOW - 60)], 3);
    forged.fingerprint = "ff".repeat(32);
    let seen = vec![
        // Refused by the CRL, twice.
        presented(&a, &[(1, NOW - 600, NOW - 60)], 2),
        // Only before its revocation.
        presented(&b, &[(2, NOW - 7200, NOW - 7000)], 0),
        // Revoked and expired, still tried.
        presented(&c, &[(3, NOW - 100, NOW - 100)], 1),
        // Not revoked.
        presented(&d, &[(4, NOW - 100, NOW - 100)], 0),
        forged,
    ];
    let r = run(Policy::default(), &[a, b, c, d, e], |au| {
        au.presentations(seen)
    });
    let res = check(&r, CheckId::RevokedCertificateInUse);
    assert_eq!(
        ids(&r, CheckId::RevokedCertificateInUse),
        vec!["40000001", "40000003"]
    );
    assert_eq!(res.resources[0].count, Some(2));
    assert_eq!(res.resources[0].addresses, vec![ip(1)]);
    assert!(
        res.resources[0].summary.contains("198.51.100.1"),
        "{}",
        res.resources[0].summary
    );
    assert_eq!(res.checked, 4);
    assert!(res.note.is_none());
}

#[test]
fn presentation_checks_say_when_there_is_nothing_to_look_at() {
    let r = run(
        Policy::default(),
        &[cert(1, "acme", "a", NOW + DAY * 100)],
        |_| {},
    );
    for c in [CheckId::RevokedCertificateInUse, CheckId::SharedCertificate] {
        assert!(
            check(&r, c)
                .note
                .as_deref()
                .unwrap()
                .contains("rampart serve")
        );
        assert_eq!(check(&r, c).checked, 0);
    }
}

#[test]
fn shared_key_across_tenants_and_its_remedy() {
    let mut a = cert(1, "acme", "meter-1", NOW + 100 * DAY);
    let mut b = cert(2, "globex", "meter-9", NOW + 100 * DAY);
    b.spki_sha256 = a.spki_sha256.clone();
    // The same device renewing with its own key is no sharing.
    let mut a2 = cert(3, "acme", "meter-1", NOW + 200 * DAY);
    a2.spki_sha256 = a.spki_sha256.clone();
    let other = cert(4, "acme", "meter-2", NOW + 100 * DAY);
    let r = run(
        Policy::default(),
        &[a.clone(), b.clone(), a2.clone(), other.clone()],
        |_| {},
    );
    let c = check(&r, CheckId::SharedKey);
    assert_eq!(c.non_compliant, 2);
    let devices: Vec<_> = c
        .resources
        .iter()
        .map(|x| {
            (
                x.tenant.clone().unwrap(),
                x.device.clone().unwrap(),
                x.count,
            )
        })
        .collect();
    assert_eq!(
        devices,
        vec![
            ("acme".into(), "meter-1".into(), Some(2)),
            ("globex".into(), "meter-9".into(), Some(2)),
        ]
    );
    assert_eq!(c.resources[0].resource_type, ResourceType::Key);
    // A tenant sees its own device, not the other tenant's.
    let acme = r.for_tenant("acme");
    let c = check(&acme, CheckId::SharedKey);
    assert_eq!((c.non_compliant, c.resources.len()), (1, 1));
    assert!(!serde_json_text(&acme).contains("globex"));
    // Revoking one of them clears both.
    a = revoked(a, NOW - 10);
    let a2 = revoked(a2, NOW - 10);
    let r = run(Policy::default(), &[a, b, a2, other], |_| {});
    assert_eq!(check(&r, CheckId::SharedKey).non_compliant, 0);
}

fn serde_json_text(r: &Report) -> String {
    serde_json::to_string(r).unwrap()
}

#[test]
fn shared_certificate_needs_two_addresses_at_once() {
    let w = i64::try_from(Policy::default().shared_certificate_window_secs).unwrap();
    let a = cert(1, "acme", "a", NOW + 100 * DAY);
    let b = cert(2, "acme", "b", NOW + 100 * DAY);
    let c = cert(3, "acme", "c", NOW + 100 * DAY);
    let seen = vec![
        // Two addresses, w seconds apart: at once.
        presented(
            &a,
            &[(1, NOW - 5000, NOW - 4000), (2, NOW - 4000 + w, NOW - 100)],
            0,
        ),
        // The device moved: the second address came long after the first stopped.
        presented(
            &b,
            &[(1, NOW - 90_000, NOW - 80_000), (2, NOW - 1000, NOW - 10)],
            0,
        ),
        // One address.
        presented(&c, &[(3, NOW - 1000, NOW - 10)], 0),
    ];
    let r = run(Policy::default(), &[a, b, c], |au| au.presentations(seen));
    let res = check(&r, CheckId::SharedCertificate);
    assert_eq!(ids(&r, CheckId::SharedCertificate), vec!["40000001"]);
    assert_eq!(res.resources[0].addresses, vec![ip(1), ip(2)]);
    assert_eq!(res.resources[0].severity, Severity::Critical);
    assert_eq!(res.checked, 3);
}

#[test]
fn devices_without_a_valid_identity() {
    let certs = vec![
        cert(1, "acme", "ok", NOW + 100 * DAY),
        cert(2, "acme", "expired", NOW - DAY),
        revoked(cert(3, "acme", "revoked", NOW + 100 * DAY), NOW - 60),
        // The same id in another tenant does not vouch for acme's device.
        cert(4, "globex", "elsewhere", NOW + 100 * DAY),
    ];
    let r = run(Policy::default(), &certs, |_| {});
    // Certificates first, then the registry.
    let mut a = Audit::new(Policy::default(), NOW);
    a.certificates(certs.len(), |visit| certs.iter().for_each(&mut *visit));
    for d in ["ok", "expired", "revoked", "never", "elsewhere"] {
        a.device("acme", d);
    }
    let r2 = a.finish();
    assert_eq!(check(&r, CheckId::DeviceWithoutIdentity).checked, 0);
    let c = check(&r2, CheckId::DeviceWithoutIdentity);
    assert_eq!(c.checked, 5);
    assert_eq!(
        ids(&r2, CheckId::DeviceWithoutIdentity),
        vec!["elsewhere", "expired", "never", "revoked"]
    );
    let expired = c.resources.iter().find(|x| x.id == "expired").unwrap();
    assert!(expired.summary.contains("expired"), "{}", expired.summary);
}

#[test]
fn weak_keys_by_type_and_size() {
    let mut rsa1024 = cert(1, "acme", "a", NOW + 100 * DAY);
    rsa1024.key = Some(KeyType::Rsa { bits: 1024 });
    let mut rsa2048 = cert(2, "acme", "b", NOW + 100 * DAY);
    rsa2048.key = Some(KeyType::Rsa { bits: 2048 });
    let mut odd = cert(3, "acme", "c", NOW + 100 * DAY);
    odd.key = Some(KeyType::Other("ec:1.3.132.0.10".into()));
    let mut unknown = cert(4, "acme", "d", NOW + 100 * DAY);
    unknown.key = None;
    let mut expired = cert(5, "acme", "e", NOW - DAY);
    expired.key = Some(KeyType::Rsa { bits: 512 });
    let ed = {
        let mut c = cert(6, "acme", "f", NOW + 100 * DAY);
        c.key = Some(KeyType::Ed25519);
        c
    };
    let r = run(
        Policy::default(),
        &[rsa1024, rsa2048, odd, unknown, expired, ed],
        |_| {},
    );
    let c = check(&r, CheckId::WeakKey);
    assert_eq!(ids(&r, CheckId::WeakKey), vec!["40000001", "40000003"]);
    assert_eq!(c.checked, 4);
    assert!(
        c.note.as_deref().unwrap().starts_with("1 valid"),
        "{:?}",
        c.note
    );
    assert!(c.resources[0].summary.contains("1024"));
    let strict = Policy {
        min_rsa_bits: 3072,
        ..Policy::default()
    };
    let mut rsa2048 = cert(2, "acme", "b", NOW + 100 * DAY);
    rsa2048.key = Some(KeyType::Rsa { bits: 2048 });
    let r = run(strict, &[rsa2048], |_| {});
    assert_eq!(check(&r, CheckId::WeakKey).non_compliant, 1);
}

#[test]
fn sims_without_an_imei_lock() {
    let mut a = Audit::new(Policy::default(), NOW);
    a.certificates(0, |_| {});
    a.sim(&sim("acme", 1, ImeiPolicy::None, Some("meter-1")));
    a.sim(&sim("acme", 2, ImeiPolicy::Fixed, Some("meter-2")));
    a.sim(&sim("acme", 3, ImeiPolicy::Learn, None));
    a.sim(&sim("globex", 4, ImeiPolicy::None, None));
    let r = a.finish();
    let c = check(&r, CheckId::SimWithoutImeiLock);
    assert_eq!((c.checked, c.non_compliant), (4, 2));
    let acme = &c.resources[0];
    assert_eq!(acme.device.as_deref(), Some("meter-1"));
    assert_eq!(acme.resource_type, ResourceType::Sim);
    let f = acme.finding(r.at);
    assert_eq!(f.kind, FindingKind::SimWithoutImeiLock);
    assert_eq!(f.subject.device_id.as_ref().unwrap().as_str(), "meter-1");
    // An unbound SIM's finding names its tenant and no device.
    let unbound = c.resources[1].finding(r.at);
    assert!(unbound.subject.device_id.is_none());
    assert_eq!(unbound.subject.tenant.as_ref().unwrap().as_str(), "globex");
    assert_eq!(
        check(&r.for_tenant("globex"), CheckId::SimWithoutImeiLock).non_compliant,
        1
    );
}

#[test]
fn ca_expiry_at_exactly_n_days_expired_and_retiring() {
    let n = i64::from(Policy::default().ca_expiry_warning_days);
    let mut a = Audit::new(Policy::default(), NOW);
    a.cas(&[
        CaValidity {
            id: "root".into(),
            not_after: NOW + 20 * 365 * DAY,
            retiring: false,
        },
        CaValidity {
            id: "issuing-2".into(),
            not_after: NOW + n * DAY,
            retiring: false,
        },
        CaValidity {
            id: "issuing-3".into(),
            not_after: NOW + n * DAY + 1,
            retiring: false,
        },
        CaValidity {
            id: "issuing-1".into(),
            not_after: NOW + DAY,
            retiring: true,
        },
        CaValidity {
            id: "old".into(),
            not_after: NOW - 1,
            retiring: false,
        },
    ]);
    let r = a.finish();
    let c = check(&r, CheckId::CaExpiring);
    assert_eq!(c.checked, 5);
    assert_eq!(ids(&r, CheckId::CaExpiring), vec!["old", "issuing-2"]);
    assert_eq!(c.resources[0].severity, Severity::Critical);
    assert_eq!(c.resources[1].severity, Severity::High);
    // Every tenant sees the CA they share.
    assert_eq!(
        check(&r.for_tenant("acme"), CheckId::CaExpiring).non_compliant,
        2
    );
    let f = c.resources[1].finding(r.at);
    assert!(f.subject.tenant.is_none() && f.subject.device_id.is_none());
}

#[test]
fn listings_are_bounded_ordered_and_ids_stable() {
    let policy = Policy {
        max_resources: 3,
        ..Policy::default()
    };
    let mut certs: Vec<CertRecord> = (0..50)
        .map(|i| cert(i, "acme", &format!("dev-{i:02}"), NOW + DAY))
        .collect();
    let a = run(policy.clone(), &certs, |_| {});
    certs.reverse();
    let b = run(policy, &certs, |_| {});
    let c = check(&a, CheckId::CertificateExpiring);
    assert_eq!(
        (c.non_compliant, c.resources.len(), c.truncated),
        (50, 3, true)
    );
    assert_eq!(a, b, "input order changed the report");
    let fa: Vec<String> = a.findings().iter().map(|f| f.id.clone()).collect();
    let fb: Vec<String> = b.findings().iter().map(|f| f.id.clone()).collect();
    assert_eq!(fa, fb);
    assert_eq!(fa.len(), 3);
    let mut uniq = fa;
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3);
    let f = &a.findings()[0];
    assert_eq!(f.kind.category(), Category::Hygiene);
    assert_eq!(f.subject.device_id.as_ref().unwrap().as_str(), "dev-00");
    assert!(f.id.starts_with("hyg-"));
}

#[test]
fn disabled_checks_do_not_run() {
    let policy = Policy {
        disabled: vec![CheckId::DeviceWithoutIdentity, CheckId::SimWithoutImeiLock],
        ..Policy::default()
    };
    let mut a = Audit::new(policy, NOW);
    a.certificates(0, |_| {});
    a.device("acme", "nothing");
    a.sim(&sim("acme", 1, ImeiPolicy::None, None));
    let r = a.finish();
    assert_eq!(r.checks.len(), CheckId::ALL.len() - 2);
    assert!(r.findings().is_empty());
    assert_eq!(CheckId::parse("weak_key"), Some(CheckId::WeakKey));
    assert_eq!(CheckId::parse("nope"), None);
}
