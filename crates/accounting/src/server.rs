//! The accounting pipeline: socket → client → decode → verify → dedupe → session table →
//! journal group commit → Accounting-Response → observation; then, in the background, the
//! journal is folded into the store.
//!
//! Three tasks. The receiver does the cheap, per-datagram work (lookup, decode, MD5 checks,
//! duplicate cache) and queues accepted requests. The writer takes everything queued at once,
//! applies it to the session table, appends one journal entry per request with one
//! `fdatasync` for all of them and only then answers: while one group is synced the next
//! accumulates, so the sync is shared by all requests that arrived meanwhile (group commit)
//! without an artificial delay. The folder (`folder`) moves journal entries into the store.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rampart_bus::{AccountingObservation, Bus, Observation};
use rampart_core::Timestamp;
use rampart_radius::auth::verify_request;
use rampart_radius::{Code, MAX_PACKET_LEN, Packet, PacketBuilder};
use rampart_sessions::{AcctEvent, Attributor, SessionTable};
use rampart_store::Store;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::dedupe::{DupCache, DupKey, Seen};
use crate::entry::Entry;
use crate::folder::{FoldError, Folder};
use crate::journal::{self, Journal, JournalError};
use crate::registry::load_index;
use crate::telemetry::{self, Outcome};

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

struct Job {
    event: AcctEvent,
    source: SocketAddr,
    key: DupKey,
    response: Vec<u8>,
}

