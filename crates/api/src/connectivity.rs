//! Connectivity learnt from RADIUS accounting: live sessions, hourly usage, last IMEI and
//! location of a device's SIMs, and IMSIs that are not registered.
//!
//! A device's data is found through the SIMs currently bound to it (by IMSI), so binding a
//! SIM to another device moves its live session and recent usage with it. `unknown-imsis`
//! belong to no tenant by definition: they are shown to platform tokens only.

// utoipa's generated parameter code names the query struct by its full path.
#![allow(unused_qualifications)]

use axum::extract::{Path, State};
use rampart_core::{
    DeviceId, Location, RadiusSession, Role, SimSighting, Timestamp, UnknownImsi, UsageHour,
};
use rampart_store::{PageRequest, SessionFilter, SimFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Params;

const HOUR_MS: i64 = 3_600_000;

/// A decoded 3GPP-User-Location-Info.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocationView {
    /// CGI, SAI, RAI, TAI, ECGI, TAI+ECGI, NCGI, 5GS-TAI or 5GS-TAI+NCGI.
    pub kind: String,
    /// Serving network, `MCC-MNC`.
    pub mcc_mnc: Option<String>,
    /// Location Area Code.
    pub lac: Option<u16>,
    /// Cell Identity (CGI) or Service Area Code (SAI).
    pub ci: Option<u32>,
    /// Tracking Area Code.
    pub tac: Option<u32>,
    /// E-UTRAN Cell Identity.
    pub eci: Option<u32>,
    /// NR Cell Identity.
    pub nci: Option<u64>,
}

impl From<Location> for LocationView {
    fn from(l: Location) -> Self {
        Self {
            kind: l.kind,
            mcc_mnc: l.mcc_mnc,
            lac: l.lac,
            ci: l.ci,
            tac: l.tac,
            eci: l.eci,
            nci: l.nci,
        }
    }
}

/// A live data session reported by the packet gateway.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Reporting NAS (NAS-Identifier or NAS-IP-Address).
    pub nas: String,
    /// Acct-Session-Id.
    pub session_id: String,
    /// 3GPP-IMSI.
    pub imsi: Option<String>,
    /// 3GPP-IMEISV.
    pub imeisv: Option<String>,
    /// Calling-Station-Id.
    pub msisdn: Option<String>,
    /// Framed-IP-Address.
    pub ip: Option<String>,
    /// Framed-IPv6-Prefix.
    pub ipv6_prefix: Option<String>,
    /// Called-Station-Id.
    pub apn: Option<String>,
    /// 3GPP-RAT-Type, e.g. EUTRAN.
    pub rat: Option<String>,
    /// Last reported location.
    pub location: Option<LocationView>,
    /// Attributed tenant.
    pub tenant: Option<String>,
    /// Attributed device.
    pub device_id: Option<String>,
    /// RFC 3339, event time of the Start.
    pub started_at: String,
    /// RFC 3339, event time of the last record.
    pub updated_at: String,
    /// Cumulative octets from the device.
    pub input_octets: u64,
    /// Cumulative octets to the device.
    pub output_octets: u64,
}

impl From<RadiusSession> for SessionView {
    fn from(s: RadiusSession) -> Self {
        Self {
            nas: s.nas,
            session_id: s.session_id,
            imsi: s.imsi,
            imeisv: s.imeisv,
            msisdn: s.msisdn,
            ip: s.ipv4.map(|ip| ip.to_string()),
            ipv6_prefix: s.ipv6_prefix.map(|p| p.to_string()),
            apn: s.apn,
            rat: s.rat,
            location: s.location.map(Into::into),
            tenant: s.tenant.map(Into::into),
            device_id: s.device_id.map(Into::into),
            started_at: s.started_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
            input_octets: s.input_octets,
            output_octets: s.output_octets,
        }
    }
}

