//! `/api/v1/incidents`, `/playbooks`, `/approvals` and `/mass-actions`: incident response over
//! [`ResponseControl`].
//!
//! Who sees what: a tenant token, or a platform token addressing a tenant with
//! `X-Rampart-Tenant`, sees that tenant's objects; a platform token that addresses no tenant
//! sees everything, host incidents included. Playbooks are platform-wide, so only platform
//! admins change them.

// utoipa's generated parameter code names the query structs by their full path.
#![allow(unused_qualifications)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{DeviceId, Role, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{
    IncidentQuery, IncidentUpdate, MAX_PLAYBOOK_BYTES, ResponseControl, ResponseError, Visibility,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Params, TomlText};

type Answer = Result<axum::Json<Value>, ApiError>;

impl From<ResponseError> for ApiError {
    fn from(e: ResponseError) -> Self {
        match e {
            ResponseError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not_found", what),
            ResponseError::Invalid { message, details } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
                    .with_details(details)
            }
            ResponseError::Conflict(m) => Self::conflict(m),
            ResponseError::Internal(m) => {
                // The cause may name internals (paths, peers, SQL); the client gets none of it.
                tracing::error!(error = %m, "response engine failure while serving a request");
                Self::internal("the response engine failed; see the server log")
            }
        }
    }
}

fn engine(st: &ApiState) -> Result<&dyn ResponseControl, ApiError> {
    st.response
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("no incident response engine in this process"))
}

/// What the caller may see: its tenant when it is confined to one or addresses one, else all.
fn visibility(caller: &Caller) -> Visibility {
    if caller.token.tenant.is_some() || caller.addressed {
        Visibility::Tenant(caller.tenant.clone())
    } else {
        Visibility::Platform
    }
}

/// The name timelines and the audit log record for the caller.
fn actor(caller: &Caller) -> &str {
    &caller.token.name
}

// ---------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------

/// Incident filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct IncidentParams {
    /// Comma-separated statuses to include (open, acknowledged, contained, resolved,
    /// false_positive); all when absent.
    pub status: Option<String>,
    /// Only incidents about this device id.
    pub device: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `next` cursor of the previous page.
    pub before: Option<String>,
}

impl IncidentParams {
    fn query(self) -> Result<IncidentQuery, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad_request("limit must be between 1 and 1000"));
        }
        let device = self
            .device
            .as_deref()
            .map(DeviceId::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let status = self
            .status
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(IncidentQuery {
            status,
            device: device.map(|d| d.to_string()),
            limit,
            before: self.before,
        })
    }
}

/// List incidents, most recently changed first, with a `next` cursor.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "response", params(IncidentParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_incidents(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<IncidentParams>,
) -> Answer {
    caller.require(Role::Viewer)?;
    let query = q.query()?;
    let engine = engine(&st)?;
    Ok(axum::Json(
        engine.list_incidents(&visibility(&caller), query).await?,
    ))
}

/// One incident with its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "response",
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn get_incident(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Viewer)?;
    let engine = engine(&st)?;
    Ok(axum::Json(
        engine.get_incident(&visibility(&caller), &id).await?,
    ))
}

/// Change an incident's status or assignee, or add a note to its timeline.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "response",
    params(("id" = String, Path, description = "incident id")), request_body = IncidentUpdate,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn update_incident(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(update): Body<IncidentUpdate>,
) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(&st)?;
    let vis = visibility(&caller);
    Ok(axum::Json(
        engine
            .update_incident(&vis, &id, update, actor(&caller))
            .await?,
    ))
}

