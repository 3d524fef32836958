//! API principals: who may do what, within which tenant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{TenantId, Timestamp, ValidationError};

/// What a token may do. Ordered: each role can do everything the one below it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the registry and findings.
    Viewer,
    /// Also change devices, SIMs, profiles and groups.
    Operator,
    /// Also manage tokens and tenants.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(ValidationError::invalid(
                "role",
                other,
                "must be one of viewer, operator, admin",
            )),
        }
    }
}

/// An API token's metadata. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Identifier (not secret), shown in listings and audit.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The tenant it is confined to; `None` for a platform token that may address any tenant.
    pub tenant: Option<TenantId>,
    /// When it was created.
    pub created_at: Timestamp,
}
