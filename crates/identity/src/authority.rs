//! The authority: a CA directory, its issuance index, its enrolment tokens and the profiles it
//! issues under, behind one thread-safe handle.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rampart_core::{DeviceId, TenantId};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::ca::IssuingCa;
use crate::crl::{self, CrlSet};
use crate::csr::{self, VerifiedCsr};
use crate::index::{CertRecord, Revocation, RevocationReason, RevokeOutcome};
use crate::keys::{KeyAlgorithm, KeyProtection};
use crate::profile::{KeyType, Profile, Usage};
use crate::{Ca, CertIndex, FileIndex, IdentityError, Passphrase, Serial, TokenStore};

mod issue;
mod template;

pub use issue::{Signed, default_threads};
pub(crate) use template::pem;

use template::{DeviceFields, DeviceTemplate};

/// Settings of an [`Authority`].
#[derive(Debug, Clone)]
pub struct AuthorityConfig {
    /// Profiles certificates can be issued under.
    pub profiles: Vec<Profile>,
    /// How far ahead each CRL's nextUpdate lies; republish before then.
    pub crl_next_update: Duration,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self {
            profiles: vec![Profile::device("device")],
            crl_next_update: Duration::days(7),
        }
    }
}

/// A freshly issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate DER.
    pub cert_der: CertificateDer<'static>,
    /// Certificate PEM.
    pub cert_pem: String,
    /// What the index recorded.
    pub record: CertRecord,
}

/// The SAN URI naming a device: `urn:rampart:device:<tenant>/<device>`.
pub fn device_urn(tenant: &TenantId, device: &DeviceId) -> String {
    format!("urn:rampart:device:{}/{}", tenant.as_str(), device.as_str())
}

/// The device identity authority.
pub struct Authority {
    ca: RwLock<Ca>,
    index: Arc<dyn CertIndex>,
    tokens: TokenStore,
    profiles: HashMap<String, Profile>,
    crl_next_update: Duration,
    /// Keys (SPKI SHA-256) of certificates being recorded, with their (tenant, device): a
    /// concurrent commit checks against them as well as against the index, so the index
    /// appends of concurrent commits can share one sync.
    in_flight: Mutex<issue::InFlight>,
    /// Device certificate templates by issuing CA and usage; `None` where rcgen builds them.
    templates: Mutex<Vec<TemplateEntry>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A device certificate template: issuing CA id, usage, the template (`None`: rcgen builds).
type TemplateEntry = (String, Usage, Option<Arc<DeviceTemplate>>);

/// A verified CSR's public key as rcgen writes it into a certificate.
struct CsrKey<'a> {
    bits: &'a [u8],
    alg: &'static rcgen::SignatureAlgorithm,
}

impl<'a> CsrKey<'a> {
    /// The key of a CSR whose type rcgen can name; `None` for other types.
    fn new(csr: &'a VerifiedCsr) -> Option<Self> {
        let alg = match csr.key_type {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            KeyType::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
            KeyType::Other(_) => return None,
        };
        Some(Self {
            bits: &csr.public_key,
            alg,
        })
    }
}

impl PublicKeyData for CsrKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.bits
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

fn sha256_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(b);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// A certificate's validity from `now`: five minutes back-dated (device clock skew), the
/// profile's lifetime, never past the issuing CA's own end.
fn validity_window(
    issuing: &IssuingCa,
    profile: &Profile,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), IdentityError> {
    let cap =
        OffsetDateTime::from_unix_timestamp(issuing.not_after).map_err(IdentityError::generate)?;
    Ok((
        now - Duration::minutes(5),
        (now + profile.validity).min(cap),
    ))
}

impl Authority {
    /// Opens a CA directory with its file-backed index (`index.jsonl`) and token store
    /// (`tokens.json`).
    pub fn open(
        dir: &Path,
        passphrase: Option<&Passphrase>,
        config: AuthorityConfig,
    ) -> Result<Self, IdentityError> {
        let ca = Ca::open(dir, passphrase)?;
        let index = Arc::new(FileIndex::open(&dir.join("index.jsonl"))?);
        let tokens = TokenStore::open(&dir.join("tokens.json"))?;
        Ok(Self::new(ca, index, tokens, config))
    }

    /// Assembles an authority from parts (another [`CertIndex`] implementation, say).
    pub fn new(
        ca: Ca,
        index: Arc<dyn CertIndex>,
        tokens: TokenStore,
        config: AuthorityConfig,
    ) -> Self {
        Self {
            ca: RwLock::new(ca),
            index,
            tokens,
            profiles: config
                .profiles
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
            crl_next_update: config.crl_next_update,
            in_flight: Mutex::new(HashMap::new()),
            templates: Mutex::new(Vec::new()),
        }
    }