/// Undo every reversible action taken on an incident, newest first.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/undo", tag = "response",
    params(("id" = String, Path, description = "incident id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn undo_incident(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(&st)?;
    let vis = visibility(&caller);
    Ok(axum::Json(
        engine.undo_incident(&vis, &id, actor(&caller)).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Playbooks
// ---------------------------------------------------------------------------------------------

/// The loaded playbooks.
#[utoipa::path(get, path = "/api/v1/playbooks", tag = "response",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_playbooks(State(st): State<ApiState>, caller: Caller) -> Answer {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(engine(&st)?.list_playbooks().await?))
}

/// Load or replace a playbook from its TOML text (platform admins). A refused playbook
/// leaves the running set as it was; the answer lists every problem found.
#[utoipa::path(put, path = "/api/v1/playbooks/{name}", tag = "response",
    params(("name" = String, Path, description = "playbook name")),
    request_body(description = "the playbook's TOML text, at most 256 KiB",
        content((String = "application/toml"), (String = "text/plain"))),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn put_playbook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    TomlText(text): TomlText<MAX_PLAYBOOK_BYTES>,
) -> Answer {
    caller.require_platform_admin()?;
    let engine = engine(&st)?;
    let loaded = engine.put_playbook(&name, &text, actor(&caller)).await?;
    tracing::info!(playbook = %name, actor = %caller.token.id, "playbook loaded");
    Ok(axum::Json(loaded))
}

/// Remove a playbook loaded through the API (platform admins).
#[utoipa::path(delete, path = "/api/v1/playbooks/{name}", tag = "response",
    params(("name" = String, Path, description = "playbook name")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn delete_playbook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_platform_admin()?;
    engine(&st)?.delete_playbook(&name, actor(&caller)).await?;
    tracing::info!(playbook = %name, actor = %caller.token.id, "playbook removed");
    Ok(StatusCode::NO_CONTENT)
}

/// The devices a playbook dry run is about.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunRequest {
    /// Device ids.
    pub devices: Vec<String>,
}

/// What a playbook would do to these devices, without doing it.
#[utoipa::path(post, path = "/api/v1/playbooks/{name}/dry-run", tag = "response",
    params(("name" = String, Path, description = "playbook name")), request_body = DryRunRequest,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn dry_run_playbook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(request): Body<DryRunRequest>,
) -> Answer {
    caller.require(Role::Operator)?;
    for d in &request.devices {
        DeviceId::parse(d)?;
    }
    let engine = engine(&st)?;
    let request = json!({ "devices": request.devices });
    Ok(axum::Json(
        engine
            .dry_run_playbook(&visibility(&caller), &name, request)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

/// Approvals waiting for a decision.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "response",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn list_approvals(State(st): State<ApiState>, caller: Caller) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(&st)?;
    Ok(axum::Json(
        engine.list_approvals(&visibility(&caller)).await?,
    ))
}

async fn decide(st: &ApiState, caller: &Caller, id: &str, approve: bool) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(st)?;
    let vis = visibility(caller);
    Ok(axum::Json(
        engine
            .decide_approval(&vis, id, approve, actor(caller))
            .await?,
    ))
}

/// Approve a pending action.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "response",
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn approve_approval(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    decide(&st, &caller, &id, true).await
}

/// Deny a pending action.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/deny", tag = "response",
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn deny_approval(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    decide(&st, &caller, &id, false).await
}

// ---------------------------------------------------------------------------------------------
// Mass actions
// ---------------------------------------------------------------------------------------------

/// How to start a mass action.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MassActionParams {
    /// Only count and plan, change nothing (default false).
    pub dry_run: Option<bool>,
    /// The tenant to act in. Platform tokens must name one (here or with `X-Rampart-Tenant`);
    /// tenant tokens may only name their own.
    pub tenant: Option<String>,
}

