//! RFC 5176 Dynamic Authorization client: Disconnect-Request and CoA-Request towards a NAS
//! (GGSN/PGW, BNG, Wi-Fi controller).
//!
//! [`request`] and [`response`] are sans-IO (build and sign a request, check and interpret an
//! answer); [`DaeClient`] owns the UDP socket, retransmissions and metrics.

mod client;
mod error_cause;
pub mod request;
pub mod response;

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use client::{DaeClient, DaeError, DaeExchange};
pub use error_cause::{CauseClass, ErrorCauseInfo, name as error_cause_name};
pub use request::{PolicyAttr, RequestError};
pub use response::{DaeReply, ResponseError};

use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// The Dynamic Authorization Server port (RFC 5176 §3).
pub const DEFAULT_PORT: u16 = 3799;

/// Which kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaeKind {
    /// Disconnect-Request (40): end the session.
    Disconnect,
    /// CoA-Request (43): change the session's authorization.
    Coa,
}

impl DaeKind {
    /// A stable label for metrics and outcomes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disconnect => "disconnect",
            Self::Coa => "coa",
        }
    }
}

/// A session attribute that can identify the session to the NAS (RFC 5176 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityAttr {
    /// User-Name (1).
    UserName,
    /// Acct-Session-Id (44).
    AcctSessionId,
    /// Framed-IP-Address (8).
    FramedIpAddress,
    /// 3GPP-IMSI (vendor 10415, type 1).
    Imsi,
    /// Calling-Station-Id (31), the MSISDN on 3GPP Gi/SGi.
    CallingStationId,
}

/// What is known about the session to act on; the NAS configuration picks which of these
/// go into the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionIdentity {
    /// User-Name as seen in accounting.
    pub user_name: Option<String>,
    /// Acct-Session-Id.
    pub acct_session_id: Option<String>,
    /// Framed-IP-Address.
    pub framed_ip: Option<Ipv4Addr>,
    /// IMSI digits.
    pub imsi: Option<String>,
    /// Calling-Station-Id (MSISDN).
    pub calling_station_id: Option<String>,
}

impl SessionIdentity {
    /// A short label for outcomes and logs: the first identifier present.
    pub fn label(&self) -> String {
        if let Some(v) = &self.acct_session_id {
            format!("session {v}")
        } else if let Some(v) = &self.user_name {
            format!("user {v}")
        } else if let Some(v) = &self.imsi {
            format!("imsi {v}")
        } else if let Some(v) = &self.framed_ip {
            format!("ip {v}")
        } else if let Some(v) = &self.calling_station_id {
            format!("msisdn {v}")
        } else {
            "unidentified session".to_owned()
        }
    }
}

/// One NAS that accepts Dynamic Authorization requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasConfig {
    /// Name used in outcomes and logs.
    pub name: String,
    /// Where its Dynamic Authorization Server listens (port 3799 by default).
    pub addr: SocketAddr,
    /// The shared secret (never logged).
    pub secret: Secret,
    /// Which session attributes this NAS wants, in order; those the session lacks are left
    /// out, and a request with none of them is refused before sending.
    #[serde(default = "default_identify_by")]
    pub identify_by: Vec<IdentityAttr>,
    /// NAS-IP-Address to include, if the NAS checks it.
    #[serde(default)]
    pub nas_ip: Option<Ipv4Addr>,
    /// NAS-Identifier to include, if the NAS checks it.
    #[serde(default)]
    pub nas_identifier: Option<String>,
    /// Add a Message-Authenticator (RFC 5176 §3.1 recommends it; Blast-RADIUS makes it
    /// prudent).
    #[serde(default = "yes")]
    pub message_authenticator: bool,
    /// Retransmission policy.
    #[serde(default = "default_retry")]
    pub retry: RetryPolicy,
    /// Attributes of the quarantine policy a CoA applies.
    #[serde(default)]
    pub quarantine: Vec<PolicyAttr>,
    /// Attributes of the normal policy an undo restores.
    #[serde(default)]
    pub normal: Vec<PolicyAttr>,
}

fn default_identify_by() -> Vec<IdentityAttr> {
    vec![IdentityAttr::AcctSessionId, IdentityAttr::UserName]
}

fn yes() -> bool {
    true
}

/// RADIUS retransmission defaults: 1 s first timeout, doubling to 8 s, 4 sends.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: std::time::Duration::from_secs(1),
        max_delay: std::time::Duration::from_secs(8),
        jitter: 0.1,
    }
}

impl NasConfig {
    /// A NAS at `addr` with the defaults: identify by Acct-Session-Id then User-Name,
    /// Message-Authenticator on, default retransmissions, no policies.
    pub fn new(name: impl Into<String>, addr: SocketAddr, secret: Secret) -> Self {
        Self {
            name: name.into(),
            addr,
            secret,
            identify_by: default_identify_by(),
            nas_ip: None,
            nas_identifier: None,
            message_authenticator: true,
            retry: default_retry(),
            quarantine: Vec::new(),
            normal: Vec::new(),
        }
    }
}
