//! `[identity]`: the device identity authority in `rampart serve` (CA directory, EST listener,
//! manufacturer trust, and what a revocation does at the MQTT broker).
//!
//! ```toml
//! [identity]
//! ca_dir = "/var/lib/rampart/ca"             # default <data_dir>/ca
//! est_listen = "0.0.0.0:8443"                # EST over HTTPS; off when absent
//! est_server_names = ["est.example.net"]     # names of the certificate serve issues itself
//! crl_reload_command = ["systemctl", "reload", "mosquitto"]
//! audit_interval_secs = 3600                 # identity hygiene audit; 0 = on request only
//! audit_expiry_warning_days = 30
//! audit_ca_expiry_warning_days = 90
//! audit_disabled_checks = ["sim_without_imei_lock"]
//!
//! [[identity.manufacturers]]
//! ca_file = "/etc/rampart/acme-idevid-ca.pem"
//! tenant = "acme"
//! profile = "device"
//!
//! [identity.broker]                          # dynamic-security admin connection
//! host = "127.0.0.1"
//! port = 1883
//! username = "rampart-admin"
//! password_file = "/etc/rampart/broker-admin.pw"   # mode 0600
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::radius::check_private;

/// Names put in the EST server certificate when serve issues it itself.
pub const DEFAULT_EST_SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// `[identity]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// CA directory (default `<data_dir>/ca`). With an `[identity]` section it must hold a CA
    /// made by `rampart ca init`.
    pub ca_dir: Option<PathBuf>,
    /// Environment variable holding the passphrase of the CA's key files, when `rampart ca
    /// init --passphrase-env` encrypted them.
    pub passphrase_env: Option<String>,
    /// HTTPS address of the EST server (RFC 7030), e.g. `127.0.0.1:8443`; off when absent.
    pub est_listen: Option<SocketAddr>,
    /// EST server certificate chain (PEM, leaf first). With `est_server_key`; when both are
    /// absent serve issues itself a certificate from the CA at start, kept in memory only.
    pub est_server_cert: Option<PathBuf>,
    /// EST server key (PKCS#8 PEM, mode 0600).
    pub est_server_key: Option<PathBuf>,
    /// DNS names and IP addresses of the self-issued EST certificate (default
    /// `["localhost", "127.0.0.1"]`).
    pub est_server_names: Option<Vec<String>>,
    /// Manufacturer CAs whose device (IDevID) certificates may enrol without a token.
    #[serde(default)]
    pub manufacturers: Vec<ManufacturerConfig>,
    /// Mosquitto dynamic-security admin connection: a revocation disables the device's client
    /// there, which closes its open connection at once.
    pub broker: Option<IdentityBrokerConfig>,
    /// Command (argv, no shell) run after every CRL publication so the broker rereads
    /// `crl.pem`, e.g. `["systemctl", "reload", "mosquitto"]`. A failure is logged and counted,
    /// never fatal.
    pub crl_reload_command: Option<Vec<String>>,
    /// Seconds between identity hygiene audits in `serve` (default 3600; 0: only on request
    /// through the API).
    pub audit_interval_secs: Option<u64>,
    /// A device certificate expiring within this many days is reported (default 30).
    pub audit_expiry_warning_days: Option<u32>,
    /// A root or issuing CA expiring within this many days is reported (default 90).
    pub audit_ca_expiry_warning_days: Option<u32>,
    /// RSA keys shorter than this are weak (default 2048).
    pub audit_min_rsa_bits: Option<u32>,
    /// One certificate from two addresses less than this many seconds apart is shared
    /// (default 600).
    pub audit_shared_certificate_window_secs: Option<u64>,
    /// Presentations older than this many seconds no longer count (default 604800, a week).
    pub audit_presentation_lookback_secs: Option<u64>,
    /// Non-compliant resources listed, and raised as findings, per check (default 1000).
    pub audit_max_resources: Option<usize>,
    /// Checks not to run, by name (`sim_without_imei_lock`, `device_without_identity`, ...).
    #[serde(default)]
    pub audit_disabled_checks: Vec<String>,
}