/// Octets in one hour.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageHourView {
    /// RFC 3339 start of the hour.
    pub hour: String,
    /// Octets from the device.
    pub bytes_up: u64,
    /// Octets to the device.
    pub bytes_down: u64,
}

/// Hourly usage and totals over a period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    /// Hours covered (ending now).
    pub hours: u32,
    /// Hours with traffic, oldest first.
    pub hourly: Vec<UsageHourView>,
    /// Sum of `bytes_up`.
    pub total_up: u64,
    /// Sum of `bytes_down`.
    pub total_down: u64,
}

impl UsageView {
    fn new(hours: u32, rows: Vec<UsageHour>) -> Self {
        Self {
            hours,
            total_up: rows.iter().map(|h| h.bytes_up).fold(0, u64::saturating_add),
            total_down: rows
                .iter()
                .map(|h| h.bytes_down)
                .fold(0, u64::saturating_add),
            hourly: rows
                .into_iter()
                .map(|h| UsageHourView {
                    hour: h.hour.to_rfc3339(),
                    bytes_up: h.bytes_up,
                    bytes_down: h.bytes_down,
                })
                .collect(),
        }
    }
}

/// The last IMEI or location seen with one of the device's SIMs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SightingView {
    /// The SIM's IMSI.
    pub imsi: String,
    /// IMEISV.
    pub imeisv: Option<String>,
    /// Location.
    pub location: Option<LocationView>,
    /// RFC 3339 event time.
    pub seen_at: String,
}

impl From<SimSighting> for SightingView {
    fn from(s: SimSighting) -> Self {
        Self {
            imsi: s.imsi,
            imeisv: s.imeisv,
            location: s.location.map(Into::into),
            seen_at: s.seen_at.to_rfc3339(),
        }
    }
}

/// An IMSI that sent accounting but is not a registered SIM.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnknownImsiView {
    /// The IMSI.
    pub imsi: String,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// Accounting records seen.
    pub count: u64,
    /// NAS of the last record.
    pub last_nas: Option<String>,
    /// IMEISV of the last record.
    pub last_imeisv: Option<String>,
}

impl From<UnknownImsi> for UnknownImsiView {
    fn from(u: UnknownImsi) -> Self {
        Self {
            imsi: u.imsi,
            first_seen: u.first_seen.to_rfc3339(),
            last_seen: u.last_seen.to_rfc3339(),
            count: u.count,
            last_nas: u.last_nas,
            last_imeisv: u.last_imeisv,
        }
    }
}

/// A device's connectivity, as embedded in the device view.
#[derive(Debug, Default)]
pub(crate) struct DeviceConnectivity {
    pub(crate) session: Option<SessionView>,
    pub(crate) usage: Option<UsageView>,
    pub(crate) last_imei: Option<SightingView>,
    pub(crate) last_location: Option<SightingView>,
}

async fn device_imsis(
    st: &ApiState,
    caller: &Caller,
    id: &DeviceId,
) -> Result<Vec<String>, ApiError> {
    let sims = st
        .store
        .list_sims(
            &caller.tenant,
            &SimFilter {
                device_id: Some(id.clone()),
                ..Default::default()
            },
            &PageRequest {
                after: None,
                limit: 100,
            },
        )
        .await?;
    Ok(sims
        .items
        .into_iter()
        .map(|s| String::from(s.imsi))
        .collect())
}

async fn usage(st: &ApiState, imsis: &[String], hours: u32) -> Result<UsageView, ApiError> {
    let now = Timestamp::now().0;
    let since = Timestamp((now.div_euclid(HOUR_MS) - i64::from(hours) + 1) * HOUR_MS);
    let refs: Vec<&str> = imsis.iter().map(String::as_str).collect();
    Ok(UsageView::new(
        hours,
        st.store.usage_since(&refs, since).await?,
    ))
}

