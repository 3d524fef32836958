//! `/api/v1/devices`: the device registry.

// utoipa's generated parameter code names the query struct by its full path.
#![allow(unused_qualifications)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{DeviceId, DeviceState, Iccid, Imsi, Label, Role};
use rampart_store::{DeviceFilter, PageRequest, SimFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::auth::Caller;
use crate::dto::{DeviceInput, DevicePage, DeviceView, SimView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Params};

/// Filters and paging for device listings. All given filters must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeviceQuery {
    /// Carries this tag.
    pub tag: Option<String>,
    /// Member of this group.
    pub group: Option<String>,
    /// Of this profile.
    pub profile: Option<String>,
    /// In this state.
    pub state: Option<String>,
    /// Bound to the SIM with this IMSI.
    pub imsi: Option<String>,
    /// Bound to the SIM with this ICCID.
    pub iccid: Option<String>,
    /// Owns this address (static IP or a network containing it).
    pub ip: Option<String>,
    /// Runs this firmware version.
    pub firmware: Option<String>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl DeviceQuery {
    fn filter(&self) -> Result<DeviceFilter, ApiError> {
        let label = |field, v: &Option<String>| {
            v.as_deref()
                .map(|s| Label::parse_field(field, s))
                .transpose()
        };
        Ok(DeviceFilter {
            profile: label("profile", &self.profile)?,
            tag: label("tag", &self.tag)?,
            group: label("group", &self.group)?,
            state: self
                .state
                .as_deref()
                .map(str::parse::<DeviceState>)
                .transpose()?,
            imsi: self.imsi.as_deref().map(Imsi::parse).transpose()?,
            iccid: self.iccid.as_deref().map(Iccid::parse).transpose()?,
            ip: self
                .ip
                .as_deref()
                .map(|s| {
                    s.trim()
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("invalid ip {s:?}")))
                })
                .transpose()?,
            firmware: self.firmware.clone(),
        })
    }
}

pub(crate) fn page_request(
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    Ok(PageRequest {
        after: cursor,
        limit,
    })
}

fn device_id(raw: &str) -> Result<DeviceId, ApiError> {
    DeviceId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// List and search devices.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceQuery),
    responses((status = 200, body = DevicePage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub(crate) async fn list_devices(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<DeviceQuery>,
) -> Result<axum::Json<DevicePage>, ApiError> {
    caller.require(Role::Viewer)?;
    let filter = q.filter()?;
    let page = page_request(q.limit, q.cursor.clone())?;
    let page = st
        .store
        .list_devices(&caller.tenant, &filter, &page)
        .await?;
    Ok(axum::Json(DevicePage {
        items: page.items.into_iter().map(DeviceView::from).collect(),
        next_cursor: page.next,
    }))
}

/// Register a device.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = DeviceInput,
    responses((status = 201, body = DeviceView), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create_device(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<DeviceInput>,
) -> Result<(StatusCode, axum::Json<DeviceView>), ApiError> {
    caller.require(Role::Operator)?;
    let id = input
        .id
        .as_deref()
        .ok_or_else(|| ApiError::from(rampart_core::ValidationError::Missing { field: "id" }))?;
    let id = DeviceId::parse(id)?;
    let device = input.to_device(&caller.tenant, id)?;
    let created = st.store.insert_device(&device).await?;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// One device with its SIMs.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_device(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<DeviceView>, ApiError> {
    caller.require(Role::Viewer)?;
    let id = device_id(&id)?;
    let device = st
        .store
        .get_device(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    let sims = st
        .store
        .list_sims(
            &caller.tenant,
            &SimFilter {
                device_id: Some(id),
                ..Default::default()
            },
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await?;
    let imsis: Vec<String> = sims
        .items
        .iter()
        .map(|s| String::from(s.imsi.clone()))
        .collect();
    let c = crate::connectivity::device_connectivity(&st, &imsis).await?;
    let mut view = DeviceView::from(device);
    view.sims = Some(sims.items.into_iter().map(SimView::from).collect());
    view.session = c.session;
    view.usage = c.usage;
    view.last_imei = c.last_imei;
    view.last_location = c.last_location;
    Ok(axum::Json(view))
}

/// Replace a device (absent fields take their defaults).
#[utoipa::path(put, path = "/api/v1/devices/{id}", tag = "devices", request_body = DeviceInput,
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn put_device(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<DeviceInput>,
) -> Result<axum::Json<DeviceView>, ApiError> {
    caller.require(Role::Operator)?;
    let id = device_id(&id)?;
    check_body_id(&input, &id)?;
    let device = input.to_device(&caller.tenant, id)?;
    Ok(axum::Json(st.store.update_device(&device).await?.into()))
}

/// Change some fields of a device.
#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", request_body = DeviceInput,
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn patch_device(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<DeviceInput>,
) -> Result<axum::Json<DeviceView>, ApiError> {
    caller.require(Role::Operator)?;
    let id = device_id(&id)?;
    check_body_id(&input, &id)?;
    let mut device = st
        .store
        .get_device(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    input.apply(&mut device)?;
    Ok(axum::Json(st.store.update_device(&device).await?.into()))
}

/// Delete a device; its SIMs stay registered, unbound.
#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "devices",
    params(("id" = String, Path, description = "device id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_device(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    let id = device_id(&id)?;
    if st.store.delete_device(&caller.tenant, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("device {id}")))
    }
}

fn check_body_id(input: &DeviceInput, id: &DeviceId) -> Result<(), ApiError> {
    match input.id.as_deref() {
        Some(b) if b != id.as_str() => Err(ApiError::bad_request(format!(
            "body id {b:?} does not match the path id {:?}",
            id.as_str()
        ))),
        _ => Ok(()),
    }
}
