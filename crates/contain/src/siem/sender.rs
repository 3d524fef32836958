//! Sending syslog messages over UDP (one message per datagram, RFC 5426) or TCP with
//! octet-counting framing (RFC 6587 §3.4.1: `LEN SP MSG`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

use crate::retry::{Attempt, RetryPolicy};
use crate::telemetry::{self, count};

/// Transport to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogTransport {
    /// UDP, one message per datagram.
    Udp,
    /// TCP with octet-counting framing.
    Tcp,
}

impl SyslogTransport {
    fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        }
    }
}

/// Why a message could not be sent.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    /// Socket failure after the retries.
    #[error("syslog send failed")]
    Io(#[from] std::io::Error),
}

/// A syslog sender; TCP connections are opened lazily and re-opened after a failure.
#[derive(Debug)]
pub struct SyslogSender {
    transport: SyslogTransport,
    addr: SocketAddr,
    retry: RetryPolicy,
    udp: Mutex<Option<UdpSocket>>,
    tcp: Mutex<Option<TcpStream>>,
}

impl SyslogSender {
    /// A sender to `addr`.
    pub fn new(transport: SyslogTransport, addr: SocketAddr, retry: RetryPolicy) -> Self {
        Self {
            transport,
            addr,
            retry,
            udp: Mutex::new(None),
            tcp: Mutex::new(None),
        }
    }

    /// The TCP frame for `msg`.
    pub fn frame(msg: &str) -> Vec<u8> {
        let mut out = format!("{} ", msg.len()).into_bytes();
        out.extend_from_slice(msg.as_bytes());
        out
    }

    /// Sends one message, retrying (with a fresh connection for TCP) per the policy.
    pub async fn send(&self, msg: &str) -> Result<(), SiemError> {
        let label = self.transport.as_str();
        let retried = self
            .retry
            .run(|_| async {
                let result = match self.transport {
                    SyslogTransport::Udp => self.send_udp(msg).await,
                    SyslogTransport::Tcp => self.send_tcp(msg).await,
                };
                result.map_err(Attempt::Retry)
            })
            .await;
        match &retried.result {
            Ok(()) => count(telemetry::SIEM_SENT_TOTAL, &[("transport", label)]),
            Err(error) => {
                tracing::warn!(%error, transport = label, "syslog message dropped");
                count(telemetry::SIEM_ERRORS_TOTAL, &[("transport", label)]);
            }
        }
        retried.result.map_err(SiemError::Io)
    }

    async fn send_udp(&self, msg: &str) -> std::io::Result<()> {
        let mut guard = self.udp.lock().await;
        if guard.is_none() {
            let local: SocketAddr = if self.addr.is_ipv4() {
                "0.0.0.0:0".parse().map_err(std::io::Error::other)?
            } else {
                "[::]:0".parse().map_err(std::io::Error::other)?
            };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(self.addr).await?;
            *guard = Some(socket);
        }
        let Some(socket) = guard.as_ref() else {
            return Err(std::io::Error::other("no socket"));
        };
        match socket.send(msg.as_bytes()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                *guard = None;
                Err(e)
            }
        }
    }

    async fn send_tcp(&self, msg: &str) -> std::io::Result<()> {
        let mut guard = self.tcp.lock().await;
        // A collector that closed the connection shows as end-of-stream; writing into it
        // would "succeed" into the void once, so reconnect first.
        if let Some(s) = guard.as_ref() {
            let mut probe = [0u8; 64];
            let closed = match s.try_read(&mut probe) {
                Ok(0) => true,
                // Collectors do not talk back; whatever came is dropped.
                Ok(_) => false,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            if closed {
                *guard = None;
            }
        }
        let stream = match guard.as_mut() {
            Some(s) => s,
            None => guard.insert(TcpStream::connect(self.addr).await?),
        };
        let frame = Self::frame(msg);
        let written = stream.write_all(&frame).await;
        if written.is_err() {
            *guard = None;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_counting_frame() {
        assert_eq!(
            SyslogSender::frame("<1>1 héllo"),
            b"11 <1>1 h\xc3\xa9llo".to_vec()
        );
    }
}
