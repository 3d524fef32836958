//! The checks and the policy they are measured against.

use rampart_detect::{FindingKind, Severity};
use rampart_identity::KeyType;
use serde::{Deserialize, Serialize};

/// One audit check. The snake_case name is stable: it is the check's id in reports, the
/// finding kind, and the name `audit_disabled_checks` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// A device's newest unrevoked certificate expires within the warning period, or has
    /// expired.
    CertificateExpiring,
    /// A revoked certificate was presented to Rampart's TLS endpoints after its revocation.
    RevokedCertificateInUse,
    /// One public key is certified (unrevoked) for several devices, in any tenants.
    SharedKey,
    /// One certificate was used from several addresses within the sharing window.
    SharedCertificate,
    /// An active registered device has no unrevoked, currently valid client certificate.
    DeviceWithoutIdentity,
    /// A valid certificate's key is below the key policy.
    WeakKey,
    /// A SIM whose IMEI policy accepts any equipment.
    SimWithoutImeiLock,
    /// The root or the current issuing CA expires within the CA warning period.
    CaExpiring,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [Self; 8] = [
        Self::CertificateExpiring,
        Self::RevokedCertificateInUse,
        Self::SharedKey,
        Self::SharedCertificate,
        Self::DeviceWithoutIdentity,
        Self::WeakKey,
        Self::SimWithoutImeiLock,
        Self::CaExpiring,
    ];

    /// The finding kind its results become.
    pub fn kind(self) -> FindingKind {
        match self {
            Self::CertificateExpiring => FindingKind::CertificateExpiring,
            Self::RevokedCertificateInUse => FindingKind::RevokedCertificateInUse,
            Self::SharedKey => FindingKind::SharedKey,
            Self::SharedCertificate => FindingKind::SharedCertificate,
            Self::DeviceWithoutIdentity => FindingKind::DeviceWithoutIdentity,
            Self::WeakKey => FindingKind::WeakKey,
            Self::SimWithoutImeiLock => FindingKind::SimWithoutImeiLock,
            Self::CaExpiring => FindingKind::CaExpiring,
        }
    }

    /// The stable name (`certificate_expiring`, ...).
    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    /// The check named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    /// What it looks for, in one line.
    pub fn title(self) -> &'static str {
        match self {
            Self::CertificateExpiring => {
                "device certificate expiring or expired (newest of its device, unrevoked)"
            }
            Self::RevokedCertificateInUse => {
                "revoked certificate still presented to Rampart's TLS endpoints"
            }
            Self::SharedKey => "one public key certified for several devices",
            Self::SharedCertificate => "one certificate used from several addresses at once",
            Self::DeviceWithoutIdentity => "active device without a valid certificate",
            Self::WeakKey => "certified key below the key policy",
            Self::SimWithoutImeiLock => "SIM usable in any equipment (IMEI policy none)",
            Self::CaExpiring => "root or issuing CA expiring",
        }
    }

    /// The severity of its results. Some results are graver: an expired (rather than
    /// expiring) device certificate is high, an expired CA critical.
    pub fn severity(self) -> Severity {
        match self {
            Self::CertificateExpiring => Severity::Medium,
            Self::RevokedCertificateInUse => Severity::High,
            Self::SharedKey => Severity::High,
            Self::SharedCertificate => Severity::Critical,
            Self::DeviceWithoutIdentity => Severity::Low,
            Self::WeakKey => Severity::High,
            Self::SimWithoutImeiLock => Severity::Low,
            Self::CaExpiring => Severity::High,
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// A device certificate expiring within this many days is reported.
    pub expiry_warning_days: u32,
    /// A root or issuing CA expiring within this many days is reported.
    pub ca_expiry_warning_days: u32,
    /// RSA keys shorter than this are weak (ECDSA P-256/P-384 and Ed25519 always pass; any
    /// other algorithm or curve is weak).
    pub min_rsa_bits: u32,
    /// Two addresses using one certificate less than this far apart (seconds) use it at once.
    pub shared_certificate_window_secs: u64,
    /// Presentations older than this (seconds) are no longer held against a certificate.
    pub presentation_lookback_secs: u64,
    /// Non-compliant resources listed (and raised as findings) per check; the rest are counted.
    pub max_resources: usize,
    /// Checks not run.
    pub disabled: Vec<CheckId>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            expiry_warning_days: 30,
            ca_expiry_warning_days: 90,
            min_rsa_bits: 2048,
            shared_certificate_window_secs: 600,
            presentation_lookback_secs: 7 * 86_400,
            max_resources: 1000,
            disabled: Vec::new(),
        }
    }
}

impl Policy {
    /// Whether `check` runs.
    pub fn enabled(&self, check: CheckId) -> bool {
        !self.disabled.contains(&check)
    }

    /// Why a key is weak under this policy, or `None` when it is strong enough.
    pub fn weakness(&self, key: &KeyType) -> Option<String> {
        match key {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::Ed25519 => None,
            KeyType::Rsa { bits } if *bits >= self.min_rsa_bits => None,
            KeyType::Rsa { bits } => {
                Some(format!("RSA {bits} bits, below {} bits", self.min_rsa_bits))
            }
            KeyType::Other(what) => Some(format!("unsupported key algorithm or curve {what}")),
        }
    }
}
