//! The identity hygiene audit (`rampart-hygiene`) over this deployment: the CA directory's
//! index and certificates read under the directory's lock on a blocking thread, the registry's
//! active devices and SIMs streamed page by page (never the whole fleet in memory), and the
//! certificates presented to the EST listener. `rampart ca audit` runs it once; `serve` runs it
//! every `[identity] audit_interval_secs` and on `POST /api/v1/identity/audit`, and sends its
//! findings to the live board and to incident response: new ones raised, persisting ones
//! updated (same id), resolved ones cleared.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rampart_api::ApiState;
use rampart_api::response::{ResponseError, Visibility};
use rampart_config::IdentityConfig;
use rampart_core::{DeviceState, Timestamp};
use rampart_detect::FindingEvent;
use rampart_hygiene::{Audit, CaValidity, CheckId, Policy, Report};
use rampart_identity::Authority;
use rampart_identity::presence::Presented;
use rampart_store::{DeviceFilter, PageRequest, SimFilter, Store};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::IdentityService;
use crate::settings::Settings;
use crate::signals::Live;

/// Registry rows read per query.
const PAGE: u32 = 1000;
/// Metric: audit runs, by `result` (`ok`, `failed`).
const RUNS: &str = "rampart_identity_audit_runs_total";
/// Metric (gauge): non-compliant resources of the last run, by `check`.
const NON_COMPLIANT: &str = "rampart_identity_audit_non_compliant";
/// Metric: audit findings incident response did not take (its queue was closed).
const DROPPED: &str = "rampart_identity_audit_findings_dropped_total";

