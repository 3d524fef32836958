//! `/api/v1/devices/{id}/certificates`, `/api/v1/devices/{id}/revoke` and
//! `/api/v1/certificates/{serial}/revoke` over [`IdentityControl`].
//!
//! Who sees what: device routes act in the caller's tenant (a tenant token's own, or the one a
//! platform token addresses with `X-Rampart-Tenant`, else the default tenant), like every
//! registry route, so another tenant's device is a 404. A serial is visible to a tenant caller
//! when its certificate belongs to that tenant, and to a platform caller that addresses no
//! tenant whatever its tenant. Server certificates (broker, EST endpoint) are revoked only by
//! platform admins.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use rampart_core::{DeviceId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    CertificateView, IdentityControl, IdentityControlError, RevocationOutcome, RevokeReason,
};
use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

impl From<IdentityControlError> for ApiError {
    fn from(e: IdentityControlError) -> Self {
        match e {
            IdentityControlError::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", what)
            }
            IdentityControlError::Invalid { message, details } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
                    .with_details(details)
            }
            IdentityControlError::Internal(m) => {
                // The cause may name paths or peers; the client gets none of it.
                tracing::error!(error = %m, "identity authority failure while serving a request");
                Self::internal("the identity authority failed; see the server log")
            }
        }
    }
}

fn control(st: &ApiState) -> Result<&dyn IdentityControl, ApiError> {
    st.identity
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("no identity authority in this process"))
}

fn device_id(raw: &str) -> Result<DeviceId, ApiError> {
    DeviceId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A serial as hex octets, lowercase, without separators or leading zero octets: how the
/// authority names it. `openssl x509 -serial` output (`serial=` stripped) and colon-separated
/// forms are accepted.
pub(crate) fn normalise_serial(raw: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "serial {raw:?} must be 1 to 20 octets of hex (colons allowed)"
        ))
    };
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if clean.is_empty() || clean.len() > 40 || !clean.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let padded = if clean.len() % 2 == 1 {
        format!("0{clean}")
    } else {
        clean
    };
    let mut s = padded.as_str();
    while s.len() > 2 && s.starts_with("00") {
        s = &s[2..];
    }
    Ok(s.to_owned())
}

/// A device's certificates.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateList {
    /// Tenant of the device.
    pub tenant: String,
    /// The device.
    pub device: String,
    /// Its certificates, oldest first.
    pub items: Vec<CertificateView>,
}

/// How to revoke.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    /// `unspecified` (default), `key_compromise`, `superseded` or `cessation_of_operation`;
    /// recorded in the CRL.
    pub reason: Option<String>,
    /// Also disable the device at the broker (`[identity.broker]`), closing its open
    /// connections now rather than at its next handshake (default false).
    #[serde(default)]
    pub cut_sessions: bool,
}

impl RevokeRequest {
    /// The reason and whether to cut sessions; every problem in one 422.
    fn check(&self, control: &dyn IdentityControl) -> Result<(RevokeReason, bool), ApiError> {
        let mut problems = Vec::new();
        let reason = match self.reason.as_deref() {
            None => RevokeReason::Unspecified,
            Some(r) => RevokeReason::parse(r).unwrap_or_else(|| {
                let names: Vec<&str> = RevokeReason::ALL.iter().map(|r| r.as_str()).collect();
                problems.push(format!("reason: {r:?} is not one of {}", names.join(", ")));
                RevokeReason::Unspecified
            }),
        };
        if self.cut_sessions && !control.can_cut_sessions() {
            problems.push(
                "cut_sessions: this server has no [identity.broker] to disable the device at"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok((reason, self.cut_sessions))
        } else {
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "the revocation request is invalid",
            )
            .with_details(problems))
        }
    }
}

/// A revocation body: JSON, or nothing at all (every field takes its default).
pub(crate) struct RevokeBody(pub(crate) RevokeRequest);

impl<S: Send + Sync> FromRequest<S> for RevokeBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let typed = req.headers().contains_key(header::CONTENT_TYPE);
        if !typed {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|r| ApiError::new(r.status(), "bad_request", r.body_text()))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(RevokeRequest::default()));
            }
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected an application/json body (or none)",
            ));
        }
        crate::extract::Body::<RevokeRequest>::from_request(req, state)
            .await
            .map(|crate::extract::Body(r)| Self(r))
    }
}

/// One audit record per revocation, in the log the responder's actions go to.
fn audit(st: &ApiState, caller: &Caller, by: &str, outcome: &RevocationOutcome, cut: bool) {
    st.audit(&serde_json::json!({
        "event": "certificate.revoked",
        "actor": crate::audit::actor(&caller.token),
        "by": by,
        "tenant": outcome.tenant,
        "device": outcome.device,
        "serials": outcome.revoked,
        "reason": outcome.reason.as_str(),
        "crl_number": outcome.crl_number,
        "crl_reload": outcome.crl_reload.status,
        "cut_sessions": cut,
        "session_cut": outcome.session_cut.status,
    }));
}