    /// Read access to the CA (chain, root, issuing CAs).
    pub fn ca(&self) -> RwLockReadGuard<'_, Ca> {
        self.ca
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ca_mut(&self) -> RwLockWriteGuard<'_, Ca> {
        self.ca
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The issuance index.
    pub fn index(&self) -> &dyn CertIndex {
        self.index.as_ref()
    }

    /// The enrolment token store.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// A configured profile.
    pub fn profile(&self, name: &str) -> Result<&Profile, IdentityError> {
        self.profiles
            .get(name)
            .ok_or_else(|| IdentityError::UnknownProfile(name.to_owned()))
    }

    /// Verifies a DER CSR and applies the profile's policy for this device, without issuing.
    pub fn check_csr(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &str,
        csr_der: &[u8],
    ) -> Result<VerifiedCsr, IdentityError> {
        let profile = self.profile(profile)?;
        let csr = csr::verify(csr_der)?;
        Self::key_policy(profile, &csr.key_type)?;
        if profile.reject_duplicate_keys {
            let spki = sha256_hex(&csr.spki_der);
            if let Some(other) = self.key_holder(tenant.as_str(), device.as_str(), &spki) {
                return Err(issue::duplicate_in_index(&other));
            }
        }
        Ok(csr)
    }

    fn key_policy(profile: &Profile, key: &KeyType) -> Result<(), IdentityError> {
        if profile.accepts(key) {
            Ok(())
        } else {
            Err(IdentityError::Policy(format!(
                "key type {key:?} not allowed by profile {}",
                profile.name
            )))
        }
    }

    /// Issues a server certificate (broker, EST endpoint) with a key generated here, for
    /// services the operator runs. `names` are DNS names or IP addresses.
    pub fn issue_server(
        &self,
        service: &str,
        names: &[String],
        validity: Duration,
    ) -> Result<(Issued, Zeroizing<String>), IdentityError> {
        let key = KeyAlgorithm::EcdsaP256.generate()?;
        let profile = Profile {
            name: "server".to_owned(),
            validity,
            allowed_keys: Vec::new(),
            reject_duplicate_keys: false,
            usage: Usage::Server,
        };
        let sans = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => n
                    .clone()
                    .try_into()
                    .map(SanType::DnsName)
                    .map_err(|_| IdentityError::BadId(format!("bad dns name {n:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ca = self.ca();
        let issued = Self::sign_with(
            ca.current(),
            &TenantId::default_tenant(),
            service,
            &profile,
            &key,
            &key.subject_public_key_info(),
            sans,
            KeyType::EcdsaP256,
            Serial::random()?,
            validity_window(ca.current(), &profile, OffsetDateTime::now_utc())?,
        )?;
        drop(ca);
        self.index.insert(std::slice::from_ref(&issued.record))?;
        Ok((issued, Zeroizing::new(key.serialize_pem())))
    }

    /// Signs a device certificate for a verified CSR's key: subject `O=<tenant>,
    /// CN=<device>`, SAN URI naming both.
    fn sign(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &Profile,
        csr: &VerifiedCsr,
    ) -> Result<Issued, IdentityError> {
        let octets = Serial::random_octets()?;
        let serial = Serial::from_bytes(&octets);
        let now = OffsetDateTime::now_utc();
        let ca = self.ca();
        let issuing = ca.current();
        let (not_before, not_after) = validity_window(issuing, profile, now)?;
        if template::canonical_spki(&csr.key_type, &csr.spki_der, &csr.public_key)
            && let Some(t) = self.template(issuing, profile.usage)
        {
            let fields = DeviceFields {
                serial: &octets,
                not_before,
                not_after,
                tenant: tenant.as_str(),
                device: device.as_str(),
                spki_der: &csr.spki_der,
            };
            let mut tbs = Vec::with_capacity(512);
            t.tbs(&fields, &mut tbs)?;
            let der = t.certificate(issuing.issuer.key(), &tbs)?;
            let record = Self::record(
                issuing,
                tenant,
                device.as_str(),
                profile,
                (not_before, not_after),
                serial,
                &der,
                &csr.spki_der,
                csr.key_type.clone(),
            );
            return Ok(Issued {
                cert_pem: pem(&der),
                cert_der: CertificateDer::from(der),
                record,
            });
        }
        let sans = vec![SanType::URI(
            device_urn(tenant, device)
                .try_into()
                .map_err(|_| IdentityError::BadId(device.as_str().to_owned()))?,
        )];
        let key = csr.key_type.clone();
        let subject = device.as_str();
        // The key as the CSR carried it, already parsed; other key types go through rcgen's
        // own SubjectPublicKeyInfo parser.
        match CsrKey::new(csr) {
            Some(k) => Self::sign_with(
                issuing,
                tenant,
                subject,
                profile,
                &k,
                &csr.spki_der,
                sans,
                key,
                serial,
                (not_before, not_after),
            ),
            None => {
                let spki = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der)
                    .map_err(|e| IdentityError::Policy(format!("unsupported public key: {e}")))?;
                Self::sign_with(
                    issuing,
                    tenant,
                    subject,
                    profile,
                    &spki,
                    &csr.spki_der,
                    sans,
                    key,
                    serial,
                    (not_before, not_after),
                )
            }
        }
    }

    /// The device certificate template of an issuing CA and usage, made (and checked against
    /// rcgen) on first use.
    fn template(&self, issuing: &IssuingCa, usage: Usage) -> Option<Arc<DeviceTemplate>> {
        let mut cache = self
            .templates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, t)) = cache
            .iter()
            .find(|(id, u, _)| *id == issuing.id && *u == usage)
        {
            return t.clone();
        }
        let t = match DeviceTemplate::new(issuing, usage) {
            Some(t) if Self::template_matches_rcgen(&t, issuing) => Some(Arc::new(t)),
            Some(_) => {
                tracing::warn!(issuer = %issuing.id, ?usage,
                    "device certificate template differs from rcgen's encoding; rcgen builds them");
                None
            }
            None => {
                tracing::debug!(issuer = %issuing.id, ?usage, "device certificates built by rcgen");
                None
            }
        };
        cache.push((issuing.id.clone(), usage, t.clone()));
        t
    }