struct Shared {
    config: ServerConfig,
    socket: UdpSocket,
    dup: Mutex<DupCache>,
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
        let socket = UdpSocket::bind(self.listen)
            .await
            .map_err(|source| BuildError::Bind {
                addr: self.listen,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| BuildError::Bind {
            addr: self.listen,
            source,
        })?;
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
        let (tx, rx) = mpsc::channel(self.queue_capacity.max(1));
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
        });
        let writer = Writer {
            shared: shared.clone(),
            store: store.clone(),
            bus,
            sessions: sessions.clone(),
            attributor: attributor.clone(),
            last_full_warning: None,
            journal: Some(journal),
            buf: Vec::new(),
            durable: durable_tx,
            folded,
        };
        let refresher = refresh_registry(store, attributor.clone(), shared.config.registry_refresh);
        let folder_rx = progress.durable.clone();
        let task = async move {
            let folder = tokio::spawn(folder.run(folder_rx));
            let writer = tokio::spawn(writer.run(rx));
            let refresher = tokio::spawn(refresher);
            receive(shared, tx, shutdown).await;
            // The sender is gone: the writer drains the queue and stops, then the folder
            // folds what is left.
            if let Err(e) = writer.await {
                tracing::error!(error = %e, "radius writer task failed");
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

async fn receive(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    // Larger than any valid packet, so that an oversized datagram is seen as such.
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, source) = tokio::select! {
            () = &mut shutdown => break,
            r = shared.socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "radius socket receive failed");
                    continue;
                }
            },
        };
        let datagram = buf.get(..n).unwrap_or_default();
        match handle(&shared, datagram, source) {
            Handled::Queue(job) => {
                let key = job.key;
                if let Err(e) = tx.try_send(*job) {
                    // Not acknowledged, so the NAS retransmits; forget it so the retransmission
                    // is processed.
                    shared
                        .dup
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .forget(&key);
                    telemetry::request(Outcome::Overloaded);
                    tracing::debug!(error = %e, %source, "radius queue full; request dropped");
                }
            }
            Handled::Resend(response) => {
                telemetry::request(Outcome::Duplicate);
                if let Err(e) = shared.socket.send_to(&response, source).await {
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
    let seen = shared
        .dup
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .check(key, Instant::now());
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

struct Writer {
    shared: Arc<Shared>,
    store: Arc<dyn Store>,
    bus: Bus,
    sessions: Arc<RwLock<SessionTable>>,
    attributor: Attributor,
    last_full_warning: Option<Instant>,
    /// Taken while an append runs on the blocking pool; `None` after a failed task.
    journal: Option<Journal>,
    /// Framed entries of the group being appended (reused).
    buf: Vec<u8>,
    durable: watch::Sender<u64>,
    folded: watch::Receiver<u64>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let max = self.shared.config.max_batch.max(1);
        let mut jobs = Vec::with_capacity(max);
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut jobs, max) => {
                    if n == 0 {
                        break;
                    }
                    self.commit(&mut jobs).await;
                }
                _ = tick.tick() => self.expire().await,
            }
        }
    }

    /// Appends the framed group in `self.buf` and syncs it; the new durable end.
    async fn append(&mut self) -> Result<u64, JournalError> {
        // Bounded backlog: when the store falls this far behind, wait for the folder rather
        // than let the journal grow without end.
        let cap = self.shared.config.max_backlog;
        let end = *self.durable.borrow();
        if end.saturating_sub(*self.folded.borrow()) > cap {
            tracing::warn!(
                backlog = end.saturating_sub(*self.folded.borrow()),
                "accounting journal backlog at its cap: waiting for the store"
            );
            let _stopped = self
                .folded
                .wait_for(|f| end.saturating_sub(*f) <= cap / 2)
                .await;
        }
        let Some(mut journal) = self.journal.take() else {
            return Err(JournalError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other("journal unavailable after a failed append task"),
            });
        };
        let buf = std::mem::take(&mut self.buf);
        let done = tokio::task::spawn_blocking(move || {
            let r = journal.append(&buf);
            (journal, buf, r)
        })
        .await;
        match done {
            Ok((journal, mut buf, r)) => {
                self.journal = Some(journal);
                buf.clear();
                self.buf = buf;
                let end = r?;
                self.durable.send_replace(end);
                Ok(end)
            }
            Err(e) => Err(JournalError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(format!("journal append task failed: {e}")),
            }),
        }
    }

    async fn commit(&mut self, jobs: &mut Vec<Job>) {
        let registry = self.attributor.registry();
        let mut applied = Vec::with_capacity(jobs.len());
        self.buf.clear();
        let mut framing: Result<(), JournalError> = Ok(());
        let (active, refused) = {
            let mut table = self
                .sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for job in jobs.iter() {
                let a = table.apply(&job.event, |s| Attributor::stamp(&registry, s));
                let entry = Entry::applied(&a, &registry);
                if framing.is_ok() {
                    framing = serde_json::to_vec(&entry)
                        .map_err(|e| JournalError::Io {
                            path: PathBuf::new(),
                            source: std::io::Error::other(e),
                        })
                        .and_then(|p| journal::frame(&mut self.buf, &p));
                }
                applied.push((a, entry.unknown));
            }
            (
                table.len(),
                applied.iter().filter(|(a, _)| a.refused).count(),
            )
        };
        if refused > 0 {
            telemetry::sessions_refused(refused);
            let now = Instant::now();
            if self
                .last_full_warning
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
            {
                self.last_full_warning = Some(now);
                tracing::warn!(
                    max_sessions = self.shared.config.max_sessions,
                    refused,
                    "radius session table full: new sessions are recorded but not tracked"
                );
            }
        }
        let started = Instant::now();
        let result = match framing {
            Ok(()) => self.append().await,
            Err(e) => Err(e),
        };
        telemetry::commit(jobs.len(), started.elapsed());
        match result {
            Ok(_) => {
                telemetry::sessions_active(active);
                let now = Instant::now();
                for (job, (a, unknown_imsi)) in jobs.drain(..).zip(applied) {
                    if let Err(e) = self.shared.socket.send_to(&job.response, job.source).await {
                        tracing::warn!(error = %e, source = %job.source, "cannot send accounting response");
                    }
                    self.shared
                        .dup
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .answered(job.key, job.response, now);
                    telemetry::request(Outcome::Accepted);
                    self.bus
                        .publish(Observation::Accounting(Box::new(AccountingObservation {
                            tenant: a.record.session.tenant.clone(),
                            device_id: a.record.session.device_id.clone(),
                            record: a.record,
                            unknown_imsi,
                        })));
                }
            }
            Err(e) => {
                // Nothing was acknowledged; the NAS retransmits. The table already holds the
                // changes, so put it back to what is durable.
                tracing::error!(error = %e, requests = jobs.len(), "radius accounting not journaled; requests left unanswered");
                {
                    let mut dup = self
                        .shared
                        .dup
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    for job in jobs.drain(..) {
                        dup.forget(&job.key);
                        telemetry::request(Outcome::StoreError);
                    }
                }
                self.reload().await;
            }
        }
    }

    /// Rebuilds the table from what is durable: once the folder has folded the whole
    /// journal, the store holds exactly that.
    async fn reload(&mut self) {
        let end = *self.durable.borrow();
        if self.folded.wait_for(|f| *f >= end).await.is_err() {
            tracing::error!("radius journal folder stopped; session table not reloaded");
            return;
        }
        match self.store.all_sessions().await {
            Ok(stored) => {
                let mut table = SessionTable::new(self.shared.config.max_sessions);
                for s in stored {
                    table.restore(s);
                }
                *self
                    .sessions
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = table;
            }
            Err(e) => tracing::error!(error = %e, "cannot reload radius sessions"),
        }
    }

    /// Ends sessions silent for longer than the timeout, measured against the newest event
    /// time seen (not the wall clock), so replays behave like live traffic. The ends go
    /// through the journal like requests, so the store sees them in order.
    async fn expire(&mut self) {
        let expired = {
            let mut table = self
                .sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let timeout =
                i64::try_from(self.shared.config.session_timeout.as_millis()).unwrap_or(i64::MAX);
            let cutoff = Timestamp(table.watermark().0.saturating_sub(timeout));
            table.expire(cutoff)
        };
        if expired.is_empty() {
            return;
        }
        tracing::info!(sessions = expired.len(), "radius sessions timed out");
        self.buf.clear();
        let mut framing = Ok(());
        for s in &expired {
            if framing.is_err() {
                break;
            }
            framing = serde_json::to_vec(&Entry::timeout(s))
                .map_err(|e| JournalError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(e),
                })
                .and_then(|p| journal::frame(&mut self.buf, &p));
        }
        let result = match framing {
            Ok(()) => self.append().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot journal session timeouts; retried at the next tick");
            self.reload().await;
        }
        telemetry::sessions_active(
            self.sessions
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
        );
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
