//! The device identity authority in the binary: one handle ([`IdentityService`]) over a CA
//! directory, shared by `rampart ca` and `rampart serve`, and the serve wiring ([`start`]).
//!
//! Several processes use one CA directory (a running `serve`, an operator's `rampart ca
//! revoke`), and the identity crate keeps its index and token store in memory. So every
//! operation takes an exclusive lock on `<ca_dir>/ca.lock`, and a process reopens the authority
//! when another one changed `ca.json`, `index.jsonl` or the tokens since it last looked: a
//! token issued on the command line is usable over EST at once, and a revocation made there
//! is never undone by the server's next CRL.

mod api;
pub(crate) mod audit;
mod inspect;
mod serve;

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use rampart_config::IdentityConfig;
use rampart_contain::broker::{BrokerConfig, DynsecClient};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::est::{Est, ManufacturerTrust};
use rampart_identity::{
    Authority, AuthorityConfig, EnrolmentToken, Passphrase, RevocationReason, Serial, Usage,
};
use rustls::pki_types::CertificateDer;
use serde::Serialize;

pub(crate) use inspect::{IdentityStatus, status as inspect_status};
pub(crate) use serve::start;

use crate::settings::Settings;

/// The advisory lock file every writer of a CA directory holds.
const LOCK_FILE: &str = "ca.lock";
/// Files whose change means another process wrote to the authority.
const WATCHED: [&str; 4] = ["ca.json", "index.jsonl", "tokens.json", "tokens.used"];
/// Longest a CRL reload command may run before it is killed and counted as failed.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Revocations (certificates newly revoked).
pub(crate) const REVOCATIONS_TOTAL: &str = "rampart_identity_revocations_total";
/// Broker session cuts, by `result` (`disabled`, `already_disabled`, `not_found`, `error`).
pub(crate) const SESSION_CUTS_TOTAL: &str = "rampart_identity_session_cuts_total";
/// CRL reload commands, by `result` (`ok`, `failed`).
pub(crate) const CRL_RELOADS_TOTAL: &str = "rampart_identity_crl_reloads_total";

/// The CA directory: `--ca-dir`, else `[identity] ca_dir`, else `<data_dir>/ca`.
pub(crate) fn ca_dir(settings: &Settings, flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match &settings.config.identity {
        Some(c) => c.ca_dir_or(&settings.data_dir),
        None => settings.data_dir.join("ca"),
    }
}

/// Whether `dir` holds an initialised CA.
pub(crate) fn is_initialised(dir: &Path) -> bool {
    dir.join("ca.json").is_file()
}

/// The passphrase named by `--passphrase-env`, else by `[identity] passphrase_env`.
pub(crate) fn passphrase(
    settings: &Settings,
    flag: Option<&str>,
) -> anyhow::Result<Option<Passphrase>> {
    let var = flag.map(str::to_owned).or_else(|| {
        settings
            .config
            .identity
            .as_ref()
            .and_then(|c| c.passphrase_env.clone())
    });
    let Some(var) = var else { return Ok(None) };
    let value = std::env::var(&var)
        .with_context(|| format!("environment variable {var} (CA passphrase) is not set"))?;
    if value.is_empty() {
        bail!("environment variable {var} (CA passphrase) is empty");
    }
    Ok(Some(Passphrase::new(value)))
}

/// An exclusive lock on a CA directory; released on drop.
pub(crate) struct DirLock {
    _file: std::fs::File,
}

/// Blocks until this process holds the CA directory's lock.
pub(crate) fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(DirLock { _file: file })
}

/// Size, modification time and inode of the watched files: equal stamps mean nobody wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(u64, i64, i64, u64)>>);

impl Stamp {
    fn read(dir: &Path) -> Self {
        Self(
            WATCHED
                .iter()
                .map(|f| {
                    std::fs::metadata(dir.join(f))
                        .ok()
                        .map(|m| (m.len(), m.mtime(), m.mtime_nsec(), m.ino()))
                })
                .collect(),
        )
    }
}

/// Opens the authority in `dir`, with a clear error when there is no CA yet.
pub(crate) fn open_authority(
    dir: &Path,
    passphrase: Option<&Passphrase>,
) -> anyhow::Result<Authority> {
    if !is_initialised(dir) {
        bail!(
            "no CA in {}: run `rampart ca init` first (or point --ca-dir / [identity] ca_dir at it)",
            dir.display()
        );
    }
    Authority::open(dir, passphrase, AuthorityConfig::default())
        .with_context(|| format!("opening the CA in {}", dir.display()))
}

