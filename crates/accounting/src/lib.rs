//! The RADIUS accounting server (RFC 2866) for a mobile packet gateway's Gi/SGi accounting.
//!
//! Build it from [`ServerConfig`] (Vector-style: `build()` binds and loads state, then hands
//! back a task that runs until a shutdown signal). An Accounting-Response is sent only after
//! the record and what it changed (session, usage, sighting) are synced to the accounting
//! journal, so an acknowledged record survives a crash (`kill -9`). A background folder moves
//! journal entries into the store in large transactions; on start the unfolded tail is
//! replayed into the store and the live session table is rebuilt from it. See `server` for the
//! pipeline, `journal` for the log format and `folder` for folding.

#![forbid(unsafe_code)]

mod config;
mod dedupe;
mod entry;
mod folder;
mod journal;
pub mod journal_format;
pub mod load;
mod registry;
mod server;
pub mod telemetry;
mod writer;

pub use config::{Client, DEFAULT_LISTEN, ServerConfig};
pub use registry::load_index;
pub use server::{BuildError, Built, Progress};
