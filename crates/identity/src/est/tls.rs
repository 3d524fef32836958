//! HTTPS for EST on tokio-rustls + hyper: an accept loop that verifies client certificates with
//! rustls' `WebPkiClientVerifier` (optional client auth, our CRLs) and passes the verified chain
//! to the router as a [`PeerCertificates`] request extension.
//!
//! With a [`PresentationLog`] ([`TlsSettings::server_config_recording`] and [`serve_recording`])
//! every client certificate a handshake completes with is recorded with the client's address,
//! and so is every certificate refused because the CRL lists it: the verifier learns the
//! address of the handshake it judges from a task-local the accept loop sets.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::PeerCertificates;
use crate::IdentityError;
use crate::crl::CrlSet;
use crate::presence::{Outcome, PresentationLog};

tokio::task_local! {
    /// The client address of the handshake being polled, for the recording verifier.
    static PEER_ADDR: IpAddr;
}

/// Handshake deadline: a client that stalls the handshake loses its connection.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request-header deadline.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent connections served.
const MAX_CONNECTIONS: usize = 1024;

/// The process's TLS provider: aws-lc-rs, set explicitly so no global default is needed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Material for the EST server's TLS configuration.
#[derive(Clone)]
pub struct TlsSettings {
    /// Server certificate chain, leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// Server key.
    pub key: Arc<PrivateKeyDer<'static>>,
    /// Trust anchors for client certificates: our root and issuing CAs, manufacturer roots.
    pub client_roots: Vec<CertificateDer<'static>>,
    /// CRLs checked for client end-entity certificates.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_chain", &self.cert_chain.len())
            .field("client_roots", &self.client_roots.len())
            .field("crls", &self.crls.len())
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Settings from PEM text: the server's certificate chain and key, client trust anchors.
    pub fn from_pem(
        cert_chain_pem: &str,
        key_pem: &str,
        client_roots: Vec<CertificateDer<'static>>,
        crls: &CrlSet,
    ) -> Result<Self, IdentityError> {
        let cert_chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::generate(format!("server certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| IdentityError::generate(format!("server key: {e}")))?;
        Ok(Self {
            cert_chain,
            key: Arc::new(key),
            client_roots,
            crls: crls.ders.iter().map(|(_, d)| d.clone()).collect(),
        })
    }

    /// Builds the rustls server configuration: TLS 1.2 and 1.3, optional client certificates.
    /// Only end-entity revocation is checked, and an unknown status is allowed, because
    /// manufacturer chains come with no CRL; our own certificates are covered by our CRLs and
    /// the EST handlers check the index again.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, IdentityError> {
        self.build(None)
    }

    /// [`Self::server_config`], recording client certificates refused as revoked in `log`
    /// (with [`serve_recording`], which also records those accepted).
    pub fn server_config_recording(
        &self,
        log: Arc<PresentationLog>,
    ) -> Result<Arc<ServerConfig>, IdentityError> {
        self.build(Some(log))
    }

    fn build(&self, log: Option<Arc<PresentationLog>>) -> Result<Arc<ServerConfig>, IdentityError> {
        let err = |e: &dyn std::fmt::Display| IdentityError::generate(format!("tls: {e}"));
        let mut roots = rustls::RootCertStore::empty();
        for r in &self.client_roots {
            roots.add(r.clone()).map_err(|e| err(&e))?;
        }
        let provider = provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .with_crls(self.crls.iter().cloned())
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .allow_unauthenticated()
                .build()
                .map_err(|e| err(&e))?;
        let verifier: Arc<dyn ClientCertVerifier> = match log {
            Some(log) => Arc::new(RecordingVerifier {
                inner: verifier,
                log,
            }),
            None => verifier,
        };
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| err(&e))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

/// Delegates every decision to rustls' verifier and records the certificates it refuses as
/// revoked.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    log: Arc<PresentationLog>,
}

impl ClientCertVerifier for RecordingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if matches!(
            verdict,
            Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
        ) && let Ok(addr) = PEER_ADDR.try_with(|a| *a)
        {
            let at = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            self.log
                .record(end_entity, addr, at, Outcome::RefusedRevoked);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}

/// A swappable server configuration: replace it after publishing a CRL and new connections use
/// the new one.
#[derive(Clone, Debug)]
pub struct TlsConfigHandle(Arc<RwLock<Arc<ServerConfig>>>);

impl TlsConfigHandle {
    /// Wraps a configuration.
    pub fn new(cfg: Arc<ServerConfig>) -> Self {
        Self(Arc::new(RwLock::new(cfg)))
    }

    /// Replaces the configuration for new connections.
    pub fn replace(&self, cfg: Arc<ServerConfig>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = cfg;
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: TlsConfigHandle,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_inner(listener, tls, app, shutdown, None).await
}

/// [`serve`], recording in `log` the client certificate of every completed handshake (and,
/// with a configuration from [`TlsSettings::server_config_recording`], those refused as
/// revoked) with the client's address.
pub async fn serve_recording(
    listener: TcpListener,
    tls: TlsConfigHandle,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
    log: Arc<PresentationLog>,
) -> std::io::Result<()> {
    serve_inner(listener, tls, app, shutdown, Some(log)).await
}

async fn serve_inner(
    listener: TcpListener,
    tls: TlsConfigHandle,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
    log: Option<Arc<PresentationLog>>,
) -> std::io::Result<()> {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics::counter!("rampart_identity_est_connections_refused_total").increment(1);
            continue;
        };
        let acceptor = TlsAcceptor::from(tls.current());
        let app = app.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let handshake = PEER_ADDR.scope(
                remote.ip(),
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)),
            );
            let stream = match handshake.await {
                Ok(Ok(s)) => s,
                Ok(Err(error)) => {
                    metrics::counter!("rampart_identity_est_handshake_failures_total").increment(1);
                    tracing::debug!(%remote, %error, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "tls handshake timed out");
                    return;
                }
            };
            let peer = stream.get_ref().1.peer_certificates().map(|c| {
                PeerCertificates(Arc::new(c.iter().map(|d| d.clone().into_owned()).collect()))
            });
            if let (Some(log), Some(ee)) = (&log, peer.as_ref().and_then(|p| p.end_entity())) {
                log.record(ee, remote.ip(), unix_now(), Outcome::Accepted);
            }
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                if let Some(p) = &peer {
                    req.extensions_mut().insert(p.clone());
                }
                app.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(error) = conn.await {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
        });
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
