//! Error types. Messages are lowercase and never carry key material, passphrases or tokens.

use std::path::PathBuf;

/// Errors of the identity authority.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file or directory could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The CA directory already holds a CA.
    #[error("a ca already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// The CA directory has no CA, or its metadata is unreadable.
    #[error("invalid ca directory {path}: {reason}")]
    BadCaDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file is encrypted and no passphrase was given.
    #[error("key {0} is encrypted: a passphrase is required")]
    PassphraseRequired(PathBuf),
    /// A key could not be decrypted (wrong passphrase or damaged file).
    #[error("key {0} could not be decrypted: wrong passphrase or damaged file")]
    KeyDecrypt(PathBuf),
    /// A key file is not a PKCS#8 key this authority can use.
    #[error("key {path} is not usable: {reason}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A certificate could not be built or signed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// The certificate signing request is malformed or its signature does not verify.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// The request is well formed but the profile's policy refuses it.
    #[error("refused by policy: {0}")]
    Policy(String),
    /// No profile of that name is configured.
    #[error("unknown profile {0}")]
    UnknownProfile(String),
    /// The certificate index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// An identifier (tenant, device) is invalid.
    #[error("invalid identifier: {0}")]
    BadId(String),
    /// A line of a batch of requests is not a request (not JSON, other fields, too long).
    #[error("invalid request line: {0}")]
    BadLine(String),
    /// No certificate with that serial is known.
    #[error("unknown certificate serial {0}")]
    UnknownSerial(String),
    /// An enrolment token is unknown, used already or expired.
    #[error("enrolment token is unknown, used or expired")]
    BadToken,
    /// The client certificate is not acceptable for this operation.
    #[error("client certificate refused: {0}")]
    ClientCert(String),
}

/// Why a certificate signing request was refused before any policy was applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrError {
    /// The body is neither base64 DER, PEM nor DER.
    #[error("csr body is not base64, pem or der")]
    Encoding,
    /// The DER does not parse as a PKCS#10 request.
    #[error("csr does not parse as pkcs#10")]
    Parse,
    /// Bytes follow the request.
    #[error("trailing bytes after the csr")]
    TrailingData,
    /// The self-signature does not verify with the enclosed public key.
    #[error("csr signature does not verify")]
    BadSignature,
    /// The signature algorithm is unsupported or too weak (SHA-1, MD5).
    #[error("csr signature algorithm is unsupported")]
    UnsupportedAlgorithm,
    /// The request is larger than any legitimate device request.
    #[error("csr is too large")]
    TooLarge,
}

/// Failures of the issuance index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The index file could not be read or written.
    #[error("index i/o error on {path}: {source}")]
    Io {
        /// The index file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line in the middle of the index does not parse.
    #[error("index {path} is corrupt at line {line}")]
    Corrupt {
        /// The index file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
    },
    /// A record for this serial already exists.
    #[error("serial {0} is already recorded")]
    DuplicateSerial(String),
}

impl IdentityError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn generate(e: impl std::fmt::Display) -> Self {
        Self::Generate(e.to_string())
    }
}