/// The policy from `[identity]` (defaults without it).
pub(crate) fn policy(cfg: Option<&IdentityConfig>) -> anyhow::Result<Policy> {
    let mut p = Policy::default();
    let Some(c) = cfg else { return Ok(p) };
    if let Some(v) = c.audit_expiry_warning_days {
        p.expiry_warning_days = v;
    }
    if let Some(v) = c.audit_ca_expiry_warning_days {
        p.ca_expiry_warning_days = v;
    }
    if let Some(v) = c.audit_min_rsa_bits {
        p.min_rsa_bits = v;
    }
    if let Some(v) = c.audit_shared_certificate_window_secs {
        p.shared_certificate_window_secs = v;
    }
    if let Some(v) = c.audit_presentation_lookback_secs {
        p.presentation_lookback_secs = v;
    }
    if let Some(v) = c.audit_max_resources {
        p.max_resources = v;
    }
    for name in &c.audit_disabled_checks {
        let check = CheckId::parse(name).with_context(|| {
            let known: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
            format!(
                "[identity] audit_disabled_checks: no check {name:?} (checks: {})",
                known.join(", ")
            )
        })?;
        p.disabled.push(check);
    }
    Ok(p)
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The root's and the issuing CAs' validity.
fn ca_validity(auth: &Authority) -> anyhow::Result<Vec<CaValidity>> {
    let ca = auth.ca();
    let (_, root) = x509_parser::parse_x509_certificate(ca.root_der())
        .context("the root certificate does not parse")?;
    let mut out = vec![CaValidity {
        id: "root".to_owned(),
        not_after: root.validity().not_after.timestamp(),
        retiring: false,
    }];
    out.extend(ca.issuing().iter().map(|i| CaValidity {
        id: i.id.clone(),
        not_after: i.not_after,
        retiring: i.retire_after.is_some(),
    }));
    Ok(out)
}

/// One audit: the index and CAs under the CA directory's lock, then the registry.
pub(crate) async fn collect(
    service: &IdentityService,
    store: &dyn Store,
    policy: Policy,
    presented: Option<Vec<Presented>>,
) -> anyhow::Result<Report> {
    let mut audit = Audit::new(policy, unix_now());
    if let Some(p) = presented {
        audit.presentations(p);
    }
    let mut audit = service
        .with_authority(move |auth| {
            audit.certificates(auth.index().len(), |visit| auth.index().for_each(visit));
            audit.cas(&ca_validity(auth)?);
            Ok(audit)
        })
        .await?;
    let active = DeviceFilter {
        state: Some(DeviceState::Active),
        ..DeviceFilter::default()
    };
    for tenant in store.list_tenants().await.context("listing tenants")? {
        let mut after = None;
        loop {
            let page = store
                .list_devices(&tenant.id, &active, &PageRequest { after, limit: PAGE })
                .await
                .with_context(|| format!("listing the devices of {}", tenant.id))?;
            for d in &page.items {
                audit.device(d.tenant.as_str(), d.id.as_str());
            }
            match page.next {
                Some(n) if !page.items.is_empty() => after = Some(n),
                _ => break,
            }
        }
        let mut after = None;
        loop {
            let page = store
                .list_sims(
                    &tenant.id,
                    &SimFilter::default(),
                    &PageRequest { after, limit: PAGE },
                )
                .await
                .with_context(|| format!("listing the SIMs of {}", tenant.id))?;
            for s in &page.items {
                audit.sim(s);
            }
            match page.next {
                Some(n) if !page.items.is_empty() => after = Some(n),
                _ => break,
            }
        }
    }
    Ok(audit.finish())
}

/// The report as `vis` may see it, as JSON.
pub(crate) fn scoped(report: &Report, vis: &Visibility) -> Result<Value, ResponseError> {
    let r = match vis {
        Visibility::Tenant(t) => report.for_tenant(t.as_str()),
        Visibility::Platform => report.clone(),
    };
    serde_json::to_value(&r).map_err(|e| ResponseError::Internal(e.to_string()))
}

/// The audit in `serve`: runs serialised, findings routed, the last report kept for the API.
pub(crate) struct Runner {
    service: IdentityService,
    store: Arc<dyn Store>,
    policy: Policy,
    respond: Option<mpsc::Sender<FindingEvent>>,
    live: Option<Arc<Live>>,
    /// Finding ids raised by earlier runs and not cleared; held for the whole of a run.
    active: tokio::sync::Mutex<HashSet<String>>,
    last: Mutex<Option<Arc<Report>>>,
}

impl Runner {
    /// A runner over the authority and the registry.
    pub(crate) fn new(
        service: IdentityService,
        store: Arc<dyn Store>,
        policy: Policy,
        respond: Option<mpsc::Sender<FindingEvent>>,
        live: Option<Arc<Live>>,
    ) -> Self {
        Self {
            service,
            store,
            policy,
            respond,
            live,
            active: tokio::sync::Mutex::new(HashSet::new()),
            last: Mutex::new(None),
        }
    }

    /// Runs one audit and routes its findings; a run asked for during another waits for it.
    pub(crate) async fn run(&self) -> anyhow::Result<Arc<Report>> {
        let mut active = self.active.lock().await;
        let presented = self.service.presentations().snapshot();
        let result = collect(
            &self.service,
            self.store.as_ref(),
            self.policy.clone(),
            Some(presented),
        )
        .await;
        let report = match result {
            Ok(r) => Arc::new(r),
            Err(e) => {
                metrics::counter!(RUNS, "result" => "failed").increment(1);
                return Err(e);
            }
        };
        metrics::counter!(RUNS, "result" => "ok").increment(1);
        for c in &report.checks {
            metrics::gauge!(NON_COMPLIANT, "check" => c.check.as_str()).set(c.non_compliant as f64);
        }
        let (board, respond) = route(&report, &mut active);
        tracing::info!(
            non_compliant = report.non_compliant(),
            raised = respond
                .iter()
                .filter(|e| matches!(e, FindingEvent::Raised(_)))
                .count(),
            findings = active.len(),
            "identity audit done"
        );
        if let Some(live) = &self.live {
            live.publish(board);
        }
        if let Some(tx) = &self.respond {
            for e in respond {
                if tx.send(e).await.is_err() {
                    metrics::counter!(DROPPED).increment(1);
                }
            }
        }
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        Ok(report)
    }

    fn last(&self) -> Option<Arc<Report>> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The events for the board and for incident response: new findings raised, persisting ones
/// updated, those no longer found cleared. Incident response only takes findings about a
/// device (an incident needs one); the board takes all.
fn route(report: &Report, active: &mut HashSet<String>) -> (Vec<FindingEvent>, Vec<FindingEvent>) {
    let at = Timestamp(report.at.saturating_mul(1000));
    let (mut board, mut respond) = (Vec::new(), Vec::new());
    let mut now_active = HashSet::new();
    for f in report.findings() {
        now_active.insert(f.id.clone());
        if active.contains(&f.id) {
            board.push(FindingEvent::Updated {
                id: f.id.clone(),
                last_seen: at,
                evidence_count: f.evidence_count,
            });
            continue;
        }
        let event = FindingEvent::Raised(Box::new(f));
        if let FindingEvent::Raised(f) = &event
            && f.subject.device_id.is_some()
        {
            respond.push(event.clone());
        }
        board.push(event);
    }
    for id in active.iter().filter(|id| !now_active.contains(*id)) {
        let e = FindingEvent::Cleared { id: id.clone(), at };
        board.push(e.clone());
        respond.push(e);
    }
    *active = now_active;
    (board, respond)
}

#[async_trait]
impl rampart_api::hygiene::IdentityAudit for Runner {
    async fn last_report(&self, vis: &Visibility) -> Result<Option<Value>, ResponseError> {
        self.last().map(|r| scoped(&r, vis)).transpose()
    }

    async fn run_now(&self, vis: &Visibility, actor: &str) -> Result<Value, ResponseError> {
        tracing::info!(actor, "identity audit requested");
        let report = self.run().await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "identity audit failed");
            ResponseError::Internal(format!("{e:#}"))
        })?;
        scoped(&report, vis)
    }
}

