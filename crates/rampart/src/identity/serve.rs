//! The identity authority inside `rampart serve`: the EST listener (HTTPS, client certificates
//! optional so tokens and manufacturer certificates both work), the CRL over HTTP, and upkeep
//! (daily CRL republication, renewal of the self-issued EST certificate, following changes made
//! by `rampart ca` while serve runs).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rampart_config::IdentityConfig;
use rampart_identity::est::tls::{TlsConfigHandle, TlsSettings};
use rampart_identity::presence::PresentationLog;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::sync::watch;
use tower::ServiceExt;

use super::{IdentityService, Section, is_initialised, passphrase};
use crate::settings::Settings;

/// A CRL older than this is signed again (its nextUpdate is seven days out).
const CRL_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// How often serve looks for work: changes by other processes, CRL age, certificate renewal.
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
/// Lifetime of the EST certificate serve issues itself; renewed when a third is left.
const SELF_ISSUED_DAYS: i64 = 30;
/// Largest EST request body read (a CSR is a few hundred octets).
const MAX_BODY: usize = 64 * 1024;
/// Time a client has to send its request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// EST requests served together in one locked section at most.
const EST_BATCH: usize = 64;
/// EST requests waiting for a batch at most (the listener serves 1,024 connections).
const EST_QUEUE: usize = 1024;
/// Histogram of EST batch sizes.
const EST_BATCH_SIZE: &str = "rampart_identity_est_batch_size";

/// The identity authority's part of serve: routes for the API listener.
#[derive(Default)]
pub(crate) struct Identity {
    routes: Option<Router>,
    /// The authority, for containment's `revoke_certificate` action.
    pub(crate) service: Option<IdentityService>,
}

impl Identity {
    /// The same API state, answering the certificate routes (listing, revocation) when
    /// identity is on.
    pub(crate) fn api(&self, state: rampart_api::ApiState) -> rampart_api::ApiState {
        match &self.service {
            Some(s) => state.with_identity(Arc::new(super::api::IdentityApi::new(s.clone()))),
            None => state,
        }
    }

    /// Adds `GET /crl.pem` and `GET /crl.der` (no authentication) to `app` when identity is on.
    pub(crate) fn merge_into(&self, app: Router) -> Router {
        match &self.routes {
            Some(r) => app.merge(r.clone()),
            None => app,
        }
    }
}

/// Starts the identity authority when `[identity]` is configured or the CA directory holds a
/// CA; with `[identity]` and no CA it is an error telling the operator what to run.
pub(crate) async fn start(
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Identity> {
    let cfg = settings.config.identity.as_ref();
    let dir = super::ca_dir(settings, None);
    if cfg.is_none() && !is_initialised(&dir) {
        tracing::debug!(dir = %dir.display(), "no CA and no [identity]: identity authority off");
        return Ok(Identity::default());
    }
    if let Some(c) = cfg {
        c.validate()?;
    }
    if !is_initialised(&dir) {
        bail!(
            "[identity] is configured but {} holds no CA: run `rampart ca init` with the same \
             --config/--data-dir first (or set [identity] ca_dir)",
            dir.display()
        );
    }
    let pass = passphrase(settings, None)?;
    let service = IdentityService::open(dir.clone(), pass, cfg, true).await?;
    refresh_crl_if_old(&service).await;
    let tls = match cfg.and_then(|c| c.est_listen) {
        Some(addr) => Some(start_est(&service, cfg, addr, stop.clone()).await?),
        None => None,
    };
    tracing::info!(
        dir = %dir.display(),
        est = cfg.and_then(|c| c.est_listen).map(|a| a.to_string()).as_deref().unwrap_or("off"),
        broker = service.has_broker(),
        "identity authority ready; CRL at /crl.pem and /crl.der"
    );
    tokio::spawn(upkeep(service.clone(), tls, stop));
    Ok(Identity {
        routes: Some(crl_routes(&dir)),
        service: Some(service),
    })
}

/// `GET /crl.pem` and `GET /crl.der`, read from the files the authority replaces atomically.
fn crl_routes(dir: &Path) -> Router {
    let (pem, der) = (dir.join("crl.pem"), dir.join("crl.der"));
    Router::new()
        .route(
            "/crl.pem",
            get(move || serve_file(pem.clone(), "application/x-pem-file")),
        )
        .route(
            "/crl.der",
            get(move || serve_file(der.clone(), "application/pkix-crl")),
        )
}

async fn serve_file(path: PathBuf, content_type: &'static str) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (StatusCode::NOT_FOUND, "no CRL published yet\n").into_response()
        }
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "cannot read the CRL");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the CRL\n").into_response()
        }
    }
}

