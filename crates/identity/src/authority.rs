//! The authority: a CA directory, its issuance index, its enrolment tokens and the profiles it
//! issues under, behind one thread-safe handle.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rampart_core::{DeviceId, TenantId};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::crl::{self, CrlSet};
use crate::csr::{self, VerifiedCsr};
use crate::index::{CertRecord, Revocation, RevocationReason, RevokeOutcome};
use crate::keys::{KeyAlgorithm, KeyProtection};
use crate::profile::{Profile, Usage};
use crate::{Ca, CertIndex, FileIndex, IdentityError, Passphrase, Serial, TokenStore};

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
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
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
        if !profile.accepts(&csr.key_type) {
            return Err(IdentityError::Policy(format!(
                "key type {:?} not allowed by profile {}",
                csr.key_type, profile.name
            )));
        }
        if profile.reject_duplicate_keys {
            let spki = sha256_hex(&csr.spki_der);
            let other = self
                .index
                .by_spki(&spki)
                .into_iter()
                .find(|r| r.tenant != tenant.as_str() || r.subject != device.as_str());
            if let Some(other) = other {
                metrics::counter!("rampart_identity_duplicate_key_total").increment(1);
                return Err(IdentityError::Policy(format!(
                    "public key already certified for another device (serial {})",
                    other.serial
                )));
            }
        }
        Ok(csr)
    }

    /// Verifies a CSR, applies policy, signs and records a device certificate.
    pub fn issue(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &str,
        csr_der: &[u8],
    ) -> Result<Issued, IdentityError> {
        let csr = self.check_csr(tenant, device, profile, csr_der)?;
        let issued = self.sign(tenant, device.as_str(), profile, &csr.spki_der, &[])?;
        self.index.insert(std::slice::from_ref(&issued.record))?;
        metrics::counter!("rampart_identity_issued_total").increment(1);
        tracing::info!(
            tenant = %tenant, device = %device, serial = %issued.record.serial,
            profile, "certificate issued"
        );
        Ok(issued)
    }

    /// Issues many device certificates with a single index sync. Each request succeeds or fails
    /// on its own; the results come back in request order.
    pub fn issue_batch(
        &self,
        profile: &str,
        requests: &[(TenantId, DeviceId, Vec<u8>)],
    ) -> Result<Vec<Result<Issued, IdentityError>>, IdentityError> {
        let mut out = Vec::with_capacity(requests.len());
        for (tenant, device, der) in requests {
            out.push(
                self.check_csr(tenant, device, profile, der)
                    .and_then(|csr| {
                        self.sign(tenant, device.as_str(), profile, &csr.spki_der, &[])
                    }),
            );
        }
        let records: Vec<CertRecord> = out
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|i| i.record.clone()))
            .collect();
        self.index.insert(&records)?;
        metrics::counter!("rampart_identity_issued_total").increment(records.len() as u64);
        Ok(out)
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
        let issued = self.sign_with(
            &TenantId::default_tenant(),
            service,
            &profile,
            &key.subject_public_key_info(),
            sans,
        )?;
        self.index.insert(std::slice::from_ref(&issued.record))?;
        Ok((issued, Zeroizing::new(key.serialize_pem())))
    }

    fn sign(
        &self,
        tenant: &TenantId,
        subject: &str,
        profile: &str,
        spki_der: &[u8],
        extra_sans: &[SanType],
    ) -> Result<Issued, IdentityError> {
        let profile = self.profile(profile)?.clone();
        let device = DeviceId::parse(subject).map_err(|e| IdentityError::BadId(e.to_string()))?;
        let mut sans = vec![SanType::URI(
            device_urn(tenant, &device)
                .try_into()
                .map_err(|_| IdentityError::BadId(subject.to_owned()))?,
        )];
        sans.extend_from_slice(extra_sans);
        self.sign_with(tenant, subject, &profile, spki_der, sans)
    }

    fn sign_with(
        &self,
        tenant: &TenantId,
        subject: &str,
        profile: &Profile,
        spki_der: &[u8],
        sans: Vec<SanType>,
    ) -> Result<Issued, IdentityError> {
        let spki = rcgen::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|e| IdentityError::Policy(format!("unsupported public key: {e}")))?;
        let ca = self.ca();
        let issuing = ca.current();
        let now = OffsetDateTime::now_utc();
        let cap = OffsetDateTime::from_unix_timestamp(issuing.not_after)
            .map_err(IdentityError::generate)?;
        let serial = Serial::random()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, tenant.as_str());
        dn.push(DnType::CommonName, subject);
        p.distinguished_name = dn;
        p.subject_alt_names = sans;
        p.serial_number = Some(SerialNumber::from_slice(&serial.to_bytes()));
        // Five minutes back-dating absorbs device clock skew.
        p.not_before = now - Duration::minutes(5);
        p.not_after = (now + profile.validity).min(cap);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![match profile.usage {
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        p.use_authority_key_identifier_extension = true;
        let cert = p
            .signed_by(&spki, &issuing.issuer)
            .map_err(IdentityError::generate)?;
        let record = CertRecord {
            serial,
            tenant: tenant.as_str().to_owned(),
            subject: subject.to_owned(),
            profile: profile.name.clone(),
            usage: profile.usage,
            issuer: issuing.id.clone(),
            not_before: p.not_before.unix_timestamp(),
            not_after: p.not_after.unix_timestamp(),
            fingerprint: sha256_hex(cert.der()),
            spki_sha256: sha256_hex(spki_der),
            revoked: None,
        };
        Ok(Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            record,
        })
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

    /// Revokes every unrevoked certificate of a device; returns the serials newly revoked.
    pub fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevocationReason,
    ) -> Result<Vec<Serial>, IdentityError> {
        let mut done = Vec::new();
        for r in self.index.by_subject(tenant.as_str(), device.as_str()) {
            if r.revoked.is_none()
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
