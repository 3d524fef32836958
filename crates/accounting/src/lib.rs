//! The RADIUS accounting server (RFC 2866) for a mobile packet gateway's Gi/SGi accounting.
//!
//! Build it from [`ServerConfig`] (Vector-style: `build()` binds and loads state, then hands
//! back a task that runs until a shutdown signal). An Accounting-Response is sent only after
//! the record, the session change and the usage are committed to the store, so an
//! acknowledged record survives a crash (`kill -9`); the live session table is rebuilt from
//! the store on start. See `server` for the pipeline.

#![forbid(unsafe_code)]

mod config;
mod dedupe;
pub mod load;
mod registry;
mod server;
pub mod telemetry;

pub use config::{Client, DEFAULT_LISTEN, ServerConfig};
pub use registry::load_index;
pub use server::{BuildError, Built};