/// A manufacturer CA read from its file.
#[derive(Debug, Clone)]
pub(crate) struct Manufacturer {
    name: String,
    roots: Vec<CertificateDer<'static>>,
    tenant: TenantId,
    profile: String,
}

impl Manufacturer {
    fn trust(&self) -> anyhow::Result<ManufacturerTrust> {
        ManufacturerTrust::new(
            &self.name,
            self.roots.clone(),
            self.tenant.clone(),
            &self.profile,
        )
        .with_context(|| format!("manufacturer CA {}", self.name))
    }
}

fn read_manufacturers(cfg: Option<&IdentityConfig>) -> anyhow::Result<Vec<Manufacturer>> {
    use rustls::pki_types::pem::PemObject;
    let Some(cfg) = cfg else {
        return Ok(Vec::new());
    };
    cfg.manufacturers
        .iter()
        .map(|m| {
            let path = &m.ca_file;
            let pem = std::fs::read(path)
                .with_context(|| format!("reading manufacturer CA {}", path.display()))?;
            let roots = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("manufacturer CA {}", path.display()))?;
            if roots.is_empty() {
                bail!("manufacturer CA {} holds no certificate", path.display());
            }
            let tenant = TenantId::parse(&m.tenant)
                .with_context(|| format!("manufacturer CA {} tenant", path.display()))?;
            Ok(Manufacturer {
                name: path.display().to_string(),
                roots,
                tenant,
                profile: m.profile.clone(),
            })
        })
        .collect()
}

fn broker_client(cfg: Option<&IdentityConfig>) -> anyhow::Result<Option<DynsecClient>> {
    let Some(b) = cfg.and_then(|c| c.broker.as_ref()) else {
        return Ok(None);
    };
    let password = b.load_password()?;
    let mut config = BrokerConfig::new(
        b.host.clone(),
        b.port,
        b.username.clone(),
        password.expose().into(),
    );
    if let Some(secs) = b.timeout_secs {
        config.timeout = Duration::from_secs(secs.max(1));
    }
    Ok(Some(DynsecClient::new(config)))
}

/// The authority as last loaded, with the EST router over it.
struct Loaded {
    auth: Arc<Authority>,
    est: Router,
    stamp: Stamp,
}

#[derive(Default)]
struct State {
    loaded: Option<Loaded>,
    /// Bumped on every reload and CRL publication: the EST TLS configuration follows it.
    generation: u64,
}

struct Inner {
    dir: PathBuf,
    passphrase: Option<Passphrase>,
    manufacturers: Vec<Manufacturer>,
    broker: Option<DynsecClient>,
    reload_command: Option<Vec<String>>,
    state: Arc<tokio::sync::Mutex<State>>,
    /// Client certificates presented to the EST listener, for the hygiene audit.
    presentations: Arc<rampart_identity::presence::PresentationLog>,
}

/// What one locked section saw: the authority, its EST router, and whether it changed.
pub(crate) struct Section {
    pub(crate) auth: Arc<Authority>,
    est: Router,
    generation: u64,
}

/// The identity authority as a service: revocation that cuts live sessions, enrolment tokens,
/// status. Cheap to clone; every operation is serialised through the CA directory's lock.
#[derive(Clone)]
pub(crate) struct IdentityService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("dir", &self.inner.dir)
            .field("broker", &self.inner.broker.is_some())
            .finish_non_exhaustive()
    }
}

/// What a CRL reload command did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub(crate) enum ReloadOutcome {
    /// No `crl_reload_command` is configured.
    NotConfigured,
    /// It exited with status 0.
    Ok,
    /// It could not run, timed out or exited non-zero.
    Failed(String),
}

/// What cutting the device's broker sessions did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub(crate) enum SessionCut {
    /// No broker to cut at (no `[identity.broker]`, or not asked for).
    NotRequested,
    /// The client was disabled: its connections were closed.
    Disabled,
    /// It was disabled before (its connections were closed then).
    AlreadyDisabled,
    /// The broker has no client by that name.
    NotFound,
    /// The broker could not be reached or refused.
    Error(String),
}

/// The outcome of a revocation, step by step.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RevokeReport {
    /// Tenant of the device.
    pub(crate) tenant: String,
    /// The device (also its MQTT user name).
    pub(crate) device: String,
    /// Serials newly revoked.
    pub(crate) revoked: Vec<String>,
    /// Number of the CRL published.
    pub(crate) crl_number: u64,
    /// Where the CRL was written.
    pub(crate) crl_path: PathBuf,
    /// The CRL reload command.
    pub(crate) reload: ReloadOutcome,
    /// The broker session cut.
    pub(crate) session_cut: SessionCut,
}

