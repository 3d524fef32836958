//! Key generation and key files: PKCS#8 PEM, optionally encrypted with PBES2
//! (PBKDF2-HMAC-SHA256 + AES-256-CBC, the scheme `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes,
//! so `openssl pkey -in key.pem` can read the files with the same passphrase).

use std::path::Path;

use pkcs8::der::pem::LineEnding;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, SecretDocument};
use rcgen::{KeyPair, SignatureAlgorithm};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::fsutil::{self, PRIVATE_FILE};
use crate::{IdentityError, Passphrase};

/// PBKDF2 iterations for new encrypted keys (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_KDF_ITERATIONS: u32 = 600_000;

const PLAIN_LABEL: &str = "PRIVATE KEY";
const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Key algorithm of a CA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256: understood by every TLS stack and broker.
    #[default]
    EcdsaP256,
    /// Ed25519: smaller and faster, but older TLS stacks on devices may not verify it.
    Ed25519,
}

impl KeyAlgorithm {
    /// The rcgen signature algorithm for this key type.
    pub(crate) fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// Generates a fresh key pair of this type.
    pub fn generate(self) -> Result<KeyPair, IdentityError> {
        KeyPair::generate_for(self.rcgen()).map_err(IdentityError::generate)
    }
}

/// How key files are protected at rest.
#[derive(Debug, Clone, Default)]
pub struct KeyProtection {
    /// Encrypt with this passphrase; `None` writes a plain PKCS#8 file (mode 0600 still applies).
    pub passphrase: Option<Passphrase>,
    /// PBKDF2 iterations when encrypting; 0 means [`DEFAULT_KDF_ITERATIONS`].
    pub kdf_iterations: u32,
}

impl KeyProtection {
    /// Plain key files.
    pub fn none() -> Self {
        Self::default()
    }

    /// Passphrase-encrypted key files with the default work factor.
    pub fn passphrase(p: Passphrase) -> Self {
        Self {
            passphrase: Some(p),
            kdf_iterations: 0,
        }
    }
}

/// Encodes a key as PKCS#8 PEM, encrypted when a passphrase is given.
pub fn encode_key_pem(
    key: &KeyPair,
    protection: &KeyProtection,
) -> Result<Zeroizing<String>, IdentityError> {
    let der = Zeroizing::new(key.serialize_der());
    let Some(pass) = &protection.passphrase else {
        return Ok(Zeroizing::new(key.serialize_pem()));
    };
    let iterations = if protection.kdf_iterations == 0 {
        DEFAULT_KDF_ITERATIONS
    } else {
        protection.kdf_iterations
    };
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
    getrandom::fill(&mut iv).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
    let info = PrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| IdentityError::generate(format!("pkcs#8: {e}")))?;
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
        .map_err(|e| IdentityError::generate(format!("pbes2: {e}")))?;
    let doc = info
        .encrypt_with_params(params, pass.expose())
        .map_err(|e| IdentityError::generate(format!("pkcs#8 encryption: {e}")))?;
    doc.to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| IdentityError::generate(format!("pem: {e}")))
}

/// Writes a key file with mode 0600, atomically.
pub fn write_key(
    path: &Path,
    key: &KeyPair,
    protection: &KeyProtection,
) -> Result<(), IdentityError> {
    let pem = encode_key_pem(key, protection)?;
    fsutil::write_atomic(path, pem.as_bytes(), PRIVATE_FILE)
}

/// Reads a PKCS#8 PEM key file, decrypting it when it is encrypted.
pub fn load_key(path: &Path, passphrase: Option<&Passphrase>) -> Result<KeyPair, IdentityError> {
    let text = Zeroizing::new(fsutil::read_string(path)?);
    decode_key_pem(&text, passphrase).map_err(|e| match e {
        KeyDecodeError::NeedPassphrase => IdentityError::PassphraseRequired(path.to_path_buf()),
        KeyDecodeError::Decrypt => IdentityError::KeyDecrypt(path.to_path_buf()),
        KeyDecodeError::Bad(reason) => IdentityError::BadKey {
            path: path.to_path_buf(),
            reason,
        },
    })
}

/// Why a key PEM could not be turned into a key pair.
#[derive(Debug)]
pub(crate) enum KeyDecodeError {
    NeedPassphrase,
    Decrypt,
    Bad(String),
}

pub(crate) fn decode_key_pem(
    text: &str,
    passphrase: Option<&Passphrase>,
) -> Result<KeyPair, KeyDecodeError> {
    let (label, doc) = SecretDocument::from_pem(text.trim())
        .map_err(|e| KeyDecodeError::Bad(format!("pem: {e}")))?;
    let der: SecretDocument = match label {
        PLAIN_LABEL => doc,
        ENCRYPTED_LABEL => {
            let pass = passphrase.ok_or(KeyDecodeError::NeedPassphrase)?;
            let enc = EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
                .map_err(|e| KeyDecodeError::Bad(format!("encrypted pkcs#8: {e}")))?;
            enc.decrypt(pass.expose())
                .map_err(|_| KeyDecodeError::Decrypt)?
        }
        other => return Err(KeyDecodeError::Bad(format!("unexpected pem label {other}"))),
    };
    KeyPair::try_from(der.as_bytes()).map_err(|e| KeyDecodeError::Bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn fast(p: &str) -> KeyProtection {
        KeyProtection {
            passphrase: Some(Passphrase::new(p)),
            kdf_iterations: 1_000,
        }
    }

    #[test]
    fn key_file_mode_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = KeyAlgorithm::EcdsaP256.generate().unwrap();
        write_key(&path, &key, &KeyProtection::none()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load_key(&path, None).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn encrypted_round_trip_both_algorithms() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("k.pem");
            let key = alg.generate().unwrap();
            write_key(&path, &key, &fast("correct horse")).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
            let back = load_key(&path, Some(&Passphrase::new("correct horse"))).unwrap();
            assert_eq!(back.public_key_raw(), key.public_key_raw());
            assert!(matches!(
                load_key(&path, Some(&Passphrase::new("wrong"))),
                Err(IdentityError::KeyDecrypt(_))
            ));
            assert!(matches!(
                load_key(&path, None),
                Err(IdentityError::PassphraseRequired(_))
            ));
        }
    }
}
