//! EST (RFC 7030) server: `cacerts`, `simpleenroll`, `simplereenroll` and `csrattrs` under
//! `/.well-known/est/`, as an axum [`Router`].
//!
//! Bootstrap authentication for `simpleenroll`, in this order:
//! 1. a one-time enrolment token, as the HTTP Basic password (any user name) or a Bearer token;
//! 2. a manufacturer (IDevID) certificate presented as the TLS client certificate and chaining to
//!    a [`ManufacturerTrust`], which fixes the tenant and profile; the device id is the
//!    certificate's subject serialNumber, or its CN when it has none.
//!
//! `simplereenroll` requires the device's current certificate as the TLS client certificate:
//! issued here (byte-for-byte match with the index), unexpired and unrevoked; the new CSR must
//! name the same subject (RFC 7030 section 4.2.2).
//!
//! The router reads the client certificate from a [`PeerCertificates`] request extension, which
//! the TLS accept loop in [`tls`] inserts. Not implemented: `fullcmc`, `serverkeygen`, the
//! tls-unique binding of section 3.5, and the optional CA label path segment.

pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rampart_core::{DeviceId, TenantId};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use crate::{Authority, IdentityError, Issued, csr, pkcs7};

/// Mount point of the EST operations.
pub const BASE_PATH: &str = "/.well-known/est";

/// The TLS client certificate chain of the connection a request arrived on (end entity first).
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

impl PeerCertificates {
    /// The client's own certificate.
    pub fn end_entity(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }

    /// Certificates the client sent after its own.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        self.0.get(1..).unwrap_or_default()
    }
}

/// A manufacturer CA whose device certificates may bootstrap enrolment under one profile.
pub struct ManufacturerTrust {
    /// Name for logs.
    pub name: String,
    /// Trust anchors (the manufacturer's CA certificates).
    pub roots: Vec<CertificateDer<'static>>,
    /// Tenant the devices are enrolled into.
    pub tenant: TenantId,
    /// Profile to issue under.
    pub profile: String,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl std::fmt::Debug for ManufacturerTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManufacturerTrust")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl ManufacturerTrust {
    /// Builds a trust from the manufacturer's CA certificates.
    pub fn new(
        name: &str,
        roots: Vec<CertificateDer<'static>>,
        tenant: TenantId,
        profile: &str,
    ) -> Result<Self, IdentityError> {
        let mut store = rustls::RootCertStore::empty();
        for r in &roots {
            store
                .add(r.clone())
                .map_err(|e| IdentityError::ClientCert(format!("manufacturer root: {e}")))?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(store), tls::provider())
                .build()
                .map_err(|e| IdentityError::ClientCert(format!("manufacturer trust: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            roots,
            tenant,
            profile: profile.to_owned(),
            verifier,
        })
    }

    /// The device id this trust vouches for, if the chain verifies against it.
    fn device_for(&self, peer: &PeerCertificates) -> Option<DeviceId> {
        let ee = peer.end_entity()?;
        self.verifier
            .verify_client_cert(ee, peer.intermediates(), UnixTime::now())
            .ok()?;
        let (_, x) = x509_parser::parse_x509_certificate(ee).ok()?;
        let subject = x.subject();
        let id = subject
            .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
            .next()
            .or_else(|| subject.iter_common_name().next())
            .and_then(|a| a.as_str().ok())?;
        DeviceId::parse(id).ok()
    }
}

/// The EST service.
#[derive(Debug)]
pub struct Est {
    authority: Arc<Authority>,
    manufacturers: Vec<ManufacturerTrust>,
}

impl Est {
    /// An EST service for `authority`, accepting bootstrap by the given manufacturer trusts.
    pub fn new(authority: Arc<Authority>, manufacturers: Vec<ManufacturerTrust>) -> Self {
        Self {
            authority,
            manufacturers,
        }
    }

    /// Manufacturer trust anchors, for the TLS client verifier.
    pub fn manufacturer_roots(&self) -> Vec<CertificateDer<'static>> {
        self.manufacturers
            .iter()
            .flat_map(|m| m.roots.iter().cloned())
            .collect()
    }

    fn enroll(
        &self,
        token: Option<crate::EnrolmentToken>,
        peer: Option<&PeerCertificates>,
        der: &[u8],
    ) -> Result<Issued, EstError> {
        if let Some(token) = token {
            let tokens = self.authority.tokens();
            let grant = tokens.peek(&token).ok_or(EstError::Unauthorized)?;
            let tenant = TenantId::parse(&grant.tenant).map_err(|_| EstError::Internal)?;
            let device = DeviceId::parse(&grant.device).map_err(|_| EstError::Internal)?;
            // Verify, sign and check the key before using the token up, so a bad CSR does not
            // burn it; the certificate is handed out only once recorded.
            let signed = self
                .authority
                .sign_request(&tenant, &device, &grant.profile, der)?;
            self.authority.check_duplicate(&signed)?;
            tokens.consume(&token)?;
            return Ok(self.authority.commit_one(signed)?);
        }
        if let Some(peer) = peer {
            for m in &self.manufacturers {
                if let Some(device) = m.device_for(peer) {
                    tracing::info!(manufacturer = %m.name, device = %device, "bootstrap by manufacturer certificate");
                    return Ok(self.authority.issue(&m.tenant, &device, &m.profile, der)?);
                }
            }
            return Err(EstError::Forbidden(
                "client certificate is not trusted for enrolment",
            ));
        }
        Err(EstError::Unauthorized)
    }

