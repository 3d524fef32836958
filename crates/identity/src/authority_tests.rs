use std::os::unix::fs::PermissionsExt;

use rcgen::{CertificateParams, DnType};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::*;
use crate::profile::AllowedKey;
use crate::{CsrError, InitOptions, KeyProtection};

fn fast_protection(p: &str) -> KeyProtection {
    KeyProtection {
        passphrase: Some(Passphrase::new(p)),
        kdf_iterations: 1_000,
    }
}

fn setup(dir: &Path, config: AuthorityConfig) -> Authority {
    Ca::init(dir, &InitOptions::default()).unwrap();
    Authority::open(dir, None, config).unwrap()
}

fn csr(alg: &'static rcgen::SignatureAlgorithm, cn: &str) -> (KeyPair, Vec<u8>) {
    let key = KeyPair::generate_for(alg).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    let der = p.serialize_request(&key).unwrap().der().to_vec();
    (key, der)
}

fn ids(t: &str, d: &str) -> (TenantId, DeviceId) {
    (TenantId::parse(t).unwrap(), DeviceId::parse(d).unwrap())
}

#[test]
fn issues_device_certificate_with_identity() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let (t, d) = ids("acme", "meter-1");
    let (_, der) = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "ignored");
    let issued = auth.issue(&t, &d, "device", &der).unwrap();
    let (_, x) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
    let cn = x
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(cn, "meter-1");
    let san = x.subject_alternative_name().unwrap().unwrap();
    assert!(format!("{:?}", san.value).contains("urn:rampart:device:acme/meter-1"));
    assert_eq!(x.raw_serial().len(), 16);
    assert!(x.validity().time_to_expiration().is_some());
    assert_eq!(auth.index().by_subject("acme", "meter-1").len(), 1);
    // The whole directory is private, keys 0600.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("root.key.pem")), 0o600);
    assert_eq!(mode(&dir.path().join("issuing/issuing-1.key.pem")), 0o600);
    assert_eq!(mode(&dir.path().join("index.jsonl")), 0o600);
}

#[test]
fn bad_signature_and_wrong_key_type_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut profile = Profile::device("p256-only");
    profile.allowed_keys = vec![AllowedKey::EcdsaP256];
    let auth = setup(
        dir.path(),
        AuthorityConfig {
            profiles: vec![profile],
            ..AuthorityConfig::default()
        },
    );
    let (t, d) = ids("acme", "dev-1");
    let (_, ed) = csr(&rcgen::PKCS_ED25519, "dev-1");
    assert!(matches!(
        auth.issue(&t, &d, "p256-only", &ed),
        Err(IdentityError::Policy(_))
    ));
    let (_, mut der) = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "dev-1");
    let pos = der.windows(5).position(|w| w == b"dev-1").unwrap();
    der[pos] ^= 0x20;
    assert!(matches!(
        auth.issue(&t, &d, "p256-only", &der),
        Err(IdentityError::Csr(CsrError::BadSignature))
    ));
    assert!(matches!(
        auth.issue(&t, &d, "nope", &ed),
        Err(IdentityError::UnknownProfile(_))
    ));
    assert!(auth.index().is_empty());
}

#[test]
fn duplicate_key_for_another_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let (t, d1) = ids("acme", "dev-1");
    let (_, d2) = ids("acme", "dev-2");
    let (_, der) = csr(&rcgen::PKCS_ECDSA_P256_SHA256, "x");
    auth.issue(&t, &d1, "device", &der).unwrap();
    // Renewal with the same key for the same device is fine.
    auth.issue(&t, &d1, "device", &der).unwrap();
    assert!(matches!(
        auth.issue(&t, &d2, "device", &der),
        Err(IdentityError::Policy(_))
    ));
}