/// Default seconds between identity hygiene audits.
const DEFAULT_AUDIT_INTERVAL_SECS: u64 = 3600;

/// `[[identity.manufacturers]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManufacturerConfig {
    /// The manufacturer's CA certificate(s), PEM.
    pub ca_file: PathBuf,
    /// Tenant its devices are enrolled into.
    pub tenant: String,
    /// Profile their certificates are issued under (default `device`).
    #[serde(default = "default_profile")]
    pub profile: String,
}

fn default_profile() -> String {
    "device".to_owned()
}

/// `[identity.broker]`: how to reach Mosquitto's dynamic-security plugin as an admin.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityBrokerConfig {
    /// Broker host.
    pub host: String,
    /// Broker port (default 1883).
    #[serde(default = "default_port")]
    pub port: u16,
    /// A dynamic-security client with the admin role.
    pub username: String,
    /// File holding its password (first line); must not be readable by group or others.
    pub password_file: PathBuf,
    /// Seconds allowed for one command round trip (default 5).
    pub timeout_secs: Option<u64>,
}

fn default_port() -> u16 {
    1883
}

impl fmt::Debug for IdentityBrokerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityBrokerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password_file", &self.password_file)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Why the `[identity]` section cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityConfigError {
    /// A setting is inconsistent or empty.
    #[error("[identity] {0}")]
    Invalid(String),
    /// The broker password file is unusable (the message never contains the password).
    #[error("[identity.broker] password_file: {0}")]
    Password(String),
}

impl IdentityConfig {
    /// The CA directory: `ca_dir`, else `<data_dir>/ca`.
    pub fn ca_dir_or(&self, data_dir: &Path) -> PathBuf {
        self.ca_dir.clone().unwrap_or_else(|| data_dir.join("ca"))
    }

    /// Names for the self-issued EST server certificate.
    pub fn server_names(&self) -> Vec<String> {
        self.est_server_names.clone().unwrap_or_else(|| {
            DEFAULT_EST_SERVER_NAMES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        })
    }

    /// Time between hygiene audits; `None` when `audit_interval_secs = 0`.
    pub fn audit_interval(&self) -> Option<std::time::Duration> {
        match self
            .audit_interval_secs
            .unwrap_or(DEFAULT_AUDIT_INTERVAL_SECS)
        {
            0 => None,
            s => Some(std::time::Duration::from_secs(s)),
        }
    }

    /// Checks the settings that do not need the file system.
    pub fn validate(&self) -> Result<(), IdentityConfigError> {
        let invalid = |m: &str| Err(IdentityConfigError::Invalid(m.to_owned()));
        if self.audit_interval_secs.is_some_and(|s| s != 0 && s < 60) {
            return invalid("audit_interval_secs must be 0 (off) or at least 60");
        }
        if self
            .audit_max_resources
            .is_some_and(|n| n == 0 || n > 100_000)
        {
            return invalid("audit_max_resources must be between 1 and 100000");
        }
        let days = [
            self.audit_expiry_warning_days,
            self.audit_ca_expiry_warning_days,
        ];
        if days.iter().flatten().any(|d| *d > 3650) {
            return invalid("audit warning periods must be at most 3650 days");
        }
        if self.est_server_cert.is_some() != self.est_server_key.is_some() {
            return invalid("set both est_server_cert and est_server_key, or neither");
        }
        if self.est_server_names.as_ref().is_some_and(Vec::is_empty) {
            return invalid("est_server_names is empty");
        }
        if let Some(cmd) = &self.crl_reload_command
            && cmd.first().is_none_or(|p| p.trim().is_empty())
        {
            return invalid("crl_reload_command needs at least a program");
        }
        if let Some(b) = &self.broker
            && (b.host.trim().is_empty() || b.username.trim().is_empty())
        {
            return invalid("broker host and username must not be empty");
        }
        Ok(())
    }
}

/// A broker password: `Debug` prints `***`.
#[derive(Clone)]
pub struct BrokerPassword(String);