async fn refresh_crl_if_old(service: &IdentityService) {
    let age = std::fs::metadata(service.dir().join("crl.pem"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    if age.is_some_and(|a| a < CRL_REFRESH) {
        return;
    }
    if let Err(error) = service.publish_crl().await {
        tracing::error!(error = format!("{error:#}"), "cannot republish the CRL");
    }
}

/// The EST server's certificate and key.
struct ServerCert {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// Expiry of a self-issued certificate (Unix seconds); `None` when read from files.
    renew_after: Option<i64>,
}

/// The EST listener's TLS configuration and what it is built from.
struct EstTls {
    handle: TlsConfigHandle,
    server: Mutex<ServerCert>,
    names: Vec<String>,
    manufacturer_roots: Vec<CertificateDer<'static>>,
    built: AtomicU64,
    /// Where client certificates presented to the listener are recorded.
    presentations: Arc<PresentationLog>,
}

impl EstTls {
    fn server(&self) -> std::sync::MutexGuard<'_, ServerCert> {
        self.server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Rebuilds the configuration with the section's CA chain and CRLs, when they changed.
    fn refresh(&self, section: &Section) {
        if self.built.load(Ordering::Acquire) == section.generation {
            return;
        }
        let built = build_config(
            section,
            &self.server(),
            &self.manufacturer_roots,
            &self.presentations,
        );
        match built {
            Ok(cfg) => {
                self.handle.replace(cfg);
                self.built.store(section.generation, Ordering::Release);
            }
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "cannot rebuild the EST TLS configuration"
                );
            }
        }
    }
}