/// Which certificates to revoke.
#[derive(Debug, Clone)]
enum RevokeTarget {
    /// Every certificate of a device.
    Device(TenantId, DeviceId),
    /// One certificate (its device's sessions are cut when asked).
    Serial(Serial),
}

impl IdentityService {
    /// A service over the CA in `dir`: fails when there is none, or its keys cannot be opened.
    pub(crate) async fn open(
        dir: PathBuf,
        passphrase: Option<Passphrase>,
        cfg: Option<&IdentityConfig>,
        with_broker: bool,
    ) -> anyhow::Result<Self> {
        let broker = if with_broker {
            broker_client(cfg)?
        } else {
            None
        };
        let service = Self {
            inner: Arc::new(Inner {
                dir,
                passphrase,
                manufacturers: read_manufacturers(cfg)?,
                broker,
                reload_command: cfg.and_then(|c| c.crl_reload_command.clone()),
                state: Arc::new(tokio::sync::Mutex::new(State::default())),
                presentations: Arc::new(rampart_identity::presence::PresentationLog::new(
                    rampart_identity::presence::PresenceConfig::default(),
                )),
            }),
        };
        service.with_authority(|_| Ok(())).await?;
        Ok(service)
    }

    /// The CA directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Whether revocations disable the device at a broker.
    pub(crate) fn has_broker(&self) -> bool {
        self.inner.broker.is_some()
    }

    /// Client certificates presented to this process's EST listener (bounded).
    pub(crate) fn presentations(&self) -> &Arc<rampart_identity::presence::PresentationLog> {
        &self.inner.presentations
    }