impl BrokerPassword {
    /// The password, for the MQTT CONNECT only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BrokerPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl IdentityBrokerConfig {
    /// Reads the password file's first line, refusing a file readable by group or others.
    pub fn load_password(&self) -> Result<BrokerPassword, IdentityConfigError> {
        let path = &self.password_file;
        let err = IdentityConfigError::Password;
        check_private(path).map_err(err)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let line = text.lines().next().unwrap_or_default().trim_end();
        if line.is_empty() {
            return Err(err(format!("{} is empty", path.display())));
        }
        Ok(BrokerPassword(line.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn parse(s: &str) -> Result<Config, crate::ConfigError> {
        Config::parse(s, Path::new("rampart.toml"))
    }

    #[test]
    fn absent_section_is_none_and_full_section_parses() {
        assert!(parse("version = 1").expect("minimal").identity.is_none());
        let c = parse(
            "version = 1\n[identity]\nest_listen = \"127.0.0.1:8443\"\n\
             crl_reload_command = [\"kill\", \"-HUP\", \"1\"]\n\
             [[identity.manufacturers]]\nca_file = \"m.pem\"\ntenant = \"acme\"\n\
             [identity.broker]\nhost = \"127.0.0.1\"\nusername = \"admin\"\npassword_file = \"pw\"\n",
        )
        .expect("full");
        let id = c.identity.expect("identity");
        id.validate().expect("valid");
        assert_eq!(id.ca_dir_or(Path::new("/d")), PathBuf::from("/d/ca"));
        assert_eq!(id.server_names(), vec!["localhost", "127.0.0.1"]);
        assert_eq!(id.manufacturers[0].profile, "device");
        assert_eq!(id.broker.as_ref().expect("broker").port, 1883);
    }

    #[test]
    fn unknown_keys_and_inconsistencies_are_refused() {
        let e = parse("version = 1\n[identity]\nest_listne = \"127.0.0.1:1\"\n")
            .expect_err("typo")
            .to_string();
        assert!(e.contains("est_listne"), "{e}");
        let c = parse("version = 1\n[identity]\nest_server_cert = \"c.pem\"\n").expect("parse");
        assert!(c.identity.expect("identity").validate().is_err());
        let c = parse("version = 1\n[identity]\ncrl_reload_command = []\n").expect("parse");
        assert!(c.identity.expect("identity").validate().is_err());
        let c = parse("version = 1\n[identity]\naudit_interval_secs = 5\n").expect("parse");
        assert!(c.identity.expect("identity").validate().is_err());
        let c = parse("version = 1\n[identity]\naudit_max_resources = 0\n").expect("parse");
        assert!(c.identity.expect("identity").validate().is_err());
    }

    #[test]
    fn audit_settings() {
        let c = parse("version = 1\n[identity]\n").expect("parse");
        let id = c.identity.expect("identity");
        assert_eq!(
            id.audit_interval(),
            Some(std::time::Duration::from_secs(DEFAULT_AUDIT_INTERVAL_SECS))
        );
        let c = parse(
            "version = 1\n[identity]\naudit_interval_secs = 0\naudit_expiry_warning_days = 14\n\
             audit_disabled_checks = [\"sim_without_imei_lock\"]\n",
        )
        .expect("parse");
        let id = c.identity.expect("identity");
        id.validate().expect("valid");
        assert_eq!(id.audit_interval(), None);
        assert_eq!(id.audit_expiry_warning_days, Some(14));
        assert_eq!(id.audit_disabled_checks, vec!["sim_without_imei_lock"]);
    }

    #[cfg(unix)]
    #[test]
    fn broker_password_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret-admin\n").expect("write");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let b = IdentityBrokerConfig {
            host: "127.0.0.1".into(),
            port: 1883,
            username: "admin".into(),
            password_file: pw.clone(),
            timeout_secs: None,
        };
        let e = b.load_password().expect_err("group readable").to_string();
        assert!(e.contains("chmod 600") && !e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let p = b.load_password().expect("private");
        assert_eq!(p.expose(), "s3cret-admin");
        assert!(!format!("{p:?}").contains("s3cret"));
    }
}
