//! Issuance profiles: the policy a class of devices is enrolled under.

use serde::{Deserialize, Serialize};
use time::Duration;

/// The type and size of a subject public key, as found in a CSR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA with this modulus size in bits.
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// Anything else, named by its algorithm (and curve) OID.
    Other(String),
}

/// One key type a profile accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowedKey {
    /// ECDSA P-256.
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA of at least this many bits.
    Rsa {
        /// Smallest accepted modulus.
        min_bits: u32,
    },
}

impl AllowedKey {
    /// Whether a key of type `k` satisfies this rule.
    pub fn accepts(&self, k: &KeyType) -> bool {
        match (self, k) {
            (Self::EcdsaP256, KeyType::EcdsaP256)
            | (Self::EcdsaP384, KeyType::EcdsaP384)
            | (Self::Ed25519, KeyType::Ed25519) => true,
            (Self::Rsa { min_bits }, KeyType::Rsa { bits }) => bits >= min_bits,
            _ => false,
        }
    }
}

/// What a certificate is for: devices authenticate as TLS clients, brokers and the EST endpoint
/// as TLS servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// TLS client authentication (device identity).
    #[default]
    Client,
    /// TLS server authentication (broker, EST endpoint).
    Server,
}

/// Policy for one class of certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name referenced by tokens, manufacturer trusts and the index.
    pub name: String,
    /// Lifetime of issued certificates (capped at the issuing CA's own expiry).
    #[serde(with = "duration_secs")]
    pub validity: Duration,
    /// Key types a CSR may carry.
    pub allowed_keys: Vec<AllowedKey>,
    /// Refuse a public key already certified for another device (keys must be unique per
    /// device, ETSI EN 303 645 provision 5.4-4).
    pub reject_duplicate_keys: bool,
    /// Client or server certificates.
    #[serde(default)]
    pub usage: Usage,
}

impl Profile {
    /// The default device profile: one-year client certificates for P-256, P-384 or Ed25519
    /// keys, duplicate keys refused.
    pub fn device(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            validity: Duration::days(365),
            allowed_keys: vec![
                AllowedKey::EcdsaP256,
                AllowedKey::EcdsaP384,
                AllowedKey::Ed25519,
            ],
            reject_duplicate_keys: true,
            usage: Usage::Client,
        }
    }

    /// Whether this profile accepts a key type.
    pub fn accepts(&self, k: &KeyType) -> bool {
        self.allowed_keys.iter().any(|a| a.accepts(k))
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.whole_seconds())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::seconds(i64::deserialize(d)?))
    }
}
