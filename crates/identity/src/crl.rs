//! Certificate revocation lists. One CRL per issuing CA in service (a CRL can only speak for
//! certificates its signer issued), all sharing one monotonically increasing CRL number per
//! publication. Files, each replaced atomically:
//!
//! * `crl.pem`: every CRL, concatenated: what Mosquitto's `crlfile`, `openssl verify -CRLfile`
//!   and rustls read.
//! * `crl.der`: the current issuing CA's CRL alone (DER holds one CRL).
//! * `crl/<issuing-id>.pem` and `.der`: each CRL on its own.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use rustls::pki_types::CertificateRevocationListDer;
use time::{Duration, OffsetDateTime};

use crate::fsutil::{self, PUBLIC_FILE};
use crate::{Ca, CertIndex, IdentityError};

/// A set of freshly published CRLs.
#[derive(Debug, Clone)]
pub struct CrlSet {
    /// CRL number carried by every CRL of the set.
    pub number: u64,
    /// All CRLs, PEM, concatenated.
    pub pem: String,
    /// Each CRL's DER, keyed by issuing CA id, current CA first.
    pub ders: Vec<(String, CertificateRevocationListDer<'static>)>,
    /// nextUpdate of the set (Unix seconds).
    pub next_update: i64,
}

/// Signs and writes the CRLs of every issuing CA in service.
pub fn publish(
    ca: &mut Ca,
    index: &dyn CertIndex,
    next_update: Duration,
) -> Result<CrlSet, IdentityError> {
    let (number, this_update) = ca.next_crl_number()?;
    let now = OffsetDateTime::now_utc();
    let crl_dir = ca.dir().join("crl");
    std::fs::create_dir_all(&crl_dir).map_err(|e| IdentityError::io(&crl_dir, e))?;
    let mut pem = String::new();
    let mut ders = Vec::new();
    for issuing in ca.issuing() {
        // Expired certificates fail validation anyway; RFC 5280 lets CRLs drop them.
        let revoked_certs = index
            .revocations_by_issuer(&issuing.id, now.unix_timestamp())
            .into_iter()
            .filter_map(|r| {
                Some(RevokedCertParams {
                    revocation_time: OffsetDateTime::from_unix_timestamp(r.revocation.at).ok()?,
                    reason_code: Some(r.revocation.reason.rcgen()),
                    serial_number: SerialNumber::from(r.serial),
                    invalidity_date: None,
                })
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update,
            next_update: now + next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&issuing.issuer)
            .map_err(IdentityError::generate)?;
        let one_pem = crl.pem().map_err(IdentityError::generate)?;
        fsutil::write_atomic(
            &crl_dir.join(format!("{}.der", issuing.id)),
            crl.der(),
            PUBLIC_FILE,
        )?;
        fsutil::write_atomic(
            &crl_dir.join(format!("{}.pem", issuing.id)),
            one_pem.as_bytes(),
            PUBLIC_FILE,
        )?;
        pem.push_str(&one_pem);
        ders.push((issuing.id.clone(), crl.der().clone()));
    }
    if let Some((_, current)) = ders.first() {
        fsutil::write_atomic(&ca.dir().join("crl.der"), current, PUBLIC_FILE)?;
    }
    fsutil::write_atomic(&ca.dir().join("crl.pem"), pem.as_bytes(), PUBLIC_FILE)?;
    metrics::counter!("rampart_identity_crl_published_total").increment(1);
    tracing::info!(crl_number = number, "crl published");
    Ok(CrlSet {
        number,
        pem,
        ders,
        next_update: (now + next_update).unix_timestamp(),
    })
}
