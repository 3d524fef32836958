//! The accounting pipeline: socket → client → decode → verify → dedupe → session table →
//! journal group commit → Accounting-Response → observation; then, in the background, the
//! journal is folded into the store.
//!
//! Two threads and a task. The receiver thread does the per-datagram work (lookup, decode,
//! MD5 checks, duplicate cache) on a blocking socket and queues accepted requests. The writer
//! thread (`writer`) takes everything queued at once, applies it to the session table,
//! appends one journal entry per request with one `fdatasync` for all of them and only then
//! answers. The folder task (`folder`) moves journal entries into the store. Threads, not
//! tasks, for the first two: per datagram, a blocking `recv_from` costs one system call,
//! where the task's readiness polling and wake-ups cost several.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use rampart_bus::Bus;
use rampart_core::Timestamp;
use rampart_radius::auth::verify_request;
use rampart_radius::{Code, MAX_PACKET_LEN, Packet, PacketBuilder};
use rampart_sessions::{AcctEvent, Attributor, SessionTable};
use rampart_store::Store;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::dedupe::{DupCache, DupKey, Seen};
use crate::folder::{FoldError, Folder};
use crate::journal::{self, Journal, JournalError};
use crate::registry::load_index;
use crate::telemetry::{self, Outcome};
use crate::writer::{Applier, Job, Pending, Shared, Writer};

/// How long the receiver blocks before it looks at the stop flag.
const RECV_POLL: Duration = Duration::from_millis(50);
/// How often sessions are checked for timeouts.
const EXPIRE_EVERY: Duration = Duration::from_secs(10);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The UDP socket could not be bound.
    #[error("cannot bind the radius accounting socket {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stored sessions or the registry could not be read.
    #[error("cannot load accounting state: {0}")]
    Store(#[from] rampart_store::StoreError),
    /// No journal directory was configured.
    #[error("no accounting journal directory configured")]
    NoJournal,
    /// The journal could not be opened or replayed.
    #[error("cannot open the accounting journal: {0}")]
    Journal(String),
    /// A receiver or writer thread could not be started.
    #[error("cannot start a radius accounting thread: {0}")]
    Thread(String),
}

impl From<JournalError> for BuildError {
    fn from(e: JournalError) -> Self {
        Self::Journal(e.to_string())
    }
}

impl From<FoldError> for BuildError {
    fn from(e: FoldError) -> Self {
        match e {
            FoldError::Store(e) => Self::Store(e),
            e => Self::Journal(e.to_string()),
        }
    }
}

/// A started server: its address, the attribution it maintains, and the task to run.
pub struct Built {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// Attribution over the live table and registry index.
    pub attributor: Attributor,
    /// The live session table.
    pub sessions: Arc<RwLock<SessionTable>>,
    /// How far the journal is durable and folded into the store.
    pub progress: Progress,
    /// Runs until the shutdown future resolves; queued requests are committed first.
    pub task: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Journal positions: what is acknowledged (durable) and what the store holds (folded).
#[derive(Debug, Clone)]
pub struct Progress {
    durable: watch::Receiver<u64>,
    folded: watch::Receiver<u64>,
}

impl Progress {
    /// Waits until everything acknowledged so far is in the store (readable through it).
    pub async fn folded(&self) {
        let target = *self.durable.borrow();
        let mut folded = self.folded.clone();
        // An error means the folder stopped: nothing more will be folded.
        let _stopped = folded.wait_for(|f| *f >= target).await;
    }

