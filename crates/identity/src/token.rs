//! One-time enrolment tokens. The clear token is shown once; the store keeps only its SHA-256
//! (tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force).
//! A token is bound to one tenant, device and profile, expires, and is deleted when used.
//!
//! `tokens.json` holds the outstanding tokens and is rewritten (atomically) when tokens are
//! created. Using one appends its hash to `tokens.used` beside it, group-committed with
//! concurrent enrolments: one short fdatasync instead of rewriting the whole store per
//! enrolment. Opening the store drops the tokens listed there; the next rewrite empties it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::fsutil::{self, PRIVATE_FILE};
use crate::grouplog::GroupLog;
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

/// File-backed token store (`tokens.json` and `tokens.used`, mode 0600).
pub struct TokenStore {
    path: PathBuf,
    tokens: Mutex<HashMap<String, TokenGrant>>,
    /// Hashes of tokens used since `tokens.json` was last written.
    used: GroupLog,
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
        let mut tokens: HashMap<String, TokenGrant> = if path.exists() {
            serde_json::from_slice(&fsutil::read(path)?).map_err(|e| IdentityError::BadCaDir {
                path: path.to_path_buf(),
                reason: format!("token store: {e}"),
            })?
        } else {
            HashMap::new()
        };
        let used_path = path.with_file_name("tokens.used");
        if used_path.exists() {
            // A torn last line was never acknowledged: its token was not used.
            for line in fsutil::read_string(&used_path)?.lines() {
                tokens.remove(line.trim());
            }
        }
        let used = GroupLog::open(&used_path, PRIVATE_FILE)
            .map_err(|e| IdentityError::io(&used_path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            tokens: Mutex::new(tokens),
            used,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, TokenGrant>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the outstanding tokens; the used-token log is then folded in and emptied.
    /// Called with the map locked, so no use can slip between the two.
    fn persist(&self, map: &HashMap<String, TokenGrant>) -> Result<(), IdentityError> {
        let json = serde_json::to_vec(map).map_err(IdentityError::generate)?;
        fsutil::write_atomic(&self.path, &json, PRIVATE_FILE)?;
        self.used
            .truncate()
            .map_err(|e| IdentityError::io(self.used.path(), e))
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

    /// Creates one token per `(tenant, device)` under `profile`, valid for `ttl`, with a single
    /// write of the store: for factories and load tests that enrol many devices at once.
    pub fn create_many(
        &self,
        devices: &[(String, String)],
        profile: &str,
        ttl: Duration,
    ) -> Result<Vec<EnrolmentToken>, IdentityError> {
        let expires_at = (OffsetDateTime::now_utc() + ttl).unix_timestamp();
        let mut out = Vec::with_capacity(devices.len());
        let mut map = self.lock();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        map.retain(|_, g| g.expires_at > now);
        for (tenant, device) in devices {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
            let token = EnrolmentToken::new(hex::encode(raw));
            map.insert(
                digest(token.expose()),
                TokenGrant {
                    tenant: tenant.clone(),
                    device: device.clone(),
                    profile: profile.to_owned(),
                    expires_at,
                },
            );
            out.push(token);
        }
        self.persist(&map)?;
        Ok(out)
    }

    /// What a token would grant, without using it up.
    pub fn peek(&self, token: &EnrolmentToken) -> Option<TokenGrant> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.lock()
            .get(&digest(token.expose()))
            .filter(|g| g.expires_at > now)
            .cloned()
    }

    /// Uses a token up. The use is on disk before this returns, so a crash cannot make a used
    /// token valid again; concurrent uses share one sync.
    pub fn consume(&self, token: &EnrolmentToken) -> Result<TokenGrant, IdentityError> {
        let key = digest(token.expose());
        // Taking it out of the map is what makes the use exclusive.
        let grant = self.lock().remove(&key).ok_or(IdentityError::BadToken)?;
        if let Err(e) = self.used.append(format!("{key}\n").as_bytes()) {
            self.lock().insert(key, grant);
            return Err(IdentityError::io(self.used.path(), e));
        }
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

    /// Many devices enrolling at once: each token is used exactly once, the uses survive a
    /// restart, and the next rewrite of the store folds the log in.
    #[test]
    fn concurrent_uses_are_exclusive_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let store = TokenStore::open(&path).unwrap();
        let devices: Vec<(String, String)> = (0..40)
            .map(|i| ("acme".to_owned(), format!("dev-{i}")))
            .collect();
        let tokens = store
            .create_many(&devices, "device", Duration::hours(1))
            .unwrap();
        assert_eq!(store.len(), 40);
        let wins = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for t in &tokens[..30] {
                        if store.consume(t).is_ok() {
                            wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(wins.into_inner(), 30);
        assert_eq!(store.len(), 10);
        let used = dir.path().join("tokens.used");
        assert_eq!(std::fs::read_to_string(&used).unwrap().lines().count(), 30);
        drop(store);
        let store = TokenStore::open(&path).unwrap();
        assert_eq!(store.len(), 10);
        assert!(store.peek(&tokens[0]).is_none());
        assert_eq!(store.peek(&tokens[35]).unwrap().device, "dev-35");
        // Rewriting the store folds the log in and empties it.
        store
            .create("acme", "dev-x", "device", Duration::hours(1))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&used).unwrap(), "");
        let on_disk: HashMap<String, TokenGrant> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(on_disk.len(), 11);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&used).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
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
