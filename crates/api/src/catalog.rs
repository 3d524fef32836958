//! `/api/v1/profiles` and `/api/v1/groups`: named device classes and sets.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{Group, Label, Profile, Role};

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{NamedInput, NamedView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Body;

fn name_of(input: &NamedInput, path: Option<&str>) -> Result<Label, ApiError> {
    match (input.name.as_deref(), path) {
        (Some(b), Some(p)) if b != p => Err(ApiError::bad_request(format!(
            "body name {b:?} does not match the path name {p:?}"
        ))),
        (_, Some(p)) => Ok(Label::parse_field("name", p)?),
        (Some(b), None) => Ok(Label::parse_field("name", b)?),
        (None, None) => Err(rampart_core::ValidationError::Missing { field: "name" }.into()),
    }
}

fn check_description(input: &NamedInput) -> Result<(), ApiError> {
    if input.description.len() > 1024 {
        return Err(ApiError::bad_request(
            "description is longer than 1024 bytes",
        ));
    }
    Ok(())
}

/// List profiles.
#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles",
    responses((status = 200, body = Vec<NamedView>)))]
pub(crate) async fn list_profiles(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<NamedView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let list = st.store.list_profiles(&caller.tenant).await?;
    Ok(axum::Json(list.into_iter().map(NamedView::from).collect()))
}

/// Create or replace a profile.
#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles", request_body = NamedInput,
    responses((status = 201, body = NamedView), (status = 422, body = ErrorBody)))]
pub(crate) async fn put_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<NamedInput>,
) -> Result<(StatusCode, axum::Json<NamedView>), ApiError> {
    caller.require(Role::Operator)?;
    check_description(&input)?;
    let p = Profile {
        tenant: caller.tenant.clone(),
        name: name_of(&input, None)?,
        description: input.description,
    };
    st.store.put_profile(&p).await?;
    Ok((StatusCode::CREATED, axum::Json(p.into())))
}

/// One profile.
#[utoipa::path(get, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path)),
    responses((status = 200, body = NamedView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<NamedView>, ApiError> {
    caller.require(Role::Viewer)?;
    let name = Label::parse_field("name", &name)?;
    let p = st.store.get_profile(&caller.tenant, &name).await?;
    p.map(|p| axum::Json(p.into()))
        .ok_or_else(|| ApiError::not_found(format!("profile {name}")))
}

/// Delete a profile (devices keep the name).
#[utoipa::path(delete, path = "/api/v1/profiles/{name}", tag = "profiles",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    let name = Label::parse_field("name", &name)?;
    if st.store.delete_profile(&caller.tenant, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("profile {name}")))
    }
}

/// List groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = Vec<NamedView>)))]
pub(crate) async fn list_groups(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<Vec<NamedView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let list = st.store.list_groups(&caller.tenant).await?;
    Ok(axum::Json(list.into_iter().map(NamedView::from).collect()))
}

/// Create or replace a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NamedInput,
    responses((status = 201, body = NamedView), (status = 422, body = ErrorBody)))]
pub(crate) async fn put_group(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<NamedInput>,
) -> Result<(StatusCode, axum::Json<NamedView>), ApiError> {
    caller.require(Role::Operator)?;
    check_description(&input)?;
    let g = Group {
        tenant: caller.tenant.clone(),
        name: name_of(&input, None)?,
        description: input.description,
    };
    st.store.put_group(&g).await?;
    Ok((StatusCode::CREATED, axum::Json(g.into())))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path)),
    responses((status = 200, body = NamedView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_group(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<NamedView>, ApiError> {
    caller.require(Role::Viewer)?;
    let name = Label::parse_field("name", &name)?;
    let g = st.store.get_group(&caller.tenant, &name).await?;
    g.map(|g| axum::Json(g.into()))
        .ok_or_else(|| ApiError::not_found(format!("group {name}")))
}

/// Delete a group (devices keep the membership label).
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_group(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    let name = Label::parse_field("name", &name)?;
    if st.store.delete_group(&caller.tenant, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("group {name}")))
    }
}