fn visible(caller: &Caller, cert: &CertificateView) -> bool {
    if caller.token.tenant.is_some() || caller.addressed {
        cert.tenant == caller.tenant.as_str()
    } else {
        true
    }
}

/// The certificates issued to a device, oldest first, with their validity and revocation.
#[utoipa::path(get, path = "/api/v1/devices/{id}/certificates", tag = "identity",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, body = CertificateList), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn device_certificates(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CertificateList>, ApiError> {
    caller.require(Role::Viewer)?;
    let device = device_id(&id)?;
    let control = control(&st)?;
    let items = control.device_certificates(&caller.tenant, &device).await?;
    // A device the registry knows lists as empty; one neither the registry nor the CA knows
    // in this tenant (another tenant's, say) is not found.
    if items.is_empty()
        && st
            .store
            .get_device(&caller.tenant, &device)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found(format!("device {device}")));
    }
    Ok(axum::Json(CertificateList {
        tenant: caller.tenant.to_string(),
        device: device.to_string(),
        items,
    }))
}

/// Revoke every certificate of a device (operators): the CRL is republished, the reload
/// command run and, with `cut_sessions`, the device disabled at the broker.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", tag = "identity",
    params(("id" = String, Path, description = "device id")),
    request_body(content = RevokeRequest, description = "optional; an empty body takes the defaults"),
    responses((status = 200, body = RevocationOutcome), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn revoke_device(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    RevokeBody(body): RevokeBody,
) -> Result<axum::Json<RevocationOutcome>, ApiError> {
    caller.require(Role::Operator)?;
    let device = device_id(&id)?;
    let control = control(&st)?;
    let (reason, cut) = body.check(control)?;
    let certs = control.device_certificates(&caller.tenant, &device).await?;
    if certs.is_empty() {
        return Err(ApiError::not_found(format!(
            "certificates of device {device}"
        )));
    }
    let outcome = control
        .revoke_device(&caller.tenant, &device, reason, cut, &caller.token.name)
        .await?;
    audit(&st, &caller, "device", &outcome, cut);
    tracing::info!(
        tenant = %caller.tenant, device = %device, revoked = outcome.revoked.len(),
        actor = %caller.token.id, "device certificates revoked through the api"
    );
    Ok(axum::Json(outcome))
}

/// Revoke one certificate by serial (operators; server certificates: platform admins).
#[utoipa::path(post, path = "/api/v1/certificates/{serial}/revoke", tag = "identity",
    params(("serial" = String, Path, description = "serial, hex (colons allowed)")),
    request_body(content = RevokeRequest, description = "optional; an empty body takes the defaults"),
    responses((status = 200, body = RevocationOutcome), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub(crate) async fn revoke_certificate(
    State(st): State<ApiState>,
    caller: Caller,
    Path(raw): Path<String>,
    RevokeBody(body): RevokeBody,
) -> Result<axum::Json<RevocationOutcome>, ApiError> {
    caller.require(Role::Operator)?;
    let serial = normalise_serial(&raw)?;
    let control = control(&st)?;
    let (reason, cut) = body.check(control)?;
    let cert = control
        .certificate(&serial)
        .await?
        .filter(|c| visible(&caller, c))
        .ok_or_else(|| ApiError::not_found(format!("certificate {serial}")))?;
    if cert.usage != "client" {
        caller.require_platform_admin()?;
    }
    let outcome = control
        .revoke_certificate(&cert.serial, reason, cut, &caller.token.name)
        .await?;
    audit(&st, &caller, "serial", &outcome, cut);
    tracing::info!(
        serial = %cert.serial, tenant = %cert.tenant, device = %cert.device,
        actor = %caller.token.id, "certificate revoked through the api"
    );
    Ok(axum::Json(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_normalise_like_the_authority() {
        let ok = |s: &str| normalise_serial(s).map_err(|e| e.status());
        assert_eq!(ok("0A:1b").as_deref(), Ok("0a1b"));
        assert_eq!(ok("00008a").as_deref(), Ok("8a"));
        assert_eq!(ok("abc").as_deref(), Ok("0abc"));
        assert_eq!(ok("00").as_deref(), Ok("00"));
        assert_eq!(ok(" 7F ").as_deref(), Ok("7f"));
        for bad in ["", ":", "xyz", "0x12", &"a".repeat(41)] {
            assert_eq!(ok(bad), Err(StatusCode::BAD_REQUEST), "{bad:?}");
        }
    }
}