    /// Acknowledged journal bytes not folded yet.
    pub fn backlog(&self) -> u64 {
        self.durable.borrow().saturating_sub(*self.folded.borrow())
    }
}

impl ServerConfig {
    /// Binds the socket, restores the live sessions and loads the registry index from
    /// `store`; the returned task serves until `shutdown` resolves.
    pub async fn build(
        self,
        store: Arc<dyn Store>,
        bus: Bus,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Built, BuildError> {
        let bind_error = |source| BuildError::Bind {
            addr: self.listen,
            source,
        };
        let socket = UdpSocket::bind(self.listen).map_err(bind_error)?;
        let local_addr = socket.local_addr().map_err(bind_error)?;
        socket
            .set_read_timeout(Some(RECV_POLL))
            .map_err(bind_error)?;
        let dir = self.journal_dir.clone().ok_or(BuildError::NoJournal)?;
        let mut journal = open_journal(dir, self.segment_bytes).await?;
        // Replay: fold what was acknowledged but not yet folded, so that the store (and the
        // sessions restored from it) hold every acknowledged record.
        let first = journal::segments(journal.dir())?
            .first()
            .copied()
            .unwrap_or(0);
        let folded = store.folded_position(journal.id()).await?.unwrap_or(first);
        if folded > journal.end() {
            tracing::warn!(
                folded,
                end = journal.end(),
                "the store has folded more of the accounting journal than its files hold"
            );
            journal =
                tokio::task::spawn_blocking(move || journal.skip_to(folded).map(|()| journal))
                    .await
                    .map_err(|e| BuildError::Journal(e.to_string()))??;
        }
        let end = journal.end();
        let mut folder = Folder::new(
            store.clone(),
            journal.dir().to_owned(),
            journal.id().to_owned(),
            folded.min(end),
            self.fold_interval,
            self.fold_max_bytes.max(1),
        );
        let replayed = folder.catch_up(end).await?;
        if replayed > 0 {
            tracing::info!(
                entries = replayed,
                "accounting journal replayed into the store"
            );
        }
        let mut table = SessionTable::new(self.max_sessions);
        let stored = store.all_sessions().await?;
        let mut dropped = 0usize;
        for s in stored {
            if !table.restore(s) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                max = self.max_sessions,
                "stored sessions beyond max_sessions not restored"
            );
        }
        tracing::info!(sessions = table.len(), "radius sessions restored");
        telemetry::sessions_active(table.len());
        let index = load_index(store.as_ref()).await?;
        let sessions = Arc::new(RwLock::new(table));
        let attributor = Attributor::new(sessions.clone(), Arc::new(RwLock::new(Arc::new(index))));
        let (durable_tx, durable) = watch::channel(end);
        let folded = folder.watch();
        let progress = Progress {
            durable,
            folded: folded.clone(),
        };
        let shared = Arc::new(Shared {
            dup: Mutex::new(DupCache::new(self.duplicate_window, 1 << 20)),
            config: self,
            socket,
            pending: Mutex::new(Pending::default()),
            ready: Condvar::new(),
        });
        let writer = Writer {
            shared: shared.clone(),
            store: store.clone(),
            runtime: tokio::runtime::Handle::current(),
            bus,
            sessions: sessions.clone(),
            journal,
            durable: durable_tx,
            folded,
        };
        let applier = Applier {
            shared: shared.clone(),
            sessions: sessions.clone(),
            attributor: attributor.clone(),
            last_full_warning: None,
        };
        let refresher = refresh_registry(store, attributor.clone(), shared.config.registry_refresh);
        let folder_rx = progress.durable.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let spawn = |name: &str| std::thread::Builder::new().name(name.to_owned());
        // Should the next fail, the applier is dropped with its closure, which stops the
        // writer.
        let writer = spawn("radius-writer")
            .spawn(move || writer.run())
            .map_err(|e| BuildError::Thread(e.to_string()))?;
        let receiver = {
            let stop = stop.clone();
            spawn("radius-receiver")
                .spawn(move || receive(applier, &stop))
                .map_err(|e| BuildError::Thread(e.to_string()))?
        };
        let stop_guard = StopOnDrop(stop);
        let task = async move {
            let folder = tokio::spawn(folder.run(folder_rx));
            let refresher = tokio::spawn(refresher);
            shutdown.await;
            drop(stop_guard);
            // The receiver stops within its poll interval and closes the pending group: the
            // writer appends what is pending and stops, then the folder folds what is left.
            let joined = tokio::task::spawn_blocking(move || {
                if receiver.join().is_err() {
                    tracing::error!("radius receiver thread failed");
                }
                if writer.join().is_err() {
                    tracing::error!("radius writer thread failed");
                }
            })
            .await;
            if let Err(e) = joined {
                tracing::error!(error = %e, "radius accounting threads not joined");
            }
            if let Err(e) = folder.await {
                tracing::error!(error = %e, "radius journal folder failed");
            }
            refresher.abort();
            tracing::info!("radius accounting stopped");
        };
        Ok(Built {
            local_addr,
            attributor,
            sessions,
            progress,
            task: Box::pin(task),
        })
    }
}

/// Stops the threads when the task ends or is dropped without running.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

async fn open_journal(dir: PathBuf, segment_bytes: u64) -> Result<Journal, BuildError> {
    let (journal, recovered) =
        tokio::task::spawn_blocking(move || Journal::open(&dir, segment_bytes))
            .await
            .map_err(|e| BuildError::Journal(e.to_string()))??;
    if recovered.truncated > 0 {
        tracing::warn!(
            bytes = recovered.truncated,
            "torn accounting journal tail dropped (never acknowledged)"
        );
    }
    Ok(journal)
}

/// The receiver thread: one datagram at a time until `stop` is set. Dropping the applier at
/// the end closes the pending group, so that the writer finishes.
fn receive(mut applier: Applier, stop: &AtomicBool) {
    // Larger than any valid packet, so that an oversized datagram is seen as such.
    let mut buf = vec![0u8; 65_536];
    let mut next_expiry = Instant::now() + EXPIRE_EVERY;
    let shared = applier.shared.clone();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_expiry {
            applier.expire();
            next_expiry = Instant::now() + EXPIRE_EVERY;
        }
        let (n, source) = match shared.socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "radius socket receive failed");
                continue;
            }
        };
        let datagram = buf.get(..n).unwrap_or_default();
        match handle(&shared, datagram, source) {
            Handled::Queue(job) => applier.apply(*job),
            Handled::Resend(response) => {
                telemetry::request(Outcome::Duplicate);
                if let Err(e) = shared.socket.send_to(&response, source) {
                    tracing::warn!(error = %e, %source, "cannot resend accounting response");
                }
            }
            Handled::Drop(outcome) => telemetry::request(outcome),
        }
    }
}