    /// Runs `f` on the current authority while holding the CA directory's lock (reloading
    /// first when another process changed it), on a blocking thread.
    pub(crate) async fn with_authority<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Authority) -> anyhow::Result<T> + Send + 'static,
    {
        self.with_section(move |s| f(&s.auth)).await
    }

    /// [`Self::with_authority`] with the whole section (EST router, generation).
    async fn with_section<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Section) -> anyhow::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let mut state = self.inner.state.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let _lock = lock_dir(&inner.dir)?;
            let section = inner.refresh(&mut state)?;
            let out = f(&section);
            inner.restamp(&mut state);
            out
        })
        .await
        .context("identity operation stopped")?
    }

    /// Takes the lock and an up-to-date view, for a request that runs asynchronously; call
    /// [`Self::end`] with the guard and lock afterwards.
    async fn begin(
        &self,
    ) -> anyhow::Result<(tokio::sync::OwnedMutexGuard<State>, DirLock, Section)> {
        let inner = self.inner.clone();
        let mut state = self.inner.state.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let lock = lock_dir(&inner.dir)?;
            let section = inner.refresh(&mut state)?;
            Ok((state, lock, section))
        })
        .await
        .context("identity operation stopped")?
    }

    /// Records what the request wrote, then releases the lock.
    async fn end(&self, mut state: tokio::sync::OwnedMutexGuard<State>, lock: DirLock) {
        let inner = self.inner.clone();
        let done = tokio::task::spawn_blocking(move || {
            inner.restamp(&mut state);
            drop(lock);
        })
        .await;
        if done.is_err() {
            tracing::warn!("identity lock release stopped");
        }
    }

    /// Signs and writes fresh CRLs, then runs the reload command. Returns the CRL number.
    pub(crate) async fn publish_crl(&self) -> anyhow::Result<(u64, ReloadOutcome)> {
        let number = self
            .with_authority(|auth| Ok(auth.publish_crl()?.number))
            .await?;
        self.bump().await;
        tracing::info!(crl_number = number, dir = %self.dir().display(), "crl published");
        Ok((number, self.run_reload_command().await))
    }

    async fn bump(&self) {
        self.inner.state.lock().await.generation += 1;
    }

    /// Creates a one-time enrolment token for a device.
    pub(crate) async fn issue_token(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &str,
        ttl: Duration,
    ) -> anyhow::Result<EnrolmentToken> {
        let (t, d, p) = (tenant.clone(), device.clone(), profile.to_owned());
        let ttl = time::Duration::try_from(ttl).context("token lifetime is too long")?;
        let token = self
            .with_authority(move |auth| {
                auth.profile(&p)?;
                Ok(auth.tokens().create(t.as_str(), d.as_str(), &p, ttl)?)
            })
            .await?;
        tracing::info!(tenant = %tenant, device = %device, profile, "enrolment token issued");
        Ok(token)
    }

    /// The CA's certificates, CRL and counts; never key material.
    pub(crate) async fn status(&self) -> anyhow::Result<IdentityStatus> {
        self.with_authority(inspect::status).await
    }

    /// Revokes every certificate of a device, publishes the CRL, runs the reload command and,
    /// when a broker is configured, disables the device there so its open connection is closed
    /// now rather than at its next handshake.
    pub(crate) async fn revoke_device(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        reason: RevocationReason,
    ) -> anyhow::Result<RevokeReport> {
        self.revoke(
            RevokeTarget::Device(tenant.clone(), device.clone()),
            reason,
            true,
        )
        .await
    }

    /// [`Self::revoke_device`] for one certificate; the sessions of its device are cut.
    pub(crate) async fn revoke_serial(
        &self,
        serial: &Serial,
        reason: RevocationReason,
    ) -> anyhow::Result<RevokeReport> {
        self.revoke(RevokeTarget::Serial(serial.clone()), reason, true)
            .await
    }

    /// Revokes, publishes the CRL, runs the reload command and, with `cut_sessions` and a
    /// broker, disables the device there.
    async fn revoke(
        &self,
        target: RevokeTarget,
        reason: RevocationReason,
        cut_sessions: bool,
    ) -> anyhow::Result<RevokeReport> {
        // (a) the index and (b) the CRL, in one locked section.
        let (tenant, device, revoked, crl_number) = self
            .with_authority(move |auth| {
                let (tenant, device, serials) = match target {
                    RevokeTarget::Device(t, d) => {
                        let certs = auth.index().by_subject(t.as_str(), d.as_str());
                        if !certs.iter().any(|r| r.usage == Usage::Client) {
                            bail!("no certificate was issued to {t}/{d}");
                        }
                        let s = auth.revoke_device(&t, &d, reason)?;
                        (t.to_string(), d.to_string(), s)
                    }
                    RevokeTarget::Serial(serial) => {
                        let rec = auth
                            .index()
                            .get(&serial)
                            .with_context(|| format!("no certificate with serial {serial}"))?;
                        let out = auth.revoke_serial(&serial, reason)?;
                        let s = if out == rampart_identity::RevokeOutcome::Revoked {
                            vec![serial]
                        } else {
                            Vec::new()
                        };
                        (rec.tenant, rec.subject, s)
                    }
                };
                let crl = auth.publish_crl()?;
                Ok((tenant, device, serials, crl.number))
            })
            .await?;
        self.bump().await;
        metrics::counter!(REVOCATIONS_TOTAL).increment(revoked.len() as u64);
        for s in &revoked {
            tracing::info!(tenant = %tenant, device = %device, serial = %s, ?reason, "certificate revoked");
        }
        tracing::info!(tenant = %tenant, device = %device, crl_number, "crl published after revocation");
        // (c) the broker rereads the CRL: new handshakes with the certificate fail from now.
        let reload = self.run_reload_command().await;
        // (d) the open connection is closed now, not at the next handshake.
        let session_cut = if cut_sessions {
            self.cut_sessions(&tenant, &device).await
        } else {
            SessionCut::NotRequested
        };
        Ok(RevokeReport {
            tenant,
            device,
            revoked: revoked.iter().map(|s| s.as_str().to_owned()).collect(),
            crl_number,
            crl_path: self.dir().join("crl.pem"),
            reload,
            session_cut,
        })
    }

    /// Disables the device's dynamic-security client (its MQTT user name is its device id).
    async fn cut_sessions(&self, tenant: &str, device: &str) -> SessionCut {
        let Some(broker) = &self.inner.broker else {
            return SessionCut::NotRequested;
        };
        let (cut, label) = match broker.disable_client(device).await {
            Ok(r) if r.was_disabled => (SessionCut::AlreadyDisabled, "already_disabled"),
            Ok(_) => (SessionCut::Disabled, "disabled"),
            Err(e) if e.is_not_found() => (SessionCut::NotFound, "not_found"),
            Err(e) => (SessionCut::Error(e.to_string()), "error"),
        };
        metrics::counter!(SESSION_CUTS_TOTAL, "result" => label).increment(1);
        match &cut {
            SessionCut::Error(error) => {
                tracing::error!(tenant, device, %error, "broker session cut failed");
            }
            SessionCut::NotFound => tracing::warn!(
                tenant,
                device,
                "broker has no client named after the device; nothing to cut"
            ),
            _ => tracing::info!(tenant, device, result = label, "broker sessions cut"),
        }
        cut
    }

    /// Runs `crl_reload_command`; its failure is logged and counted, never fatal.
    pub(crate) async fn run_reload_command(&self) -> ReloadOutcome {
        let Some(cmd) = &self.inner.reload_command else {
            return ReloadOutcome::NotConfigured;
        };
        let outcome = run_command(cmd).await;
        let program = cmd.first().map_or("", String::as_str);
        let label = if outcome == ReloadOutcome::Ok {
            "ok"
        } else {
            "failed"
        };
        metrics::counter!(CRL_RELOADS_TOTAL, "result" => label).increment(1);
        match &outcome {
            ReloadOutcome::Failed(error) => {
                tracing::error!(program, %error, "crl reload command failed");
            }
            _ => tracing::info!(program, "crl reload command done"),
        }
        outcome
    }
}

