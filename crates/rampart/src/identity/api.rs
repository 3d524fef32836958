//! The API's view of the identity authority ([`IdentityControl`]): a device's certificates,
//! and revocation by device or by serial through [`IdentityService`], so the API revokes
//! exactly as `rampart ca revoke` does (index, CRL republished, reload command, broker session
//! cut when asked). The API records each revocation in the audit log.

use async_trait::async_trait;
use rampart_api::identity::{
    CertificateView, IdentityControl, IdentityControlError, RevocationOutcome, RevokeReason,
    StepOutcome,
};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::{CertRecord, RevocationReason, Serial, Usage};

use super::{IdentityService, ReloadOutcome, RevokeReport, RevokeTarget, SessionCut};

/// [`IdentityControl`] over the server's [`IdentityService`].
pub(crate) struct IdentityApi(IdentityService);

impl IdentityApi {
    pub(crate) fn new(service: IdentityService) -> Self {
        Self(service)
    }
}

fn internal(e: &anyhow::Error) -> IdentityControlError {
    IdentityControlError::Internal(format!("{e:#}"))
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

fn to_api(r: RevocationReason) -> RevokeReason {
    match r {
        RevocationReason::Unspecified => RevokeReason::Unspecified,
        RevocationReason::KeyCompromise => RevokeReason::KeyCompromise,
        RevocationReason::Superseded => RevokeReason::Superseded,
        RevocationReason::CessationOfOperation => RevokeReason::CessationOfOperation,
    }
}

fn from_api(r: RevokeReason) -> RevocationReason {
    match r {
        RevokeReason::Unspecified => RevocationReason::Unspecified,
        RevokeReason::KeyCompromise => RevocationReason::KeyCompromise,
        RevokeReason::Superseded => RevocationReason::Superseded,
        RevokeReason::CessationOfOperation => RevocationReason::CessationOfOperation,
    }
}

fn view(r: &CertRecord, now: i64) -> CertificateView {
    let status = if r.revoked.is_some() {
        "revoked"
    } else if r.not_after <= now {
        "expired"
    } else if r.not_before > now {
        "not_yet_valid"
    } else {
        "valid"
    };
    CertificateView {
        serial: r.serial.to_string(),
        tenant: r.tenant.clone(),
        device: r.subject.clone(),
        profile: r.profile.clone(),
        usage: match r.usage {
            Usage::Client => "client",
            Usage::Server => "server",
        }
        .to_owned(),
        issuer: r.issuer.clone(),
        not_before: rfc3339(r.not_before),
        not_after: rfc3339(r.not_after),
        fingerprint_sha256: r.fingerprint.clone(),
        revoked: r.revoked.is_some(),
        revoked_at: r.revoked.as_ref().map(|v| rfc3339(v.at)),
        revocation_reason: r.revoked.as_ref().map(|v| to_api(v.reason)),
        status: status.to_owned(),
    }
}

fn step(status: &str, detail: Option<&String>) -> StepOutcome {
    StepOutcome {
        status: status.to_owned(),
        detail: detail.cloned(),
    }
}

fn outcome(report: RevokeReport, reason: RevokeReason) -> RevocationOutcome {
    let crl_reload = match &report.reload {
        ReloadOutcome::NotConfigured => step("not_configured", None),
        ReloadOutcome::Ok => step("ok", None),
        ReloadOutcome::Failed(e) => step("failed", Some(e)),
    };
    let session_cut = match &report.session_cut {
        SessionCut::NotRequested => step("not_requested", None),
        SessionCut::Disabled => step("disabled", None),
        SessionCut::AlreadyDisabled => step("already_disabled", None),
        SessionCut::NotFound => step("not_found", None),
        SessionCut::Error(e) => step("error", Some(e)),
    };
    RevocationOutcome {
        tenant: report.tenant,
        device: report.device,
        revoked: report.revoked,
        reason,
        crl_number: report.crl_number,
        crl_reload,
        session_cut,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[async_trait]
impl IdentityControl for IdentityApi {
    async fn device_certificates(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
    ) -> Result<Vec<CertificateView>, IdentityControlError> {
        let (t, d) = (tenant.clone(), device.clone());
        let records = self
            .0
            .with_authority(move |auth| Ok(auth.index().by_subject(t.as_str(), d.as_str())))
            .await
            .map_err(|e| internal(&e))?;
        let now = now();
        Ok(records
            .iter()
            .filter(|r| r.usage == Usage::Client)
            .map(|r| view(r, now))
            .collect())
    }

    async fn certificate(
        &self,
        serial: &str,
    ) -> Result<Option<CertificateView>, IdentityControlError> {
        let serial = Serial::parse(serial).map_err(|e| IdentityControlError::Invalid {
            message: e.to_string(),
            details: Vec::new(),
        })?;
        let record = self
            .0
            .with_authority(move |auth| Ok(auth.index().get(&serial)))
            .await
            .map_err(|e| internal(&e))?;
        Ok(record.map(|r| view(&r, now())))
    }

    fn can_cut_sessions(&self) -> bool {
        self.0.has_broker()
    }

    async fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError> {
        let target = RevokeTarget::Device(tenant.clone(), device.clone());
        let report = self
            .0
            .revoke(target, from_api(reason), cut_sessions)
            .await
            .map_err(|e| internal(&e))?;
        tracing::info!(tenant = %tenant, device = %device, actor, "revocation requested through the api");
        Ok(outcome(report, reason))
    }

    async fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevokeReason,
        cut_sessions: bool,
        actor: &str,
    ) -> Result<RevocationOutcome, IdentityControlError> {
        let parsed = Serial::parse(serial).map_err(|e| IdentityControlError::Invalid {
            message: e.to_string(),
            details: Vec::new(),
        })?;
        let report = self
            .0
            .revoke(RevokeTarget::Serial(parsed), from_api(reason), cut_sessions)
            .await
            .map_err(|e| internal(&e))?;
        tracing::info!(serial, actor, "revocation requested through the api");
        Ok(outcome(report, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_both_ways() {
        for r in RevokeReason::ALL {
            assert_eq!(to_api(from_api(r)), r);
        }
    }
}