enum Handled {
    Queue(Box<Job>),
    Resend(Vec<u8>),
    Drop(Outcome),
}

fn handle(shared: &Shared, datagram: &[u8], source: SocketAddr) -> Handled {
    let Some((_, client)) = shared.config.client_for(source.ip()) else {
        tracing::debug!(%source, "radius request from an unknown client dropped");
        return Handled::Drop(Outcome::UnknownClient);
    };
    if datagram.len() > MAX_PACKET_LEN {
        return Handled::Drop(Outcome::Malformed);
    }
    let packet = match Packet::decode(datagram) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, %source, client = %client.name, "malformed radius datagram");
            return Handled::Drop(Outcome::Malformed);
        }
    };
    if packet.code != Code::AccountingRequest {
        return Handled::Drop(Outcome::UnexpectedCode);
    }
    let verified = match verify_request(datagram, client.secret.expose()) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(error = %e, %source, client = %client.name, "bad radius authenticator");
            return Handled::Drop(Outcome::BadAuthenticator);
        }
    };
    if client.require_message_authenticator && !verified.message_authenticator {
        tracing::debug!(%source, client = %client.name, "message-authenticator required but absent");
        return Handled::Drop(Outcome::BadAuthenticator);
    }
    let key = DupKey {
        source,
        identifier: packet.identifier,
        authenticator: packet.authenticator,
    };
    let event = match AcctEvent::from_packet(&packet, &client.name, Timestamp::now()) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(error = %e, %source, client = %client.name, "accounting request refused");
            return Handled::Drop(Outcome::Invalid);
        }
    };
    let response = match PacketBuilder::reply(Code::AccountingResponse, &packet)
        .encode_response(&packet.authenticator, client.secret.expose())
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode an accounting response");
            return Handled::Drop(Outcome::Invalid);
        }
    };
    let seen = shared.dup().check(key, Instant::now());
    match seen {
        None => Handled::Queue(Box::new(Job {
            event,
            source,
            key,
            response,
        })),
        Some(Seen::Answered(r)) => Handled::Resend(r),
        // The original is being committed; its answer will go out.
        Some(Seen::Pending) => Handled::Drop(Outcome::Duplicate),
    }
}

async fn refresh_registry(store: Arc<dyn Store>, attributor: Attributor, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match load_index(store.as_ref()).await {
            Ok(index) => attributor.set_registry(index),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the attribution index"),
        }
    }
}
