//! Starts the RADIUS accounting server for `rampart serve`.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use rampart_accounting::{DEFAULT_LISTEN, ServerConfig};
use rampart_bus::Bus;
use rampart_config::parse_listen;
use rampart_store::Store;
use tokio::task::JoinHandle;

use crate::settings::Settings;

/// Binds and spawns the accounting server. The listen address comes from the flag or
/// `RAMPART_RADIUS_LISTEN`, else `[radius] listen`, else 127.0.0.1:1813; `off` disables it.
/// When nothing configured it, a port already in use only disables the listener with a
/// warning (a second `rampart serve` on one machine must still start); an explicitly
/// configured address that cannot be bound is an error.
pub(crate) async fn start(
    settings: &Settings,
    flag: Option<&str>,
    store: Arc<dyn Store>,
    bus: Bus,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<(JoinHandle<()>, rampart_sessions::Attributor)>> {
    let configured = flag.or(settings.config.radius.listen.as_deref());
    let listen = match configured {
        Some(s) => match parse_listen(s).map_err(anyhow::Error::msg)? {
            Some(addr) => addr,
            None => {
                tracing::info!("radius accounting disabled");
                return Ok(None);
            }
        },
        None => DEFAULT_LISTEN,
    };
    let mut config = ServerConfig::from_config(&settings.config.radius, listen)?;
    // Beside the embedded database (or alone, with PostgreSQL): acknowledged accounting waits
    // here until it is folded into the store.
    config.journal_dir = Some(settings.data_dir.join("radius-journal"));
    if config.clients.is_empty() {
        tracing::warn!(
            %listen,
            "no [[radius.clients]] configured: every accounting request will be dropped"
        );
    }
    let clients = config.clients.len();
    let built = match config.build(store, bus, shutdown).await {
        Ok(b) => b,
        Err(e) if configured.is_none() => {
            tracing::warn!(error = %e, "radius accounting listener not started");
            return Ok(None);
        }
        Err(e) => return Err(e).context("starting the radius accounting server"),
    };
    tracing::info!(addr = %built.local_addr, clients, "radius accounting listening");
    let attributor = built.attributor.clone();
    Ok(Some((tokio::spawn(built.task), attributor)))
}

/// What `rampart devices show` prints about a device's connectivity (read from the store, so
/// it works with or without a running server).
#[derive(Debug, serde::Serialize)]
pub(crate) struct Connectivity {
    pub(crate) session: Option<rampart_core::RadiusSession>,
    pub(crate) usage: serde_json::Value,
    pub(crate) last_imei: Option<rampart_core::SimSighting>,
    pub(crate) last_location: Option<rampart_core::SimSighting>,
}

pub(crate) async fn device_connectivity(
    store: &dyn Store,
    sims: &[rampart_core::Sim],
) -> anyhow::Result<Connectivity> {
    const HOUR_MS: i64 = 3_600_000;
    let imsis: Vec<&str> = sims.iter().map(|s| s.imsi.as_str()).collect();
    let mut sessions = Vec::new();
    for imsi in &imsis {
        sessions.extend(
            store
                .list_sessions(&rampart_store::SessionFilter {
                    imsi: Some((*imsi).to_owned()),
                    limit: 10,
                    ..Default::default()
                })
                .await?,
        );
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
    let now = rampart_core::Timestamp::now().0;
    let since = rampart_core::Timestamp((now.div_euclid(HOUR_MS) - 23) * HOUR_MS);
    let hourly = store.usage_since(&imsis, since).await?;
    let total_up: u64 = hourly.iter().map(|h| h.bytes_up).sum();
    let total_down: u64 = hourly.iter().map(|h| h.bytes_down).sum();
    let sightings = store.sightings(&imsis).await?;
    Ok(Connectivity {
        session: sessions.into_iter().next(),
        usage: serde_json::json!({ "hourly": hourly, "total_up": total_up, "total_down": total_down }),
        last_imei: sightings.iter().find(|s| s.imeisv.is_some()).cloned(),
        last_location: sightings.into_iter().find(|s| s.location.is_some()),
    })
}
