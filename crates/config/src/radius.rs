//! `[radius]`: the accounting server and the NAS clients allowed to talk to it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use crate::ConfigError;

/// `[radius]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusConfig {
    /// UDP listen address of the accounting server (default 127.0.0.1:1813; `RAMPART_RADIUS_LISTEN`
    /// and `--radius-listen` override it, `off` disables it).
    pub listen: Option<String>,
    /// NAS clients (packet gateways). A request from any other address is dropped.
    #[serde(default)]
    pub clients: Vec<RadiusClientConfig>,
    /// How long a request's identifier and authenticator are remembered to answer a
    /// retransmission without applying it twice (default 30 s).
    pub duplicate_window_secs: Option<u64>,
    /// A session without any record for this long (event time) is ended (default 7200 s).
    pub session_timeout_secs: Option<u64>,
    /// Most live sessions kept; new ones are refused (and counted) beyond (default 1,000,000).
    pub max_sessions: Option<usize>,
    /// How often the registry index used for attribution is rebuilt (default 30 s).
    pub registry_refresh_secs: Option<u64>,
}

/// `[[radius.clients]]`: one NAS or a network of them sharing a secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClientConfig {
    /// Name used in logs, metrics-free records and the stored accounting log.
    pub name: Option<String>,
    /// Source address or CIDR network, e.g. `10.0.0.1` or `10.0.0.0/24`.
    pub address: ClientAddress,
    /// The shared secret, inline (prefer `secret_file` or `secret_env`).
    pub secret: Option<Secret>,
    /// A file holding the secret (first line); must not be readable by group or others.
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    pub secret_env: Option<String>,
    /// Drop requests without a valid Message-Authenticator (Blast-RADIUS hardening).
    #[serde(default)]
    pub require_message_authenticator: bool,
}

impl fmt::Debug for RadiusClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusClientConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("secret", &self.secret)
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .finish()
    }
}

/// A client's source address or network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientAddress(pub IpNet);

impl TryFrom<String> for ClientAddress {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Self(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Self(IpNet::from(ip)))
            .map_err(|_| format!("invalid client address {s:?}: expected an IP address or CIDR"))
    }
}

/// A shared secret. Never printed: `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret's bytes, for signing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl RadiusClientConfig {
    /// The client's name, or its address.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.address.0.to_string())
    }

    /// Reads the secret from exactly one of `secret`, `secret_file`, `secret_env`.
    pub fn load_secret(&self) -> Result<Secret, ConfigError> {
        let name = self.display_name();
        let err = |message: String| ConfigError::Secret {
            client: name.clone(),
            message,
        };
        let given = [
            self.secret.is_some(),
            self.secret_file.is_some(),
            self.secret_env.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(err(
                "set exactly one of secret, secret_file, secret_env".to_owned()
            ));
        }
        let secret = if let Some(s) = &self.secret {
            s.clone()
        } else if let Some(path) = &self.secret_file {
            check_private(path).map_err(&err)?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
            Secret(text.lines().next().unwrap_or_default().to_owned())
        } else if let Some(var) = &self.secret_env {
            Secret(
                std::env::var(var)
                    .map_err(|_| err(format!("environment variable {var} is not set")))?,
            )
        } else {
            return Err(err("no secret".to_owned()));
        };
        if secret.0.is_empty() {
            return Err(err("the secret is empty".to_owned()));
        }
        Ok(secret)
    }
}

#[cfg(unix)]
pub(crate) fn check_private(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &std::path::Path) -> Result<(), String> {
    Ok(())
}

/// Parses a `listen` value: an address, or `off`.
pub fn parse_listen(s: &str) -> Result<Option<SocketAddr>, String> {
    match s.trim() {
        "off" | "disabled" | "" => Ok(None),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| format!("invalid radius listen address {other:?}")),
    }
}
