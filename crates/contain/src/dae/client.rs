//! The UDP side: send, retransmit with backoff, match and verify the answer.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::request::{self, PolicyAttr, RequestError, SignedRequest};
use super::response::{self, DaeReply, ResponseError};
use super::{DaeKind, NasConfig, SessionIdentity};
use crate::telemetry::{self, count};

/// A client for one NAS.
#[derive(Debug, Clone)]
pub struct DaeClient {
    nas: NasConfig,
}

/// An answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaeExchange {
    /// What the NAS said.
    pub reply: DaeReply,
    /// Transmissions made (1 = answered on the first).
    pub attempts: u32,
    /// Datagrams ignored on the way (wrong authenticator, identifier, malformed).
    pub bad_responses: u32,
}

/// Why a request got no acceptable answer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DaeError {
    /// The request could not be built (nothing was sent).
    #[error("cannot build the request")]
    Request(#[from] RequestError),
    /// The socket could not be opened or used.
    #[error("udp socket error")]
    Io(#[from] std::io::Error),
    /// Every transmission went unanswered.
    #[error("no answer from the nas after {attempts} transmissions")]
    Timeout {
        /// Transmissions made.
        attempts: u32,
    },
    /// Answers came, but none passed the checks: typically a wrong shared secret.
    #[error("{count} answers from the nas failed the checks after {attempts} transmissions")]
    BadResponses {
        /// Transmissions made.
        attempts: u32,
        /// Datagrams rejected.
        count: u32,
        /// Why the last one was rejected.
        #[source]
        last: ResponseError,
    },
}

impl DaeError {
    /// Transmissions made before giving up (0 if nothing was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Request(_) | Self::Io(_) => 0,
            Self::Timeout { attempts } | Self::BadResponses { attempts, .. } => *attempts,
        }
    }
}

impl DaeClient {
    /// A client for `nas`.
    pub fn new(nas: NasConfig) -> Self {
        Self { nas }
    }

    /// The NAS configuration.
    pub fn nas(&self) -> &NasConfig {
        &self.nas
    }

    /// Sends a Disconnect-Request for `session`.
    pub async fn disconnect(&self, session: &SessionIdentity) -> Result<DaeExchange, DaeError> {
        self.send(DaeKind::Disconnect, session, &[]).await
    }

    /// Sends a CoA-Request applying the NAS's quarantine policy.
    pub async fn quarantine(&self, session: &SessionIdentity) -> Result<DaeExchange, DaeError> {
        self.send(DaeKind::Coa, session, &self.nas.quarantine).await
    }

    /// Sends a CoA-Request restoring the NAS's normal policy.
    pub async fn restore(&self, session: &SessionIdentity) -> Result<DaeExchange, DaeError> {
        self.send(DaeKind::Coa, session, &self.nas.normal).await
    }

    /// Sends one request, retransmitting the same octets (same identifier, same
    /// Event-Timestamp, so the NAS can recognise a duplicate) until an answer passes the
    /// checks or the retry policy runs out. Between transmissions the socket keeps
    /// listening, so a late answer to an earlier copy still counts.
    pub async fn send(
        &self,
        kind: DaeKind,
        session: &SessionIdentity,
        policy: &[PolicyAttr],
    ) -> Result<DaeExchange, DaeError> {
        let identifier = getrandom::u32().map_or(0, |v| v.to_le_bytes()[0]);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let request = request::build(kind, identifier, &self.nas, session, policy, now)?;
        let local: SocketAddr = if self.nas.addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected: the kernel drops datagrams from any other address for us.
        socket.connect(self.nas.addr).await?;
        self.exchange(&socket, kind, &request).await
    }

    async fn exchange(
        &self,
        socket: &UdpSocket,
        kind: DaeKind,
        request: &SignedRequest,
    ) -> Result<DaeExchange, DaeError> {
        let policy = &self.nas.retry;
        let mut bad = 0u32;
        let mut last_bad = None;
        let mut buf = vec![0u8; rampart_radius::MAX_PACKET_LEN];
        for attempt in 1..=policy.attempts() {
            count(telemetry::ATTEMPTS_TOTAL, &[("action", label(kind))]);
            if let Err(error) = socket.send(&request.bytes).await {
                tracing::debug!(nas = %self.nas.name, %error, "send failed");
            }
            let deadline = Instant::now() + policy.delay(attempt);
            loop {
                let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
                let n = match received {
                    Err(_elapsed) => break,
                    Ok(Ok(n)) => n,
                    Ok(Err(error)) => {
                        // ICMP port unreachable and the like: wait out this round.
                        tracing::debug!(nas = %self.nas.name, %error, "receive failed");
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                };
                let datagram = buf.get(..n).unwrap_or_default();
                match response::interpret(
                    datagram,
                    kind,
                    request.identifier,
                    &request.authenticator,
                    self.nas.secret.expose(),
                ) {
                    Ok(reply) => {
                        record_reply(kind, &reply);
                        return Ok(DaeExchange {
                            reply,
                            attempts: attempt,
                            bad_responses: bad,
                        });
                    }
                    Err(error) => {
                        count(
                            telemetry::RADIUS_BAD_RESPONSES_TOTAL,
                            &[("reason", error.reason())],
                        );
                        tracing::warn!(nas = %self.nas.name, %error, "ignored an answer");
                        bad += 1;
                        last_bad = Some(error);
                    }
                }
            }
        }
        let attempts = policy.attempts();
        match last_bad {
            Some(last) => Err(DaeError::BadResponses {
                attempts,
                count: bad,
                last,
            }),
            None => {
                count(telemetry::RADIUS_TIMEOUTS_TOTAL, &[]);
                Err(DaeError::Timeout { attempts })
            }
        }
    }
}

fn label(kind: DaeKind) -> &'static str {
    match kind {
        DaeKind::Disconnect => "radius_disconnect",
        DaeKind::Coa => "radius_coa",
    }
}

fn record_reply(kind: DaeKind, reply: &DaeReply) {
    let code = match (kind, reply) {
        (DaeKind::Disconnect, DaeReply::Ack { .. }) => "disconnect_ack",
        (DaeKind::Disconnect, DaeReply::Nak { .. }) => "disconnect_nak",
        (DaeKind::Coa, DaeReply::Ack { .. }) => "coa_ack",
        (DaeKind::Coa, DaeReply::Nak { .. }) => "coa_nak",
    };
    count(telemetry::RADIUS_RESPONSES_TOTAL, &[("code", code)]);
    if let Some(cause) = reply.error_cause() {
        let cause = if super::error_cause::name(cause.code).is_some() {
            cause.code.to_string()
        } else {
            "other".to_owned()
        };
        metrics::counter!(telemetry::RADIUS_ERROR_CAUSES_TOTAL, "cause" => cause).increment(1);
    }
}
