//! `rampart.toml`: what a deployment *is* (listeners, store, sources). How one process runs
//! (which config file, log level) is given by flags and `RAMPART_*` environment variables, which
//! also override the file's values.
//!
//! The file is versioned (`version = 1`) so that a later format can be told apart and migrated,
//! and unknown keys are refused by name: a typo must not silently fall back to a default.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The only configuration format version this build reads.
pub const CURRENT_VERSION: u32 = 1;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong and where (line and column, key name).
        message: String,
    },
    /// A RADIUS client's secret cannot be loaded (the message never contains the secret).
    #[error("radius client {client}: {message}")]
    Secret {
        /// The client's name.
        client: String,
        /// What is wrong.
        message: String,
    },
    /// The file's `version` is missing or not one this build reads.
    #[error("{path}: {message}")]
    Version {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be 1.
    pub version: Option<u32>,
    /// The HTTP API and dashboard.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where state lives.
    #[serde(default)]
    pub store: StoreConfig,
    /// The RADIUS accounting server.
    #[serde(default)]
    pub radius: RadiusConfig,
    /// The NetFlow v5/v9/IPFIX collector (absent: loopback on 2055 and 4739 when free).
    #[serde(default)]
    pub netflow: Option<rampart_netflow::NetflowConfig>,
    /// Device metrics over MQTT (absent: off).
    #[serde(default)]
    pub mqtt: Option<rampart_mqtt::MqttSourceConfig>,
    /// Threat-intelligence feeds (absent: none).
    #[serde(default)]
    pub intel: Option<rampart_intel::IntelConfig>,
    /// Detection: detector parameters, rules, profile policies (absent: the defaults, with no
    /// reordering delay — see [`Config::live_detection`]).
    #[serde(default)]
    pub detect: Option<rampart_detect::DetectConfig>,
    /// How signals become observations.
    #[serde(default)]
    pub signals: SignalsConfig,
    /// Incident response: playbooks, containment peers, audit log (absent: incidents and the
    /// audit log only, no peers).
    #[serde(default)]
    pub respond: Option<rampart_respond::RespondConfig>,
    /// The device identity authority (absent: on only when `<data_dir>/ca` holds a CA).
    #[serde(default)]
    pub identity: Option<IdentityConfig>,
}

/// `[signals]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// The fleet's own networks: the device side of a flow no registry names (default:
    /// private, CGNAT and unique-local ranges).
    pub home_nets: Vec<ipnet::IpNet>,
    /// Tenant of the devices reporting over MQTT (topics carry the device id only).
    pub mqtt_tenant: Option<String>,
    /// Detection worker threads (default: the number of cores).
    pub detection_workers: Option<usize>,
    /// Subjects whose traffic counters are kept.
    pub traffic_capacity: usize,
    /// Findings kept in memory for the API.
    pub findings_capacity: usize,
    /// Seconds detection keeps a device's registry context (profile, SIM and IMEI policy)
    /// before asking the store again: how long a changed policy takes to apply.
    pub context_ttl_secs: u64,
    /// Devices whose registry context is cached.
    pub context_capacity: usize,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            home_nets: Vec::new(),
            mqtt_tenant: None,
            detection_workers: None,
            traffic_capacity: 2_000_000,
            findings_capacity: 100_000,
            context_ttl_secs: 10,
            context_capacity: 1_000_000,
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of the API (default 127.0.0.1:8080).
    pub listen: Option<SocketAddr>,
}

/// `[store]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory for the embedded SQLite database and other local state (default
    /// `./rampart-data`).
    pub data_dir: Option<PathBuf>,
    /// `postgres://...` to keep shared state on PostgreSQL instead of the embedded SQLite.
    pub database_url: Option<String>,
}

mod identity;
mod radius;

pub use identity::{
    BrokerPassword, DEFAULT_EST_SERVER_NAMES, IdentityBrokerConfig, IdentityConfig,
    IdentityConfigError, ManufacturerConfig,
};
pub use radius::{ClientAddress, RadiusClientConfig, RadiusConfig, Secret, parse_listen};