/// The audit's part of serve.
#[derive(Default)]
pub(crate) struct Hygiene {
    runner: Option<Arc<Runner>>,
}

impl Hygiene {
    /// The same API state, answering `/api/v1/identity/audit` when the audit runs here.
    pub(crate) fn api(&self, state: ApiState) -> ApiState {
        match &self.runner {
            Some(r) => state.with_hygiene(r.clone()),
            None => state,
        }
    }
}

/// Starts the audit when `[identity]` is configured and the authority runs: at start and every
/// `audit_interval_secs` (with 0 only on request through the API).
pub(crate) fn start(
    settings: &Settings,
    service: Option<IdentityService>,
    store: Arc<dyn Store>,
    respond: mpsc::Sender<FindingEvent>,
    live: Arc<Live>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Hygiene> {
    let (Some(cfg), Some(service)) = (settings.config.identity.as_ref(), service) else {
        return Ok(Hygiene::default());
    };
    let policy = policy(Some(cfg))?;
    let runner = Arc::new(Runner::new(
        service,
        store,
        policy,
        Some(respond),
        Some(live),
    ));
    match cfg.audit_interval() {
        Some(every) => {
            tracing::info!(every_secs = every.as_secs(), "identity audit scheduled");
            spawn_schedule(runner.clone(), every, stop);
        }
        None => tracing::info!("identity audit on request only (audit_interval_secs = 0)"),
    }
    Ok(Hygiene {
        runner: Some(runner),
    })
}

/// Runs the audit at start and then every `every`, until `stop`.
fn spawn_schedule(runner: Arc<Runner>, every: Duration, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = runner.run().await {
                tracing::warn!(error = format!("{e:#}"), "identity audit failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use rampart_hygiene::{Audit, Policy};

    use super::*;

    fn report(devices: &[&str]) -> Report {
        let mut a = Audit::new(Policy::default(), 1_800_000_000);
        a.certificates(0, |_| {});
        for d in devices {
            a.device("acme", d);
        }
        a.finish()
    }

    /// A rerun updates what persists, raises what is new and clears what is gone; only
    /// findings about a device reach incident response.
    #[test]
    fn reruns_update_raise_and_clear() {
        let mut active = HashSet::new();
        let (board, respond) = route(&report(&["a", "b"]), &mut active);
        assert_eq!(board.len(), 2);
        assert!(respond.iter().all(|e| matches!(e, FindingEvent::Raised(_))));
        assert_eq!(respond.len(), 2);
        let (board, respond) = route(&report(&["b", "c"]), &mut active);
        let kinds: Vec<&str> = board
            .iter()
            .map(|e| match e {
                FindingEvent::Raised(_) => "raised",
                FindingEvent::Updated { .. } => "updated",
                FindingEvent::Cleared { .. } => "cleared",
            })
            .collect();
        assert_eq!(kinds, vec!["updated", "raised", "cleared"]);
        assert_eq!(respond.len(), 2);
        assert_eq!(active.len(), 2);
    }

    #[test]
    fn policy_from_config_names_unknown_checks() {
        let cfg = IdentityConfig {
            audit_expiry_warning_days: Some(14),
            audit_disabled_checks: vec!["sim_without_imei_lock".into()],
            ..IdentityConfig::default()
        };
        let p = policy(Some(&cfg)).unwrap();
        assert_eq!(p.expiry_warning_days, 14);
        assert_eq!(p.disabled, vec![CheckId::SimWithoutImeiLock]);
        let bad = IdentityConfig {
            audit_disabled_checks: vec!["sim_imei".into()],
            ..IdentityConfig::default()
        };
        let e = format!("{:#}", policy(Some(&bad)).unwrap_err());
        assert!(e.contains("sim_imei") && e.contains("weak_key"), "{e}");
    }
}
