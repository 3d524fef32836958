//! The `[respond]` section: where playbooks live, which NAS, broker, webhooks and SIEM the
//! actions reach, and how findings group into incidents. Secrets are read from a 0600 file
//! or an environment variable, never inline, and never logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rampart_contain::Secret;
use rampart_contain::dae::{IdentityAttr, NasConfig, PolicyAttr};
use serde::Deserialize;

/// `[respond]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    /// Directory of playbook files (`*.toml`), loaded at start and validated as a whole
    /// (default: `<data_dir>/playbooks`, where playbooks uploaded through the API are kept
    /// too).
    #[serde(default)]
    pub playbooks_dir: Option<PathBuf>,
    /// The hash-chained audit log (default `<data_dir>/audit.log`).
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// Devices that must share a cause before a campaign incident opens (default 5).
    #[serde(default)]
    pub campaign_min_devices: Option<usize>,
    /// NASes that accept RFC 5176 Disconnect/CoA requests.
    #[serde(default)]
    pub nas: Vec<NasEntry>,
    /// The Mosquitto broker whose dynamic-security plugin quarantines devices.
    #[serde(default)]
    pub broker: Option<BrokerEntry>,
    /// Signed webhook endpoints, by name.
    #[serde(default)]
    pub webhooks: Vec<WebhookEntry>,
    /// Syslog (RFC 5424) receiver for CEF events of incidents and actions.
    #[serde(default)]
    pub siem: Option<SiemEntry>,
    /// Group a `move_to_group` action may name must exist; devices quarantined by a
    /// `registry_quarantine` action are also put in this group when set.
    #[serde(default)]
    pub quarantine_group: Option<String>,
}

/// Where a secret comes from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// A file (mode 0600) whose first line is the secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding it.
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl SecretSource {
    /// Reads the secret; `what` names it in errors.
    pub fn load(&self, what: &str) -> Result<Secret, String> {
        let s = match (&self.secret_file, &self.secret_env) {
            (Some(path), None) => {
                check_private(path)?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
                text.lines().next().unwrap_or_default().to_owned()
            }
            (None, Some(var)) => std::env::var(var)
                .map_err(|_| format!("{what}: environment variable {var} is not set"))?,
            _ => {
                return Err(format!(
                    "{what}: set exactly one of secret_file, secret_env"
                ));
            }
        };
        if s.is_empty() {
            return Err(format!("{what}: the secret is empty"));
        }
        Ok(Secret::from(s))
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
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
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// `[[respond.nas]]`: one NAS's Dynamic Authorization Server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NasEntry {
    /// Name in outcomes.
    pub name: String,
    /// Its DAS address (port 3799 usually).
    pub addr: SocketAddr,
    /// The NAS values accounting reports (NAS-IP-Address or NAS-Identifier) whose sessions
    /// this DAS can end; empty: the NAS whose address is `addr`'s IP.
    #[serde(default)]
    pub sessions_from: Vec<String>,
    /// The shared secret.
    #[serde(flatten)]
    pub secret: SecretSource,
    /// Session attributes that identify a session to this NAS, in order (default
    /// acct_session_id, framed_ip_address, imsi).
    #[serde(default)]
    pub identify_by: Option<Vec<IdentityAttr>>,
    /// Attributes of the quarantine policy a CoA applies (Filter-Id, a walled-garden APN).
    #[serde(default)]
    pub quarantine: Vec<PolicyAttr>,
    /// Attributes of the normal policy an undo restores.
    #[serde(default)]
    pub normal: Vec<PolicyAttr>,
    /// Leave out Message-Authenticator (only for a NAS that rejects it).
    #[serde(default)]
    pub no_message_authenticator: bool,
}

impl NasEntry {
    /// The client configuration, secret loaded.
    pub fn nas_config(&self) -> Result<NasConfig, String> {
        let secret = self
            .secret
            .load(&format!("[[respond.nas]] {}", self.name))?;
        let mut c = NasConfig::new(self.name.clone(), self.addr, secret);
        c.identify_by = self.identify_by.clone().unwrap_or_else(|| {
            vec![
                IdentityAttr::AcctSessionId,
                IdentityAttr::FramedIpAddress,
                IdentityAttr::Imsi,
            ]
        });
        c.quarantine = self.quarantine.clone();
        c.normal = self.normal.clone();
        c.message_authenticator = !self.no_message_authenticator;
        Ok(c)
    }

    /// Whether sessions reported by `nas` belong to this DAS.
    pub fn serves(&self, nas: &str) -> bool {
        if self.sessions_from.is_empty() {
            return nas == self.addr.ip().to_string() || nas == self.name;
        }
        self.sessions_from.iter().any(|s| s == nas)
    }
}

/// `[respond.broker]`: a dynamic-security administrator on the broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerEntry {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// The admin client's user name.
    pub username: String,
    /// Its password.
    #[serde(flatten)]
    pub password: SecretSource,
    /// Template of a device's broker user name; `{device}` and `{tenant}` are replaced
    /// (default `{device}`, as `use_identity_as_username` gives with Rampart's certificates).
    #[serde(default)]
    pub username_template: Option<String>,
}