    /// Whether `t` writes the TBSCertificate rcgen writes, for short names and for names long
    /// enough to need long-form lengths.
    fn template_matches_rcgen(t: &DeviceTemplate, issuing: &IssuingCa) -> bool {
        let key = issuing.issuer.key();
        let spki = key.subject_public_key_info();
        let profile = Profile {
            name: "check".to_owned(),
            validity: Duration::days(365),
            allowed_keys: Vec::new(),
            reject_duplicate_keys: false,
            usage: t.usage,
        };
        let now = OffsetDateTime::now_utc();
        let (long_tenant, long_device) = ("t".repeat(64), "d".repeat(128));
        [("t", "d"), (long_tenant.as_str(), long_device.as_str())]
            .iter()
            .all(|(tenant, device)| {
                let same = || -> Option<bool> {
                    let octets = [0x5a; 16];
                    let (tenant, device) =
                        (TenantId::parse(tenant).ok()?, DeviceId::parse(device).ok()?);
                    let (not_before, not_after) = validity_window(issuing, &profile, now).ok()?;
                    let urn = device_urn(&tenant, &device).try_into().ok()?;
                    let issued = Self::sign_with(
                        issuing,
                        &tenant,
                        device.as_str(),
                        &profile,
                        key,
                        &spki,
                        vec![SanType::URI(urn)],
                        KeyType::EcdsaP256,
                        Serial::from_bytes(&octets),
                        (not_before, not_after),
                    )
                    .ok()?;
                    let (_, x) = x509_parser::parse_x509_certificate(&issued.cert_der).ok()?;
                    let fields = DeviceFields {
                        serial: &octets,
                        not_before,
                        not_after,
                        tenant: tenant.as_str(),
                        device: device.as_str(),
                        spki_der: &spki,
                    };
                    let mut tbs = Vec::new();
                    t.tbs(&fields, &mut tbs).ok()?;
                    Some(tbs.as_slice() == x.tbs_certificate.as_ref())
                };
                same() == Some(true)
            })
    }