/// Live session, last 24 h of usage, last IMEI and location of the SIMs bound to `imsis`.
pub(crate) async fn device_connectivity(
    st: &ApiState,
    imsis: &[String],
) -> Result<DeviceConnectivity, ApiError> {
    if imsis.is_empty() {
        return Ok(DeviceConnectivity::default());
    }
    let mut sessions = Vec::new();
    for imsi in imsis {
        sessions.extend(
            st.store
                .list_sessions(&SessionFilter {
                    imsi: Some(imsi.clone()),
                    limit: 10,
                    ..Default::default()
                })
                .await?,
        );
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
    let refs: Vec<&str> = imsis.iter().map(String::as_str).collect();
    let sightings = st.store.sightings(&refs).await?;
    Ok(DeviceConnectivity {
        session: sessions.into_iter().next().map(Into::into),
        usage: Some(usage(st, imsis, 24).await?),
        last_imei: sightings
            .iter()
            .find(|s| s.imeisv.is_some())
            .cloned()
            .map(Into::into),
        last_location: sightings
            .iter()
            .find(|s| s.location.is_some())
            .cloned()
            .map(Into::into),
    })
}

/// Session filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    /// With this IMSI.
    pub imsi: Option<String>,
    /// Holding this address (IPv4, or IPv6 inside the session's prefix).
    pub ip: Option<String>,
    /// At most this many, 1-1000 (default 100).
    pub limit: Option<u32>,
}

/// Live RADIUS sessions of the caller's tenant (SIMs registered in it), newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "connectivity", params(SessionQuery),
    responses((status = 200, body = Vec<SessionView>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
pub(crate) async fn list_sessions(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<SessionQuery>,
) -> Result<axum::Json<Vec<SessionView>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let ip =
        q.ip.as_deref()
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid ip {s:?}")))
            })
            .transpose()?;
    let sessions = st
        .store
        .list_sessions(&SessionFilter {
            tenant: Some(caller.tenant.clone()),
            device_id: None,
            imsi: q.imsi.clone(),
            ip,
            limit,
        })
        .await?;
    Ok(axum::Json(sessions.into_iter().map(Into::into).collect()))
}

/// Usage period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsageQuery {
    /// Hours back from now, 1-8760 (default 24).
    pub hours: Option<u32>,
}

/// A device's hourly data usage (all SIMs bound to it).
#[utoipa::path(get, path = "/api/v1/devices/{id}/usage", tag = "connectivity",
    params(("id" = String, Path, description = "device id"), UsageQuery),
    responses((status = 200, body = UsageView), (status = 404, body = ErrorBody)))]
pub(crate) async fn device_usage(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<UsageQuery>,
) -> Result<axum::Json<UsageView>, ApiError> {
    caller.require(Role::Viewer)?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=8760).contains(&hours) {
        return Err(ApiError::bad_request("hours must be between 1 and 8760"));
    }
    let id = DeviceId::parse(&id)?;
    if st.store.get_device(&caller.tenant, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("device {id}")));
    }
    let imsis = device_imsis(&st, &caller, &id).await?;
    Ok(axum::Json(usage(&st, &imsis, hours).await?))
}

/// Paging for unknown IMSIs.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnknownQuery {
    /// At most this many, 1-1000 (default 100).
    pub limit: Option<u32>,
}

/// IMSIs that sent accounting but are not registered SIMs, most recent first. They belong to
/// no tenant, so only platform tokens (not confined to a tenant) see them.
#[utoipa::path(get, path = "/api/v1/unknown-imsis", tag = "connectivity", params(UnknownQuery),
    responses((status = 200, body = Vec<UnknownImsiView>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_unknown_imsis(
    State(st): State<ApiState>,
    caller: Caller,
    Params(q): Params<UnknownQuery>,
) -> Result<axum::Json<Vec<UnknownImsiView>>, ApiError> {
    caller.require(Role::Viewer)?;
    if caller.token.tenant.is_some() {
        return Err(ApiError::forbidden(
            "unknown imsis belong to no tenant: this needs a platform token",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = st.store.unknown_imsis(limit).await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}
