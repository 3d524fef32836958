//! The subscriber's settings as they appear in a config file, and their resolution: URL
//! parsing, secrets loaded from the environment or a file, TLS material read into a rustls
//! client configuration on the aws-lc-rs provider.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::topic::{TopicPattern, TopicPatternError};

/// Default topic pattern.
pub const DEFAULT_TOPIC: &str = "rampart/devices/{device}/metrics";

/// Settings of the MQTT metrics source.
///
/// ```toml
/// url = "mqtts://broker.example:8883"
/// client_id = "rampart-metrics"
/// topics = ["rampart/devices/{device}/metrics"]
/// qos = 1
/// keepalive_secs = 30
/// username = "rampart"
/// password_file = "/etc/rampart/mqtt-password"
/// ca_file = "/etc/rampart/broker-ca.pem"
/// client_cert_file = "/etc/rampart/rampart.crt"
/// client_key_file = "/etc/rampart/rampart.key"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSourceConfig {
    /// Broker address: `mqtt://host[:port]` (default port 1883) or `mqtts://host[:port]`
    /// (TLS, default port 8883). Credentials in the URL are refused so they never reach a
    /// log line; use `username` and `password_env`/`password_file`.
    pub url: String,
    /// MQTT client id. Unique per broker: a second connection with the same id takes the
    /// session over and disconnects the first.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic patterns, each with exactly one `{device}` level holding the device id.
    #[serde(default = "default_topics")]
    pub topics: Vec<String>,
    /// Subscription QoS: 0, 1 or 2.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// MQTT keep-alive, seconds (5 to 65535).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// Username for the broker, when it asks for one.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (one line; a trailing newline is ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA certificates that sign the broker's certificate (`mqtts://` only);
    /// the platform's trust store when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain this client presents (`mqtts://` only), with `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// First wait after losing the broker, milliseconds; doubles per failed attempt.
    #[serde(default = "default_backoff_min")]
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnection attempts, milliseconds.
    #[serde(default = "default_backoff_max")]
    pub reconnect_max_ms: u64,
    /// Largest MQTT packet accepted, bytes. A larger packet makes the client drop the
    /// connection (and reconnect), so keep this well above the 64 KiB report limit and set
    /// the broker's own `max_packet_size` no higher.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// How long a report waits for room in the consumer's channel before it is dropped
    /// (counted), milliseconds. Short: while it waits, the connection is not serviced.
    #[serde(default = "default_sink_timeout")]
    pub sink_timeout_ms: u64,
}

fn default_client_id() -> String {
    "rampart-metrics".to_owned()
}
fn default_topics() -> Vec<String> {
    vec![DEFAULT_TOPIC.to_owned()]
}
fn default_qos() -> u8 {
    1
}
fn default_keepalive() -> u64 {
    30
}
fn default_backoff_min() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    30_000
}
fn default_max_packet() -> usize {
    1 << 20
}
fn default_sink_timeout() -> u64 {
    1_000
}

impl MqttSourceConfig {
    /// Defaults for everything but the broker URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: default_client_id(),
            topics: default_topics(),
            qos: default_qos(),
            keepalive_secs: default_keepalive(),
            username: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            reconnect_min_ms: default_backoff_min(),
            reconnect_max_ms: default_backoff_max(),
            max_packet_bytes: default_max_packet(),
            sink_timeout_ms: default_sink_timeout(),
        }
    }
}

