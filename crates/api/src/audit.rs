//! What the API writes to the audit trail: sign-ins, refused credentials, and token and
//! tenant administration. The server backs [`AuditTrail`] with its hash-chained audit log.
//!
//! A token is used on every request, so "sign-in" is its first use after [`SIGN_IN_IDLE`]
//! without any: one record per stretch of use, not one per request. Refusals are recorded per
//! source address at most once per [`REFUSAL_EVERY`], carrying how many were refused since, so
//! a credential-stuffing run is visible without flooding the log. Secrets never appear.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rampart_core::ApiToken;
use serde_json::{Value, json};
use tokio::time::Instant;

/// A token unused this long signs in again at its next use.
pub const SIGN_IN_IDLE: Duration = Duration::from_secs(15 * 60);
/// Refusals from one source are recorded at most this often (the rest are counted in).
pub const REFUSAL_EVERY: Duration = Duration::from_secs(60);
/// Tokens and sources remembered; past this the memory is dropped wholesale (which only
/// records a few sign-ins or refusals early).
const MEMORY_CAP: usize = 100_000;

/// Appends audit records.
pub trait AuditTrail: Send + Sync {
    /// Appends one record: `{"event": "...", "actor": "...", ...}`.
    fn record(&self, record: &Value);
}

/// The actor name of a token in audit records.
pub fn actor(token: &ApiToken) -> String {
    format!("token:{}", token.id)
}

/// Decides which authentications are worth a record.
#[derive(Default)]
pub(crate) struct SignIns {
    used: Mutex<HashMap<String, Instant>>,
    refused: Mutex<HashMap<Option<IpAddr>, (Instant, u64)>>,
}

impl SignIns {
    /// A sign-in record if `token` has been idle long enough, else `None`.
    pub(crate) fn used(
        &self,
        token: &ApiToken,
        from: Option<IpAddr>,
        now: Instant,
    ) -> Option<Value> {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.len() >= MEMORY_CAP && !used.contains_key(&token.id) {
            used.clear();
        }
        let last = used.insert(token.id.clone(), now);
        let idle = last.is_none_or(|t| now.saturating_duration_since(t) >= SIGN_IN_IDLE);
        idle.then(|| {
            json!({
                "event": "auth.sign_in",
                "actor": actor(token),
                "token_name": token.name,
                "role": token.role.to_string(),
                "tenant": token.tenant.as_ref().map(ToString::to_string),
                "from": from.map(|a| a.to_string()),
            })
        })
    }

    /// A refusal record if one from this source is due, else `None` (the refusal is counted
    /// into the next).
    pub(crate) fn refused(
        &self,
        status: u16,
        reason: &str,
        from: Option<IpAddr>,
        now: Instant,
    ) -> Option<Value> {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.len() >= MEMORY_CAP && !refused.contains_key(&from) {
            refused.clear();
        }
        match refused.get_mut(&from) {
            Some((last, pending)) if now.saturating_duration_since(*last) < REFUSAL_EVERY => {
                *pending += 1;
                None
            }
            entry => {
                let since = entry.map_or(0, |(_, pending)| std::mem::take(pending));
                refused.insert(from, (now, 0));
                Some(json!({
                    "event": "auth.refused",
                    "actor": "anonymous",
                    "status": status,
                    "reason": reason,
                    "from": from.map(|a| a.to_string()),
                    "refused_since_last_record": since,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rampart_core::{Role, Timestamp};

    use super::*;

    fn token(id: &str) -> ApiToken {
        ApiToken {
            id: id.into(),
            name: "ops".into(),
            role: Role::Operator,
            tenant: None,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn a_sign_in_per_stretch_of_use() {
        let s = SignIns::default();
        let t0 = Instant::now();
        let first = s.used(&token("tok_a"), None, t0).unwrap();
        assert_eq!(first["event"], "auth.sign_in");
        assert_eq!(first["actor"], "token:tok_a");
        assert!(
            s.used(&token("tok_a"), None, t0 + Duration::from_secs(60))
                .is_none()
        );
        assert!(s.used(&token("tok_b"), None, t0).is_some());
        // Idle time counts from the last use, not from the sign-in.
        let later = t0 + Duration::from_secs(60) + SIGN_IN_IDLE - Duration::from_secs(1);
        assert!(s.used(&token("tok_a"), None, later).is_none());
        assert!(
            s.used(&token("tok_a"), None, later + SIGN_IN_IDLE)
                .is_some()
        );
    }

    #[test]
    fn refusals_are_recorded_per_source_with_a_count() {
        let s = SignIns::default();
        let t0 = Instant::now();
        let a = Some(IpAddr::from([192, 0, 2, 1]));
        let b = Some(IpAddr::from([192, 0, 2, 2]));
        assert!(s.refused(401, "unknown token", a, t0).is_some());
        for i in 1..=9 {
            assert!(
                s.refused(401, "unknown token", a, t0 + Duration::from_secs(i))
                    .is_none()
            );
        }
        assert!(s.refused(401, "unknown token", b, t0).is_some());
        let next = s
            .refused(401, "unknown token", a, t0 + REFUSAL_EVERY)
            .unwrap();
        assert_eq!(next["refused_since_last_record"], 9);
        assert_eq!(next["from"], "192.0.2.1");
        let secret_free = next.to_string();
        assert!(!secret_free.contains("rmp_"));
    }
}
