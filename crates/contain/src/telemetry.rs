//! Metric names, as constants so dashboards and tests agree with the code. Labels are fixed
//! sets (action, status, code, reason): never a device, user name, NAS or URL.

/// Actions finished, by `action` and `status`.
pub const ACTIONS_TOTAL: &str = "rampart_contain_actions_total";
/// Attempts made (first tries and retries), by `action`.
pub const ATTEMPTS_TOTAL: &str = "rampart_contain_attempts_total";
/// RADIUS Disconnect/CoA answers, by `code` (`disconnect_ack`, `coa_nak`, ...).
pub const RADIUS_RESPONSES_TOTAL: &str = "rampart_contain_radius_responses_total";
/// RFC 5176 Error-Cause values received, by `cause` (the numeric code).
pub const RADIUS_ERROR_CAUSES_TOTAL: &str = "rampart_contain_radius_error_causes_total";
/// Datagrams from the NAS that were not an acceptable answer, by `reason`.
pub const RADIUS_BAD_RESPONSES_TOTAL: &str = "rampart_contain_radius_bad_responses_total";
/// RADIUS requests given up after every retransmission went unanswered.
pub const RADIUS_TIMEOUTS_TOTAL: &str = "rampart_contain_radius_timeouts_total";
/// Dynamic-security commands, by `command` and `result`.
pub const BROKER_COMMANDS_TOTAL: &str = "rampart_contain_broker_commands_total";
/// Webhook HTTP answers and failures, by `class` (`2xx`, `4xx`, `429`, `5xx`, `timeout`, `io`).
pub const WEBHOOK_RESPONSES_TOTAL: &str = "rampart_contain_webhook_responses_total";
/// Syslog messages sent, by `transport`.
pub const SIEM_SENT_TOTAL: &str = "rampart_contain_siem_sent_total";
/// Syslog messages that could not be sent, by `transport`.
pub const SIEM_ERRORS_TOTAL: &str = "rampart_contain_siem_errors_total";
/// Audit log entries appended.
pub const AUDIT_APPENDS_TOTAL: &str = "rampart_contain_audit_appends_total";
/// Audit batches whose write or sync failed and that were cut off the file again.
pub const AUDIT_ROLLBACKS_TOTAL: &str = "rampart_contain_audit_rollbacks_total";
/// Audit log verifications that found tampering or damage.
pub const AUDIT_VERIFY_FAILURES_TOTAL: &str = "rampart_contain_audit_verify_failures_total";

pub(crate) fn count(name: &'static str, labels: &[(&'static str, &'static str)]) {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(*k, *v))
        .collect();
    metrics::counter!(name, labels).increment(1);
}
