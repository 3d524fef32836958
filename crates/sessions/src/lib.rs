//! The live RADIUS session table and attribution of addresses to devices.
//!
//! No I/O: the accounting server feeds [`SessionTable::apply`] with verified records and
//! persists what it returns; NetFlow and other sources ask [`Attributor::attribute`] who an
//! address belonged to. Time is always the records' event time, so a replayed capture gives
//! the same sessions as the live stream.

#![forbid(unsafe_code)]

mod attribution;
mod event;
mod table;

pub use attribution::{
    ATTRIBUTION_TOTAL, Attribution, Attributor, RegistryIndex, SimEntry, StaticMatch, Via,
};
pub use event::{AcctEvent, EventError, Status, location};
pub use table::{
    Applied, HOUR_MS, SessionChange, SessionTable, UsageDelta, counter_delta, session_ip,
};

#[cfg(test)]
mod tests;