#[test]
fn revocation_reaches_the_crl_and_blocks_reenrolment() {
    let dir = tempfile::tempdir().unwrap();
    let auth = setup(dir.path(), AuthorityConfig::default());
    let (t, d) = ids("acme", "dev-1");
    let (_, d2) = ids("acme", "dev-2");
    let a = auth
        .issue(
            &t,
            &d,
            "device",
            &csr(&rcgen::PKCS_ECDSA_P256_SHA256, "a").1,
        )
        .unwrap();
    let b = auth
        .issue(
            &t,
            &d,
            "device",
            &csr(&rcgen::PKCS_ECDSA_P256_SHA256, "b").1,
        )
        .unwrap();
    let other = auth
        .issue(&t, &d2, "device", &csr(&rcgen::PKCS_ED25519, "c").1)
        .unwrap();
    assert!(auth.check_current_cert(&a.cert_der).is_ok());
    let first = auth.publish_crl().unwrap();

    let serials = auth
        .revoke_device(&t, &d, RevocationReason::KeyCompromise)
        .unwrap();
    assert_eq!(serials.len(), 2);
    assert_eq!(
        auth.revoke_serial(&a.record.serial, RevocationReason::Unspecified)
            .unwrap(),
        RevokeOutcome::AlreadyRevoked
    );
    assert!(matches!(
        auth.check_current_cert(&a.cert_der),
        Err(IdentityError::ClientCert(_))
    ));
    assert!(auth.check_current_cert(&other.cert_der).is_ok());

    let set = auth.publish_crl().unwrap();
    assert_eq!(set.number, first.number + 1);
    let der = std::fs::read(dir.path().join("crl.der")).unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&der).unwrap();
    let listed: Vec<Serial> = crl
        .iter_revoked_certificates()
        .map(|r| Serial::from_bytes(r.raw_serial()))
        .collect();
    assert!(listed.contains(&a.record.serial));
    assert!(listed.contains(&b.record.serial));
    assert!(!listed.contains(&other.record.serial));
    assert_eq!(
        crl.crl_number().map(|n| n.to_string()),
        Some(set.number.to_string())
    );
    assert!(crl.next_update().is_some());
    // Signed by the issuing CA.
    let ca = auth.ca();
    let (_, issuing) = x509_parser::parse_x509_certificate(&ca.current().cert_der).unwrap();
    crl.verify_signature(issuing.public_key()).unwrap();
    assert!(
        std::fs::read_to_string(dir.path().join("crl.pem"))
            .unwrap()
            .starts_with("-----BEGIN X509 CRL-----")
    );
}

#[test]
fn offline_encrypted_root_and_rotation_with_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let offline = tempfile::tempdir().unwrap();
    let root_key_path = offline.path().join("root.key.pem");
    let opts = InitOptions {
        algorithm: KeyAlgorithm::Ed25519,
        root_key_path: Some(root_key_path.clone()),
        root_key_protection: fast_protection("root pass"),
        issuing_key_protection: fast_protection("issuing pass"),
        ..InitOptions::default()
    };
    let ca_dir = dir.path().join("ca");
    Ca::init(&ca_dir, &opts).unwrap();
    assert!(!ca_dir.join("root.key.pem").exists());
    assert!(matches!(
        Ca::open(&ca_dir, None),
        Err(IdentityError::PassphraseRequired(_))
    ));
    let pass = Passphrase::new("issuing pass");
    let auth = Authority::open(&ca_dir, Some(&pass), AuthorityConfig::default()).unwrap();
    let (t, d) = ids("acme", "dev-1");
    let old = auth
        .issue(&t, &d, "device", &csr(&rcgen::PKCS_ED25519, "x").1)
        .unwrap();
    assert_eq!(old.record.issuer, "issuing-1");

    let root_key = auth
        .ca()
        .load_root_key(Some(&root_key_path), Some(&Passphrase::new("root pass")))
        .unwrap();
    let new_id = auth
        .rotate(
            root_key,
            Duration::days(30),
            &fast_protection("issuing pass"),
        )
        .unwrap();
    assert_eq!(new_id, "issuing-2");
    let fresh = auth
        .issue(&t, &d, "device", &csr(&rcgen::PKCS_ED25519, "y").1)
        .unwrap();
    assert_eq!(fresh.record.issuer, "issuing-2");
    // Both intermediates are in the bundle during the overlap, and each has a CRL.
    let chain = std::fs::read_to_string(ca_dir.join("chain.pem")).unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 3);
    auth.revoke_serial(&old.record.serial, RevocationReason::Superseded)
        .unwrap();
    let set = auth.publish_crl().unwrap();
    assert_eq!(set.ders.len(), 2);
    assert_eq!(set.ders[0].0, "issuing-2");
    drop(auth);

    // Reopened with a zero overlap remaining, the old CA leaves service.
    let mut ca = Ca::open(&ca_dir, Some(&pass)).unwrap();
    assert_eq!(ca.issuing().len(), 2);
    let root_key = ca
        .load_root_key(Some(&root_key_path), Some(&Passphrase::new("root pass")))
        .unwrap();
    ca.rotate(root_key, Duration::ZERO, &fast_protection("issuing pass"))
        .unwrap();
    assert_eq!(ca.prune().unwrap(), vec!["issuing-2".to_owned()]);
    assert_eq!(ca.current().id, "issuing-3");
    let ids: Vec<&str> = ca.issuing().iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["issuing-3", "issuing-1"]);
}

#[test]
fn init_refuses_existing_ca() {
    let dir = tempfile::tempdir().unwrap();
    Ca::init(dir.path(), &InitOptions::default()).unwrap();
    assert!(matches!(
        Ca::init(dir.path(), &InitOptions::default()),
        Err(IdentityError::AlreadyInitialised(_))
    ));
}
