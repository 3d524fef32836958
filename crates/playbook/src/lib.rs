//! Containment playbooks as code, and mass actions, as pure logic.
//!
//! Nothing here performs I/O (except [`PlaybookSet::load_dir`], which only reads files) or
//! reads a clock: callers pass the time in, execute the actions the state machines ask for,
//! and report back. Detection and containment are wired in by the caller; this crate only
//! names actions ([`ActionSpec`]) and findings ([`FindingFacts`]).
//!
//! # Playbook files
//!
//! One playbook per TOML file, kept in git by operators. Unknown fields are refused, and a
//! set is loaded all or nothing: one bad file refuses the whole set, with every error named
//! as `file:line:column: field.path: message`.
//!
//! ```toml
//! name = "sim-in-foreign-imei"          # unique; lowercase letters, digits, - _ .
//! description = "SIM in an unauthorised IMEI: disconnect and quarantine"
//! enabled = true                        # default true
//! priority = 10                         # default 100; lower runs first, then by name
//!
//! [match]                               # every criterion must hold
//! kinds = ["sim_imei_mismatch"]         # required; "*" = every kind
//! min_severity = "medium"               # info|low|medium|high|critical, default info
//! profiles = []                         # empty = any
//! groups = []                           # any of; empty = any
//! tags = []                             # any of; empty = any
//! scope = "device"                      # device (default) | host | any
//!
//! [[steps]]
//! action = "radius_disconnect"
//! [[steps]]
//! action = "broker_disable"
//! continue_on_failure = true            # default false: a failed action ends the run
//! [[steps]]
//! wait = "30s"                          # 1s..24h; units s m h d, e.g. "1h30m"
//! [[steps]]
//! approval = { timeout = "15m", on_timeout = "abort" }   # 1s..7d; abort (default) | proceed
//! [[steps]]
//! condition = { finding_active = true } # and/or device_state = "...", min_severity = "..."
//! [[steps]]
//! action = "webhook"
//! endpoint = "sim-platform"
//! [[steps]]
//! action = "move_to_group"
//! group = "quarantine"
//! ```
//!
//! Actions: `radius_disconnect`, `radius_quarantine`, `broker_disable`, `broker_kick`,
//! `registry_quarantine`, `registry_disable`, `move_to_group` (+ `group`), `webhook`
//! (+ `endpoint`), `siem`, `revoke_certificate`. Each step is exactly one of `action`, `wait`,
//! `approval`, `condition`. An approval cannot be the last step; a `scope = "host"` playbook
//! may only use actions that work without a device (RADIUS, webhook, SIEM). A [`Validator`]
//! adds checks against the deployment: webhook endpoints, groups, finding kinds.
//!
//! # Runs
//!
//! [`Run`] drives one playbook on one [`Target`]: `poll(now, inputs)` returns what to do
//! ([`RunStep`]), the caller reports with `action_done`, `approve`, `deny` or `cancel`, and
//! every transition lands in [`Run::history`]. [`Run::undo_actions`] lists what to reverse.
//! [`plan`] is the dry run.
//!
//! # Mass actions
//!
//! See [`mass`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod clock;
mod duration;
mod error;
pub mod mass;
mod model;
mod plan;
mod raw;
mod run;
mod set;
mod severity;
mod spans;

pub use action::{ActionName, ActionSpec};
pub use duration::{DurationSpec, InvalidDuration};
pub use error::{ErrorKind, PlaybookError, PlaybookErrors};
pub use model::{
    ConditionSpec, DEFAULT_PRIORITY, FindingFacts, MAX_APPROVAL_TIMEOUT, MAX_LIST, MAX_STEPS,
    MAX_WAIT, MatchSpec, OnTimeout, Playbook, Step,
};
pub use plan::{Disposition, DryRun, PlannedStep, Target, TargetPlan, plan};
pub use run::{
    AppliedAction, HistoryEntry, Run, RunError, RunEvent, RunInputs, RunStatus, RunStep,
};
pub use set::{MAX_FILE_BYTES, PlaybookSet, Validator};
pub use severity::{Scope, Severity, UnknownName};
