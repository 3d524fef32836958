//! Reload on change: a tokio task polls the feed files' modification times and sizes.
//!
//! Polling (rather than inotify) works the same on every filesystem, including network and
//! container mounts, and costs one `stat` per feed file per interval. Feeds should be
//! replaced atomically (write a temporary file, then rename); a file caught half-written is
//! read again at the next poll because its size or time changes once more.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::IntelStore;

/// Spawns the watcher on the current tokio runtime. It checks every
/// `poll_interval_secs` (from the store's configuration), reloads on a blocking thread when
/// any feed file changed, appeared or disappeared, and ends when `shutdown` completes.
pub fn spawn_watcher(
    store: Arc<IntelStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let every = Duration::from_secs(store.config().poll_interval_secs.max(1));
    spawn_watcher_every(store, every, shutdown)
}

/// As [`spawn_watcher`] with an explicit interval (sub-second intervals are for tests).
pub fn spawn_watcher_every(
    store: Arc<IntelStore>,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        let mut last = stamps(&store).await;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {}
            }
            let now = stamps(&store).await;
            if now == last {
                continue;
            }
            let reloading = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(report) => tracing::debug!(swapped = report.swapped, "feed change handled"),
                Err(error) => tracing::error!(%error, "threat intelligence reload task failed"),
            }
            last = now;
        }
    })
}

async fn stamps(store: &Arc<IntelStore>) -> Option<Vec<Option<Vec<crate::store::Stamp>>>> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || store.stamps())
        .await
        .ok()
}
