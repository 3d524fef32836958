//! Signed webhook notifications.
//!
//! The body is JSON; `X-Rampart-Timestamp` carries Unix seconds and `X-Rampart-Signature`
//! is `sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>`, so a receiver can reject a
//! replay older than its tolerance. `X-Rampart-Delivery` stays the same across retries of
//! one delivery so the receiver can drop duplicates. Retries: 5xx, 429, timeouts and
//! connection failures; other 4xx are final.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::net::TcpStream;

use crate::retry::{Attempt, RetryPolicy};
use crate::secret::Secret;
use crate::telemetry::{self, count};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-rampart-signature";
/// Header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-rampart-timestamp";
/// Header carrying the delivery id (constant across retries).
pub const DELIVERY_HEADER: &str = "x-rampart-delivery";

/// One webhook receiver.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// `http://` or `https://` URL.
    #[serde(with = "uri_serde")]
    pub url: Uri,
    /// HMAC key (never logged).
    pub key: Secret,
    /// Time allowed for one attempt, connection included.
    #[serde(default = "default_timeout", with = "crate::retry::millis")]
    pub timeout: Duration,
    /// Retries.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// TLS client settings for `https://` (roots, client certificate); required for https.
    #[serde(skip)]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    /// An endpoint with default timeout and retries.
    pub fn new(url: Uri, key: Secret) -> Self {
        Self {
            url,
            key,
            timeout: default_timeout(),
            retry: RetryPolicy::default(),
            tls: None,
        }
    }
}

/// Why a delivery failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL has no host, or a scheme other than http/https, or https without TLS settings.
    #[error("unusable webhook url: {0}")]
    Url(&'static str),
    /// The receiver answered with an error status.
    #[error("receiver answered {0}")]
    Status(u16),
    /// No answer in time.
    #[error("webhook attempt timed out after {0:?}")]
    Timeout(Duration),
    /// Connection, TLS or HTTP failure.
    #[error("webhook transport failed: {0}")]
    Transport(String),
}

/// A successful delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// HTTP status (2xx).
    pub status: u16,
    /// The delivery id sent in [`DELIVERY_HEADER`].
    pub delivery_id: String,
}

/// The signature header value for `body` signed at `timestamp`.
pub fn sign(key: &Secret, timestamp: u64, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(key, timestamp, body)))
}

fn mac(key: &Secret, timestamp: u64, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail; an empty array would
    // only arise if it did, and would never verify.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()) else {
        return [0; 32];
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Why a received webhook is refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Header missing or not `sha256=<64 hex>`, or a timestamp that is not a number.
    #[error("malformed signature headers")]
    Malformed,
    /// Older or newer than the tolerance allows.
    #[error("timestamp outside the accepted window")]
    Stale,
    /// Wrong MAC.
    #[error("signature mismatch")]
    Mismatch,
}

/// Checks a received webhook: what a receiver (or a test) runs. `now` and `tolerance` bound
/// replays.
pub fn verify(
    key: &Secret,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let ts: u64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if now.abs_diff(ts) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let hex_mac = signature
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_mac).map_err(|_| SignatureError::Malformed)?;
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()) else {
        return Err(SignatureError::Mismatch);
    };
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A webhook sender.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    endpoint: WebhookEndpoint,
}

