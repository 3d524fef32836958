//! Device certificates: listing a device's certificates and revoking them. The serving process
//! owns the identity authority ([`IdentityControl`]); without it (tests, tools, no CA) the
//! routes answer 503.

pub(crate) mod routes;

use async_trait::async_trait;
use rampart_core::{DeviceId, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a certificate is revoked: the RFC 5280 reason codes Rampart uses, as the CLI's
/// `--reason` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// No reason given.
    #[default]
    Unspecified,
    /// The device key is known or suspected to be compromised.
    KeyCompromise,
    /// Replaced by another certificate.
    Superseded,
    /// The device was decommissioned.
    CessationOfOperation,
}

impl RevokeReason {
    /// Every reason, as the API spells it.
    pub const ALL: [Self; 4] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::Superseded,
        Self::CessationOfOperation,
    ];

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key_compromise",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation_of_operation",
        }
    }

    /// Parses a reason; `key-compromise` (the CRL and index spelling) is accepted too.
    pub fn parse(s: &str) -> Option<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL.into_iter().find(|r| r.as_str() == norm)
    }
}

/// One certificate issued by the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CertificateView {
    /// Serial number, lowercase hex (as `openssl x509 -serial` prints it, without colons).
    pub serial: String,
    /// Tenant of the device.
    pub tenant: String,
    /// Device id (the certificate's CN).
    pub device: String,
    /// Issuance profile.
    pub profile: String,
    /// `client` for device certificates, `server` for brokers and the EST endpoint.
    pub usage: String,
    /// Id of the issuing CA that signed it.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the certificate DER, lowercase hex.
    pub fingerprint_sha256: String,
    /// Whether it is revoked.
    pub revoked: bool,
    /// When it was revoked, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Why it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<RevokeReason>,
    /// `valid`, `expired`, `not_yet_valid` or `revoked`, now.
    pub status: String,
}

/// What one step after the revocation did (the CRL reload command, the broker session cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepOutcome {
    /// `ok` / `not_configured` / `failed` for the reload; `not_requested` / `disabled` /
    /// `already_disabled` / `not_found` / `error` for the session cut.
    pub status: String,
    /// What went wrong, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The outcome of a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevocationOutcome {
    /// Tenant of the device.
    pub tenant: String,
    /// The device.
    pub device: String,
    /// Serials newly revoked (empty when they all were already).
    pub revoked: Vec<String>,
    /// Reason recorded.
    pub reason: RevokeReason,
    /// Number of the CRL published afterwards (served at `/crl.pem` and `/crl.der`).
    pub crl_number: u64,
    /// The `crl_reload_command`.
    pub crl_reload: StepOutcome,
    /// The broker session cut (`not_requested` unless `cut_sessions` was asked for).
    pub session_cut: StepOutcome,
}

/// Why the identity authority refused.
#[derive(Debug, thiserror::Error)]
pub enum IdentityControlError {
    /// No such certificate or device (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked.
    #[error("{message}")]
    Invalid {
        /// One line.
        message: String,
        /// Every problem.
        details: Vec<String>,
    },
    /// The authority failed (files, keys, peers).
    #[error("{0}")]
    Internal(String),
}

/// What the serving process's identity authority offers the API. `actor` is the caller's token
/// name, recorded in the audit log.
#[async_trait]
pub trait IdentityControl: Send + Sync {
    /// Device certificates issued to `device` in `tenant`, oldest first (empty when none).
    async fn device_certificates(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Vec<CertificateView>, IdentityControlError>;

    /// One certificate by serial (normalised lowercase hex), whatever its tenant: the route
    /// decides whether the caller may see it.
    async fn certificate(
        &self,
        serial: &str,
    ) -> Result<Option<CertificateView>, IdentityControlError>;

    /// Whether revocations can disable the device at a broker (`[identity.broker]`).
    fn can_cut_sessions(&self) -> bool;

    /// Revokes every unrevoked device certificate of `device`, republishes the CRL, runs the
    /// reload command and, with `cut_sessions`, disables the device at the broker.
    async fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError>;

    /// [`Self::revoke_device`] for one certificate.
    async fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_both_spellings() {
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
            assert_eq!(RevokeReason::parse(&r.as_str().replace('_', "-")), Some(r));
            let json = serde_json::to_value(r).unwrap_or_default();
            assert_eq!(json, r.as_str());
        }
        assert_eq!(RevokeReason::parse("stolen"), None);
        assert_eq!(RevokeReason::parse(""), None);
    }
}
