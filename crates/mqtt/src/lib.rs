#![doc = include_str!("../../../docs/mqtt-metrics.md")]
//!
//! # Rust API
//!
//! * [`decode`] / [`decode_report`]: payload → [`DeviceMetrics`](rampart_core::DeviceMetrics)
//!   (sans-IO, never panics, every refusal a typed [`ReportError`]).
//! * [`encode`] / [`encode_with`]: the reverse, for simulators; whatever it returns decodes.
//! * [`TopicPattern`]: device id from the topic, and the subscription filter.
//! * [`MqttSourceConfig::build`]: the subscriber task, feeding a
//!   `tokio::sync::mpsc::Sender<(String, DeviceMetrics)>`.
//! * [`telemetry`]: the counter names.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broker;
mod config;
mod decode;
mod encode;
mod error;
mod subscriber;
pub mod telemetry;
mod topic;
mod wire;

pub use config::{BuildError, DEFAULT_TOPIC, MqttSourceConfig};
pub use decode::{ReportHeader, decode, decode_report};
pub use encode::{KeyStyle, encode, encode_with};
pub use error::ReportError;
pub use subscriber::{DeviceReport, MqttSourceTask};
pub use topic::{DEVICE_PLACEHOLDER, TopicError, TopicPattern, TopicPatternError};

/// Largest report accepted, bytes (64 KiB). Checked before parsing.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most entries in each listening-port list.
pub const MAX_PORTS: usize = 1024;
/// Most entries in the established-connection list.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest interface name, bytes.
pub const MAX_INTERFACE_BYTES: usize = 64;
