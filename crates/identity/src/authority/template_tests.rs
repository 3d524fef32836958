use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use rampart_core::{DeviceId, TenantId};
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData, SanType};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::TbsCertificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::*;
use crate::authority::{Authority, device_urn};
use crate::profile::Profile;
use crate::{AuthorityConfig, Ca, InitOptions, KeyAlgorithm, Serial};

fn ca(dir: &Path, algorithm: KeyAlgorithm) -> Ca {
    let opts = InitOptions {
        algorithm,
        ..InitOptions::default()
    };
    Ca::init(dir, &opts).unwrap()
}

fn profile(usage: Usage) -> Profile {
    Profile {
        usage,
        ..Profile::device("device")
    }
}

/// The TBSCertificate rcgen writes, through the authority's rcgen path, for these inputs.
#[allow(clippy::too_many_arguments)]
fn rcgen_tbs(
    issuing: &IssuingCa,
    usage: Usage,
    tenant: &str,
    device: &str,
    key: &impl PublicKeyData,
    spki: &[u8],
    octets: &[u8; 16],
    window: (OffsetDateTime, OffsetDateTime),
) -> (Vec<u8>, Vec<u8>, String) {
    let (t, d) = (
        TenantId::parse(tenant).unwrap(),
        DeviceId::parse(device).unwrap(),
    );
    let san = SanType::URI(device_urn(&t, &d).try_into().unwrap());
    let issued = Authority::sign_with(
        issuing,
        &t,
        device,
        &profile(usage),
        key,
        spki,
        vec![san],
        KeyType::EcdsaP256,
        Serial::from_bytes(octets),
        window,
    )
    .unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    (
        x.tbs_certificate.as_ref().to_vec(),
        issued.cert_der.to_vec(),
        issued.cert_pem,
    )
}

fn template_tbs(
    t: &DeviceTemplate,
    tenant: &str,
    device: &str,
    spki: &[u8],
    octets: &[u8; 16],
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> Vec<u8> {
    let mut out = Vec::new();
    let fields = DeviceFields {
        serial: octets,
        not_before,
        not_after,
        tenant,
        device,
        spki_der: spki,
    };
    t.tbs(&fields, &mut out).unwrap();
    out
}

fn window(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (now - Duration::minutes(5), now + Duration::days(365))
}

/// Byte for byte what rcgen writes: issuing CAs with P-256 and Ed25519 keys, as made by `init`
/// and as loaded again from their files, both usages, P-256, P-384 and Ed25519 subject keys,
/// short and long names; the certificate's PEM too.
#[test]
fn template_writes_what_rcgen_writes() {
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let dir = tempfile::tempdir().unwrap();
        let fresh = ca(dir.path(), algorithm);
        let loaded = Ca::open(dir.path(), None).unwrap();
        for ca in [&fresh, &loaded] {
            let issuing = ca.current();
            for usage in [Usage::Client, Usage::Server] {
                let t = DeviceTemplate::new(issuing, usage).unwrap();
                for alg in [
                    &rcgen::PKCS_ECDSA_P256_SHA256,
                    &rcgen::PKCS_ECDSA_P384_SHA384,
                    &rcgen::PKCS_ED25519,
                ] {
                    let key = KeyPair::generate_for(alg).unwrap();
                    let spki = key.subject_public_key_info();
                    for (tenant, device) in [
                        ("acme", "meter-1"),
                        ("t", "d"),
                        (&*"x".repeat(64), &*"dev/ice:=@".repeat(12)),
                    ] {
                        let octets = Serial::random_octets().unwrap();
                        let w = window(OffsetDateTime::now_utc());
                        let (want, der, pem) =
                            rcgen_tbs(issuing, usage, tenant, device, &key, &spki, &octets, w);
                        let got = template_tbs(&t, tenant, device, &spki, &octets, w);
                        assert_eq!(got, want, "{algorithm:?} {usage:?} {alg:?} {device}");
                        assert_eq!(super::pem(&der), pem);
                    }
                }
            }
        }
    }
}

/// A template that would write anything else than rcgen is refused when it is made.
#[test]
fn a_template_unlike_rcgen_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path(), KeyAlgorithm::EcdsaP256);
    let issuing = ca.current();
    let t = DeviceTemplate::new(issuing, Usage::Client).unwrap();
    assert!(Authority::template_matches_rcgen(&t, issuing));
    let mut wrong = DeviceTemplate::new(issuing, Usage::Client).unwrap();
    wrong.tail = [EXT_KEY_USAGE, EXT_EKU_SERVER].concat();
    assert!(!Authority::template_matches_rcgen(&wrong, issuing));
}