/// The tenant a mass action runs in: the caller's own, or the one a platform token names.
async fn mass_action_tenant(
    st: &ApiState,
    caller: &Caller,
    asked: Option<&str>,
) -> Result<TenantId, ApiError> {
    let asked = asked
        .map(TenantId::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    match (&caller.token.tenant, asked) {
        (Some(own), Some(asked)) if *own != asked => Err(ApiError::forbidden(format!(
            "this token is confined to tenant {own}"
        ))),
        (Some(own), _) => Ok(own.clone()),
        (None, Some(asked)) => {
            if caller.addressed && caller.tenant != asked {
                return Err(ApiError::bad_request(format!(
                    "the tenant parameter ({asked}) and the tenant header ({}) disagree",
                    caller.tenant
                )));
            }
            if st.store.get_tenant(&asked).await?.is_none() {
                return Err(ApiError::not_found(format!("tenant {asked}")));
            }
            Ok(asked)
        }
        (None, None) if caller.addressed => Ok(caller.tenant.clone()),
        (None, None) => Err(ApiError::bad_request(
            "a platform token must name the tenant: ?tenant=... or the X-Rampart-Tenant header",
        )),
    }
}

/// Start a mass action from a plan (or, with `dry_run=true`, only count and plan it). It runs
/// in the background, holding at its blast-radius cap until an admin approves.
#[utoipa::path(post, path = "/api/v1/mass-actions", tag = "response", params(MassActionParams),
    request_body(content = Object, description = "the plan"),
    responses((status = 200, body = Object, description = "dry run"),
              (status = 201, body = Object, description = "started"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn create_mass_action(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<MassActionParams>,
    Body(plan): Body<Value>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    caller.require(Role::Operator)?;
    let tenant = mass_action_tenant(&st, &caller, q.tenant.as_deref()).await?;
    if !plan.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "the plan must be a JSON object",
        ));
    }
    let engine = engine(&st)?;
    let dry_run = q.dry_run.unwrap_or(false);
    let answer = engine
        .create_mass_action(&tenant, plan, dry_run, actor(&caller))
        .await?;
    if dry_run {
        Ok((StatusCode::OK, axum::Json(answer)))
    } else {
        tracing::info!(%tenant, actor = %caller.token.id, "mass action started");
        Ok((StatusCode::CREATED, axum::Json(answer)))
    }
}

/// Mass actions, newest first.
#[utoipa::path(get, path = "/api/v1/mass-actions", tag = "response",
    responses((status = 200, body = Object), (status = 503, body = ErrorBody)))]
pub(crate) async fn list_mass_actions(State(st): State<ApiState>, caller: Caller) -> Answer {
    caller.require(Role::Viewer)?;
    let engine = engine(&st)?;
    Ok(axum::Json(
        engine.list_mass_actions(&visibility(&caller)).await?,
    ))
}

/// One mass action with its progress and events.
#[utoipa::path(get, path = "/api/v1/mass-actions/{id}", tag = "response",
    params(("id" = String, Path, description = "mass action id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn get_mass_action(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Viewer)?;
    let engine = engine(&st)?;
    Ok(axum::Json(
        engine.get_mass_action(&visibility(&caller), &id).await?,
    ))
}

/// Let a mass action held at its blast-radius cap go on (admins: it reaches beyond what an
/// operator may change at once).
#[utoipa::path(post, path = "/api/v1/mass-actions/{id}/approve", tag = "response",
    params(("id" = String, Path, description = "mass action id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn approve_mass_action(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Admin)?;
    let engine = engine(&st)?;
    let vis = visibility(&caller);
    Ok(axum::Json(
        engine
            .approve_mass_action(&vis, &id, actor(&caller))
            .await?,
    ))
}

/// Stop a mass action between dispatches.
#[utoipa::path(post, path = "/api/v1/mass-actions/{id}/abort", tag = "response",
    params(("id" = String, Path, description = "mass action id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn abort_mass_action(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(&st)?;
    let vis = visibility(&caller);
    Ok(axum::Json(
        engine.abort_mass_action(&vis, &id, actor(&caller)).await?,
    ))
}

/// Undo a whole mass action: a new operation over the devices it changed.
#[utoipa::path(post, path = "/api/v1/mass-actions/{id}/undo", tag = "response",
    params(("id" = String, Path, description = "mass action id")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn undo_mass_action(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer {
    caller.require(Role::Operator)?;
    let engine = engine(&st)?;
    let vis = visibility(&caller);
    Ok(axum::Json(
        engine.undo_mass_action(&vis, &id, actor(&caller)).await?,
    ))
}
