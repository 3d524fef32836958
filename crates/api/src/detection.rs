//! `/api/v1/rules` and `/api/v1/suppressions`: declarative detection rules and operators'
//! suppression windows, over [`DetectionControl`], which the serving process implements
//! (without one, in tests and tools, the routes answer 503).
//!
//! Rules are platform-wide, like the `[detect]` configuration they join: every token reads
//! them, only platform admins change them. The configuration file's rules are listed too,
//! read-only (`"source": "config"`).
//!
//! Suppression windows belong to a tenant: a tenant token, or a platform token addressing a
//! tenant with `X-Rampart-Tenant`, lists that tenant's windows (and, read-only, the windows
//! over every tenant, which apply to it too) and opens and deletes its own; a platform token
//! addressing no tenant sees every window and opens windows over every tenant. Operators and
//! above change them.
//!
//! Bodies cross this seam as JSON values, so the API does not depend on detection's crates;
//! the serving process validates them and names every problem by its field.

// utoipa's generated parameter code names the query struct by its full path.
#![allow(unused_qualifications)]

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{Role, TenantId};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Params};
use crate::response::Visibility;

/// Why the detection control refused.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// No such rule or window (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The body breaks a rule; `details` names every problem as `field: reason`.
    #[error("{message}")]
    Invalid {
        /// One line.
        message: String,
        /// Every problem.
        details: Vec<String>,
    },
    /// Not allowed as things are (a rule of the configuration file, a window of every
    /// tenant deleted by one tenant).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not touch this object.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed.
    #[error("{0}")]
    Internal(String),
}

impl From<DetectionError> for ApiError {
    fn from(e: DetectionError) -> Self {
        match e {
            DetectionError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, "not_found", m),
            DetectionError::Invalid { message, details } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
                    .with_details(details)
            }
            DetectionError::Conflict(m) => Self::conflict(m),
            DetectionError::Forbidden(m) => Self::forbidden(m),
            DetectionError::Internal(m) => {
                // The cause may name internals (paths, SQL); the client gets none of it.
                tracing::error!(error = %m, "detection control failure while serving a request");
                Self::internal("the detection control failed; see the server log")
            }
        }
    }
}

/// What the serving process's detection offers the API. `actor` is the caller's token name,
/// recorded with the change and in the audit log.
#[async_trait]
pub trait DetectionControl: Send + Sync {
    /// Every rule in force: the configuration file's and the API's, by name
    /// (`{"items": [...]}`).
    async fn list_rules(&self) -> Result<Value, DetectionError>;
    /// One rule.
    async fn get_rule(&self, name: &str) -> Result<Value, DetectionError>;
    /// Validates, stores and applies (creates or replaces) the rule `name`; the running
    /// rules are unchanged when it is refused. Returns the rule and whether it was created.
    async fn put_rule(
        &self,
        name: &str,
        rule: Value,
        actor: &str,
    ) -> Result<(Value, bool), DetectionError>;
    /// Deletes a rule defined through the API; its active alarms are cleared.
    async fn delete_rule(&self, name: &str, actor: &str) -> Result<(), DetectionError>;

    /// Suppression windows visible to the caller, not yet ended unless `ended`
    /// (`{"items": [...]}`).
    async fn list_suppressions(
        &self,
        vis: &Visibility,
        ended: bool,
    ) -> Result<Value, DetectionError>;
    /// One window.
    async fn get_suppression(&self, vis: &Visibility, id: &str) -> Result<Value, DetectionError>;
    /// Validates, stores and applies a window over `tenant`'s findings (`None`: every
    /// finding); returns it.
    async fn create_suppression(
        &self,
        tenant: Option<&TenantId>,
        request: Value,
        actor: &str,
    ) -> Result<Value, DetectionError>;
    /// Deletes a window; it stops applying at once.
    async fn delete_suppression(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<(), DetectionError>;
}

type Answer = Result<axum::Json<Value>, ApiError>;

fn control(st: &ApiState) -> Result<&dyn DetectionControl, ApiError> {
    st.detection
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("no live detection in this process"))
}

