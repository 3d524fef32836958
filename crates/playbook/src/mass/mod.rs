//! Mass actions: one set of actions over many devices, in waves, at a pace, with an abort
//! rule, approval above a blast radius, and a one-call undo.
//!
//! The caller resolves the [`Selector`] against the registry
//! ([`Selector::select`]), builds a [`MassRun`] over the resulting ids, and loops: `poll` →
//! execute the dispatched targets' actions → `record` each result. Undo is a second
//! `MassRun` in [`MassMode::Undo`], made by [`MassRun::undo`].

mod plan;
mod run;
mod selector;

pub use plan::{
    AbortCondition, MAX_MASS_ACTIONS, MAX_PAUSE, MAX_RATE_PER_SEC, MAX_WAVES, MassDryRun, MassPlan,
    Wave,
};
pub use run::{MassError, MassEvent, MassEventKind, MassMode, MassProgress, MassRun, MassStep};
pub use selector::{MAX_SELECTOR_DEVICE_IDS, MAX_SELECTOR_LIST, Selector};
