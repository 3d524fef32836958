//! The HTTP surface end to end, in process: requests go through the real router (auth
//! middleware, extractors, handlers, error mapping) into a real store. SQLite in a temporary
//! directory always; the tenant-isolation scenario also on PostgreSQL when
//! `RAMPART_TEST_POSTGRES_URL` names a server (in a private schema).

#![allow(clippy::unwrap_used)]

mod auth;
mod authz;
mod detection;
mod docs;
mod harness;
mod hygiene;
mod identity;
mod paging;
mod registry;
mod response;
mod validation;
