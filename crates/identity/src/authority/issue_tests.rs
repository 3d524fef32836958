use std::path::Path;

use rampart_core::{DeviceId, TenantId};
use rcgen::{CertificateParams, DnType, KeyPair};
use x509_parser::prelude::FromDer;

use super::*;
use crate::profile::{AllowedKey, Profile};
use crate::{AuthorityConfig, Ca, CertIndex, FileIndex, InitOptions};

fn setup(dir: &Path, config: AuthorityConfig) -> Authority {
    Ca::init(dir, &InitOptions::default()).unwrap();
    Authority::open(dir, None, config).unwrap()
}

fn csr_for(key: &KeyPair, cn: &str) -> Vec<u8> {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serialize_request(key).unwrap().der().to_vec()
}

fn csr(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
    csr_for(&KeyPair::generate_for(alg).unwrap(), "x")
}

fn req(t: &str, d: &str, der: Vec<u8>) -> (TenantId, DeviceId, Vec<u8>) {
    (
        TenantId::parse(t).unwrap(),
        DeviceId::parse(d).unwrap(),
        der,
    )
}

#[test]
fn keys_are_checked_within_the_batch_and_against_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let shared = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let out = auth
        .issue_batch_threads(
            "device",
            &[
                req("acme", "dev-1", csr_for(&shared, "a")),
                req("acme", "dev-2", csr_for(&shared, "b")),
                req("acme", "dev-3", csr(&rcgen::PKCS_ED25519)),
                // The same device may certify its key again (re-enrolment).
                req("acme", "dev-1", csr_for(&shared, "c")),
                req("globex", "dev-1", csr_for(&shared, "d")),
            ],
            3,
        )
        .unwrap();
    assert!(out[0].is_ok(), "{:?}", out[0]);
    match &out[1] {
        Err(IdentityError::Policy(m)) => assert!(m.contains("in this batch"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(out[2].is_ok(), "{:?}", out[2]);
    assert!(out[3].is_ok(), "{:?}", out[3]);
    assert!(
        matches!(out[4], Err(IdentityError::Policy(_))),
        "{:?}",
        out[4]
    );
    assert_eq!(auth.index().len(), 3);
    assert_eq!(
        out[2].as_ref().unwrap().record.key,
        Some(crate::KeyType::Ed25519)
    );
    // A later request with the key is refused against the index, before and at commit.
    let (t, d, der) = req("acme", "dev-4", csr_for(&shared, "e"));
    let signed = auth.sign_request(&t, &d, "device", &der).unwrap();
    assert!(matches!(
        auth.check_duplicate(&signed),
        Err(IdentityError::Policy(_))
    ));
    match auth.commit_one(signed) {
        Err(IdentityError::Policy(m)) => assert!(m.contains("already certified"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(auth.index().len(), 3);
}

#[test]
fn parallel_batch_keeps_request_order_and_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let der = if i == 17 {
                let mut bad = csr(&rcgen::PKCS_ECDSA_P256_SHA256);
                let last = bad.len() - 1;
                bad[last] ^= 0x01;
                bad
            } else {
                csr(&rcgen::PKCS_ECDSA_P256_SHA256)
            };
            req("acme", &format!("dev-{i:02}"), der)
        })
        .collect();
    let out = auth.issue_batch_threads("device", &requests, 4).unwrap();
    assert_eq!(out.len(), 40);
    let mut serials = std::collections::HashSet::new();
    for (i, r) in out.iter().enumerate() {
        if i == 17 {
            assert!(
                matches!(r, Err(IdentityError::Csr(crate::CsrError::BadSignature))),
                "{r:?}"
            );
            continue;
        }
        let issued = r.as_ref().unwrap();
        assert_eq!(issued.record.subject, format!("dev-{i:02}"));
        assert!(serials.insert(issued.record.serial.clone()));
    }
    assert_eq!(auth.index().len(), 39);
    drop(auth);
    let index = FileIndex::open(&dir.path().join("index.jsonl")).unwrap();
    assert_eq!(index.len(), 39);
}

#[test]
fn certificate_carries_the_csr_key_and_verifies_under_the_issuing_ca() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let issuing = auth.ca().current().cert_der.clone();
    let (_, ca) = x509_parser::parse_x509_certificate(&issuing).unwrap();
    for (i, alg) in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ]
    .into_iter()
    .enumerate()
    {
        let der = csr(alg);
        let (_, parsed) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let (t, d, der) = req("acme", &format!("dev-{i}"), der.clone());
        let issued = auth.issue(&t, &d, "device", &der).unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        assert_eq!(
            x.public_key().raw,
            parsed.certification_request_info.subject_pki.raw,
            "{alg:?}"
        );
        x.verify_signature(Some(ca.public_key())).unwrap();
        assert_eq!(
            issued.record.spki_sha256,
            super::super::sha256_hex(x.public_key().raw)
        );
    }
}

#[test]
fn refused_requests_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut only_ed = Profile::device("ed-only");
    only_ed.allowed_keys = vec![AllowedKey::Ed25519];
    let auth = setup(
        dir.path(),
        AuthorityConfig {
            profiles: vec![only_ed],
            ..AuthorityConfig::default()
        },
    );
    let out = auth
        .issue_batch(
            "ed-only",
            &[
                req("acme", "dev-1", csr(&rcgen::PKCS_ECDSA_P256_SHA256)),
                req("acme", "dev-2", b"\x30\x03\x02\x01\x00".to_vec()),
            ],
        )
        .unwrap();
    assert!(
        matches!(out[0], Err(IdentityError::Policy(_))),
        "{:?}",
        out[0]
    );
    assert!(matches!(out[1], Err(IdentityError::Csr(_))), "{:?}", out[1]);
    assert!(auth.index().is_empty());
    assert!(matches!(
        auth.issue_batch("nope", &[]),
        Err(IdentityError::UnknownProfile(_))
    ));
}

/// Commits racing on one key for two devices: the commit lock lets exactly one through.
#[test]
fn concurrent_commits_never_certify_a_key_for_two_devices() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    for round in 0..5 {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let signed: Vec<Signed> = (0..4)
            .map(|i| {
                let (t, d, der) = req("acme", &format!("r{round}-{i}"), csr_for(&key, "x"));
                auth.sign_request(&t, &d, "device", &der).unwrap()
            })
            .collect();
        let results: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = signed
                .into_iter()
                .map(|one| s.spawn(|| auth.commit_one(one).is_ok()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
    }
    assert_eq!(auth.index().len(), 5);
}

#[test]
fn parallel_map_keeps_order_on_any_thread_count() {
    let items: Vec<u32> = (0..103).collect();
    for threads in [0, 1, 2, 7, 200] {
        let out = parallel_map(&items, threads, |x| x * 2);
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }
    assert!(parallel_map(&Vec::<u32>::new(), 4, |x| *x).is_empty());
}
