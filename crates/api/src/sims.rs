//! `/api/v1/sims`: SIM cards, their IMEI lock and their binding to a device. A SIM is addressed
//! by ICCID (18-20 digits) or IMSI (14-15 digits); the lengths never overlap.

// utoipa's generated parameter code names the query struct by its full path.
#![allow(unused_qualifications)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rampart_core::{DeviceId, Iccid, Imsi, Role, Sim, TenantId};
use rampart_store::SimFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::auth::Caller;
use crate::devices::page_request;
use crate::dto::{SimInput, SimPage, SimView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Params};

/// Filters and paging for SIM listings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SimQuery {
    /// Bound to this device.
    pub device_id: Option<String>,
    /// With this IMSI.
    pub imsi: Option<String>,
    /// Only SIMs bound to no device.
    pub unbound: Option<bool>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

async fn find(st: &ApiState, tenant: &TenantId, key: &str) -> Result<Sim, ApiError> {
    let digits = key.trim();
    let found = match digits.len() {
        14 | 15 => {
            st.store
                .get_sim_by_imsi(tenant, &Imsi::parse(digits)?)
                .await?
        }
        18..=20 => st.store.get_sim(tenant, &Iccid::parse(digits)?).await?,
        _ => {
            return Err(ApiError::bad_request(
                "a sim is addressed by iccid (18-20 digits) or imsi (14-15 digits)",
            ));
        }
    };
    found.ok_or_else(|| ApiError::not_found(format!("sim {digits}")))
}

/// List SIMs.
#[utoipa::path(get, path = "/api/v1/sims", tag = "sims", params(SimQuery),
    responses((status = 200, body = SimPage), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_sims(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<SimQuery>,
) -> Result<axum::Json<SimPage>, ApiError> {
    caller.require(Role::Viewer)?;
    let filter = SimFilter {
        device_id: q.device_id.as_deref().map(DeviceId::parse).transpose()?,
        imsi: q.imsi.as_deref().map(Imsi::parse).transpose()?,
        unbound: q.unbound.unwrap_or(false),
    };
    let page = page_request(q.limit, q.cursor.clone())?;
    let page = st.store.list_sims(&caller.tenant, &filter, &page).await?;
    Ok(axum::Json(SimPage {
        items: page.items.into_iter().map(SimView::from).collect(),
        next_cursor: page.next,
    }))
}

/// Register a SIM (optionally bound to a device).
#[utoipa::path(post, path = "/api/v1/sims", tag = "sims", request_body = SimInput,
    responses((status = 201, body = SimView), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn create_sim(
    State(st): State<ApiState>,
    caller: Caller,
    Body(input): Body<SimInput>,
) -> Result<(StatusCode, axum::Json<SimView>), ApiError> {
    caller.require(Role::Operator)?;
    let sim = input.to_sim(&caller.tenant)?;
    let created = st.store.insert_sim(&sim).await?;
    Ok((StatusCode::CREATED, axum::Json(created.into())))
}

/// One SIM, by ICCID or IMSI.
#[utoipa::path(get, path = "/api/v1/sims/{key}", tag = "sims",
    params(("key" = String, Path, description = "ICCID or IMSI")),
    responses((status = 200, body = SimView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_sim(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<axum::Json<SimView>, ApiError> {
    caller.require(Role::Viewer)?;
    Ok(axum::Json(find(&st, &caller.tenant, &key).await?.into()))
}

/// Change a SIM: IMEI policy and list, binding, MSISDN, IMSI.
#[utoipa::path(patch, path = "/api/v1/sims/{key}", tag = "sims", request_body = SimInput,
    params(("key" = String, Path, description = "ICCID or IMSI")),
    responses((status = 200, body = SimView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn patch_sim(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    Body(input): Body<SimInput>,
) -> Result<axum::Json<SimView>, ApiError> {
    caller.require(Role::Operator)?;
    let mut sim = find(&st, &caller.tenant, &key).await?;
    if let Some(i) = &input.iccid
        && Iccid::parse(i)? != sim.iccid
    {
        return Err(ApiError::bad_request("the iccid of a sim cannot change"));
    }
    input.apply(&mut sim)?;
    Ok(axum::Json(st.store.update_sim(&sim).await?.into()))
}

/// Delete a SIM.
#[utoipa::path(delete, path = "/api/v1/sims/{key}", tag = "sims",
    params(("key" = String, Path, description = "ICCID or IMSI")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_sim(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Operator)?;
    let sim = find(&st, &caller.tenant, &key).await?;
    st.store.delete_sim(&caller.tenant, &sim.iccid).await?;
    Ok(StatusCode::NO_CONTENT)
}