/// A server configuration from the section's CA chain and CRLs, manufacturer roots and the
/// server certificate; client certificates refused as revoked are recorded in `log`.
fn build_config(
    section: &Section,
    server: &ServerCert,
    manufacturer_roots: &[CertificateDer<'static>],
    log: &Arc<PresentationLog>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let ca = section.auth.ca();
    let mut client_roots = ca.chain_der();
    client_roots.extend(manufacturer_roots.iter().cloned());
    let crls = ca
        .issuing()
        .iter()
        .filter_map(|i| std::fs::read(ca.dir().join("crl").join(format!("{}.der", i.id))).ok())
        .map(CertificateRevocationListDer::from)
        .collect();
    let settings = TlsSettings {
        cert_chain: server.chain.clone(),
        key: server.key.clone(),
        client_roots,
        crls,
    };
    Ok(settings.server_config_recording(log.clone())?)
}

fn self_issue(section: &Section, names: &[String]) -> anyhow::Result<ServerCert> {
    let (issued, key_pem) = section
        .auth
        .issue_server("est", names, time::Duration::days(SELF_ISSUED_DAYS))
        .context("issuing the EST server certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("EST server key")?;
    let chain = vec![
        issued.cert_der,
        section.auth.ca().current().cert_der.clone(),
    ];
    let life = issued.record.not_after - issued.record.not_before;
    tracing::info!(
        serial = %issued.record.serial, names = ?names,
        "EST server certificate issued from the CA (kept in memory)"
    );
    Ok(ServerCert {
        chain,
        key: Arc::new(key),
        renew_after: Some(issued.record.not_after - life / 3),
    })
}

fn server_from_files(cert: &Path, key: &Path) -> anyhow::Result<ServerCert> {
    let mode = std::fs::metadata(key)
        .with_context(|| format!("reading {}", key.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by group or others (mode {:o}); chmod 600 it",
            key.display(),
            mode & 0o777
        );
    }
    let pem = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    Ok(ServerCert {
        chain,
        key: Arc::new(key),
        renew_after: None,
    })
}

/// State of the EST proxy handler: the queue to the batcher.
struct EstShared {
    jobs: tokio::sync::mpsc::Sender<EstJob>,
}

/// One EST request, body read, waiting for its batch.
struct EstJob {
    req: Request,
    reply: tokio::sync::oneshot::Sender<Response>,
}

async fn start_est(
    service: &IdentityService,
    cfg: Option<&IdentityConfig>,
    addr: std::net::SocketAddr,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Arc<EstTls>> {
    let names = cfg.map(IdentityConfig::server_names).unwrap_or_default();
    let files = cfg.and_then(|c| c.est_server_cert.clone().zip(c.est_server_key.clone()));
    let manufacturer_roots: Vec<CertificateDer<'static>> = service
        .inner
        .manufacturers
        .iter()
        .flat_map(|m| m.roots.iter().cloned())
        .collect();
    let (names2, roots2) = (names.clone(), manufacturer_roots.clone());
    let presentations = service.presentations().clone();
    let log = presentations.clone();
    let (server, config, generation) = service
        .with_section(move |section| {
            let server = match files {
                Some((cert, key)) => server_from_files(&cert, &key)?,
                None => self_issue(section, &names2)?,
            };
            let config = build_config(section, &server, &roots2, &log)?;
            Ok((server, config, section.generation))
        })
        .await?;
    let tls = Arc::new(EstTls {
        handle: TlsConfigHandle::new(config),
        server: Mutex::new(server),
        names,
        manufacturer_roots,
        built: AtomicU64::new(generation),
        presentations: presentations.clone(),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the EST listener to {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let (jobs, queue) = tokio::sync::mpsc::channel(EST_QUEUE);
    tokio::spawn(est_batches(service.clone(), tls.clone(), queue));
    let shared = Arc::new(EstShared { jobs });
    let app = crl_routes(service.dir()).merge(Router::new().fallback(est_proxy).with_state(shared));
    let handle = tls.handle.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let mut stop = stop;
            // An error means the sender is gone, which only happens at exit.
            let _ignored = stop.wait_for(|s| *s).await;
        };
        let served = rampart_identity::est::tls::serve_recording(
            listener,
            handle,
            app,
            shutdown,
            presentations,
        )
        .await;
        if let Err(error) = served {
            tracing::error!(%error, "EST listener failed");
        }
    });
    tracing::info!(addr = %bound, "est listening (https, /.well-known/est/)");
    Ok(tls)
}

/// Reads an EST request's body and queues it for [`est_batches`].
async fn est_proxy(State(est): State<Arc<EstShared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response(),
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = EstJob {
        req: Request::from_parts(parts, Body::from(bytes)),
        reply,
    };
    if est.jobs.send(job).await.is_err() {
        return unavailable();
    }
    answer.await.unwrap_or_else(|_| unavailable())
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "identity authority unavailable\n",
    )
        .into_response()
}

/// Serves queued EST requests in batches: whatever queued while the previous batch ran (up
/// to [`EST_BATCH`]) runs concurrently in one locked section on an up-to-date authority, so
/// the CA directory's lock is taken once per batch and the batch's token uses and index
/// appends share their syncs (the identity crate group-commits them).
async fn est_batches(
    service: IdentityService,
    tls: Arc<EstTls>,
    mut queue: tokio::sync::mpsc::Receiver<EstJob>,
) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < EST_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!(EST_BATCH_SIZE).record(jobs.len() as f64);
        let (state, lock, section) = match service.begin().await {
            Ok(x) => x,
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "identity authority unavailable"
                );
                for job in jobs {
                    // The client may be gone; nothing to do then.
                    let _ignored = job.reply.send(unavailable());
                }
                continue;
            }
        };
        tls.refresh(&section);
        let mut running = tokio::task::JoinSet::new();
        for job in jobs {
            let router = section.est.clone();
            running.spawn(async move {
                let response = match router.oneshot(job.req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                let _ignored = job.reply.send(response);
            });
        }
        while let Some(done) = running.join_next().await {
            if let Err(error) = done {
                tracing::error!(%error, "EST request task failed");
            }
        }
        service.end(state, lock).await;
    }
}

/// Follows other writers, keeps the CRL fresh and renews the self-issued EST certificate.
async fn upkeep(
    service: IdentityService,
    tls: Option<Arc<EstTls>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        refresh_crl_if_old(&service).await;
        let Some(tls) = tls.clone() else {
            // Reopen when `rampart ca` changed the directory, so status and CRLs follow.
            if let Err(error) = service.with_section(|_| Ok(())).await {
                tracing::warn!(error = format!("{error:#}"), "identity upkeep failed");
            }
            continue;
        };
        let result = service
            .with_section(move |section| {
                let due = tls
                    .server()
                    .renew_after
                    .is_some_and(|t| t <= time::OffsetDateTime::now_utc().unix_timestamp());
                if due {
                    let fresh = self_issue(section, &tls.names)?;
                    *tls.server() = fresh;
                    tls.built
                        .store(section.generation.wrapping_sub(1), Ordering::Release);
                }
                tls.refresh(section);
                Ok(())
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(error = format!("{error:#}"), "identity upkeep failed");
        }
    }
}
