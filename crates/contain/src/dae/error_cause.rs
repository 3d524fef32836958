//! Names and meaning of the RFC 5176 §3.6 Error-Cause values.

use serde::{Deserialize, Serialize};

/// How an Error-Cause should be read by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    /// 2xx: the request succeeded in part, or with a side note.
    Success,
    /// 4xx: the request was wrong; sending it again will not help.
    RequestError,
    /// 5xx: the NAS could not act; 506 (resources) may pass on retry.
    ServerError,
    /// Outside the assigned ranges.
    Unknown,
}

/// An Error-Cause as received, with its RFC 5176 name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCauseInfo {
    /// The numeric value.
    pub code: u32,
    /// The RFC 5176 name, or `Unknown` for an unassigned value.
    pub name: String,
}

impl ErrorCauseInfo {
    /// Names a received value.
    pub fn new(code: u32) -> Self {
        Self {
            code,
            name: name(code).unwrap_or("Unknown").to_owned(),
        }
    }

    /// The range the value falls in.
    pub fn class(&self) -> CauseClass {
        match self.code {
            200..=299 => CauseClass::Success,
            400..=499 => CauseClass::RequestError,
            500..=599 => CauseClass::ServerError,
            _ => CauseClass::Unknown,
        }
    }

    /// 503: the NAS has no such session, so a disconnect has nothing left to do.
    pub fn is_session_gone(&self) -> bool {
        self.code == 503
    }

    /// 506 Resources Unavailable: the NAS may manage on a later try.
    pub fn is_transient(&self) -> bool {
        self.code == 506
    }
}

/// The RFC 5176 §3.6 name of an Error-Cause value.
pub fn name(code: u32) -> Option<&'static str> {
    Some(match code {
        201 => "Residual-Session-Context-Removed",
        202 => "Invalid-EAP-Packet",
        401 => "Unsupported-Attribute",
        402 => "Missing-Attribute",
        403 => "NAS-Identification-Mismatch",
        404 => "Invalid-Request",
        405 => "Unsupported-Service",
        406 => "Unsupported-Extension",
        407 => "Invalid-Attribute-Value",
        501 => "Administratively-Prohibited",
        502 => "Request-Not-Routable",
        503 => "Session-Context-Not-Found",
        504 => "Session-Context-Not-Removable",
        505 => "Other-Proxy-Processing-Error",
        506 => "Resources-Unavailable",
        507 => "Request-Initiated",
        508 => "Multiple-Session-Selection-Unsupported",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc_code_is_named_and_classed() {
        let codes = [
            201, 202, 401, 402, 403, 404, 405, 406, 407, 501, 502, 503, 504, 505, 506, 507, 508,
        ];
        for code in codes {
            let info = ErrorCauseInfo::new(code);
            assert_ne!(info.name, "Unknown", "{code}");
            assert_ne!(info.class(), CauseClass::Unknown, "{code}");
            // Same numbering as the codec's enum.
            assert!(!matches!(
                rampart_radius::ErrorCause::from(code),
                rampart_radius::ErrorCause::Other(_)
            ));
        }
        assert!(ErrorCauseInfo::new(503).is_session_gone());
        assert_eq!(ErrorCauseInfo::new(999).class(), CauseClass::Unknown);
    }
}
