//! The folder: moves acknowledged journal entries into the store in large batches.
//!
//! It reads the journal from the position the store says it folded up to, turns the entries
//! into store operations and applies them together with the new position in one store
//! transaction, so after a crash folding resumes exactly where the last transaction ended:
//! nothing is folded twice, nothing is skipped. Idle, it folds as soon as an entry is durable
//! (the API sees a request milliseconds after its answer); busy, it folds at most every
//! `interval`, so each transaction carries many requests and the per-session, per-IMSI rows
//! coalesce. Folded segments are deleted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rampart_store::{Store, StoreError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::entry::{Entry, EntryError};
use crate::journal::{self, JournalError};
use crate::telemetry;

/// Why a fold failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FoldError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("journal read task failed: {0}")]
    Task(String),
    /// Entries of a format this build cannot read: folding stops rather than skip them, so
    /// that a newer Rampart can still fold them.
    #[error("accounting journal at position {position}: {source}; refusing to fold it")]
    Format { position: u64, source: EntryError },
}

pub(crate) struct Folder {
    store: Arc<dyn Store>,
    dir: PathBuf,
    id: String,
    folded: u64,
    max_bytes: usize,
    interval: Duration,
    folded_tx: watch::Sender<u64>,
}

impl Folder {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        dir: PathBuf,
        id: String,
        folded: u64,
        interval: Duration,
        max_bytes: usize,
    ) -> Self {
        let (folded_tx, _) = watch::channel(folded);
        Self {
            store,
            dir,
            id,
            folded,
            max_bytes,
            interval,
            folded_tx,
        }
    }

    /// Follows the folded position.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.folded_tx.subscribe()
    }

    /// Folds the next batch before `until`; returns the number of entries folded.
    pub(crate) async fn fold_once(&mut self, until: u64) -> Result<usize, FoldError> {
        let started = Instant::now();
        let (dir, from, max) = (self.dir.clone(), self.folded, self.max_bytes);
        let batch = tokio::task::spawn_blocking(move || journal::read(&dir, from, until, max))
            .await
            .map_err(|e| FoldError::Task(e.to_string()))??;
        if batch.damaged > 0 {
            telemetry::journal_damaged(batch.damaged);
        }
        let entries = batch.entries.len();
        let mut decoded = Vec::with_capacity(entries);
        let mut undecodable = 0usize;
        for payload in &batch.entries {
            match Entry::decode(payload) {
                Ok(e) => decoded.push(e),
                Err(source @ EntryError::Version(_)) => {
                    return Err(FoldError::Format {
                        position: self.folded,
                        source,
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "undecodable accounting journal entry");
                    undecodable += 1;
                }
            }
        }
        // Only the last change of each session reaches its row in this transaction (Stop
        // follows Start within a fold under load): earlier upserts are not copied into
        // operations at all.
        let upsert = {
            let mut last = HashMap::with_capacity(decoded.len());
            for (i, e) in decoded.iter().enumerate() {
                if let Some(key) = e.session_key() {
                    last.insert(key, i);
                }
            }
            let mut upsert = vec![true; decoded.len()];
            for (i, e) in decoded.iter().enumerate() {
                if let Some(key) = e.session_key() {
                    upsert[i] = last.get(&key) == Some(&i);
                }
            }
            upsert
        };
        let mut ops = Vec::with_capacity(entries * 5);
        for (e, upsert) in decoded.into_iter().zip(upsert) {
            e.into_ops(&mut ops, upsert);
        }
        if undecodable > 0 {
            tracing::error!(
                undecodable,
                "accounting journal entries with a valid checksum could not be decoded; skipped"
            );
        }
        if batch.end == self.folded {
            return Ok(0);
        }
        self.store
            .fold_accounting(&self.id, batch.end, &ops)
            .await?;
        self.folded = batch.end;
        self.folded_tx.send_replace(self.folded);
        telemetry::fold(
            entries,
            started.elapsed(),
            until.saturating_sub(self.folded),
        );
        let (dir, folded) = (self.dir.clone(), self.folded);
        match tokio::task::spawn_blocking(move || journal::delete_folded(&dir, folded)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete folded journal segments"),
            Err(e) => tracing::warn!(error = %e, "journal clean-up task failed"),
        }
        Ok(entries)
    }

    /// Folds everything before `until` (start-up replay).
    pub(crate) async fn catch_up(&mut self, until: u64) -> Result<usize, FoldError> {
        let mut total = 0;
        while self.folded < until {
            let before = self.folded;
            total += self.fold_once(until).await?;
            if self.folded == before {
                break;
            }
        }
        Ok(total)
    }

    /// Folds while the writer appends; when the writer is gone, folds what is left and stops.
    pub(crate) async fn run(mut self, mut durable: watch::Receiver<u64>) {
        let mut last: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            let until = *durable.borrow_and_update();
            if self.folded >= until {
                if durable.changed().await.is_err() {
                    break;
                }
                continue;
            }
            if let Some(at) = last {
                tokio::time::sleep_until(at + self.interval).await;
            }
            last = Some(Instant::now());
            // Everything durable by now goes into this fold.
            let until = *durable.borrow_and_update();
            match self.fold_once(until).await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "cannot fold the accounting journal; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(50))))
                        .await;
                }
            }
        }
        let until = *durable.borrow();
        for attempt in 1..=3u32 {
            match self.catch_up(until).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "cannot fold the accounting journal at shutdown; it is replayed on start");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

    use rampart_core::{AccountingRecord, RadiusSession, Timestamp};
    use rampart_store::SqliteStore;

    use super::*;
    use crate::entry::{Change, Usage};
    use crate::journal::{Journal, frame};

    fn sample(session_id: &str, up: u64) -> Entry {
        let session = RadiusSession {
            nas: "pgw".to_owned(),
            session_id: session_id.to_owned(),
            multi_session_id: None,
            imsi: Some("001010000000001".to_owned()),
            imeisv: None,
            msisdn: None,
            ipv4: None,
            ipv6_prefix: None,
            apn: None,
            rat: None,
            location: None,
            started_at: Timestamp(3_600_000),
            updated_at: Timestamp(3_600_000),
            input_octets: up,
            output_octets: 0,
            input_packets: 0,
            output_packets: 0,
            tenant: None,
            device_id: None,
        };
        Entry {
            record: Some(AccountingRecord {
                status: "Interim-Update".to_owned(),
                event_time: Timestamp(3_600_000),
                received_at: Timestamp(3_600_000),
                client: "lab".to_owned(),
                session,
                session_time: None,
                terminate_cause: None,
            }),
            change: Change::Record,
            usage: Some(Usage {
                imsi: "001010000000001".to_owned(),
                hour: Timestamp(3_600_000),
                up,
                down: 0,
            }),
            sighting: None,
            unknown: false,
        }
    }

    /// A framed entry in the current (binary) format.
    fn entry(session_id: &str, up: u64) -> Vec<u8> {
        let mut payload = Vec::new();
        sample(session_id, up)
            .as_ref()
            .encode(&mut payload)
            .unwrap();
        let mut buf = Vec::new();
        frame(&mut buf, &payload).unwrap();
        buf
    }

    /// A framed entry as journals before the binary format held them.
    fn json_entry(session_id: &str, up: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        frame(
            &mut buf,
            &serde_json::to_vec(&sample(session_id, up)).unwrap(),
        )
        .unwrap();
        buf
    }

    async fn usage(store: &Arc<dyn Store>) -> u64 {
        store
            .usage_since(&["001010000000001"], Timestamp(0))
            .await
            .unwrap()
            .iter()
            .map(|u| u.bytes_up)
            .sum()
    }

    /// A restart resumes folding at the stored position: entries folded before are not
    /// counted again, entries appended after are folded once.
    #[tokio::test]
    async fn folding_is_exactly_once_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_dir(&dir.path().join("db")).await.unwrap());
        let jdir = dir.path().join("journal");
        let (mut j, _) = Journal::open(&jdir, 200).unwrap();
        for i in 0..5 {
            j.append(&entry(&format!("s-{i}"), 10)).unwrap();
        }
        let first = j.end();
        let mut f = Folder::new(
            store.clone(),
            jdir.clone(),
            j.id().to_owned(),
            0,
            Duration::ZERO,
            1 << 20,
        );
        assert_eq!(f.catch_up(first).await.unwrap(), 5);
        assert_eq!(store.folded_position(j.id()).await.unwrap(), Some(first));
        assert_eq!(usage(&store).await, 50);
        assert_eq!(store.all_sessions().await.unwrap().len(), 5);

        // More entries, then a "restart": a new folder from the stored position.
        for i in 5..8 {
            j.append(&entry(&format!("s-{i}"), 1)).unwrap();
        }
        let end = j.end();
        drop(f);
        let folded = store.folded_position(j.id()).await.unwrap().unwrap();
        let mut f = Folder::new(
            store.clone(),
            jdir.clone(),
            j.id().to_owned(),
            folded,
            Duration::ZERO,
            300,
        );
        assert_eq!(f.catch_up(end).await.unwrap(), 3);
        assert_eq!(usage(&store).await, 53, "each entry counted once");
        assert_eq!(store.count_accounting_records().await.unwrap(), 8);
        // Folded segments are gone except the open one.
        assert_eq!(journal::segments(&jdir).unwrap().len(), 1);
    }

    /// A journal left by a build that wrote JSON entries is folded after the upgrade, and
    /// so are the binary entries appended after it.
    #[tokio::test]
    async fn journals_of_the_json_format_are_folded_after_an_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_dir(&dir.path().join("db")).await.unwrap());
        let jdir = dir.path().join("journal");
        let (mut j, _) = Journal::open(&jdir, 1 << 20).unwrap();
        j.append(&[json_entry("old-1", 7), json_entry("old-2", 8)].concat())
            .unwrap();
        drop(j);
        let (mut j, _) = Journal::open(&jdir, 1 << 20).unwrap();
        let end = j.append(&entry("new-1", 9)).unwrap();
        let mut f = Folder::new(
            store.clone(),
            jdir.clone(),
            j.id().to_owned(),
            0,
            Duration::ZERO,
            1 << 20,
        );
        assert_eq!(f.catch_up(end).await.unwrap(), 3);
        assert_eq!(usage(&store).await, 24);
        assert_eq!(store.count_accounting_records().await.unwrap(), 3);
        assert_eq!(store.folded_position(j.id()).await.unwrap(), Some(end));
    }

    /// An entry of a format version this build does not know stops folding where it is: the
    /// store keeps the position before it, so a newer build can still fold it.
    #[tokio::test]
    async fn an_unknown_entry_version_is_refused_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open_dir(&dir.path().join("db")).await.unwrap());
        let jdir = dir.path().join("journal");
        let (mut j, _) = Journal::open(&jdir, 1 << 20).unwrap();
        let first = j.append(&entry("s-1", 5)).unwrap();
        let mut future = Vec::new();
        frame(&mut future, &[9, 1, 2, 3]).unwrap();
        let end = j.append(&future).unwrap();
        let mut f = Folder::new(
            store.clone(),
            jdir.clone(),
            j.id().to_owned(),
            0,
            Duration::ZERO,
            1 << 20,
        );
        assert_eq!(f.catch_up(first).await.unwrap(), 1);
        let err = f.catch_up(end).await.unwrap_err();
        assert!(
            matches!(
                err,
                FoldError::Format {
                    source: EntryError::Version(9),
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(store.folded_position(j.id()).await.unwrap(), Some(first));
        assert_eq!(usage(&store).await, 5);
    }

    /// Leaving out superseded upserts changes nothing in the store: a fold gives the same
    /// sessions as applying every operation, across ends, restarts of a NAS and re-used ids.
    #[tokio::test]
    async fn superseded_upserts_are_left_out_with_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let folded: Arc<dyn Store> =
            Arc::new(SqliteStore::open_dir(&dir.path().join("a")).await.unwrap());
        let applied: Arc<dyn Store> =
            Arc::new(SqliteStore::open_dir(&dir.path().join("b")).await.unwrap());
        let nas_on = Entry {
            record: None,
            change: Change::EndNas {
                nas: "pgw".to_owned(),
            },
            usage: None,
            sighting: None,
            unknown: false,
        };
        let end = |sid: &str| Entry {
            record: None,
            change: Change::End {
                nas: "pgw".to_owned(),
                session_id: sid.to_owned(),
            },
            usage: None,
            sighting: None,
            unknown: false,
        };
        let upsert = |sid: &str, up: u64| {
            let mut e = sample(sid, up);
            let s = e.record.as_ref().unwrap().session.clone();
            e.change = Change::Upsert(Box::new(s));
            e
        };
        let entries = vec![
            sample("a", 1),
            sample("a", 2),
            end("a"),
            sample("b", 1),
            upsert("b", 2),
            sample("c", 1),
            nas_on.clone(),
            sample("b", 3),
            sample("d", 1),
            sample("d", 2),
            end("c"),
            sample("a", 5),
            sample("e", 1),
            nas_on,
            sample("e", 2),
        ];
        let jdir = dir.path().join("journal");
        let (mut j, _) = Journal::open(&jdir, 1 << 20).unwrap();
        let mut ops = Vec::new();
        let mut framed = Vec::new();
        for e in &entries {
            let mut payload = Vec::new();
            e.as_ref().encode(&mut payload).unwrap();
            frame(&mut framed, &payload).unwrap();
            e.clone().into_ops(&mut ops, true);
        }
        let end_pos = j.append(&framed).unwrap();
        let mut f = Folder::new(
            folded.clone(),
            jdir,
            j.id().to_owned(),
            0,
            Duration::ZERO,
            1 << 20,
        );
        assert_eq!(f.catch_up(end_pos).await.unwrap(), entries.len());
        applied.apply_accounting(&ops).await.unwrap();
        let sessions = folded.all_sessions().await.unwrap();
        assert_eq!(sessions, applied.all_sessions().await.unwrap());
        let ids: Vec<_> = sessions.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(ids, ["e"]);
        assert_eq!(sessions[0].input_octets, 2);
        assert_eq!(usage(&folded).await, usage(&applied).await);
    }
}
