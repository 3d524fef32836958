//! The source's counters, by name. No labels: per-device detail belongs in logs and
//! incidents, never in metric cardinality.

/// MQTT publishes received on the subscribed topics.
pub const RECEIVED_TOTAL: &str = "rampart_mqtt_received_total";
/// Reports decoded and handed to the consumer's channel (or dropped, see below).
pub const DECODED_TOTAL: &str = "rampart_mqtt_decoded_total";
/// Publishes refused: bad JSON, a schema rule broken, or a topic without a valid device id.
pub const INVALID_TOTAL: &str = "rampart_mqtt_invalid_total";
/// Publishes over the 64 KiB report limit, refused before parsing.
pub const OVERSIZED_TOTAL: &str = "rampart_mqtt_oversized_total";
/// Decoded reports dropped because the consumer's channel stayed full.
pub const DROPPED_TOTAL: &str = "rampart_mqtt_dropped_total";
/// Successful connections after the first: each one follows a loss of the broker.
pub const RECONNECTS_TOTAL: &str = "rampart_mqtt_reconnects_total";
/// Failed connection attempts and lost connections.
pub const CONNECTION_ERRORS_TOTAL: &str = "rampart_mqtt_connection_errors_total";
/// Subscriptions the broker refused (SUBACK failure: usually its ACL).
pub const SUBSCRIBE_REFUSED_TOTAL: &str = "rampart_mqtt_subscribe_refused_total";

/// Every counter name, for exporters that pre-register them.
pub const ALL: &[&str] = &[
    RECEIVED_TOTAL,
    DECODED_TOTAL,
    INVALID_TOTAL,
    OVERSIZED_TOTAL,
    DROPPED_TOTAL,
    RECONNECTS_TOTAL,
    CONNECTION_ERRORS_TOTAL,
    SUBSCRIBE_REFUSED_TOTAL,
];

pub(crate) fn incr(name: &'static str) {
    metrics::counter!(name).increment(1);
}