    fn reenroll(&self, peer: Option<&PeerCertificates>, der: &[u8]) -> Result<Issued, EstError> {
        let ee = peer
            .and_then(PeerCertificates::end_entity)
            .ok_or(EstError::Unauthorized)?;
        let rec = self.authority.check_current_cert(ee)?;
        let csr = csr::verify(der).map_err(IdentityError::from)?;
        let same_cn = csr.common_name.as_deref() == Some(rec.subject.as_str());
        let same_org = csr.organization.as_deref().is_none_or(|o| o == rec.tenant);
        if !same_cn || !same_org {
            return Err(EstError::BadRequest(
                "csr subject differs from the current certificate".into(),
            ));
        }
        let tenant = TenantId::parse(&rec.tenant).map_err(|_| EstError::Internal)?;
        let device = DeviceId::parse(&rec.subject).map_err(|_| EstError::Internal)?;
        Ok(self.authority.issue(&tenant, &device, &rec.profile, der)?)
    }
}

/// The EST routes, mounted at [`BASE_PATH`].
pub fn router(est: Arc<Est>) -> Router {
    Router::new()
        .route(&format!("{BASE_PATH}/cacerts"), get(cacerts))
        .route(&format!("{BASE_PATH}/csrattrs"), get(csrattrs))
        .route(&format!("{BASE_PATH}/simpleenroll"), post(simpleenroll))
        .route(&format!("{BASE_PATH}/simplereenroll"), post(simplereenroll))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(est)
}

/// An EST failure, mapped to an HTTP status with a short plain-text reason.
#[derive(Debug)]
enum EstError {
    BadRequest(String),
    Unauthorized,
    Forbidden(&'static str),
    Policy(String),
    Internal,
}

impl From<IdentityError> for EstError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Csr(c) => Self::BadRequest(c.to_string()),
            IdentityError::Policy(p) => Self::Policy(p),
            IdentityError::BadToken => Self::Unauthorized,
            IdentityError::ClientCert(_) => Self::Forbidden("client certificate refused"),
            IdentityError::BadId(m) => Self::BadRequest(m),
            other => {
                tracing::error!(error = %other, "est request failed");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "authentication required".into()),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m.into()),
            Self::Policy(m) => (StatusCode::FORBIDDEN, m),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
        };
        let mut resp = (status, format!("{msg}\n")).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"est\""),
            );
        }
        resp
    }
}

fn count(op: &'static str, result: &'static str) {
    metrics::counter!("rampart_identity_est_requests_total", "op" => op, "result" => result)
        .increment(1);
}

/// Base64 with 64-column lines, as RFC 7030 bodies are usually written.
fn base64_lines(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn base64_response(content_type: &'static str, der: &[u8]) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::HeaderName::from_static("content-transfer-encoding"),
                HeaderValue::from_static("base64"),
            ),
        ],
        base64_lines(der),
    )
        .into_response()
}

async fn cacerts(State(est): State<Arc<Est>>) -> Response {
    let chain = est.authority.ca().chain_der();
    let refs: Vec<&[u8]> = chain.iter().map(|c| c.as_ref()).collect();
    count("cacerts", "ok");
    base64_response("application/pkcs7-mime", &pkcs7::certs_only(&refs))
}

async fn csrattrs() -> Response {
    count("csrattrs", "ok");
    base64_response("application/csrattrs", &pkcs7::csr_attrs_p256())
}

fn token_from(headers: &HeaderMap) -> Option<crate::EnrolmentToken> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(crate::EnrolmentToken::new(rest.trim()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, pass) = text.split_once(':')?;
        return Some(crate::EnrolmentToken::new(pass));
    }
    None
}

fn check_content_type(headers: &HeaderMap) -> Result<(), EstError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct)
            if ct
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/pkcs10") =>
        {
            Ok(())
        }
        Some(_) => Err(EstError::BadRequest(
            "content-type must be application/pkcs10".into(),
        )),
    }
}

fn issued_response(issued: &Issued) -> Response {
    base64_response(
        "application/pkcs7-mime; smime-type=certs-only",
        &pkcs7::certs_only(&[issued.cert_der.as_ref()]),
    )
}

async fn run_blocking<F>(op: &'static str, f: F) -> Response
where
    F: FnOnce() -> Result<Issued, EstError> + Send + 'static,
{
    // Signing and the index fsync block; keep them off the async workers.
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(issued)) => {
            count(op, "ok");
            issued_response(&issued)
        }
        Ok(Err(e)) => {
            count(op, "refused");
            e.into_response()
        }
        Err(_) => {
            count(op, "error");
            EstError::Internal.into_response()
        }
    }
}

async fn simpleenroll(
    State(est): State<Arc<Est>>,
    peer: Option<axum::Extension<PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = check_content_type(&headers) {
        count("simpleenroll", "refused");
        return e.into_response();
    }
    let token = token_from(&headers);
    let peer = peer.map(|axum::Extension(p)| p);
    run_blocking("simpleenroll", move || {
        let der = csr::decode_body(&body).map_err(IdentityError::from)?;
        est.enroll(token, peer.as_ref(), &der)
    })
    .await
}

async fn simplereenroll(
    State(est): State<Arc<Est>>,
    peer: Option<axum::Extension<PeerCertificates>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = check_content_type(&headers) {
        count("simplereenroll", "refused");
        return e.into_response();
    }
    let peer = peer.map(|axum::Extension(p)| p);
    run_blocking("simplereenroll", move || {
        let der = csr::decode_body(&body).map_err(IdentityError::from)?;
        est.reenroll(peer.as_ref(), &der)
    })
    .await
}