/// Why the settings cannot be used. Never carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The URL is not `mqtt://host[:port]` or `mqtts://host[:port]`.
    #[error("invalid broker url {url:?}: {reason}")]
    Url {
        /// The URL (refused before it could hold credentials).
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A topic pattern is malformed.
    #[error(transparent)]
    Topic(#[from] TopicPatternError),
    /// A setting out of range or in conflict with another.
    #[error("invalid setting {field}: {reason}")]
    Setting {
        /// The setting.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The password's environment variable is unset or not UTF-8.
    #[error("environment variable {0} is not set")]
    PasswordEnv(String),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("invalid pem in {path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (key not matching the certificate, ...).
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// A password; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Broker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

/// Everything resolved: ready to connect.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) endpoint: Endpoint,
    pub(crate) client_id: String,
    pub(crate) patterns: Vec<TopicPattern>,
    pub(crate) qos: u8,
    pub(crate) keepalive: Duration,
    pub(crate) credentials: Option<(String, Secret)>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_packet_bytes: usize,
    pub(crate) sink_timeout: Duration,
}

impl MqttSourceConfig {
    pub(crate) fn resolve(&self) -> Result<Resolved, BuildError> {
        let endpoint = parse_url(&self.url)?;
        let setting = |field, reason| Err(BuildError::Setting { field, reason });
        if self.client_id.is_empty() || self.client_id.len() > 256 {
            return setting("client_id", "must be 1 to 256 bytes");
        }
        if self.topics.is_empty() {
            return setting("topics", "at least one pattern is required");
        }
        let patterns = self
            .topics
            .iter()
            .map(|t| TopicPattern::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        if self.qos > 2 {
            return setting("qos", "must be 0, 1 or 2");
        }
        if !(5..=65_535).contains(&self.keepalive_secs) {
            return setting("keepalive_secs", "must be 5 to 65535");
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return setting(
                "reconnect_min_ms",
                "must be at least 1 and at most reconnect_max_ms",
            );
        }
        if self.max_packet_bytes < crate::MAX_PAYLOAD_BYTES + 1024 {
            return setting("max_packet_bytes", "must exceed the 64 KiB report limit");
        }
        let password = match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => {
                return setting(
                    "password_env",
                    "give password_env or password_file, not both",
                );
            }
            (Some(var), None) => Some(Secret(
                std::env::var(var).map_err(|_| BuildError::PasswordEnv(var.clone()))?,
            )),
            (None, Some(path)) => {
                let text = read_text(path)?;
                Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (None, None) => None,
        };
        let credentials = match (&self.username, password) {
            (Some(user), pw) => Some((user.clone(), pw.unwrap_or(Secret(String::new())))),
            (None, Some(_)) => return setting("password", "a password needs a username"),
            (None, None) => None,
        };
        let tls_files = self.ca_file.is_some()
            || self.client_cert_file.is_some()
            || self.client_key_file.is_some();
        let tls = if endpoint.tls {
            Some(Arc::new(tls_config(self)?))
        } else if tls_files {
            return setting("ca_file", "TLS files need an mqtts:// url");
        } else {
            None
        };
        Ok(Resolved {
            endpoint,
            client_id: self.client_id.clone(),
            patterns,
            qos: self.qos,
            keepalive: Duration::from_secs(self.keepalive_secs),
            credentials,
            tls,
            backoff_min: Duration::from_millis(self.reconnect_min_ms),
            backoff_max: Duration::from_millis(self.reconnect_max_ms),
            max_packet_bytes: self.max_packet_bytes,
            sink_timeout: Duration::from_millis(self.sink_timeout_ms),
        })
    }
}

pub(crate) fn parse_url(url: &str) -> Result<Endpoint, BuildError> {
    let bad = |reason| BuildError::Url {
        url: crate::error::excerpt(url),
        reason,
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(BuildError::Url {
            url: "(withheld)".to_owned(),
            reason: "scheme must be mqtt:// or mqtts://",
        });
    };
    if rest.contains('@') {
        // Report without echoing: the part before '@' is a credential.
        return Err(BuildError::Url {
            url: "(withheld)".to_owned(),
            reason: "credentials in the url are not allowed; use username and password_env or password_file",
        });
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(bad("a path or query is not allowed"));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        let port = match after {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad("invalid port"))?,
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("invalid port"))?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    if port == 0 {
        return Err(bad("port must not be 0"));
    }
    Ok(Endpoint {
        host: host.to_owned(),
        port,
        tls,
    })
}

fn read_text(path: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(path).map_err(|source| BuildError::File {
        path: path.to_owned(),
        source,
    })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, BuildError> {
    std::fs::read(path).map_err(|source| BuildError::File {
        path: path.to_owned(),
        source,
    })
}

/// The rustls client configuration, on aws-lc-rs explicitly: the process may hold other
/// providers' code (rumqttc still links ring through rustls-webpki 0.102), and the choice
/// must not depend on which one was installed as the default.
fn tls_config(c: &MqttSourceConfig) -> Result<rustls::ClientConfig, BuildError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let pem_err = |path: &Path, reason: String| BuildError::Pem {
        path: path.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    match &c.ca_file {
        Some(path) => {
            let pem = read_bytes(path)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| pem_err(path, e.to_string()))?;
                roots.add(cert).map_err(|e| pem_err(path, e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(pem_err(path, "no certificate found".to_owned()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(BuildError::Setting {
                    field: "ca_file",
                    reason: "no platform trust store found; name the broker's CA",
                });
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    match (&c.client_cert_file, &c.client_key_file) {
        (Some(cert_path), Some(key_path)) => {
            let pem = read_bytes(cert_path)?;
            let chain = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_err(cert_path, e.to_string()))?;
            if chain.is_empty() {
                return Err(pem_err(cert_path, "no certificate found".to_owned()));
            }
            let key_pem = read_bytes(key_path)?;
            // The key's bytes never go into an error: only the path and the parser's verdict.
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|_| pem_err(key_path, "no usable private key".to_owned()))?;
            Ok(builder.with_client_auth_cert(chain, key)?)
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(BuildError::Setting {
            field: "client_cert_file",
            reason: "client_cert_file and client_key_file go together",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = parse_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 1884, false));
        let e = parse_url("mqtts://broker.example/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("broker.example", 8883, true)
        );
        let e = parse_url("mqtt://[::1]:2000").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 2000));
        let e = parse_url("mqtt://[::1]").unwrap();
        assert_eq!(e.port, 1883);
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://h/path",
            "mqtt://[::1",
            "mqtt://h:1883?x=1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_in_url_are_refused_without_echo() {
        let err = parse_url("mqtt://user:hunter2@h").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn password_file_and_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret-value\n").unwrap();
        let mut c = MqttSourceConfig::new("mqtt://127.0.0.1");
        c.username = Some("rampart".into());
        c.password_file = Some(path);
        let r = c.resolve().unwrap();
        let (user, pw) = r.credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), pw.expose()), ("rampart", "s3cret-value"));
        assert!(!format!("{r:?}").contains("s3cret"));
        c.username = None;
        assert!(c.resolve().is_err());
    }

    #[test]
    fn settings_are_checked() {
        let ok = MqttSourceConfig::new("mqtt://127.0.0.1");
        assert!(ok.resolve().is_ok());
        let mut c = ok.clone();
        c.qos = 3;
        assert!(c.resolve().is_err());
        let mut c = ok.clone();
        c.topics = vec!["a/+/b".into()];
        assert!(c.resolve().is_err());
        let mut c = ok.clone();
        c.ca_file = Some("/nonexistent".into());
        assert!(c.resolve().is_err(), "tls files on mqtt://");
        let mut c = ok.clone();
        c.url = "mqtts://127.0.0.1".into();
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(matches!(c.resolve(), Err(BuildError::File { .. })));
        let mut c = ok;
        c.password_env = Some("RAMPART_TEST_SURELY_UNSET_VARIABLE".into());
        c.username = Some("u".into());
        assert!(matches!(c.resolve(), Err(BuildError::PasswordEnv(_))));
    }

    #[test]
    fn toml_like_input_is_strict() {
        let c: MqttSourceConfig = serde_json::from_str(r#"{"url":"mqtt://h","qos":0}"#).unwrap();
        assert_eq!(c.qos, 0);
        assert_eq!(c.topics, vec![DEFAULT_TOPIC.to_owned()]);
        assert!(serde_json::from_str::<MqttSourceConfig>(r#"{"url":"mqtt://h","x":1}"#).is_err());
    }
}
