//! Incident response in `rampart serve`: the containment clients from `[respond]`, the
//! hash-chained audit log, the responder fed by the detection workers' findings, mass
//! actions, and the API's [`ResponseControl`] over them.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_trait::async_trait;
use rampart_api::response::{
    IncidentQuery, IncidentUpdate, ResponseControl, ResponseError, Visibility,
};
use rampart_contain::audit::{AuditError, AuditLog, AuditWriter};
use rampart_contain::broker::{BrokerConfig, DynsecClient};
use rampart_contain::dae::DaeClient;
use rampart_contain::siem::CefEvent;
use rampart_contain::siem::{SyslogFormatter, SyslogSender, SyslogTransport};
use rampart_contain::webhook::{WebhookClient, WebhookEndpoint};
use rampart_contain::{Context, RetryPolicy};
use rampart_core::{DeviceId, Label, RadiusSession, TenantId};
use rampart_detect::{Finding, FindingEvent, FindingKind};
use rampart_identity::RevocationReason;
use rampart_incidents::{GrouperConfig, Incident, incident_cef_fields};
use rampart_playbook::Validator;
use rampart_respond::mass::{FindingKinds, MassConfig, MassError, MassService};
use rampart_respond::{
    ActionTarget, AuditSink, ContainActions, FindingInput, IncidentSink, RecentDevices,
    RespondConfig, RespondError, Responder, Revoker, SessionLookup,
};
use rampart_sessions::Attributor;
use rampart_store::Store;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::identity::IdentityService;
use crate::settings::Settings;

/// Finding events queued for response; beyond this the detection workers count drops.
const QUEUE: usize = 16_384;
/// Metric: incident events the SIEM did not take.
const SIEM_ERRORS: &str = "rampart_respond_siem_errors_total";
/// Findings taken in at once.
const CONCURRENCY: usize = 256;
/// Metric: audit records that could not be written.
const AUDIT_ERRORS: &str = "rampart_audit_write_errors_total";

/// The audit log as response's sink, through its group-committing writer.
struct AuditFile(AuditWriter);

fn audited(written: Result<rampart_contain::audit::Head, AuditError>) {
    if let Err(e) = written {
        metrics::counter!(AUDIT_ERRORS).increment(1);
        tracing::error!(error = %e, "audit record not written");
    }
}

#[async_trait]
impl AuditSink for AuditFile {
    fn record(&self, record: &Value) {
        audited(self.0.append_blocking(record));
    }

    async fn record_async(&self, record: &Value) {
        audited(self.0.append(record).await);
    }
}

impl rampart_api::audit::AuditTrail for AuditFile {
    fn record(&self, record: &Value) {
        AuditSink::record(self, record);
    }
}

/// Live sessions from the accounting server's table.
struct Sessions(Option<Attributor>);

impl SessionLookup for Sessions {
    fn session_of_imsi(&self, imsi: &str) -> Option<RadiusSession> {
        self.0.as_ref()?.session_of_imsi(imsi)
    }
}

/// Mass-action selectors naming finding kinds see the responder's active findings.
struct ActiveKinds(Arc<Responder>);

impl FindingKinds for ActiveKinds {
    fn kinds(&self, tenant: &TenantId, device: &DeviceId) -> Vec<String> {
        self.0.active_kinds(tenant, device)
    }
}

/// The identity authority as containment's `revoke_certificate`: every certificate of the
/// device revoked, the CRL republished, and its broker session cut when a broker is set.
struct IdentityRevoker(IdentityService);

#[async_trait]
impl Revoker for IdentityRevoker {
    async fn revoke_device(&self, t: &ActionTarget) -> Result<String, String> {
        self.0
            .revoke_device(&t.tenant, &t.device, RevocationReason::KeyCompromise)
            .await
            .map(|r| {
                format!(
                    "{} certificate(s) revoked, CRL {} at {}, reload {:?}, session cut {:?}",
                    r.revoked.len(),
                    r.crl_number,
                    r.crl_path.display(),
                    r.reload,
                    r.session_cut
                )
            })
            .map_err(|e| format!("{e:#}"))
    }
}