/// `[[respond.webhooks]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEntry {
    /// Name playbooks use.
    pub name: String,
    /// URL (http or https).
    pub url: String,
    /// The HMAC key.
    #[serde(flatten)]
    pub key: SecretSource,
}

/// `[respond.siem]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiemEntry {
    /// Receiver address.
    pub addr: SocketAddr,
    /// `udp` (default) or `tcp` (RFC 6587 octet counting).
    #[serde(default)]
    pub transport: Option<String>,
}

impl RespondConfig {
    /// The playbook directory under `data_dir` unless configured.
    pub fn playbooks_dir(&self, data_dir: &Path) -> PathBuf {
        self.playbooks_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("playbooks"))
    }

    /// The audit log path under `data_dir` unless configured.
    pub fn audit_log(&self, data_dir: &Path) -> PathBuf {
        self.audit_log
            .clone()
            .unwrap_or_else(|| data_dir.join("audit.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RespondConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn a_full_section_parses_and_unknown_keys_are_refused() {
        let c = parse(
            "playbooks_dir = \"/etc/rampart/playbooks\"\n\
             [[nas]]\nname = \"pgw-1\"\naddr = \"10.0.0.1:3799\"\n\
             sessions_from = [\"pgw-1\"]\nsecret_env = \"DAE\"\n\
             quarantine = [{ filter_id = \"quarantine\" }]\n\
             [broker]\nhost = \"127.0.0.1\"\nport = 1883\nusername = \"admin\"\nsecret_env = \"B\"\n\
             [[webhooks]]\nname = \"sim\"\nurl = \"https://x.example/hook\"\nsecret_env = \"W\"\n\
             [siem]\naddr = \"127.0.0.1:514\"\ntransport = \"tcp\"\n",
        )
        .unwrap();
        assert_eq!(c.nas.len(), 1);
        assert!(c.nas[0].serves("pgw-1"));
        assert!(
            !c.nas[0].serves("10.0.0.1"),
            "sessions_from replaces the default"
        );
        assert!(
            parse("[[nas]]\nname = \"x\"\naddr = \"10.0.0.1:3799\"\nsecret = \"inline\"\n")
                .is_err()
        );
        assert!(parse("bogus = 1\n").is_err());
    }

    #[test]
    fn the_default_nas_match_is_its_address_or_name() {
        let c = parse("[[nas]]\nname = \"pgw-1\"\naddr = \"10.0.0.1:3799\"\nsecret_env = \"X\"\n")
            .unwrap();
        assert!(c.nas[0].serves("10.0.0.1"));
        assert!(c.nas[0].serves("pgw-1"));
        assert!(!c.nas[0].serves("10.0.0.2"));
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_must_be_private_and_secrets_never_print() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "hunter2\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = SecretSource {
            secret_file: Some(f.clone()),
            secret_env: None,
        };
        let e = src.load("nas").unwrap_err();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = src.load("nas").unwrap();
        assert_eq!(s.expose(), b"hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let both = SecretSource {
            secret_file: Some(f),
            secret_env: Some("X".into()),
        };
        assert!(both.load("nas").is_err());
    }
}
