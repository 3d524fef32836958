//! `/api/v1/tenants` and `/api/v1/tokens`: who may use the API, over which fleet.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{ApiToken, Role, Tenant, TenantId, Timestamp};

use crate::ApiState;
use crate::auth::{Caller, hash_token, new_token_id, new_token_secret};
use crate::dto::{TenantInput, TenantView, TokenCreated, TokenInput, TokenView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Body;

/// List tenants (platform admins).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "admin",
    responses((status = 200, body = Vec<TenantView>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tenants(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<TenantView>>, ApiError> {
    caller.require_platform_admin()?;
    let list = st.store.list_tenants().await?;
    Ok(axum::Json(list.into_iter().map(TenantView::from).collect()))
}

/// Create or rename a tenant (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "admin", request_body = TenantInput,
    responses((status = 201, body = TenantView), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn create_tenant(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<TenantInput>,
) -> Result<(StatusCode, axum::Json<TenantView>), ApiError> {
    caller.require_platform_admin()?;
    let id = TenantId::parse(&input.id)?;
    let name = input.name.unwrap_or_else(|| id.to_string());
    if name.len() > 256 {
        return Err(ApiError::bad_request("name is longer than 256 bytes"));
    }
    let created_at = st
        .store
        .get_tenant(&id)
        .await?
        .map_or_else(Timestamp::now, |t| t.created_at);
    let tenant = Tenant {
        id: id.clone(),
        name,
        created_at,
    };
    st.store.put_tenant(&tenant).await?;
    st.audit(&serde_json::json!({
        "event": "tenant.put", "actor": crate::audit::actor(&caller.token),
        "tenant": id.as_str(), "name": tenant.name,
    }));
    st.auth.remember_tenant(id);
    Ok((StatusCode::CREATED, axum::Json(tenant.into())))
}

/// List tokens: all for a platform admin, the tenant's own for a tenant admin.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<TokenView>>, ApiError> {
    caller.require(Role::Admin)?;
    let list = st.store.list_tokens().await?;
    let visible = list
        .into_iter()
        .filter(|t| caller.token.tenant.is_none() || t.tenant == caller.token.tenant)
        .map(TokenView::from)
        .collect();
    Ok(axum::Json(visible))
}

/// Create a token. The secret is in this answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = TokenInput,
    responses((status = 201, body = TokenCreated), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn create_token(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<TokenInput>,
) -> Result<(StatusCode, axum::Json<TokenCreated>), ApiError> {
    caller.require(Role::Admin)?;
    let role: Role = input.role.parse()?;
    let tenant = match (&caller.token.tenant, input.tenant.as_deref()) {
        (Some(own), None) => Some(own.clone()),
        (Some(own), Some(asked)) => {
            let asked = TenantId::parse(asked)?;
            if &asked != own {
                return Err(ApiError::forbidden(format!(
                    "this token is confined to tenant {own}"
                )));
            }
            Some(asked)
        }
        // A platform admin addressing a tenant gets a token for that tenant unless it names
        // another: an unconfined token must be asked for without a tenant header.
        (None, asked) => asked
            .map(TenantId::parse)
            .transpose()?
            .or_else(|| caller.addressed.then(|| caller.tenant.clone())),
    };
    if let Some(t) = &tenant
        && st.store.get_tenant(t).await?.is_none()
    {
        return Err(ApiError::not_found(format!("tenant {t}")));
    }
    if input.name.is_empty() || input.name.len() > 128 {
        return Err(ApiError::bad_request("name must be 1 to 128 bytes"));
    }
    let random = |e: getrandom::Error| {
        tracing::error!(error = %e, "os random source failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "random source failed",
        )
    };
    let secret = new_token_secret().map_err(random)?;
    let token = ApiToken {
        id: new_token_id().map_err(random)?,
        name: input.name,
        role,
        tenant,
        created_at: Timestamp::now(),
    };
    st.store.put_token(&token, &hash_token(&secret)).await?;
    tracing::info!(token = %token.id, role = %token.role, "api token created");
    st.audit(&serde_json::json!({
        "event": "token.created", "actor": crate::audit::actor(&caller.token),
        "token": token.id, "token_name": token.name, "role": token.role.to_string(),
        "tenant": token.tenant.as_ref().map(ToString::to_string),
    }));
    Ok((
        StatusCode::CREATED,
        axum::Json(TokenCreated {
            token: token.into(),
            secret,
        }),
    ))
}

/// Delete a token; it stops working at once on this server.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_token(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let owned = st
        .store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id);
    match owned {
        Some(t) if caller.token.tenant.is_none() || t.tenant == caller.token.tenant => {
            st.store.delete_token(&id).await?;
            st.auth.forget(&id);
            st.audit(&serde_json::json!({
                "event": "token.deleted", "actor": crate::audit::actor(&caller.token),
                "token": id, "token_name": t.name,
            }));
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::not_found(format!("token {id}"))),
    }
}