/// What serve keeps of response.
pub(crate) struct Started {
    pub(crate) control: Arc<dyn ResponseControl>,
    pub(crate) findings: mpsc::Sender<FindingEvent>,
    /// The audit log, for the API's sign-ins and administration (and anything else the
    /// server records).
    pub(crate) audit: Arc<dyn rampart_api::audit::AuditTrail>,
}

fn contain_context(cfg: &RespondConfig, audit: AuditWriter) -> anyhow::Result<Context> {
    let mut ctx = Context::new().with_audit_writer(audit);
    for n in &cfg.nas {
        let c = n.nas_config().map_err(anyhow::Error::msg)?;
        ctx = ctx.with_nas(DaeClient::new(c));
    }
    if let Some(b) = &cfg.broker {
        let password = b
            .password
            .load("[respond.broker]")
            .map_err(anyhow::Error::msg)?;
        ctx = ctx.with_broker(DynsecClient::new(BrokerConfig::new(
            b.host.clone(),
            b.port,
            b.username.clone(),
            password,
        )));
    }
    for w in &cfg.webhooks {
        let key = w
            .key
            .load(&format!("[[respond.webhooks]] {}", w.name))
            .map_err(anyhow::Error::msg)?;
        let url = w
            .url
            .parse()
            .with_context(|| format!("[[respond.webhooks]] {}: invalid url", w.name))?;
        ctx = ctx.with_webhook(
            w.name.clone(),
            WebhookClient::new(WebhookEndpoint::new(url, key)),
        );
    }
    if let Some(s) = &cfg.siem {
        ctx = ctx.with_siem(
            SyslogFormatter::default(),
            Arc::new(SyslogSender::new(
                siem_transport(s.transport.as_deref())?,
                s.addr,
                RetryPolicy::default(),
            )),
        );
    }
    Ok(ctx)
}

fn siem_transport(t: Option<&str>) -> anyhow::Result<SyslogTransport> {
    match t {
        None | Some("udp") => Ok(SyslogTransport::Udp),
        Some("tcp") => Ok(SyslogTransport::Tcp),
        Some(other) => anyhow::bail!("[respond.siem] transport {other:?}: udp or tcp"),
    }
}

/// Incidents to the SIEM as CEF over RFC 5424 syslog, one event per change.
struct SiemIncidents {
    formatter: SyslogFormatter,
    sender: Arc<SyslogSender>,
}

impl IncidentSink for SiemIncidents {
    fn incident(&self, incident: &Incident) {
        let f = incident_cef_fields(incident);
        let mut event = CefEvent::rampart(f.signature_id, f.name, f.severity);
        for (k, v) in &f.extensions {
            event = event.ext(k, v.clone());
        }
        let msg = self.formatter.format(
            time::OffsetDateTime::now_utc(),
            rampart_contain::siem::syslog::severity_from_cef(event.severity),
            "incident",
            &event.format(),
        );
        let sender = self.sender.clone();
        tokio::spawn(async move {
            if let Err(e) = sender.send(&msg).await {
                metrics::counter!(SIEM_ERRORS).increment(1);
                tracing::warn!(error = %e, "incident not sent to the siem");
            }
        });
    }
}