    /// Builds and signs a certificate with rcgen, valid from `not_before` to `not_after`.
    #[allow(clippy::too_many_arguments)]
    fn sign_with(
        issuing: &IssuingCa,
        tenant: &TenantId,
        subject: &str,
        profile: &Profile,
        spki: &impl PublicKeyData,
        spki_der: &[u8],
        sans: Vec<SanType>,
        key: KeyType,
        serial: Serial,
        (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    ) -> Result<Issued, IdentityError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, tenant.as_str());
        dn.push(DnType::CommonName, subject);
        p.distinguished_name = dn;
        p.subject_alt_names = sans;
        p.serial_number = Some(SerialNumber::from_slice(&serial.to_bytes()));
        p.not_before = not_before;
        p.not_after = not_after;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![match profile.usage {
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(spki, &issuing.issuer)
            .map_err(IdentityError::generate)?;
        let record = Self::record(
            issuing,
            tenant,
            subject,
            profile,
            (not_before, not_after),
            serial,
            cert.der(),
            spki_der,
            key,
        );
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            record,
        })
    }

    /// What the index records of a certificate.
    #[allow(clippy::too_many_arguments)]
    fn record(
        issuing: &IssuingCa,
        tenant: &TenantId,
        subject: &str,
        profile: &Profile,
        (not_before, not_after): (OffsetDateTime, OffsetDateTime),
        serial: Serial,
        cert_der: &[u8],
        spki_der: &[u8],
        key: KeyType,
    ) -> CertRecord {
        CertRecord {
            serial,
            tenant: tenant.as_str().to_owned(),
            subject: subject.to_owned(),
            profile: profile.name.clone(),
            usage: profile.usage,
            issuer: issuing.id.clone(),
            not_before: not_before.unix_timestamp(),
            not_after: not_after.unix_timestamp(),
            fingerprint: sha256_hex(cert_der),
            spki_sha256: sha256_hex(spki_der),
            key: Some(key),
            revoked: None,
        }
    }

    /// Revokes one certificate. Publish a CRL afterwards ([`Self::publish_crl`]).
    pub fn revoke_serial(
        &self,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<RevokeOutcome, IdentityError> {
        let rev = Revocation {
            at: OffsetDateTime::now_utc().unix_timestamp(),
            reason,
        };
        let out = self.index.revoke(serial, rev)?;
        if out == RevokeOutcome::Revoked {
            metrics::counter!("rampart_identity_revoked_total").increment(1);
            tracing::info!(serial = %serial, ?reason, "certificate revoked");
        }
        Ok(out)
    }

    /// Revokes every unrevoked device (client) certificate of a device; returns the serials
    /// newly revoked. A server certificate that happens to carry the same name is left alone:
    /// revoke it by serial.
    pub fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevocationReason,
    ) -> Result<Vec<Serial>, IdentityError> {
        let mut done = Vec::new();
        for r in self.index.by_subject(tenant.as_str(), device.as_str()) {
            if r.revoked.is_none()
                && r.usage == Usage::Client
                && self.revoke_serial(&r.serial, reason)? == RevokeOutcome::Revoked
            {
                done.push(r.serial);
            }
        }
        Ok(done)
    }

    /// Signs and writes fresh CRLs (`crl.pem`, `crl.der`, `crl/`), CRL number incremented.
    pub fn publish_crl(&self) -> Result<CrlSet, IdentityError> {
        let mut ca = self.ca_mut();
        ca.prune()?;
        crl::publish(&mut ca, self.index.as_ref(), self.crl_next_update)
    }

    /// Rotates the issuing CA (see [`Ca::rotate`]) and republishes the CRLs.
    pub fn rotate(
        &self,
        root_key: KeyPair,
        overlap: Duration,
        protection: &KeyProtection,
    ) -> Result<String, IdentityError> {
        let id = self
            .ca_mut()
            .rotate(root_key, overlap, protection)?
            .id
            .clone();
        self.publish_crl()?;
        Ok(id)
    }

    /// Checks that a client certificate is one this authority issued, byte for byte, and is
    /// still valid and unrevoked; returns its record. Used to authorise re-enrolment.
    pub fn check_current_cert(&self, cert_der: &[u8]) -> Result<CertRecord, IdentityError> {
        let (_, x) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|_| IdentityError::ClientCert("unparsable certificate".into()))?;
        let serial = Serial::from_bytes(x.raw_serial());
        let rec = self
            .index
            .get(&serial)
            .ok_or_else(|| IdentityError::ClientCert("not issued by this authority".into()))?;
        if rec.fingerprint != sha256_hex(cert_der) {
            return Err(IdentityError::ClientCert(
                "certificate differs from the one issued under its serial".into(),
            ));
        }
        if rec.revoked.is_some() {
            return Err(IdentityError::ClientCert("certificate is revoked".into()));
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if rec.not_after <= now || rec.not_before > now {
            return Err(IdentityError::ClientCert(
                "certificate is not valid now".into(),
            ));
        }
        if rec.usage != Usage::Client {
            return Err(IdentityError::ClientCert("not a device certificate".into()));
        }
        Ok(rec)
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
