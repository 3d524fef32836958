//! Rampart's device identity authority: a small X.509 CA for device fleets.
//!
//! * [`Ca`]: a root (whose key can live offline, passphrase-encrypted) signing an issuing
//!   intermediate; rotation of the intermediate with an overlap period.
//! * [`Authority`]: issuance from PKCS#10 CSRs (device keys never leave the device) under
//!   [`Profile`] policies, the [`CertIndex`] of everything issued, revocation by serial or by
//!   device, signed CRLs ([`crl`]), one-time enrolment tokens ([`TokenStore`]) and bulk
//!   issuance ([`bulk`]).
//! * [`est`]: an RFC 7030 EST server (`/.well-known/est/`) as an axum router, and the TLS accept
//!   loop that hands the client certificate to it.
//! * [`presence`]: the client certificates presented to that loop, by source address, for
//!   the hygiene audit (revoked certificates still tried, one certificate used from several
//!   places).
//!
//! # CA directory layout
//!
//! ```text
//! <ca-dir>/                  0700
//!   ca.json                  0600  metadata: algorithm, issuing CAs and their overlap, CRL number
//!   root.pem                 0644  root certificate
//!   root.key.pem             0600  root key (absent when kept offline with `root_key_path`)
//!   issuing/                 0700
//!     issuing-<n>.pem        0644  issuing CA certificates, one per rotation
//!     issuing-<n>.key.pem    0600  their keys (PKCS#8, optionally PBES2-encrypted)
//!   chain.pem                0644  issuing CAs in service + root: broker `cafile`, `/cacerts`
//!   index.jsonl              0600  append-only issuance index, one JSON object per line
//!   tokens.json              0600  enrolment tokens, SHA-256 hashed
//!   tokens.used              0600  hashes of tokens used since tokens.json was written
//!   crl.pem                  0644  CRLs of all issuing CAs in service (broker `crlfile`)
//!   crl.der                  0644  CRL of the current issuing CA
//!   crl/issuing-<n>.{pem,der}      each CRL alone
//! ```
//!
//! Every file is replaced atomically (write, fsync, rename), so a broker reloading `crl.pem` or
//! a restart reading `ca.json` never sees a torn file; the two append-only logs (`index.jsonl`,
//! `tokens.used`) are group-committed and a torn last line is ignored on open.
//!
//! # Device certificates
//!
//! Subject `O=<tenant>, CN=<device>`; SAN URI `urn:rampart:device:<tenant>/<device>`; EKU
//! clientAuth; 128-bit random serial; validity from the profile, never past the issuing CA's.
//! A broker with `use_identity_as_username` sees the device id as the MQTT username.
//!
//! Secrets (CA keys, passphrases, tokens) are never logged; the types holding them redact
//! their `Debug` output.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod authority;
pub mod bulk;
mod ca;
pub mod crl;
pub mod csr;
mod error;
pub mod est;
mod fsutil;
mod grouplog;
pub mod index;
pub mod keys;
pub mod pkcs7;
pub mod presence;
mod profile;
mod secret;
mod serial;
mod token;

pub use authority::{Authority, AuthorityConfig, Issued, Signed, default_threads, device_urn};
pub use ca::{Ca, InitOptions, IssuingCa};
pub use error::{CsrError, IdentityError, IndexError};
pub use index::{CertIndex, CertRecord, FileIndex, RevocationReason, RevokeOutcome, RevokedSerial};
pub use keys::{KeyAlgorithm, KeyProtection};
pub use profile::{AllowedKey, KeyType, Profile, Usage};
pub use secret::{EnrolmentToken, Passphrase};
pub use serial::Serial;
pub use token::{TokenGrant, TokenStore};
