//! The identity hygiene audit, in the spirit of AWS IoT Device Defender's audit checks: what in
//! the fleet's identities is out of policy right now, as opposed to what devices do (that is
//! detection's job).
//!
//! Sans-IO: [`Audit`] is fed the issuance index records, the CA certificates' validity, the
//! client certificates presented to Rampart's TLS endpoints and the registry's active devices
//! and SIMs, with the time; it returns a [`Report`] with, per [`CheckId`], the resources
//! examined, the non-compliant ones (counted in full, listed up to
//! [`Policy::max_resources`]) and, from each listed resource, a finding
//! ([`Report::findings`]) with a stable id, so a rerun updates a finding instead of adding one.
//! Callers read the index under its lock, stream the registry page by page, and route the
//! findings to the responder.
//!
//! | check | severity | non-compliant when |
//! |---|---|---|
//! | `certificate_expiring` | medium (high once expired) | a device's newest unrevoked client certificate expires within `expiry_warning_days` (30), or has expired |
//! | `revoked_certificate_in_use` | high | a revoked certificate was presented after its revocation (refused by the CRL, or accepted before the CRL reached the listener) |
//! | `shared_key` | high | one public key is certified, unrevoked, for several devices (in any tenants) |
//! | `shared_certificate` | critical | one certificate was used from two addresses less than `shared_certificate_window_secs` (600) apart |
//! | `device_without_identity` | low | an active registered device has no unrevoked client certificate valid now |
//! | `weak_key` | high | a valid certificate's key is RSA below `min_rsa_bits` (2048), or neither P-256, P-384 nor Ed25519 |
//! | `sim_without_imei_lock` | low | a SIM's IMEI policy is `none` |
//! | `ca_expiring` | high (critical once expired) | the root or the current issuing CA expires within `ca_expiry_warning_days` (90) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod check;
mod report;

pub use audit::{Audit, CaValidity};
pub use check::{CheckId, Policy};
pub use report::{CheckResult, Report, Resource, ResourceType, TenantCount};