/// rcgen's own SubjectPublicKeyInfo is the canonical form; a key in another encoding (a
/// compressed point) is not, and goes through rcgen.
#[test]
fn canonical_spki_forms() {
    for (alg, kt) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, KeyType::EcdsaP256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, KeyType::EcdsaP384),
        (&rcgen::PKCS_ED25519, KeyType::Ed25519),
    ] {
        let key = KeyPair::generate_for(alg).unwrap();
        let spki = key.subject_public_key_info();
        assert!(canonical_spki(&kt, &spki, key.der_bytes()), "{kt:?}");
        assert!(!canonical_spki(
            &kt,
            &spki[..spki.len() - 1],
            key.der_bytes()
        ));
        assert!(!canonical_spki(
            &KeyType::Rsa { bits: 2048 },
            &spki,
            key.der_bytes()
        ));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut compressed = vec![
        0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
    ];
    let point = key.der_bytes();
    compressed.push(2 + (point[64] & 1));
    compressed.extend_from_slice(&point[1..33]);
    assert!(!canonical_spki(
        &KeyType::EcdsaP256,
        &compressed,
        &compressed[26..]
    ));
}

/// Through the authority: a P-256 request takes the template, and the certificate verifies
/// under the issuing CA (and with `openssl verify` against the chain when openssl is there).
#[test]
fn issued_from_the_template_verifies() {
    let dir = tempfile::tempdir().unwrap();
    ca(dir.path(), KeyAlgorithm::EcdsaP256);
    let auth = Authority::open(dir.path(), None, AuthorityConfig::default()).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "ignored");
    let csr = p.serialize_request(&key).unwrap().der().to_vec();
    let (tenant, device) = (
        TenantId::parse("acme").unwrap(),
        DeviceId::parse("meter-7").unwrap(),
    );
    let issued = auth.issue(&tenant, &device, "device", &csr).unwrap();
    {
        let ca = auth.ca();
        assert!(auth.template(ca.current(), Usage::Client).is_some());
    }
    let (_, x) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    let ca = auth.ca();
    let (_, issuer) = x509_parser::parse_x509_certificate(&ca.current().cert_der).unwrap();
    x.verify_signature(Some(issuer.public_key())).unwrap();
    assert_eq!(x.issuer().as_raw(), issuer.subject().as_raw());
    assert_eq!(Serial::from_bytes(x.raw_serial()), issued.record.serial);
    assert_eq!(x.validity().not_after.timestamp(), issued.record.not_after);
    assert_eq!(x.public_key().raw, key.subject_public_key_info().as_slice());
    assert!(!x.tbs_certificate.is_ca());
    let openssl_ok = Command::new("openssl").arg("version").output().is_ok();
    if !openssl_ok {
        eprintln!("issued_from_the_template_verifies: openssl not found, skipping openssl verify");
        return;
    }
    let cert = dir.path().join("device.pem");
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    let root = dir.path().join("root.pem");
    let chain = dir.path().join("issuing.pem");
    std::fs::write(&chain, &ca.current().cert_pem).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(&chain)
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names as the id parsers accept them.
fn tenant_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,64}"
}

fn device_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._:/=@-]{1,128}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any device, tenant, serial and validity (UTCTime and GeneralizedTime years alike):
    /// the TBSCertificate parses back to the same fields, and is what rcgen writes.
    #[test]
    fn template_fields_round_trip(
        tenant in tenant_name(),
        device in device_name(),
        first in 1u8..=0x7f,
        rest in proptest::array::uniform15(any::<u8>()),
        start in -2_208_988_800i64..4_102_444_800,
        days in 1i64..20_000,
        server in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca(dir.path(), KeyAlgorithm::EcdsaP256);
        let issuing = ca.current();
        let usage = if server { Usage::Server } else { Usage::Client };
        let t = DeviceTemplate::new(issuing, usage).unwrap();
        let mut octets = [first; 16];
        octets[1..].copy_from_slice(&rest);
        let not_before = OffsetDateTime::from_unix_timestamp(start).unwrap();
        let w = (not_before, not_before + Duration::days(days));
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = key.subject_public_key_info();
        let tbs = template_tbs(&t, &tenant, &device, &spki, &octets, w);
        let (rest_der, x) = TbsCertificate::from_der(&tbs).unwrap();
        prop_assert!(rest_der.is_empty());
        prop_assert_eq!(x.raw_serial(), &octets[..]);
        prop_assert_eq!(x.validity.not_before.timestamp(), w.0.unix_timestamp());
        prop_assert_eq!(x.validity.not_after.timestamp(), w.1.unix_timestamp());
        let org = x.subject.iter_organization().next().unwrap().as_str().unwrap();
        let cn = x.subject.iter_common_name().next().unwrap().as_str().unwrap();
        prop_assert_eq!((org, cn), (tenant.as_str(), device.as_str()));
        prop_assert_eq!(x.subject_pki.raw, spki.as_slice());
        let san = x.subject_alternative_name().unwrap().unwrap();
        let want = format!("urn:rampart:device:{tenant}/{device}");
        prop_assert!(matches!(san.value.general_names.as_slice(), [GeneralName::URI(u)] if *u == want));
        let (want_tbs, _, _) = rcgen_tbs(issuing, usage, &tenant, &device, &key, &spki, &octets, w);
        prop_assert_eq!(tbs, want_tbs);
    }
}
