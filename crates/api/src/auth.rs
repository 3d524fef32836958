//! Bearer-token authentication and tenant scoping.
//!
//! A token is 32 random bytes shown once as `rmp_<hex>`; only its SHA-256 is stored (the secret
//! has full entropy, so a fast hash is enough and lookups are one index probe). Verified tokens
//! are cached for a short time so that a hot API path does not hit the store twice per request;
//! deleting a token through this process drops it from the cache at once, other processes see
//! the deletion within [`CACHE_TTL`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use rampart_core::{ApiToken, Role, TenantId};
use rampart_store::Store;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::ApiState;
use crate::error::ApiError;

/// How long a verified token is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 10_000;
/// The header a platform token uses to address a tenant.
pub const TENANT_HEADER: &str = "x-rampart-tenant";

/// SHA-256 of a token secret, the only form in which it is stored.
pub fn hash_token(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh token secret: `rmp_` and 64 hex digits from the OS random source.
pub fn new_token_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("rmp_{}", hex::encode(bytes)))
}

/// A short random identifier for a token (not secret).
pub fn new_token_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)?;
    Ok(format!("tok_{}", hex::encode(bytes)))
}

/// Verifies tokens against the store, with a bounded cache.
pub struct Auth {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<[u8; 32], (ApiToken, Instant)>>,
    /// Bumped by every [`Auth::forget`]: a verification that started before a token was
    /// deleted must not put it back into the cache when its store read returns.
    generation: AtomicU64,
    tenants: Mutex<HashSet<TenantId>>,
    sign_ins: crate::audit::SignIns,
}

impl Auth {
    /// A verifier over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            tenants: Mutex::new(HashSet::new()),
            sign_ins: crate::audit::SignIns::default(),
        }
    }

    /// The token whose secret is `secret`, if any.
    pub async fn verify(&self, secret: &str) -> Result<Option<ApiToken>, ApiError> {
        let hash = hash_token(secret);
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((token, at)) = cache.get(&hash)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(Some(token.clone()));
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let found = self.store.token_by_hash(&hash).await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &found {
            Some(token) if self.generation.load(Ordering::Acquire) == generation => {
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(hash, (token.clone(), Instant::now()));
            }
            _ => {
                cache.remove(&hash);
            }
        }
        Ok(found)
    }

    /// Forgets cached verifications of the token `id` (after it was deleted or changed).
    pub fn forget(&self, id: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, (t, _)| t.id != id);
    }

    async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, ApiError> {
        if self
            .tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(tenant)
        {
            return Ok(true);
        }
        let exists = self.store.get_tenant(tenant).await?.is_some();
        if exists {
            self.remember_tenant(tenant.clone());
        }
        Ok(exists)
    }

    /// Records that a tenant exists (after it was created).
    pub fn remember_tenant(&self, tenant: TenantId) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant);
    }
}

/// The authenticated caller of a request and the tenant it acts in.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token used.
    pub token: ApiToken,
    /// The tenant every registry operation of this request is confined to.
    pub tenant: TenantId,
    /// Whether the request named its tenant (`X-Rampart-Tenant`) rather than taking the default.
    pub addressed: bool,
}

impl Caller {
    /// Refuses the request unless the token's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.token.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; the token has {}",
                self.token.role
            )))
        }
    }

    /// Refuses the request unless the token is a platform token (not confined to a tenant).
    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        self.require(Role::Admin)?;
        if self.token.tenant.is_some() {
            return Err(ApiError::forbidden(
                "this needs a platform admin token; the token is confined to a tenant",
            ));
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))
    }
}

/// Middleware in front of every route but `/healthz`: authenticates the bearer token, picks the
/// tenant, and counts refusals.
pub async fn authenticate(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let from = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let caller = match caller_of(&state, req.headers()).await {
        Ok(c) => c,
        Err(e) => {
            crate::telemetry::auth_refused(e.status());
            if state.audit.is_some()
                && let Some(record) = state.auth.sign_ins.refused(
                    e.status().as_u16(),
                    e.message(),
                    from,
                    Instant::now(),
                )
            {
                state.audit(&record);
            }
            return Err(e);
        }
    };
    if state.audit.is_some()
        && let Some(record) = state
            .auth
            .sign_ins
            .used(&caller.token, from, Instant::now())
    {
        state.audit(&record);
    }
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

async fn caller_of(state: &ApiState, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| ApiError::unauthorized("authorization must be 'Bearer <token>'"))?;
    let token = state
        .auth
        .verify(secret)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    let asked = headers
        .get(TENANT_HEADER)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| TenantId::parse(s).ok())
                .ok_or_else(|| ApiError::bad_request(format!("invalid {TENANT_HEADER} header")))
        })
        .transpose()?;
    let addressed = asked.is_some();
    let tenant = match (&token.tenant, asked) {
        (Some(own), Some(asked)) if *own != asked => {
            return Err(ApiError::forbidden(format!(
                "this token is confined to tenant {own}"
            )));
        }
        (Some(own), _) => own.clone(),
        (None, Some(asked)) => {
            if !state.auth.tenant_exists(&asked).await? {
                return Err(ApiError::not_found(format!("tenant {asked}")));
            }
            asked
        }
        (None, None) => TenantId::default_tenant(),
    };
    Ok(Caller {
        token,
        tenant,
        addressed,
    })
}
