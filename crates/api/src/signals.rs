//! Live network signals: a device's flow counters (from NetFlow/IPFIX, captures, logs and
//! MQTT reports, attributed to it) and the findings detection raised. Both live in the
//! serving process's memory ([`LiveView`]); without a live pipeline (tests, tools) the routes
//! answer 503.

// utoipa's generated parameter code names the query struct by its full path.
#![allow(unused_qualifications)]

use axum::extract::{Path, State};
use rampart_core::{DeviceId, Role, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Params;

/// A device's traffic as the flow sources saw it ("out" = sent by the device).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrafficView {
    /// Flows seen.
    pub flows: u64,
    /// Flows the device opened.
    pub flows_originated: u64,
    /// Flows opened towards the device.
    pub flows_received: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Device metrics reports received.
    pub metric_reports: u64,
    /// RFC 3339 event time of the first observation.
    pub first_seen: Option<String>,
    /// RFC 3339 event time of the last observation.
    pub last_seen: Option<String>,
    /// Flows per source (`netflow_v9`, `ipfix`, `pcap`, `zeek`, ...).
    pub flows_by_source: std::collections::BTreeMap<String, u64>,
}

/// What the serving process knows live.
pub trait LiveView: Send + Sync {
    /// A registered device's traffic counters.
    fn traffic(&self, tenant: &TenantId, device: &DeviceId) -> Option<TrafficView>;
    /// Findings, newest first: of `tenant`'s devices, plus (when `hosts`) those about
    /// addresses no registry names; narrowed to one device when given.
    fn findings(
        &self,
        tenant: &TenantId,
        hosts: bool,
        device: Option<&DeviceId>,
        limit: usize,
    ) -> Vec<serde_json::Value>;
}

fn live(st: &ApiState) -> Result<&dyn LiveView, ApiError> {
    st.live
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("no live signal pipeline in this process"))
}

/// A device's flow counters.
#[utoipa::path(get, path = "/api/v1/devices/{id}/traffic", tag = "signals",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = TrafficView), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn device_traffic(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<TrafficView>, ApiError> {
    caller.require(Role::Viewer)?;
    let id = DeviceId::parse(&id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let view = live(&st)?;
    st.store
        .get_device(&caller.tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    Ok(axum::Json(
        view.traffic(&caller.tenant, &id).unwrap_or_default(),
    ))
}

/// Finding filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FindingQuery {
    /// Only this device's.
    pub device: Option<String>,
    /// At most this many, 1-1000 (default 100).
    pub limit: Option<u32>,
}

/// Findings detection raised, newest first. Findings about unregistered addresses are shown
/// to platform tokens only.
#[utoipa::path(get, path = "/api/v1/findings", tag = "signals", params(FindingQuery),
    responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn list_findings(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<FindingQuery>,
) -> Result<axum::Json<Vec<serde_json::Value>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let device = q
        .device
        .as_deref()
        .map(DeviceId::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let view = live(&st)?;
    let hosts = caller.token.tenant.is_none();
    Ok(axum::Json(view.findings(
        &caller.tenant,
        hosts,
        device.as_ref(),
        limit as usize,
    )))
}
