//! The server's resolved settings: clients with their secrets loaded, limits with defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use rampart_config::{ConfigError, RadiusConfig, Secret};

/// Default listen address: loopback, so a fresh install does not face the network.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1813);

/// A NAS allowed to send accounting.
#[derive(Debug, Clone)]
pub struct Client {
    /// Name in logs and in stored records.
    pub name: Arc<str>,
    /// Source address or network.
    pub network: IpNet,
    /// Shared secret (`Debug` shows `***`).
    pub secret: Secret,
    /// Drop requests without a valid Message-Authenticator.
    pub require_message_authenticator: bool,
}

/// Everything the server needs; built from `[radius]` or directly (tests, benchmarks).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// UDP address to bind.
    pub listen: SocketAddr,
    /// Allowed clients; the most specific network matching a source wins.
    pub clients: Vec<Client>,
    /// Retransmissions within this window are answered from the cache.
    pub duplicate_window: Duration,
    /// Sessions silent this long (event time) are ended.
    pub session_timeout: Duration,
    /// Hard cap of the live session table.
    pub max_sessions: usize,
    /// Period of the attribution index rebuild.
    pub registry_refresh: Duration,
    /// Requests waiting for the journal beyond this are dropped (the NAS retransmits).
    pub queue_capacity: usize,
    /// Directory of the accounting journal (required: nothing is acknowledged before it is
    /// in the journal).
    pub journal_dir: Option<PathBuf>,
    /// Size of a journal segment (zero-filled ahead, so keep it moderate).
    pub segment_bytes: u64,
    /// Under load, journal entries are folded into the store at most this often.
    pub fold_interval: Duration,
    /// Journal bytes one fold reads at most.
    pub fold_max_bytes: usize,
    /// Acknowledged bytes not yet folded beyond which the writer waits for the folder.
    pub max_backlog: u64,
}

impl ServerConfig {
    /// Defaults for `listen` and `clients`.
    pub fn new(listen: SocketAddr, clients: Vec<Client>) -> Self {
        Self {
            listen,
            clients,
            duplicate_window: Duration::from_secs(30),
            session_timeout: Duration::from_secs(7200),
            max_sessions: 1_000_000,
            registry_refresh: Duration::from_secs(30),
            queue_capacity: 65_536,
            journal_dir: None,
            segment_bytes: 16 << 20,
            fold_interval: Duration::from_millis(100),
            fold_max_bytes: 16 << 20,
            max_backlog: 1 << 30,
        }
    }

    /// Resolves `[radius]`, loading every client's secret; `listen` is the effective address
    /// (file, environment and flag already merged by the caller).
    pub fn from_config(c: &RadiusConfig, listen: SocketAddr) -> Result<Self, ConfigError> {
        let clients = c
            .clients
            .iter()
            .map(|cl| {
                Ok(Client {
                    name: cl.display_name().into(),
                    network: cl.address.0,
                    secret: cl.load_secret()?,
                    require_message_authenticator: cl.require_message_authenticator,
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut s = Self::new(listen, clients);
        if let Some(v) = c.duplicate_window_secs {
            s.duplicate_window = Duration::from_secs(v);
        }
        if let Some(v) = c.session_timeout_secs {
            s.session_timeout = Duration::from_secs(v.max(1));
        }
        if let Some(v) = c.max_sessions {
            s.max_sessions = v;
        }
        if let Some(v) = c.registry_refresh_secs {
            s.registry_refresh = Duration::from_secs(v.max(1));
        }
        Ok(s)
    }

    /// The client a datagram from `ip` belongs to.
    pub fn client_for(&self, ip: IpAddr) -> Option<(usize, &Client)> {
        let ip = ip.to_canonical();
        self.clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.network.contains(&ip))
            .max_by_key(|(_, c)| c.network.prefix_len())
    }
}
