//! Where response writes its audit trail: every action, approval, playbook change and
//! operator decision. The server backs it with the hash-chained audit log; a write that
//! fails is logged and counted by the implementation, never silently dropped.

use async_trait::async_trait;

/// Appends audit records.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends one record: `{"event": "...", "actor": "...", ...}`. Returns once it is written;
    /// may block the calling thread meanwhile (an `fsync`).
    fn record(&self, record: &serde_json::Value);

    /// [`AuditSink::record`] for async code: resolves once the record is written, without
    /// holding a thread of the runtime meanwhile, so records of concurrent playbook runs can
    /// share one sync. The default writes through [`AuditSink::record`].
    async fn record_async(&self, record: &serde_json::Value) {
        self.record(record);
    }
}

/// Discards records (tools and tests that keep no audit log).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _record: &serde_json::Value) {}
}
