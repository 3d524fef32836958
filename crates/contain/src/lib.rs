//! Containment actions: what Rampart does to a device once an incident calls for it.
//!
//! Every action is idempotent (repeating it leaves the world as one run would), retried with
//! backoff under one [`RetryPolicy`], reports a typed, serialisable [`Outcome`] for the
//! incident timeline, and can be undone where the world allows (the outcome carries the
//! prior state the undo restores).
//!
//! * [`dae`]: RFC 5176 Disconnect-Request and CoA-Request to a NAS.
//! * [`broker`]: Mosquitto dynamic-security quarantine (disable/enable a client, kick an id).
//! * [`webhook`]: HMAC-SHA256 signed JSON POSTs.
//! * [`siem`]: CEF over RFC 5424 syslog (UDP, TCP with octet counting) and JSON lines.
//! * [`audit`]: a hash-chained, fsynced, append-only audit log with verification.
//! * [`Action`]: the enum tying them together for playbooks.
//!
//! Secrets (RADIUS secrets, HMAC keys, broker passwords) are [`Secret`]s: never printed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
pub mod audit;
pub mod broker;
pub mod dae;
mod outcome;
mod retry;
mod secret;
pub mod siem;
pub mod telemetry;
pub mod webhook;

pub use action::{Action, Context};
pub use outcome::{ActionKind, Detail, Outcome, Status};
pub use retry::{Attempt, Retried, RetryPolicy};
pub use secret::Secret;
