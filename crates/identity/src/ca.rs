//! The certificate authority: an offline-capable root signing one or more issuing intermediates.
//! See the crate documentation for the directory layout.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::fsutil::{self, PUBLIC_FILE};
use crate::keys::{self, KeyAlgorithm, KeyProtection};
use crate::{IdentityError, Passphrase, Serial};

const META_FILE: &str = "ca.json";
const META_VERSION: u32 = 1;

/// Options for [`Ca::init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Organisation name put in the CA subjects.
    pub name: String,
    /// Key algorithm of the root and issuing keys.
    pub algorithm: KeyAlgorithm,
    /// Root certificate lifetime.
    pub root_validity: Duration,
    /// Issuing certificate lifetime.
    pub issuing_validity: Duration,
    /// Where to write the root key. `None` keeps it as `root.key.pem` in the CA directory; a
    /// path elsewhere (removable media) lets the root stay offline: it is needed again only to
    /// rotate the issuing CA.
    pub root_key_path: Option<PathBuf>,
    /// Protection of the root key file.
    pub root_key_protection: KeyProtection,
    /// Protection of issuing key files; the same passphrase opens the CA later.
    pub issuing_key_protection: KeyProtection,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            name: "Rampart".to_owned(),
            algorithm: KeyAlgorithm::EcdsaP256,
            root_validity: Duration::days(365 * 20),
            issuing_validity: Duration::days(365 * 5),
            root_key_path: None,
            root_key_protection: KeyProtection::none(),
            issuing_key_protection: KeyProtection::none(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IssuingMeta {
    id: String,
    not_before: i64,
    not_after: i64,
    /// End of the overlap after a rotation: the CA leaves the chain bundle then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retire_after: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaMeta {
    version: u32,
    name: String,
    algorithm: KeyAlgorithm,
    issuing_validity_secs: i64,
    root_key_in_dir: bool,
    issuing: Vec<IssuingMeta>,
    current: String,
    next_issuing: u32,
    crl_number: u64,
    /// thisUpdate of the last CRL set (Unix seconds): the next one is strictly later, so a
    /// relying party holding both (OpenSSL keeps the newest by thisUpdate) picks the new one.
    #[serde(default)]
    crl_this_update: i64,
}

/// An issuing (intermediate) CA that is in service: the current one, or an older one during its
/// rotation overlap.
pub struct IssuingCa {
    /// Stable id, also the file stem under `issuing/`.
    pub id: String,
    /// Certificate DER.
    pub cert_der: CertificateDer<'static>,
    /// Certificate PEM.
    pub cert_pem: String,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// When it leaves service after a rotation (Unix seconds).
    pub retire_after: Option<i64>,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for IssuingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingCa")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

/// A CA directory opened for issuing.
#[derive(Debug)]
pub struct Ca {
    dir: PathBuf,
    meta: CaMeta,
    root_der: CertificateDer<'static>,
    root_pem: String,
    issuing: Vec<IssuingCa>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(
    cn: &str,
    org: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    path_len: u8,
) -> Result<CertificateParams, IdentityError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(
        &Serial::random()?.to_bytes(),
    ));
    p.use_authority_key_identifier_extension = path_len == 0;
    Ok(p)
}

impl Ca {
    /// Creates a new CA in `dir` (made mode 0700): a root and a first issuing CA.
    pub fn init(dir: &Path, opts: &InitOptions) -> Result<Self, IdentityError> {
        if dir.join(META_FILE).exists() {
            return Err(IdentityError::AlreadyInitialised(dir.to_path_buf()));
        }
        fsutil::create_private_dir(dir)?;
        fsutil::create_private_dir(&dir.join("issuing"))?;
        let t = now();
        let root_key = opts.algorithm.generate()?;
        let root_params = ca_params(
            &format!("{} Root CA", opts.name),
            &opts.name,
            t - Duration::hours(1),
            t + opts.root_validity,
            1,
        )?;
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(IdentityError::generate)?;
        let root_key_path = opts
            .root_key_path
            .clone()
            .unwrap_or_else(|| dir.join("root.key.pem"));
        keys::write_key(&root_key_path, &root_key, &opts.root_key_protection)?;
        fsutil::write_atomic(
            &dir.join("root.pem"),
            root_cert.pem().as_bytes(),
            PUBLIC_FILE,
        )?;
        let mut ca = Self {
            dir: dir.to_path_buf(),
            meta: CaMeta {
                version: META_VERSION,
                name: opts.name.clone(),
                algorithm: opts.algorithm,
                issuing_validity_secs: opts.issuing_validity.whole_seconds(),
                root_key_in_dir: opts.root_key_path.is_none(),
                issuing: Vec::new(),
                current: String::new(),
                next_issuing: 1,
                crl_number: 0,
                crl_this_update: 0,
            },
            root_der: root_cert.der().clone(),
            root_pem: root_cert.pem(),
            issuing: Vec::new(),
        };
        let root_issuer = Issuer::new(root_params, root_key);
        ca.add_issuing(&root_issuer, &opts.issuing_key_protection)?;
        ca.save()?;
        Ok(ca)
    }

    /// Opens an existing CA directory, loading every issuing CA still in service.
    pub fn open(dir: &Path, passphrase: Option<&Passphrase>) -> Result<Self, IdentityError> {
        let bad = |reason: String| IdentityError::BadCaDir {
            path: dir.to_path_buf(),
            reason,
        };
        let meta: CaMeta = serde_json::from_slice(&fsutil::read(&dir.join(META_FILE))?)
            .map_err(|e| bad(format!("ca.json: {e}")))?;
        if meta.version != META_VERSION {
            return Err(bad(format!("unsupported version {}", meta.version)));
        }
        let root_pem = fsutil::read_string(&dir.join("root.pem"))?;
        let root_der = pem_to_der(&root_pem).ok_or_else(|| bad("root.pem unreadable".into()))?;
        let mut ca = Self {
            dir: dir.to_path_buf(),
            meta,
            root_der,
            root_pem,
            issuing: Vec::new(),
        };
        let t = now().unix_timestamp();
        for m in ca.meta.issuing.clone() {
            if m.id != ca.meta.current && !in_service(&m, t) {
                continue;
            }
            ca.issuing.push(ca.load_issuing(&m, passphrase)?);
        }
        ca.order_issuing();
        if ca.issuing.first().map(|i| i.id.as_str()) != Some(ca.meta.current.as_str()) {
            return Err(bad("current issuing ca missing".into()));
        }
        ca.write_chain()?;
        Ok(ca)
    }

    fn load_issuing(
        &self,
        m: &IssuingMeta,
        passphrase: Option<&Passphrase>,
    ) -> Result<IssuingCa, IdentityError> {
        let cert_path = self.dir.join("issuing").join(format!("{}.pem", m.id));
        let key_path = self.dir.join("issuing").join(format!("{}.key.pem", m.id));
        let cert_pem = fsutil::read_string(&cert_path)?;
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| IdentityError::BadCaDir {
            path: cert_path.clone(),
            reason: "certificate unreadable".into(),
        })?;
        let key = keys::load_key(&key_path, passphrase)?;
        check_key_matches(&cert_der, &key, &key_path)?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key).map_err(IdentityError::generate)?;
        Ok(IssuingCa {
            id: m.id.clone(),
            cert_der,
            cert_pem,
            not_after: m.not_after,
            retire_after: m.retire_after,
            issuer,
        })
    }

    /// Loads the root key (from the CA directory, or from wherever it is kept offline) and
    /// checks that it belongs to this CA's root certificate.
    pub fn load_root_key(
        &self,
        path: Option<&Path>,
        passphrase: Option<&Passphrase>,
    ) -> Result<KeyPair, IdentityError> {
        let p = path.map_or_else(|| self.dir.join("root.key.pem"), Path::to_path_buf);
        let key = keys::load_key(&p, passphrase)?;
        check_key_matches(&self.root_der, &key, &p)?;
        Ok(key)
    }

    /// Issues a new issuing CA and makes it current. The previous one stays in the chain bundle
    /// (and keeps signing its own CRL) for `overlap`, so certificates it issued keep verifying
    /// while devices re-enrol; choose an overlap at least as long as the device certificate
    /// lifetime for a seamless switch.
    pub fn rotate(
        &mut self,
        root_key: KeyPair,
        overlap: Duration,
        protection: &KeyProtection,
    ) -> Result<&IssuingCa, IdentityError> {
        check_key_matches(&self.root_der, &root_key, &self.dir)?;
        let root_issuer =
            Issuer::from_ca_cert_der(&self.root_der, root_key).map_err(IdentityError::generate)?;
        let retire = (now() + overlap).unix_timestamp();
        let old = self.meta.current.clone();
        for m in &mut self.meta.issuing {
            if m.id == old {
                m.retire_after = Some(retire.min(m.not_after));
            }
        }
        for i in &mut self.issuing {
            if i.id == old {
                i.retire_after = Some(retire.min(i.not_after));
            }
        }
        self.add_issuing(&root_issuer, protection)?;
        self.save()?;
        tracing::info!(previous = %old, current = %self.meta.current, "issuing ca rotated");
        self.current_ok()
    }

    fn current_ok(&self) -> Result<&IssuingCa, IdentityError> {
        self.issuing.first().ok_or_else(|| IdentityError::BadCaDir {
            path: self.dir.clone(),
            reason: "no issuing ca".into(),
        })
    }

    fn add_issuing(
        &mut self,
        root: &Issuer<'_, KeyPair>,
        protection: &KeyProtection,
    ) -> Result<(), IdentityError> {
        let n = self.meta.next_issuing;
        let id = format!("issuing-{n}");
        let t = now();
        let key = self.meta.algorithm.generate()?;
        let params = ca_params(
            &format!("{} Issuing CA {n}", self.meta.name),
            &self.meta.name,
            t - Duration::hours(1),
            t + Duration::seconds(self.meta.issuing_validity_secs),
            0,
        )?;
        let cert = params
            .signed_by(&key, root)
            .map_err(IdentityError::generate)?;
        let base = self.dir.join("issuing");
        keys::write_key(&base.join(format!("{id}.key.pem")), &key, protection)?;
        fsutil::write_atomic(
            &base.join(format!("{id}.pem")),
            cert.pem().as_bytes(),
            PUBLIC_FILE,
        )?;
        let m = IssuingMeta {
            id: id.clone(),
            not_before: params.not_before.unix_timestamp(),
            not_after: params.not_after.unix_timestamp(),
            retire_after: None,
        };
        self.issuing.push(IssuingCa {
            id: id.clone(),
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            not_after: m.not_after,
            retire_after: None,
            issuer: Issuer::new(params, key),
        });
        self.meta.issuing.push(m);
        self.meta.current = id;
        self.meta.next_issuing = n.saturating_add(1);
        self.order_issuing();
        Ok(())
    }

    /// Current first, then the others newest first.
    fn order_issuing(&mut self) {
        let current = self.meta.current.clone();
        self.issuing
            .sort_by_key(|i| (i.id != current, std::cmp::Reverse(i.not_after)));
    }

    /// Drops issuing CAs whose overlap ended or that expired from service and from the chain.
    /// Returns the ids retired.
    pub fn prune(&mut self) -> Result<Vec<String>, IdentityError> {
        let t = now().unix_timestamp();
        let current = self.meta.current.clone();
        let mut gone = Vec::new();
        self.issuing.retain(|i| {
            let keep = i.id == current || (i.not_after > t && i.retire_after.is_none_or(|r| r > t));
            if !keep {
                gone.push(i.id.clone());
            }
            keep
        });
        if !gone.is_empty() {
            self.write_chain()?;
        }
        Ok(gone)
    }

    fn save(&self) -> Result<(), IdentityError> {
        let json = serde_json::to_vec_pretty(&self.meta).map_err(IdentityError::generate)?;
        fsutil::write_atomic(&self.dir.join(META_FILE), &json, fsutil::PRIVATE_FILE)?;
        self.write_chain()
    }

    fn write_chain(&self) -> Result<(), IdentityError> {
        fsutil::write_atomic(
            &self.dir.join("chain.pem"),
            self.chain_pem().as_bytes(),
            PUBLIC_FILE,
        )
    }

    /// Takes the next CRL number and thisUpdate and persists them before any CRL carrying them
    /// is published, so numbers never repeat and times never go back, even across a crash.
    /// thisUpdate is back-dated five minutes for relying parties with slow clocks.
    pub(crate) fn next_crl_number(&mut self) -> Result<(u64, OffsetDateTime), IdentityError> {
        let wanted = (now() - Duration::minutes(5)).unix_timestamp();
        let this_update = wanted.max(self.meta.crl_this_update.saturating_add(1));
        self.meta.crl_number = self.meta.crl_number.saturating_add(1);
        self.meta.crl_this_update = this_update;
        self.save()?;
        let t =
            OffsetDateTime::from_unix_timestamp(this_update).map_err(IdentityError::generate)?;
        Ok((self.meta.crl_number, t))
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The issuing CA new certificates are signed by.
    pub fn current(&self) -> &IssuingCa {
        // `open`, `init` and `rotate` all guarantee the current CA sits first.
        &self.issuing[0]
    }

    /// Issuing CAs in service: the current first, then older ones in their overlap.
    pub fn issuing(&self) -> &[IssuingCa] {
        &self.issuing
    }

    /// Finds an issuing CA in service by id.
    pub fn issuing_by_id(&self, id: &str) -> Option<&IssuingCa> {
        self.issuing.iter().find(|i| i.id == id)
    }

    /// Root certificate DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// Root certificate PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// The last CRL number used.
    pub fn crl_number(&self) -> u64 {
        self.meta.crl_number
    }

    /// Issuing CAs in service followed by the root, PEM: what brokers use as `cafile` and what
    /// `/cacerts` returns.
    pub fn chain_pem(&self) -> String {
        let mut s = String::new();
        for i in &self.issuing {
            s.push_str(&i.cert_pem);
        }
        s.push_str(&self.root_pem);
        s
    }

    /// DER of the issuing CAs in service followed by the root.
    pub fn chain_der(&self) -> Vec<CertificateDer<'static>> {
        let mut v: Vec<_> = self.issuing.iter().map(|i| i.cert_der.clone()).collect();
        v.push(self.root_der.clone());
        v
    }
}

fn in_service(m: &IssuingMeta, t: i64) -> bool {
    m.not_after > t && m.retire_after.is_none_or(|r| r > t)
}

/// Decodes the first PEM certificate in `pem`.
pub(crate) fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes()).ok()
}

fn check_key_matches(
    cert: &CertificateDer<'_>,
    key: &KeyPair,
    path: &Path,
) -> Result<(), IdentityError> {
    let (_, x) = x509_parser::parse_x509_certificate(cert).map_err(|_| IdentityError::BadKey {
        path: path.to_path_buf(),
        reason: "certificate unreadable".into(),
    })?;
    if x.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(IdentityError::BadKey {
            path: path.to_path_buf(),
            reason: "key does not match the certificate".into(),
        });
    }
    Ok(())
}
