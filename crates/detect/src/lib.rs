//! Streaming detection: per-device state turning [`Observation`]s (flows, DNS, names, alerts,
//! RADIUS accounting, device metrics) into [`Finding`]s an operator can trust, each with the
//! evidence that convicted it and the threshold or baseline it was measured against.
//!
//! * [`Shard`]: the state of the subjects routed to it, owned by one worker thread; a
//!   [`Router`] hashes subjects to shards. [`Engine`] holds all shards for offline use and
//!   snapshots them to a file across restarts.
//! * Event time only: every window, baseline, clearing and silence check runs on the
//!   observations' own timestamps, through a per-shard watermark (newest event time minus
//!   the allowed lateness) that also puts input arriving out of order back in order. The
//!   wall clock is never read, so a replay gives the findings the live run gave.
//! * Detectors, each with a config section of documented, safe defaults: scanning, command
//!   and control (failed-attempt retries, IRC, beaconing), threat intelligence (through the
//!   [`ThreatIntel`] trait), DDoS participation, engine alerts, SIM/IMEI binding, location,
//!   data use, sessions, expected behaviour (allow-lists and MUD), and declarative rules
//!   (which can change while running: [`Shard::set_rules`]).
//! * [`SuppressionSet`]: operators' windows muting findings on their way to response.
//! * [`Analyzer`]: offline wrapper giving every flow a [`FlowVerdict`]; [`eval`] scores
//!   verdicts and findings against labelled flows.
//!
//! [`Observation`]: rampart_bus::Observation

#![forbid(unsafe_code)]

mod c2;
mod config;
mod engine;
pub mod eval;
mod finding;
mod flood;
mod identity;
mod intel;
mod net;
mod policy;
mod rules;
mod scan;
mod shard;
mod subject_serde;
mod suppress;
mod usage;
mod verdict;

pub use c2::{C2Config, IntelConfig};
pub use config::{AlertConfig, ConfigError, DetectConfig, EngineConfig};
pub use engine::{Engine, EngineSnapshot, Router, ShardSnapshot, SnapshotError};
pub use finding::{
    AlarmState, Category, Evidence, Finding, FindingEvent, FindingKind, FlowEvidence, FlowNote,
    Pattern, Severity, Threshold,
};
pub use flood::DdosConfig;
pub use identity::{BindingConfig, Geofence, LocationConfig, Zone};
pub use intel::{ContextProvider, DeviceContext, IntelHit, NoContext, NoIntel, ThreatIntel};
pub use net::HomeNets;
pub use policy::{Allow, MudError, PolicyConfig, ProfilePolicy, parse_mud};
pub use rules::{
    Comparison, Limit, MAX_DATAPOINTS, MAX_DURATION_S, MAX_NAME_BYTES, MAX_RULES, MAX_SUPPRESS_S,
    Metric, Rule, RuleConfig, RuleProblem, Statistic,
};
pub use scan::ScanConfig;
pub use shard::{Shard, ShardStats};
pub use suppress::{
    MAX_REASON_CHARS, MAX_WINDOW_MS, Selector, Suppression, SuppressionRequest, SuppressionSet,
};
pub use usage::{Cap, SessionConfig, UsageConfig};
pub use verdict::{Analyzer, FlowVerdict, Report, Verdict, VerdictConfig, VerdictTracker};

/// Bytes of one subject's state at rest (no recent flow): the fixed record the shard's map
/// holds, without the map's own overhead. See `examples/memory.rs` for measured totals.
pub fn device_state_size() -> usize {
    size_of::<shard::DeviceState>() + size_of::<shard::Key>()
}
