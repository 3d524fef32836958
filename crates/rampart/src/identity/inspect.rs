//! What `rampart ca show` prints and the service's `status` returns: subjects, validity,
//! fingerprints, the CRL, counts and key file modes. Never key material.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rampart_identity::Authority;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One certificate, as an operator compares it with what a device or broker holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CertSummary {
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) serial: String,
    pub(crate) not_before: String,
    pub(crate) not_after: String,
    /// SHA-256 of the DER, colon-separated as `openssl x509 -fingerprint -sha256` prints it.
    pub(crate) sha256: String,
}

/// An issuing CA in service.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IssuingStatus {
    pub(crate) id: String,
    pub(crate) current: bool,
    /// End of its overlap after a rotation.
    pub(crate) retire_after: Option<String>,
    pub(crate) certificate: CertSummary,
}

/// A key file: where, its mode, whether it is encrypted.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct KeyFile {
    pub(crate) path: PathBuf,
    pub(crate) mode: String,
    pub(crate) encrypted: bool,
}

/// The authority at a glance.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdentityStatus {
    pub(crate) ca_dir: PathBuf,
    pub(crate) root: CertSummary,
    /// Whether the root key is in the CA directory or kept offline.
    pub(crate) root_key_offline: bool,
    pub(crate) issuing: Vec<IssuingStatus>,
    pub(crate) crl_number: u64,
    pub(crate) crl_this_update: Option<String>,
    pub(crate) crl_next_update: Option<String>,
    /// Certificates in the index (device and server).
    pub(crate) certificates: usize,
    /// Revoked certificates signed by the issuing CAs in service.
    pub(crate) revoked: usize,
    /// Enrolment tokens not yet used.
    pub(crate) tokens_outstanding: usize,
    pub(crate) key_files: Vec<KeyFile>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn unix(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| secs.to_string(), rfc3339)
}

/// SHA-256 fingerprint, uppercase hex pairs joined by colons.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Subject, issuer, serial, validity and fingerprint of a DER certificate.
pub(crate) fn describe_cert(der: &[u8]) -> anyhow::Result<CertSummary> {
    let (_, x) = x509_parser::parse_x509_certificate(der).context("certificate does not parse")?;
    Ok(CertSummary {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        serial: hex::encode(x.raw_serial()),
        not_before: rfc3339(x.validity().not_before.to_datetime()),
        not_after: rfc3339(x.validity().not_after.to_datetime()),
        sha256: fingerprint(der),
    })
}

fn key_file(path: &Path) -> Option<KeyFile> {
    let meta = std::fs::metadata(path).ok()?;
    let head = std::fs::read(path).ok()?;
    let encrypted = head
        .split(|b| *b == b'\n')
        .next()
        .is_some_and(|l| l.windows(9).any(|w| w == b"ENCRYPTED"));
    Some(KeyFile {
        path: path.to_path_buf(),
        mode: format!("{:04o}", meta.permissions().mode() & 0o7777),
        encrypted,
    })
}

fn key_files(dir: &Path) -> Vec<KeyFile> {
    let mut out: Vec<KeyFile> = key_file(&dir.join("root.key.pem")).into_iter().collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("issuing")) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".key.pem"))
            .collect();
        paths.sort();
        out.extend(paths.iter().filter_map(|p| key_file(p)));
    }
    out
}

/// The status of `auth`.
pub(crate) fn status(auth: &Authority) -> anyhow::Result<IdentityStatus> {
    let ca = auth.ca();
    let dir = ca.dir().to_path_buf();
    let current = ca.current().id.clone();
    let issuing = ca
        .issuing()
        .iter()
        .map(|i| {
            Ok(IssuingStatus {
                id: i.id.clone(),
                current: i.id == current,
                retire_after: i.retire_after.map(unix),
                certificate: describe_cert(&i.cert_der)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let revoked = ca
        .issuing()
        .iter()
        .map(|i| auth.index().revoked_by_issuer(&i.id).len())
        .sum();
    let (this_update, next_update) = std::fs::read(dir.join("crl.der"))
        .ok()
        .and_then(|der| {
            let (_, crl) = x509_parser::parse_x509_crl(&der).ok()?;
            Some((
                Some(rfc3339(crl.last_update().to_datetime())),
                crl.next_update().map(|t| rfc3339(t.to_datetime())),
            ))
        })
        .unwrap_or((None, None));
    Ok(IdentityStatus {
        root: describe_cert(ca.root_der())?,
        root_key_offline: !dir.join("root.key.pem").exists(),
        issuing,
        crl_number: ca.crl_number(),
        crl_this_update: this_update,
        crl_next_update: next_update,
        certificates: auth.index().len(),
        revoked,
        tokens_outstanding: auth.tokens().len(),
        key_files: key_files(&dir),
        ca_dir: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shows_no_key_material_and_private_key_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        rampart_identity::Ca::init(&dir, &rampart_identity::InitOptions::default()).unwrap();
        let auth =
            Authority::open(&dir, None, rampart_identity::AuthorityConfig::default()).unwrap();
        auth.publish_crl().unwrap();
        let s = status(&auth).unwrap();
        assert_eq!(s.crl_number, 1);
        assert!(s.root.subject.contains("Rampart Root CA"), "{s:?}");
        assert_eq!(s.issuing.len(), 1);
        assert!(s.issuing[0].current);
        assert!(s.crl_next_update.is_some());
        assert_eq!(s.key_files.len(), 2);
        assert!(s.key_files.iter().all(|k| k.mode == "0600" && !k.encrypted));
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert_eq!(s.root.sha256.len(), 32 * 3 - 1);
    }
}
