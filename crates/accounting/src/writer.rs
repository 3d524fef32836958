//! From an accepted request to its answer: the receiver applies it to the session table and
//! frames its journal entry into the pending group; the writer thread appends the whole group
//! with one `write` and one `fdatasync`, and only then answers.
//!
//! While the writer syncs one group the receiver fills the next, so every request that
//! arrived during a sync shares the following one (group commit, no artificial delay), and the
//! work of applying and encoding overlaps the disk's. The writer is a plain thread: the sync
//! blocks, and handing it to a blocking pool and back cost more than the rest of a group.
//!
//! Applying and framing happen under the pending group's lock, so the journal order is the
//! order the table saw. When an append fails, nothing of the group (nor of what was applied
//! after it) is answered, and the table is rebuilt from what is durable under that same lock.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rampart_bus::{AccountingObservation, Bus, Observation};
use rampart_core::Timestamp;
use rampart_sessions::{AcctEvent, Attributor, SessionTable};
use rampart_store::Store;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::ServerConfig;
use crate::dedupe::{DupCache, DupKey};
use crate::entry::{EntryRef, unknown_imsi};
use crate::journal::{self, Journal, JournalError};
use crate::telemetry::{self, Outcome};

/// How long the writer waits for work before it looks whether the receiver stopped.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// An accepted request, verified and decoded.
pub(crate) struct Job {
    pub(crate) event: AcctEvent,
    pub(crate) source: SocketAddr,
    pub(crate) key: DupKey,
    pub(crate) response: Vec<u8>,
}

/// What the receiver and the writer share.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) socket: UdpSocket,
    pub(crate) dup: Mutex<DupCache>,
    pub(crate) pending: Mutex<Pending>,
    /// Signalled when the pending group gets its first entry while the writer waits.
    pub(crate) ready: Condvar,
}

impl Shared {
    pub(crate) fn dup(&self) -> MutexGuard<'_, DupCache> {
        self.dup.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request applied and framed, waiting for its group to be durable.
struct Answer {
    source: SocketAddr,
    key: DupKey,
    response: Vec<u8>,
    observation: AccountingObservation,
}

/// The group being filled.
#[derive(Default)]
pub(crate) struct Pending {
    /// Framed journal entries.
    buf: Vec<u8>,
    /// The requests among them, in journal order.
    answers: Vec<Answer>,
    /// The writer sleeps on `ready` (so the next entry must wake it).
    waiting: bool,
    /// The receiver is gone: once empty, the writer stops.
    closed: bool,
}

/// The receiver's side: applies requests and session timeouts into the pending group.
pub(crate) struct Applier {
    pub(crate) shared: Arc<Shared>,
    pub(crate) sessions: Arc<RwLock<SessionTable>>,
    pub(crate) attributor: Attributor,
    pub(crate) last_full_warning: Option<Instant>,
}

impl Applier {
    /// Applies `job` and frames its entry; drops it (unanswered, so the NAS retransmits) when
    /// the pending group is full or the entry cannot be framed.
    pub(crate) fn apply(&mut self, job: Job) {
        let registry = self.attributor.registry();
        let mut pending = self.shared.pending();
        if pending.answers.len() >= self.shared.config.queue_capacity.max(1) {
            drop(pending);
            self.shared.dup().forget(&job.key);
            telemetry::request(Outcome::Overloaded);
            tracing::debug!(source = %job.source, "radius queue full; request dropped");
            return;
        }
        let (a, active) = {
            let mut table = self
                .sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let a = table.apply(&job.event, |s| Attributor::stamp(&registry, s));
            (a, table.len())
        };
        let unknown = unknown_imsi(&a, &registry);
        let wake = pending.waiting && pending.buf.is_empty();
        let at = journal::begin_frame(&mut pending.buf);
        let framed = EntryRef::applied(&a, unknown)
            .encode(&mut pending.buf)
            .map_err(|e| e.to_string())
            .and_then(|()| journal::end_frame(&mut pending.buf, at).map_err(|e| e.to_string()));
        if let Err(e) = framed {
            // The table holds a change the journal will not: the next failure or restart
            // puts it back to what is durable; the request is not answered.
            tracing::error!(error = %e, "cannot frame an accounting journal entry; request dropped");
            pending.buf.truncate(at);
            drop(pending);
            self.shared.dup().forget(&job.key);
            telemetry::request(Outcome::StoreError);
            return;
        }
        pending.answers.push(Answer {
            source: job.source,
            key: job.key,
            response: job.response,
            observation: AccountingObservation {
                tenant: a.record.session.tenant.clone(),
                device_id: a.record.session.device_id.clone(),
                record: a.record,
                unknown_imsi: unknown,
            },
        });
        drop(pending);
        if wake {
            self.shared.ready.notify_one();
        }
        telemetry::sessions_active(active);
        if a.refused {
            telemetry::sessions_refused(1);
            let now = Instant::now();
            if self
                .last_full_warning
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
            {
                self.last_full_warning = Some(now);
                tracing::warn!(
                    max_sessions = self.shared.config.max_sessions,
                    "radius session table full: new sessions are recorded but not tracked"
                );
            }
        }
    }

