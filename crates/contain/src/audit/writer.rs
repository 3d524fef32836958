//! Group commit for the audit log: one thread owns the appends, and whatever was submitted
//! while it synced the last batch goes to disk in the next one, under one lock and one `fsync`.
//!
//! Every append still returns only once its line is durable, and lines keep the order of
//! submission; what changes is that N writers arriving together pay about one sync, not N in
//! a row. On a disk where `fdatasync` takes milliseconds, the sequential form made the audit
//! log the queue on the way from a finding to its containment action.

use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::{AuditError, AuditLog, Head};

/// Records committed at most in one batch (bounds the write and the time others wait).
const BATCH: usize = 512;

/// Where a committed append's answer goes.
enum Reply {
    Async(oneshot::Sender<Result<Head, AuditError>>),
    Blocking(SyncSender<Result<Head, AuditError>>),
}

struct Job {
    /// The record as JSON text.
    record: String,
    reply: Reply,
}

/// A handle on the audit log's writer thread; clones share it. The thread ends when the last
/// handle is dropped, after committing what was submitted.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    tx: Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer thread over `log`. The log stays usable by others through the mutex
    /// (each batch holds it, as each single append does).
    pub fn spawn(log: Arc<Mutex<AuditLog>>) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run(&log, &rx))?;
        Ok(Self { tx })
    }

    /// Appends `record`; resolves once it is on disk, with the new head. Holds no thread
    /// while it waits.
    pub async fn append<T: Serialize + ?Sized>(&self, record: &T) -> Result<Head, AuditError> {
        let record = serde_json::to_string(record)?;
        let (tx, rx) = oneshot::channel();
        self.submit(record, Reply::Async(tx))?;
        rx.await.map_err(|_| stopped())?
    }

    /// [`AuditWriter::append`] for callers outside async code: blocks until the line is on disk.
    pub fn append_blocking<T: Serialize + ?Sized>(&self, record: &T) -> Result<Head, AuditError> {
        let record = serde_json::to_string(record)?;
        let (tx, rx) = sync_channel(1);
        self.submit(record, Reply::Blocking(tx))?;
        rx.recv().map_err(|_| stopped())?
    }

    fn submit(&self, record: String, reply: Reply) -> Result<(), AuditError> {
        self.tx.send(Job { record, reply }).map_err(|_| stopped())
    }
}

fn stopped() -> AuditError {
    AuditError::Io(std::io::Error::other("audit writer stopped"))
}

fn run(log: &Mutex<AuditLog>, rx: &Receiver<Job>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let records: Vec<&str> = batch.iter().map(|j| j.record.as_str()).collect();
        let result = log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append_batch(&records, OffsetDateTime::now_utc());
        match result {
            Ok(heads) => {
                for (job, head) in batch.drain(..).zip(heads) {
                    answer(job.reply, Ok(head));
                }
            }
            Err(e) => {
                // Nothing of the batch is known to be on disk: every caller is told.
                let text = crate::outcome::error_chain(&e);
                let kind = match &e {
                    AuditError::Io(io) => io.kind(),
                    _ => std::io::ErrorKind::Other,
                };
                let mut jobs = batch.drain(..);
                if let Some(first) = jobs.next() {
                    answer(first.reply, Err(e));
                }
                for job in jobs {
                    let copy = std::io::Error::new(kind, text.clone());
                    answer(job.reply, Err(AuditError::Io(copy)));
                }
            }
        }
    }
}

fn answer(reply: Reply, result: Result<Head, AuditError>) {
    // A caller that stopped waiting has nothing to be told; the line is written either way.
    let _told = match reply {
        Reply::Async(tx) => tx.send(result).is_ok(),
        Reply::Blocking(tx) => tx.send(result).is_ok(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_form_one_chain_in_submission_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = Arc::new(Mutex::new(AuditLog::open(&path).unwrap()));
        let writer = AuditWriter::spawn(log.clone()).unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let w = writer.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..20 {
                        let head = w.append(&[t, i]).await.unwrap();
                        seqs.push(head.seq);
                    }
                    seqs
                })
            })
            .collect();
        for t in tasks {
            let seqs = t.await.unwrap();
            // One submitter's records keep their order.
            assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        }
        // The log stays usable directly beside the writer, and so does a blocking caller.
        log.lock().unwrap().append(&"direct").unwrap();
        let last = tokio::task::spawn_blocking(move || writer.append_blocking(&"blocking"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last.seq, 162);
        assert_eq!(verify(&path).unwrap(), last);
        let text = std::fs::read_to_string(&path).unwrap();
        for t in 0..8 {
            let at: Vec<usize> = (0..20)
                .map(|i| text.find(&format!(r#""record":[{t},{i}]"#)).unwrap())
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