impl Config {
    /// Detection settings for the live pipeline. Without a `[detect]` section the allowed
    /// lateness is 0: live sources deliver in order, and any reordering delay would delay every
    /// finding by as much event time. A `[detect]` section is taken as written.
    pub fn live_detection(&self) -> rampart_detect::DetectConfig {
        self.detect.clone().unwrap_or_else(|| {
            let mut c = rampart_detect::DetectConfig::default();
            c.engine.allowed_lateness_s = 0;
            c
        })
    }

    /// Parses configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        match config.version {
            Some(CURRENT_VERSION) => Ok(config),
            Some(v) => Err(ConfigError::Version {
                path: path.to_owned(),
                message: format!(
                    "version {v} is not supported by this build (it reads version {CURRENT_VERSION})"
                ),
            }),
            None => Err(ConfigError::Version {
                path: path.to_owned(),
                message: format!("`version = {CURRENT_VERSION}` is required at the top"),
            }),
        }
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("rampart.toml"))
    }

    #[test]
    fn minimal_and_full() {
        let c = parse("version = 1").expect("minimal");
        assert!(c.http.listen.is_none());
        let c = parse(
            "version = 1\n[http]\nlisten = \"0.0.0.0:9000\"\n[store]\ndata_dir = \"/var/lib/rampart\"\n",
        )
        .expect("full");
        assert_eq!(c.http.listen, Some("0.0.0.0:9000".parse().expect("addr")));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("version = 1\n[http]\nlistne = \"0.0.0.0:1\"\n")
            .expect_err("typo must fail")
            .to_string();
        assert!(e.contains("listne"), "{e}");
        let e = parse("version = 1\n[htp]\n")
            .expect_err("typo must fail")
            .to_string();
        assert!(e.contains("htp"), "{e}");
    }

    #[test]
    fn radius_clients_and_secrets() {
        let c = parse(
            "version = 1\n[radius]\nlisten = \"0.0.0.0:1813\"\nmax_sessions = 10\n\
             [[radius.clients]]\nname = \"pgw\"\naddress = \"10.0.0.0/24\"\nsecret = \"s3cr3t\"\n\
             require_message_authenticator = true\n[[radius.clients]]\naddress = \"192.0.2.1\"\n\
             secret_env = \"RAMPART_TEST_UNSET_SECRET_VAR\"\n",
        )
        .expect("radius");
        assert_eq!(c.radius.clients.len(), 2);
        let debug = format!("{:?}", c.radius);
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert_eq!(
            c.radius.clients[0].load_secret().expect("inline").expose(),
            b"s3cr3t"
        );
        assert_eq!(c.radius.clients[1].address.0.to_string(), "192.0.2.1/32");
        let e = c.radius.clients[1]
            .load_secret()
            .expect_err("unset")
            .to_string();
        assert!(e.contains("RAMPART_TEST_UNSET_SECRET_VAR"), "{e}");
        assert!(
            parse("version = 1\n[[radius.clients]]\naddress = \"nope\"\nsecret = \"x\"\n").is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("nas.secret");
        std::fs::write(&path, "filesecret\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let text = format!(
            "version = 1\n[[radius.clients]]\naddress = \"127.0.0.1\"\nsecret_file = {:?}\n",
            path.display().to_string()
        );
        let c = parse(&text).expect("parse");
        let e = c.radius.clients[0]
            .load_secret()
            .expect_err("world-readable")
            .to_string();
        assert!(e.contains("chmod 600") && !e.contains("filesecret"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            c.radius.clients[0].load_secret().expect("private").expose(),
            b"filesecret"
        );
    }

    #[test]
    fn version_is_checked() {
        assert!(
            parse("[http]\n")
                .expect_err("missing")
                .to_string()
                .contains("version")
        );
        assert!(
            parse("version = 2")
                .expect_err("future")
                .to_string()
                .contains("version 2")
        );
    }
}