    /// Ends sessions silent for longer than the timeout, measured against the newest event
    /// time seen (not the wall clock), so replays behave like live traffic. The ends go
    /// through the journal like requests, so the store sees them in order.
    pub(crate) fn expire(&mut self) {
        let mut pending = self.shared.pending();
        let (expired, active) = {
            let mut table = self
                .sessions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let timeout =
                i64::try_from(self.shared.config.session_timeout.as_millis()).unwrap_or(i64::MAX);
            let cutoff = Timestamp(table.watermark().0.saturating_sub(timeout));
            let expired = table.expire(cutoff);
            (expired, table.len())
        };
        if expired.is_empty() {
            return;
        }
        tracing::info!(sessions = expired.len(), "radius sessions timed out");
        let wake = pending.waiting && pending.buf.is_empty();
        for s in &expired {
            let at = journal::begin_frame(&mut pending.buf);
            let framed = EntryRef::timeout(s)
                .encode(&mut pending.buf)
                .map_err(|e| e.to_string())
                .and_then(|()| journal::end_frame(&mut pending.buf, at).map_err(|e| e.to_string()));
            if let Err(e) = framed {
                pending.buf.truncate(at);
                tracing::warn!(error = %e, "cannot frame a session timeout; the session stays in the store until its next record");
            }
        }
        drop(pending);
        if wake {
            self.shared.ready.notify_one();
        }
        telemetry::sessions_active(active);
    }
}

impl Drop for Applier {
    /// No more requests: the writer stops once the pending group is appended.
    fn drop(&mut self) {
        self.shared.pending().closed = true;
        self.shared.ready.notify_one();
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runtime: Handle,
    pub(crate) bus: Bus,
    pub(crate) sessions: Arc<RwLock<SessionTable>>,
    pub(crate) journal: Journal,
    pub(crate) durable: watch::Sender<u64>,
    pub(crate) folded: watch::Receiver<u64>,
}

/// Sends the answers of a durable group, remembers them for retransmissions, publishes the
/// records.
fn respond(shared: &Shared, bus: &Bus, group: &mut Vec<Answer>) {
    for a in group.iter() {
        if let Err(e) = shared.socket.send_to(&a.response, a.source) {
            tracing::warn!(error = %e, source = %a.source, "cannot send accounting response");
        }
    }
    telemetry::requests(Outcome::Accepted, group.len());
    let mut observations = Vec::with_capacity(group.len());
    {
        let now = Instant::now();
        let mut dup = shared.dup();
        for a in group.drain(..) {
            dup.answered(a.key, a.response, now);
            observations.push(a.observation);
        }
    }
    for o in observations {
        bus.publish(Observation::Accounting(Box::new(o)));
    }
}

impl Writer {
    /// Appends and answers groups until the receiver is gone and nothing is pending.
    pub(crate) fn run(mut self) {
        let mut buf = Vec::new();
        let mut answers = Vec::new();
        loop {
            {
                let mut pending = self.shared.pending();
                while pending.buf.is_empty() {
                    if pending.closed {
                        return;
                    }
                    pending.waiting = true;
                    pending = self
                        .shared
                        .ready
                        .wait_timeout(pending, IDLE_POLL)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    pending.waiting = false;
                }
                std::mem::swap(&mut pending.buf, &mut buf);
                std::mem::swap(&mut pending.answers, &mut answers);
            }
            let started = Instant::now();
            let result = self.append(&buf);
            telemetry::commit(answers.len(), started.elapsed());
            buf.clear();
            match result {
                Ok(_) => self.answer(&mut answers),
                Err(e) => self.failed(&e, &mut answers),
            }
        }
    }

    /// Appends `framed` and syncs it; the new durable end.
    fn append(&mut self, framed: &[u8]) -> Result<u64, JournalError> {
        // Bounded backlog: when the store falls this far behind, wait for the folder rather
        // than let the journal grow without end.
        let cap = self.shared.config.max_backlog;
        let end = *self.durable.borrow();
        let folded = *self.folded.borrow();
        if end.saturating_sub(folded) > cap {
            tracing::warn!(
                backlog = end.saturating_sub(folded),
                "accounting journal backlog at its cap: waiting for the store"
            );
            let mut rx = self.folded.clone();
            let _stopped = self
                .runtime
                .block_on(rx.wait_for(|f| end.saturating_sub(*f) <= cap / 2));
        }
        let end = self.journal.append(framed)?;
        self.durable.send_replace(end);
        Ok(end)
    }

    /// The group is durable: answer it, remember the answers, publish the records.
    fn answer(&mut self, answers: &mut Vec<Answer>) {
        respond(&self.shared, &self.bus, answers);
    }

    /// Nothing of the group was acknowledged (the NAS retransmits), nor of what was applied
    /// after it, since its table changes build on the lost ones: all of it is dropped and
    /// the table is rebuilt from what is durable, with the receiver held off meanwhile.
    fn failed(&mut self, error: &JournalError, answers: &mut Vec<Answer>) {
        let mut pending = self.shared.pending();
        let dropped = answers.len() + pending.answers.len();
        tracing::error!(error = %error, requests = dropped, "radius accounting not journaled; requests left unanswered");
        pending.buf.clear();
        {
            let mut dup = self.shared.dup();
            for a in answers.drain(..).chain(pending.answers.drain(..)) {
                dup.forget(&a.key);
            }
        }
        telemetry::requests(Outcome::StoreError, dropped);
        let end = *self.durable.borrow();
        let mut folded = self.folded.clone();
        let store = self.store.clone();
        // The folder folds the journal up to its durable end; then the store holds exactly
        // what is durable.
        let stored = self.runtime.block_on(async move {
            if folded.wait_for(|f| *f >= end).await.is_err() {
                return None;
            }
            Some(store.all_sessions().await)
        });
        match stored {
            None => tracing::error!("radius journal folder stopped; session table not reloaded"),
            Some(Ok(stored)) => {
                let mut table = SessionTable::new(self.shared.config.max_sessions);
                for s in stored {
                    table.restore(s);
                }
                *self
                    .sessions
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = table;
            }
            Some(Err(e)) => tracing::error!(error = %e, "cannot reload radius sessions"),
        }
        drop(pending);
    }
}