impl WebhookClient {
    /// A sender for `endpoint`.
    pub fn new(endpoint: WebhookEndpoint) -> Self {
        Self { endpoint }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &WebhookEndpoint {
        &self.endpoint
    }

    /// Delivers `payload`, retrying per the endpoint's policy. Each attempt is signed
    /// afresh (new timestamp) but carries the same delivery id.
    pub async fn send<T: Serialize>(&self, payload: &T) -> (Result<Delivery, WebhookError>, u32) {
        let body = match serde_json::to_vec(payload) {
            Ok(b) => Bytes::from(b),
            Err(e) => return (Err(WebhookError::Transport(e.to_string())), 0),
        };
        let mut id = [0u8; 16];
        if getrandom::fill(&mut id).is_err() {
            id = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
                .to_be_bytes();
        }
        let delivery_id = hex::encode(id);
        let ep = &self.endpoint;
        let retried = ep
            .retry
            .run(|_| async {
                count(telemetry::ATTEMPTS_TOTAL, &[("action", "webhook")]);
                let attempt = tokio::time::timeout(ep.timeout, self.attempt(&body, &delivery_id));
                match attempt.await {
                    Err(_) => {
                        count(telemetry::WEBHOOK_RESPONSES_TOTAL, &[("class", "timeout")]);
                        Err(Attempt::Retry(WebhookError::Timeout(ep.timeout)))
                    }
                    Ok(result) => result,
                }
            })
            .await;
        (retried.result, retried.attempts)
    }

    async fn attempt(
        &self,
        body: &Bytes,
        delivery_id: &str,
    ) -> Result<Delivery, Attempt<WebhookError>> {
        let url = &self.endpoint.url;
        let https = match url.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Attempt::Fatal(WebhookError::Url(
                    "scheme must be http or https",
                )));
            }
        };
        let host = url
            .host()
            .ok_or(Attempt::Fatal(WebhookError::Url("no host")))?;
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host_bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((host_bare, port))
            .await
            .map_err(transport)?;
        tcp.set_nodelay(true).map_err(transport)?;
        let ts = unix_now();
        let authority = url.authority().map_or(host, |a| a.as_str());
        let request = Request::post(url.path_and_query().map_or("/", |p| p.as_str()))
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("rampart/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, sign(&self.endpoint.key, ts, body))
            .header(DELIVERY_HEADER, delivery_id)
            .body(Full::new(body.clone()))
            .map_err(|e| Attempt::Fatal(WebhookError::Transport(e.to_string())))?;
        let status = if https {
            let tls = self
                .endpoint
                .tls
                .clone()
                .ok_or(Attempt::Fatal(WebhookError::Url(
                    "https needs tls settings",
                )))?;
            let name = rustls::pki_types::ServerName::try_from(host_bare.to_owned())
                .map_err(|_| Attempt::Fatal(WebhookError::Url("invalid tls server name")))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(transport)?;
            exchange(stream, request).await?
        } else {
            exchange(tcp, request).await?
        };
        classify(status, delivery_id)
    }
}

async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<StatusCode, Attempt<WebhookError>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(transport)?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await.map_err(transport)?;
    let status = response.status();
    // Drain (bounded by the attempt timeout) so the connection closes cleanly.
    response.into_body().collect().await.ok();
    drop(sender);
    driver.abort();
    Ok(status)
}

fn transport(error: impl std::fmt::Display) -> Attempt<WebhookError> {
    count(telemetry::WEBHOOK_RESPONSES_TOTAL, &[("class", "io")]);
    Attempt::Retry(WebhookError::Transport(error.to_string()))
}

fn classify(status: StatusCode, delivery_id: &str) -> Result<Delivery, Attempt<WebhookError>> {
    let class = match status.as_u16() {
        200..=299 => "2xx",
        429 => "429",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    count(telemetry::WEBHOOK_RESPONSES_TOTAL, &[("class", class)]);
    let code = status.as_u16();
    if status.is_success() {
        Ok(Delivery {
            status: code,
            delivery_id: delivery_id.to_owned(),
        })
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Err(Attempt::Retry(WebhookError::Status(code)))
    } else {
        Err(Attempt::Fatal(WebhookError::Status(code)))
    }
}

mod uri_serde {
    use hyper::Uri;
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uri, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_replay_window() {
        let key = Secret::from("k");
        let body = br#"{"a":1}"#;
        let sig = sign(&key, 1000, body);
        // openssl dgst -sha256 -hmac k over `1000.{"a":1}`.
        assert_eq!(
            sig,
            "sha256=dffbc2557cb360d8a87c2fbbf465de108bdca6df5f684e0ffa98cdbd4cd183fa"
        );
        let tol = Duration::from_secs(300);
        assert_eq!(verify(&key, "1000", &sig, body, 1100, tol), Ok(()));
        assert_eq!(
            verify(&key, "1000", &sig, body, 1400, tol),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&key, "1001", &sig, body, 1000, tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, "1000", &sig, b"{}", 1000, tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&Secret::from("x"), "1000", &sig, body, 1000, tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, "1000", "md5=00", body, 1000, tol),
            Err(SignatureError::Malformed)
        );
    }
}
