//! Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3, RFC 5997).

use std::fmt;

/// A RADIUS packet code.
///
/// `Other` carries only codes without a variant here; [`Code::from`] never produces
/// `Other` for a named code, so decode/encode round trips are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 1, RFC 2865.
    AccessRequest,
    /// 2, RFC 2865.
    AccessAccept,
    /// 3, RFC 2865.
    AccessReject,
    /// 4, RFC 2866.
    AccountingRequest,
    /// 5, RFC 2866.
    AccountingResponse,
    /// 11, RFC 2865.
    AccessChallenge,
    /// 12, RFC 5997.
    StatusServer,
    /// 13, RFC 2865 (experimental).
    StatusClient,
    /// 40, RFC 5176.
    DisconnectRequest,
    /// 41, RFC 5176.
    DisconnectAck,
    /// 42, RFC 5176.
    DisconnectNak,
    /// 43, RFC 5176.
    CoaRequest,
    /// 44, RFC 5176.
    CoaAck,
    /// 45, RFC 5176.
    CoaNak,
    /// Any other code.
    Other(u8),
}

/// How the Authenticator field of a packet with a given code is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthenticatorKind {
    /// Random nonce chosen by the client (Access-Request, Status-Server).
    Random,
    /// MD5 digest over the packet with a zero authenticator (Accounting-Request, RFC 2866
    /// §3; Disconnect-Request and CoA-Request, RFC 5176 §2.3).
    RequestDigest,
    /// MD5 digest over the packet with the request's authenticator (all responses).
    Response,
    /// Unknown code: nothing can be checked.
    Unknown,
}

impl Code {
    /// How this code's Authenticator field is computed.
    pub fn authenticator_kind(self) -> AuthenticatorKind {
        match self {
            Self::AccessRequest | Self::StatusServer => AuthenticatorKind::Random,
            Self::AccountingRequest | Self::DisconnectRequest | Self::CoaRequest => {
                AuthenticatorKind::RequestDigest
            }
            Self::AccessAccept
            | Self::AccessReject
            | Self::AccessChallenge
            | Self::AccountingResponse
            | Self::DisconnectAck
            | Self::DisconnectNak
            | Self::CoaAck
            | Self::CoaNak => AuthenticatorKind::Response,
            Self::StatusClient | Self::Other(_) => AuthenticatorKind::Unknown,
        }
    }

    /// Whether this is a request (the client side of an exchange).
    pub fn is_request(self) -> bool {
        matches!(
            self.authenticator_kind(),
            AuthenticatorKind::Random | AuthenticatorKind::RequestDigest
        )
    }

    /// The standard name, as in the FreeRADIUS and Wireshark dictionaries.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::AccessRequest => "Access-Request",
            Self::AccessAccept => "Access-Accept",
            Self::AccessReject => "Access-Reject",
            Self::AccountingRequest => "Accounting-Request",
            Self::AccountingResponse => "Accounting-Response",
            Self::AccessChallenge => "Access-Challenge",
            Self::StatusServer => "Status-Server",
            Self::StatusClient => "Status-Client",
            Self::DisconnectRequest => "Disconnect-Request",
            Self::DisconnectAck => "Disconnect-ACK",
            Self::DisconnectNak => "Disconnect-NAK",
            Self::CoaRequest => "CoA-Request",
            Self::CoaAck => "CoA-ACK",
            Self::CoaNak => "CoA-NAK",
            Self::Other(_) => return None,
        })
    }
}

impl From<u8> for Code {
    fn from(value: u8) -> Self {
        match value {
            1 => Self::AccessRequest,
            2 => Self::AccessAccept,
            3 => Self::AccessReject,
            4 => Self::AccountingRequest,
            5 => Self::AccountingResponse,
            11 => Self::AccessChallenge,
            12 => Self::StatusServer,
            13 => Self::StatusClient,
            40 => Self::DisconnectRequest,
            41 => Self::DisconnectAck,
            42 => Self::DisconnectNak,
            43 => Self::CoaRequest,
            44 => Self::CoaAck,
            45 => Self::CoaNak,
            other => Self::Other(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> Self {
        match code {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::DisconnectRequest => 40,
            Code::DisconnectAck => 41,
            Code::DisconnectNak => 42,
            Code::CoaRequest => 43,
            Code::CoaAck => 44,
            Code::CoaNak => 45,
            Code::Other(other) => other,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "code {}", u8::from(*self)),
        }
    }
}