/// Causes a finding may share with other devices' findings.
fn campaign_keys(f: &Finding) -> Vec<String> {
    let shared = matches!(
        f.kind,
        FindingKind::CommandAndControl
            | FindingKind::ThreatIntel
            | FindingKind::Irc
            | FindingKind::Beaconing
            | FindingKind::Ddos
    );
    match (&f.pattern, shared) {
        (Some(p), true) => match (p.dst, p.dst_port) {
            (Some(d), Some(port)) => vec![format!("{}:{d}:{port}", f.kind.as_str())],
            (Some(d), None) => vec![format!("{}:{d}", f.kind.as_str())],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn input(f: &Finding) -> FindingInput {
    FindingInput {
        id: f.id.clone(),
        kind: f.kind.as_str().to_owned(),
        severity: f.severity.as_str().to_owned(),
        tenant: f.subject.tenant.clone(),
        device: f.subject.device_id.clone(),
        host: f
            .subject
            .device_id
            .is_none()
            .then_some(f.subject.host)
            .flatten(),
        summary: f.summary.clone(),
        raised_at: f.raised_at,
        campaign_keys: campaign_keys(f),
    }
}

/// Opens the audit log, builds the containment clients, loads the playbooks and starts the
/// responder; findings sent to `findings` become incidents.
pub(crate) async fn start(
    settings: &Settings,
    store: Arc<dyn Store>,
    attributor: Option<Attributor>,
    identity: Option<IdentityService>,
    recent: Arc<dyn RecentDevices>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Started> {
    let cfg = settings.config.respond.clone().unwrap_or_default();
    let audit_path = cfg.audit_log(&settings.data_dir);
    let log = AuditLog::open(&audit_path)
        .with_context(|| format!("opening the audit log {}", audit_path.display()))?;
    // One thread appends for the whole server: the records of concurrent playbook runs and
    // actions share their `fsync`s instead of queueing for one each.
    let log =
        AuditWriter::spawn(Arc::new(Mutex::new(log))).context("starting the audit log writer")?;
    let ctx = contain_context(&cfg, log.clone())?;
    let quarantine_group = match &cfg.quarantine_group {
        Some(g) => {
            Some(Label::parse(g).map_err(|e| anyhow::anyhow!("[respond] quarantine_group: {e}"))?)
        }
        None => None,
    };
    let broker_user = cfg.broker.as_ref().map(|b| {
        b.username_template
            .clone()
            .unwrap_or_else(|| "{device}".to_owned())
    });
    let actions = Arc::new(
        ContainActions::new(
            store.clone(),
            ctx,
            cfg.nas.clone(),
            Arc::new(Sessions(attributor)),
            broker_user,
            quarantine_group,
            identity.map(|i| Arc::new(IdentityRevoker(i)) as Arc<dyn Revoker>),
        )
        .with_recent(recent.clone()),
    );
    let audit_file = Arc::new(AuditFile(log));
    let trail: Arc<dyn rampart_api::audit::AuditTrail> = audit_file.clone();
    let audit: Arc<dyn AuditSink> = audit_file;
    let validator = Validator {
        webhook_endpoints: cfg.webhooks.iter().map(|w| w.name.clone()).collect(),
        ..Validator::default()
    };
    let mut grouping = GrouperConfig::default();
    if let Some(n) = cfg.campaign_min_devices {
        grouping.campaign_min_devices = n;
    }
    let responder = Responder::open(
        store.clone(),
        actions.clone(),
        audit.clone(),
        cfg.playbooks_dir(&settings.data_dir),
        validator,
        grouping,
    )
    .await
    .map_err(|e| match e {
        RespondError::Invalid { message, details } => {
            anyhow::anyhow!("{message}:\n  {}", details.join("\n  "))
        }
        other => anyhow::anyhow!(other),
    })?;
    let responder = responder.with_recent(recent);
    let responder = match &cfg.siem {
        Some(s) => responder.with_sink(Arc::new(SiemIncidents {
            formatter: SyslogFormatter::default(),
            sender: Arc::new(SyslogSender::new(
                siem_transport(s.transport.as_deref())?,
                s.addr,
                RetryPolicy::default(),
            )),
        })),
        None => responder,
    };
    match responder.resume_runs().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(runs = n, "playbook runs resumed after the last stop"),
        Err(e) => tracing::warn!(error = %e, "playbook runs not resumed"),
    }
    let mass = MassService::new(
        store,
        actions,
        audit,
        Arc::new(ActiveKinds(responder.clone())),
        MassConfig::default(),
    );
    match mass.restore().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(operations = n, "mass actions interrupted by the last stop"),
        Err(e) => tracing::warn!(error = %e, "mass actions not restored"),
    }
    let (tx, mut rx) = mpsc::channel::<FindingEvent>(QUEUE);
    let r = responder.clone();
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    tokio::spawn(async move {
        loop {
            let got = tokio::select! {
                _ = stop.wait_for(|s| *s) => None,
                got = rx.recv() => got,
            };
            match got {
                // Findings of different devices are handled concurrently (their registry
                // reads overlap); the grouper's lock keeps each incident's changes in order.
                Some(FindingEvent::Raised(f)) => {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break;
                    };
                    let r = r.clone();
                    tokio::spawn(async move {
                        r.finding(input(&f)).await;
                        drop(permit);
                    });
                }
                Some(FindingEvent::Cleared { id, .. }) => r.cleared(&id),
                Some(FindingEvent::Updated { .. }) => {}
                None => break,
            }
        }
    });
    Ok(Started {
        control: Arc::new(Control { responder, mass }),
        findings: tx,
        audit: trail,
    })
}

/// The API's view of response.
struct Control {
    responder: Arc<Responder>,
    mass: MassService,
}

fn tenant_of(vis: &Visibility) -> Option<&TenantId> {
    match vis {
        Visibility::Tenant(t) => Some(t),
        Visibility::Platform => None,
    }
}

fn err(e: RespondError) -> ResponseError {
    match e {
        RespondError::NotFound(m) => ResponseError::NotFound(m),
        RespondError::Invalid { message, details } => ResponseError::Invalid { message, details },
        RespondError::Conflict(m) => ResponseError::Conflict(m),
        RespondError::Internal(m) => ResponseError::Internal(m),
    }
}

fn mass_err(e: MassError) -> ResponseError {
    match e {
        MassError::NotFound(m) => ResponseError::NotFound(format!("{m} not found")),
        MassError::Invalid { message, details } => ResponseError::Invalid { message, details },
        MassError::Conflict(m) => ResponseError::Conflict(m),
        MassError::Internal(m) => ResponseError::Internal(m),
    }
}

#[async_trait]
impl ResponseControl for Control {
    async fn list_incidents(
        &self,
        vis: &Visibility,
        q: IncidentQuery,
    ) -> Result<Value, ResponseError> {
        let subject = q.device;
        self.responder
            .list(tenant_of(vis), q.status, subject, q.limit, q.before)
            .await
            .map_err(err)
    }

    async fn get_incident(&self, vis: &Visibility, id: &str) -> Result<Value, ResponseError> {
        self.responder.get(tenant_of(vis), id).await.map_err(err)
    }

    async fn update_incident(
        &self,
        vis: &Visibility,
        id: &str,
        u: IncidentUpdate,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.responder
            .update(tenant_of(vis), id, u.status, u.assignee, u.note, actor)
            .await
            .map_err(err)
    }

    async fn undo_incident(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.responder
            .undo(tenant_of(vis), id, actor)
            .await
            .map_err(err)
    }

    async fn list_playbooks(&self) -> Result<Value, ResponseError> {
        Ok(self.responder.playbooks())
    }

    async fn put_playbook(
        &self,
        name: &str,
        toml: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.responder.put_playbook(name, toml, actor).map_err(err)
    }

    async fn delete_playbook(&self, name: &str, actor: &str) -> Result<(), ResponseError> {
        self.responder.delete_playbook(name, actor).map_err(err)
    }

    async fn dry_run_playbook(
        &self,
        _vis: &Visibility,
        name: &str,
        request: Value,
    ) -> Result<Value, ResponseError> {
        let devices: Vec<String> = request["devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.responder.dry_run(name, &devices).map_err(err)
    }

    async fn list_approvals(&self, vis: &Visibility) -> Result<Value, ResponseError> {
        Ok(self.responder.approvals(tenant_of(vis)))
    }

    async fn decide_approval(
        &self,
        vis: &Visibility,
        id: &str,
        approve: bool,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.responder
            .decide(tenant_of(vis), id, approve, actor)
            .map_err(err)
    }

    async fn create_mass_action(
        &self,
        tenant: &TenantId,
        plan: Value,
        dry_run: bool,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.mass
            .create(tenant, plan, dry_run, actor)
            .await
            .map_err(mass_err)
    }

    async fn list_mass_actions(&self, vis: &Visibility) -> Result<Value, ResponseError> {
        self.mass.list(tenant_of(vis)).await.map_err(mass_err)
    }

    async fn get_mass_action(&self, vis: &Visibility, id: &str) -> Result<Value, ResponseError> {
        self.mass.get(tenant_of(vis), id).await.map_err(mass_err)
    }

    async fn approve_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.mass
            .approve(tenant_of(vis), id, actor)
            .await
            .map_err(mass_err)
    }

    async fn abort_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.mass
            .abort(tenant_of(vis), id, actor)
            .await
            .map_err(mass_err)
    }

    async fn undo_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.mass
            .undo(tenant_of(vis), id, actor)
            .await
            .map_err(mass_err)
    }
}
