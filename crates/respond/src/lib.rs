//! Incident response: what Rampart does once detection has found something.
//!
//! Findings are grouped into incidents (per device, and per campaign when many devices share
//! a cause), stored with their timeline, and matched against the operator's playbooks; the
//! playbooks' steps run as containment actions (RFC 5176 Disconnect/CoA to the NAS carrying
//! the device's session, Mosquitto quarantine, registry state, signed webhooks, SIEM events),
//! each outcome recorded on the incident and in the hash-chained audit log. Mass actions apply
//! the same actions to every device a selector matches, in staged waves with an abort
//! condition, a rate limit, a blast-radius cap and one-call undo.
//!
//! * [`config`]: the `[respond]` section.
//! * [`actions`]: the seam between a planned action and the world ([`DeviceActions`]).
//! * [`mass`]: the mass-action driver.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actions;
pub mod audit;
pub mod config;
pub mod engine;
pub mod executor;
pub mod mass;
pub mod recent;

pub use actions::{ActionResult, ActionTarget, DeviceActions};
pub use audit::{AuditSink, NoAudit};
pub use config::RespondConfig;
pub use engine::{FindingInput, IncidentSink, RespondError, Responder};
pub use executor::{ContainActions, Revoker, SessionLookup};
pub use mass::{FindingKinds, MassConfig, MassError, MassService, NoFindings};
pub use recent::{RecentDevice, RecentDevices};
