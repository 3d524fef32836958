//! The responder's store writer: incident changes and playbook run checkpoints are queued and
//! applied in order by one task, off the path from a finding to its first action.
//!
//! Under a burst (hundreds of devices contained in the same second) the queue grows faster
//! than one transaction per change can drain it, and every queued write holds a store
//! connection that the playbook runs' reads wait for. So the task takes everything queued at
//! once, keeps only the last row of each incident (with all of its new timeline entries, in
//! order) and the last checkpoint of each run, and commits them in one transaction. If that
//! transaction is refused (one bad row), the writes are retried one by one so the others
//! still land.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_store::{IncidentRow, OpRow, Store, TimelineRow};
use tokio::sync::{mpsc, oneshot};

/// Metric: store writes of incidents that failed.
pub(super) const WRITE_ERRORS: &str = "rampart_respond_write_errors_total";
/// Metric: batches the writer committed, and the writes they held.
const BATCHES: &str = "rampart_respond_write_batches_total";
const BATCHED: &str = "rampart_respond_writes_batched_total";
/// Queued writes taken at once (bounds one transaction).
const MAX_BATCH: usize = 512;

/// A queued store write.
pub(super) enum Write {
    /// An incident's new state and the entries that explain the change.
    Put(Box<IncidentRow>, Vec<TimelineRow>),
    /// A playbook run checkpoint.
    Op(Box<OpRow>),
    /// Answered once everything queued before it is in the store.
    Flush(oneshot::Sender<()>),
}

/// Writes taken from the queue, coalesced.
#[derive(Default)]
pub(super) struct Batch {
    incidents: Vec<(IncidentRow, Vec<TimelineRow>)>,
    by_incident: HashMap<String, usize>,
    ops: Vec<OpRow>,
    by_op: HashMap<String, usize>,
    taken: u64,
}

impl Batch {
    pub(super) fn put(&mut self, row: IncidentRow, timeline: Vec<TimelineRow>) {
        self.taken += 1;
        match self.by_incident.get(&row.id) {
            Some(&i) => {
                if let Some((r, t)) = self.incidents.get_mut(i) {
                    *r = row;
                    t.extend(timeline);
                }
            }
            None => {
                self.by_incident
                    .insert(row.id.clone(), self.incidents.len());
                self.incidents.push((row, timeline));
            }
        }
    }

    pub(super) fn op(&mut self, op: OpRow) {
        self.taken += 1;
        match self.by_op.get(&op.id) {
            Some(&i) => {
                if let Some(o) = self.ops.get_mut(i) {
                    *o = op;
                }
            }
            None => {
                self.by_op.insert(op.id.clone(), self.ops.len());
                self.ops.push(op);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.incidents.is_empty() && self.ops.is_empty()
    }

    /// Commits the batch (one transaction; one by one if that is refused) and empties it.
    pub(super) async fn apply(&mut self, store: &dyn Store) {
        if self.is_empty() {
            return;
        }
        metrics::counter!(BATCHES).increment(1);
        metrics::counter!(BATCHED).increment(self.taken);
        let single = self.incidents.len() + self.ops.len() == 1;
        if single
            || store
                .put_incident_batch(&self.incidents, &self.ops)
                .await
                .is_err()
        {
            for (row, timeline) in &self.incidents {
                if let Err(e) = store.put_incident_with_timeline(row, timeline).await {
                    metrics::counter!(WRITE_ERRORS).increment(1);
                    tracing::error!(error = %e, incident = %row.id, "incident not stored");
                }
            }
            for op in &self.ops {
                if let Err(e) = store.put_op(op).await {
                    metrics::counter!(WRITE_ERRORS).increment(1);
                    tracing::error!(error = %e, op = %op.id, "playbook run checkpoint not stored");
                }
            }
        }
        *self = Self::default();
    }
}

/// Applies queued writes in order, a batch at a time; a flush is answered after everything
/// queued before it is committed.
pub(super) async fn writer(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut taken = Vec::with_capacity(MAX_BATCH);
    let mut batch = Batch::default();
    while rx.recv_many(&mut taken, MAX_BATCH).await > 0 {
        for w in taken.drain(..) {
            match w {
                Write::Put(row, timeline) => batch.put(*row, timeline),
                Write::Op(op) => batch.op(*op),
                Write::Flush(done) => {
                    batch.apply(store.as_ref()).await;
                    let _waiting = done.send(()).is_ok();
                }
            }
        }
        batch.apply(store.as_ref()).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rampart_core::{TenantId, Timestamp};
    use serde_json::json;

    use super::*;

    fn incident(id: &str, status: &str, at: i64) -> IncidentRow {
        IncidentRow {
            id: id.into(),
            tenant: Some(TenantId::default_tenant()),
            scope_kind: "device".into(),
            subject: format!("m-{id}"),
            status: status.into(),
            severity: "high".into(),
            opened_at: Timestamp(1),
            updated_at: Timestamp(at),
            body: json!({"id": id, "status": status}),
        }
    }

    fn entry(at: i64, body: serde_json::Value) -> TimelineRow {
        TimelineRow {
            at: Timestamp(at),
            body,
        }
    }

    fn op(id: &str, status: &str) -> OpRow {
        OpRow {
            id: id.into(),
            kind: "playbook_run".into(),
            tenant: None,
            status: status.into(),
            updated_at: Timestamp(1),
            body: json!({"status": status}),
        }
    }

    #[test]
    fn coalesces_last_row_all_entries_last_checkpoint() {
        let mut b = Batch::default();
        b.put(incident("a", "open", 1), vec![entry(1, json!(1))]);
        b.op(op("run-1", "running"));
        b.put(incident("b", "open", 2), vec![entry(2, json!(2))]);
        b.put(incident("a", "contained", 3), vec![entry(3, json!(3))]);
        b.op(op("run-1", "finished"));
        assert_eq!(b.taken, 5);
        assert_eq!(b.incidents.len(), 2);
        let (row, tl) = &b.incidents[0];
        assert_eq!(row.status, "contained");
        assert_eq!(
            tl.iter().map(|e| e.at.0).collect::<Vec<_>>(),
            [1, 3],
            "every entry, in order"
        );
        assert_eq!(b.ops.len(), 1);
        assert_eq!(b.ops[0].status, "finished");
    }

    #[tokio::test]
    async fn a_refused_batch_still_stores_the_good_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = rampart_store::open(None, tmp.path()).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer(store.clone(), rx));
        let put = |row, tl| Write::Put(Box::new(row), tl);
        tx.send(put(
            incident("a", "open", 1),
            vec![entry(1, json!({"n": 1}))],
        ))
        .unwrap();
        // A NUL in a timeline entry is refused by the store: the batch falls back.
        tx.send(put(
            incident("b", "open", 1),
            vec![entry(1, json!({"text": "\u{0}"}))],
        ))
        .unwrap();
        tx.send(Write::Op(Box::new(op("run-1", "running"))))
            .unwrap();
        tx.send(put(
            incident("a", "contained", 2),
            vec![entry(2, json!({"n": 2}))],
        ))
        .unwrap();
        let (done, flushed) = oneshot::channel();
        tx.send(Write::Flush(done)).unwrap();
        flushed.await.unwrap();
        assert_eq!(
            store.get_incident("a").await.unwrap().unwrap().status,
            "contained"
        );
        assert_eq!(store.timeline("a", 0, 10).await.unwrap().len(), 2);
        assert!(store.get_incident("b").await.unwrap().is_none());
        assert_eq!(
            store.get_op("run-1").await.unwrap().unwrap().status,
            "running"
        );
        drop(tx);
        task.await.unwrap();
    }
}
