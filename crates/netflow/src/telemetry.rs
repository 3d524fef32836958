//! Metric names. Constant, with no per-exporter labels: an exporter count is unbounded, a
//! metric series per exporter is not something a time-series store should be asked to keep.

/// Datagrams received (valid or not).
pub const DATAGRAMS: &str = "netflow_datagrams_total";
/// Datagrams that decoded to nothing: too short, unknown version, malformed.
pub const DATAGRAMS_INVALID: &str = "netflow_datagrams_invalid_total";
/// Flow records produced.
pub const RECORDS: &str = "netflow_records_total";
/// Data records skipped because they carry no source or destination address (MPLS-only,
/// layer-2 or vendor event records).
pub const RECORDS_SKIPPED: &str = "netflow_records_skipped_total";
/// Data sets whose template was unknown and that could not be buffered (counted per set: the
/// number of records in a set is unknowable without its template).
pub const SETS_WITHOUT_TEMPLATE: &str = "netflow_sets_without_template_total";
/// Template and options-template records received.
pub const TEMPLATES: &str = "netflow_templates_total";
/// Exporters currently tracked (gauge).
pub const EXPORTERS: &str = "netflow_exporters";
/// Exporters forgotten to stay under the exporter cap or after being idle.
pub const EXPORTERS_EVICTED: &str = "netflow_exporters_evicted_total";
/// Template scopes (exporter and observation domain) dropped by the parser's own cap.
pub const SCOPES_EVICTED: &str = "netflow_template_scopes_evicted_total";
/// Records dropped because the consumer's queue was full.
pub const RECORDS_DROPPED: &str = "netflow_records_dropped_total";
/// Data sets buffered while waiting for their template (gauge, refreshed periodically).
pub const PENDING_SETS: &str = "netflow_pending_sets";
/// Socket receive errors.
pub const RECEIVE_ERRORS: &str = "netflow_receive_errors_total";

/// Describes every metric once, so an exporter shows help text.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(DATAGRAMS, "NetFlow/IPFIX datagrams received");
    describe_counter!(
        DATAGRAMS_INVALID,
        "NetFlow/IPFIX datagrams that did not decode"
    );
    describe_counter!(RECORDS, "flow records decoded");
    describe_counter!(RECORDS_SKIPPED, "data records without addresses, skipped");
    describe_counter!(
        SETS_WITHOUT_TEMPLATE,
        "data sets dropped because their template was unknown"
    );
    describe_counter!(TEMPLATES, "template records received");
    describe_gauge!(EXPORTERS, "exporters tracked");
    describe_counter!(EXPORTERS_EVICTED, "exporters forgotten (cap or idle)");
    describe_counter!(SCOPES_EVICTED, "template scopes evicted by the cap");
    describe_counter!(
        RECORDS_DROPPED,
        "records dropped because the consumer was full"
    );
    describe_gauge!(PENDING_SETS, "data sets waiting for their template");
    describe_counter!(RECEIVE_ERRORS, "socket receive errors");
}
