//! `/api/v1/identity/audit`: the identity hygiene audit's last report, and a run on demand.
//! The serving process owns the audit ([`IdentityAudit`]); without `[identity]` (tests,
//! tools) the routes answer 503.
//!
//! Who sees what: a tenant token, or a platform token addressing a tenant with
//! `X-Rampart-Tenant`, sees that tenant's resources and counts and the CA's (every tenant
//! shares it); a platform token that addresses no tenant sees everything. A run raises
//! findings for every tenant, so only platform operators start one.

use async_trait::async_trait;
use axum::extract::State;
use rampart_core::Role;
use serde_json::Value;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::response::{ResponseError, Visibility};

/// What the serving process's hygiene audit offers the API. Reports cross as JSON so the API
/// does not depend on the audit's crate.
#[async_trait]
pub trait IdentityAudit: Send + Sync {
    /// The last report as `vis` may see it; `None` before the first run.
    async fn last_report(&self, vis: &Visibility) -> Result<Option<Value>, ResponseError>;
    /// Runs the audit now (its findings go to incident response and the live board, as a
    /// scheduled run's do) and returns the report as `vis` may see it.
    async fn run_now(&self, vis: &Visibility, actor: &str) -> Result<Value, ResponseError>;
}

fn audit(st: &ApiState) -> Result<&dyn IdentityAudit, ApiError> {
    st.hygiene
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("no identity hygiene audit in this process"))
}

fn visibility(caller: &Caller) -> Visibility {
    if caller.token.tenant.is_some() || caller.addressed {
        Visibility::Tenant(caller.tenant.clone())
    } else {
        Visibility::Platform
    }
}

/// The last identity hygiene audit: per check its severity, resources checked, non-compliant
/// count and the first non-compliant resources. 404 before the first run.
#[utoipa::path(get, path = "/api/v1/identity/audit", tag = "identity",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn last_audit(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    audit(&st)?
        .last_report(&visibility(&caller))
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("no identity audit has run yet"))
}

/// Run the identity hygiene audit now (platform operators); answers with its report. Its
/// findings reach incident response and the live board like a scheduled run's.
#[utoipa::path(post, path = "/api/v1/identity/audit", tag = "identity",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn run_audit(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    caller.require(Role::Operator)?;
    if caller.token.tenant.is_some() {
        return Err(ApiError::forbidden(
            "an audit raises findings for every tenant: it needs a platform token",
        ));
    }
    let audit = audit(&st)?;
    let report = audit
        .run_now(&visibility(&caller), &caller.token.name)
        .await?;
    tracing::info!(actor = %caller.token.id, "identity audit run on request");
    Ok(axum::Json(report))
}