async fn run_command(cmd: &[String]) -> ReloadOutcome {
    let Some((program, args)) = cmd.split_first() else {
        return ReloadOutcome::Failed("empty command".into());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(RELOAD_TIMEOUT, child).await {
        Err(_) => ReloadOutcome::Failed(format!("no exit within {RELOAD_TIMEOUT:?}")),
        Ok(Err(e)) => ReloadOutcome::Failed(format!("cannot run {program}: {e}")),
        Ok(Ok(out)) if out.status.success() => ReloadOutcome::Ok,
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err.lines().next().unwrap_or_default();
            ReloadOutcome::Failed(format!("{}: {first}", out.status))
        }
    }
}

impl Inner {
    /// Reopens the authority when it was never loaded or another process wrote since.
    fn refresh(&self, state: &mut State) -> anyhow::Result<Section> {
        let now = Stamp::read(&self.dir);
        let stale = state.loaded.as_ref().is_none_or(|l| l.stamp != now);
        if stale {
            let auth = Arc::new(open_authority(&self.dir, self.passphrase.as_ref())?);
            let trusts = self
                .manufacturers
                .iter()
                .map(Manufacturer::trust)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let est = rampart_identity::est::router(Arc::new(Est::new(auth.clone(), trusts)));
            if state.loaded.is_some() {
                tracing::info!(dir = %self.dir.display(), "ca directory changed; authority reloaded");
            }
            state.loaded = Some(Loaded {
                auth,
                est,
                stamp: now,
            });
            state.generation += 1;
        }
        let loaded = state
            .loaded
            .as_ref()
            .context("identity authority not loaded")?;
        Ok(Section {
            auth: loaded.auth.clone(),
            est: loaded.est.clone(),
            generation: state.generation,
        })
    }

    /// Our own writes are not someone else's: remember the files as we left them.
    fn restamp(&self, state: &mut State) {
        if let Some(l) = state.loaded.as_mut() {
            l.stamp = Stamp::read(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two handles on one directory, as `serve` and `rampart ca` are: each sees the other's
    /// tokens and revocations, so a CRL published by one never drops a revocation by the other.
    #[tokio::test(flavor = "multi_thread")]
    async fn handles_follow_each_other() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        rampart_identity::Ca::init(&dir, &rampart_identity::InitOptions::default()).unwrap();
        let a = IdentityService::open(dir.clone(), None, None, false)
            .await
            .unwrap();
        let b = IdentityService::open(dir.clone(), None, None, false)
            .await
            .unwrap();
        let (t, d) = (
            TenantId::parse("acme").unwrap(),
            DeviceId::parse("dev-1").unwrap(),
        );
        let token = b
            .issue_token(&t, &d, "device", Duration::from_secs(600))
            .await
            .unwrap();
        let seen = a
            .with_authority(move |auth| Ok(auth.tokens().peek(&token).is_some()))
            .await
            .unwrap();
        assert!(seen, "a token issued by one handle is unknown to the other");

        let server = a
            .with_authority(|auth| {
                let (issued, _key) =
                    auth.issue_server("dev-1", &["localhost".into()], time::Duration::days(1))?;
                Ok(issued.record.serial)
            })
            .await
            .unwrap();
        let report = b
            .revoke_serial(&server, RevocationReason::KeyCompromise)
            .await
            .unwrap();
        assert_eq!(report.revoked, vec![server.as_str().to_owned()]);
        assert_eq!(report.session_cut, SessionCut::NotRequested);
        assert_eq!(report.reload, ReloadOutcome::NotConfigured);
        // `a` publishes next: the revocation made through `b` is in its CRL.
        let (number, _) = a.publish_crl().await.unwrap();
        assert_eq!(number, report.crl_number + 1);
        let status = a.status().await.unwrap();
        assert_eq!(status.revoked, 1);
        assert_eq!(status.crl_number, number);
    }
}
