//! One-time enrolment tokens. The clear token is shown once; the store keeps only its SHA-256
//! (tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force).
//! A token is bound to one tenant, device and profile, expires, and is deleted when used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::fsutil::{self, PRIVATE_FILE};
use crate::{EnrolmentToken, IdentityError};

/// What a token entitles its bearer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// Tenant of the device.
    pub tenant: String,
    /// Device the certificate will name.
    pub device: String,
    /// Profile to issue under.
    pub profile: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// File-backed token store (`tokens.json`, mode 0600).
pub struct TokenStore {
    path: PathBuf,
    tokens: Mutex<HashMap<String, TokenGrant>>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

impl TokenStore {
    /// Opens the store, creating an empty one if the file is absent.
    pub fn open(path: &Path) -> Result<Self, IdentityError> {
        let tokens = if path.exists() {
            serde_json::from_slice(&fsutil::read(path)?).map_err(|e| IdentityError::BadCaDir {
                path: path.to_path_buf(),
                reason: format!("token store: {e}"),
            })?
        } else {
            HashMap::new()
        };
        Ok(Self {
            path: path.to_path_buf(),
            tokens: Mutex::new(tokens),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TokenGrant>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn persist(&self, map: &HashMap<String, TokenGrant>) -> Result<(), IdentityError> {
        let json = serde_json::to_vec(map).map_err(IdentityError::generate)?;
        fsutil::write_atomic(&self.path, &json, PRIVATE_FILE)
    }

    /// Creates a token for one device enrolment, valid for `ttl`.
    pub fn create(
        &self,
        tenant: &str,
        device: &str,
        profile: &str,
        ttl: Duration,
    ) -> Result<EnrolmentToken, IdentityError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
        let token = EnrolmentToken::new(hex::encode(raw));
        let grant = TokenGrant {
            tenant: tenant.to_owned(),
            device: device.to_owned(),
            profile: profile.to_owned(),
            expires_at: (OffsetDateTime::now_utc() + ttl).unix_timestamp(),
        };
        let mut map = self.lock();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        map.retain(|_, g| g.expires_at > now);
        map.insert(digest(token.expose()), grant);
        self.persist(&map)?;
        Ok(token)
    }

    /// What a token would grant, without using it up.
    pub fn peek(&self, token: &EnrolmentToken) -> Option<TokenGrant> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.lock()
            .get(&digest(token.expose()))
            .filter(|g| g.expires_at > now)
            .cloned()
    }

    /// Uses a token up. The removal is on disk before this returns, so a crash cannot make a
    /// used token valid again.
    pub fn consume(&self, token: &EnrolmentToken) -> Result<TokenGrant, IdentityError> {
        let mut map = self.lock();
        let grant = map
            .remove(&digest(token.expose()))
            .ok_or(IdentityError::BadToken)?;
        self.persist(&map)?;
        if grant.expires_at <= OffsetDateTime::now_utc().unix_timestamp() {
            return Err(IdentityError::BadToken);
        }
        Ok(grant)
    }

    /// Number of tokens not yet used (expired ones included until the next creation).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no token is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_single_use_and_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = TokenStore::open(&path).unwrap();
        let t = store
            .create("acme", "dev-1", "device", Duration::hours(1))
            .unwrap();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(!on_disk.contains(t.expose()));
        assert_eq!(store.peek(&t).unwrap().device, "dev-1");
        assert_eq!(store.consume(&t).unwrap().device, "dev-1");
        assert!(matches!(store.consume(&t), Err(IdentityError::BadToken)));
        // Still used after a restart.
        let store = TokenStore::open(&path).unwrap();
        assert!(store.peek(&t).is_none());
        assert!(matches!(store.consume(&t), Err(IdentityError::BadToken)));
    }

    #[test]
    fn expired_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(&dir.path().join("tokens.json")).unwrap();
        let t = store
            .create("acme", "dev-1", "device", Duration::seconds(-1))
            .unwrap();
        assert!(store.peek(&t).is_none());
        assert!(matches!(store.consume(&t), Err(IdentityError::BadToken)));
    }
}
