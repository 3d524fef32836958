//! Where response writes its audit trail: every action, approval, playbook change and
//! operator decision. The server backs it with the hash-chained audit log; a write that
//! fails is logged and counted by the implementation, never silently dropped.

/// Appends audit records.
pub trait AuditSink: Send + Sync {
    /// Appends one record: `{"event": "...", "actor": "...", ...}`.
    fn record(&self, record: &serde_json::Value);
}

/// Discards records (tools and tests that keep no audit log).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _record: &serde_json::Value) {}
}