/// What the caller may see: its tenant when it is confined to one or addresses one, else all.
fn visibility(caller: &Caller) -> Visibility {
    if caller.token.tenant.is_some() || caller.addressed {
        Visibility::Tenant(caller.tenant.clone())
    } else {
        Visibility::Platform
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// Every rule in force, by name: the configuration file's (`"source": "config"`, read-only)
/// and those defined through the API (`"source": "api"`).
#[utoipa::path(get, path = "/api/v1/rules", tag = "detection",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_rules(State(st): State<ApiState>, caller: Caller) -> Answer {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(control(&st)?.list_rules().await?))
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/rules/{name}", tag = "detection",
    params(("name" = String, Path, description = "rule name")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn get_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(control(&st)?.get_rule(&name).await?))
}

/// Create or replace a rule (platform admins), the schema of `[[detect.rules.rules]]` as
/// JSON; `name` may be left out (the path gives it). It is checked whole (422 names every
/// problem by its field) and applies to the running detection at once. A rule of the
/// configuration file cannot be replaced (409).
#[utoipa::path(put, path = "/api/v1/rules/{name}", tag = "detection",
    params(("name" = String, Path, description = "rule name")),
    request_body(content = Object, description = "the rule"),
    responses((status = 200, body = Object, description = "replaced"),
              (status = 201, body = Object, description = "created"),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn put_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(rule): Body<Value>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    caller.require_platform_admin()?;
    if !rule.is_object() {
        return Err(invalid("the rule must be a JSON object"));
    }
    let control = control(&st)?;
    let (rule, created) = control.put_rule(&name, rule, &caller.token.name).await?;
    tracing::info!(rule = %name, actor = %caller.token.id, created, "rule stored");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(rule)))
}

/// Delete a rule defined through the API (platform admins); its active alarms are cleared.
#[utoipa::path(delete, path = "/api/v1/rules/{name}", tag = "detection",
    params(("name" = String, Path, description = "rule name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn delete_rule(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_platform_admin()?;
    control(&st)?.delete_rule(&name, &caller.token.name).await?;
    tracing::info!(rule = %name, actor = %caller.token.id, "rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Suppression windows
// ---------------------------------------------------------------------------------------------

/// Which windows to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuppressionParams {
    /// Include windows that have ended (default false).
    pub ended: Option<bool>,
}

/// Suppression windows visible to the caller, by start; those that ended only with
/// `ended=true`.
#[utoipa::path(get, path = "/api/v1/suppressions", tag = "detection", params(SuppressionParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn list_suppressions(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<SuppressionParams>,
) -> Answer {
    caller.require(Role::Viewer)?;
    let control = control(&st)?;
    Ok(axum::Json(
        control
            .list_suppressions(&visibility(&caller), q.ended.unwrap_or(false))
            .await?,
    ))
}

/// One suppression window.
#[utoipa::path(get, path = "/api/v1/suppressions/{id}", tag = "detection",
    params(("id" = String, Path, description = "window id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn get_suppression(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Viewer)?;
    let control = control(&st)?;
    Ok(axum::Json(
        control.get_suppression(&visibility(&caller), &id).await?,
    ))
}

/// Open a suppression window (operators): `{"selector": {"device" | "profile" | "group" |
/// "tag": ..., "kind" | "rule": ...}, "from": RFC 3339 (default now), "until": RFC 3339
/// (at most 30 days after from), "reason": "..."}`. Matching findings are still recorded,
/// marked `suppressed`, but not sent to incident response while the window is open.
#[utoipa::path(post, path = "/api/v1/suppressions", tag = "detection",
    request_body(content = Object, description = "the window"),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn create_suppression(
    State(st): State<ApiState>,
    caller: Caller,
    Body(request): Body<Value>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    caller.require(Role::Operator)?;
    if !request.is_object() {
        return Err(invalid("the suppression must be a JSON object"));
    }
    let tenant = match visibility(&caller) {
        Visibility::Tenant(t) => Some(t),
        Visibility::Platform => None,
    };
    let control = control(&st)?;
    let created = control
        .create_suppression(tenant.as_ref(), request, &caller.token.name)
        .await?;
    tracing::info!(
        suppression = %created["id"].as_str().unwrap_or_default(),
        actor = %caller.token.id,
        "suppression window opened"
    );
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Delete a suppression window (operators): it stops applying at once.
#[utoipa::path(delete, path = "/api/v1/suppressions/{id}", tag = "detection",
    params(("id" = String, Path, description = "window id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn delete_suppression(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    let control = control(&st)?;
    control
        .delete_suppression(&visibility(&caller), &id, &caller.token.name)
        .await?;
    tracing::info!(suppression = %id, actor = %caller.token.id, "suppression window deleted");
    Ok(StatusCode::NO_CONTENT)
}
