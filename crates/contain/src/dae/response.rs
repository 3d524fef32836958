//! Checking and interpreting a Disconnect/CoA answer (sans-IO; the fuzzed path).

use rampart_radius::auth::verify_response;
use rampart_radius::{AttributeType, AuthError, Code, DecodeError, Packet};
use serde::{Deserialize, Serialize};

use super::{DaeKind, ErrorCauseInfo};

/// What the NAS answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum DaeReply {
    /// Disconnect-ACK or CoA-ACK.
    Ack {
        /// An Error-Cause on an ACK (RFC 5176 allows 201 Residual Session Context Removed).
        error_cause: Option<ErrorCauseInfo>,
    },
    /// Disconnect-NAK or CoA-NAK.
    Nak {
        /// Why, if the NAS said.
        error_cause: Option<ErrorCauseInfo>,
    },
}

impl DaeReply {
    /// The Error-Cause, whichever the answer.
    pub fn error_cause(&self) -> Option<&ErrorCauseInfo> {
        match self {
            Self::Ack { error_cause } | Self::Nak { error_cause } => error_cause.as_ref(),
        }
    }
}

/// Why a datagram is not an acceptable answer to our request. The client ignores such a
/// datagram (it may be spoofed or stale) and keeps waiting, but counts it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not a RADIUS packet.
    #[error("malformed answer")]
    Malformed(#[from] DecodeError),
    /// An answer to another request.
    #[error("answer identifier {got} does not match request identifier {expected}")]
    Identifier {
        /// Our identifier.
        expected: u8,
        /// The answer's.
        got: u8,
    },
    /// Not an ACK or NAK of the request's kind.
    #[error("unexpected {code} in answer to a {kind:?} request")]
    UnexpectedCode {
        /// What came.
        code: Code,
        /// What we sent.
        kind: DaeKind,
    },
    /// The Response Authenticator or Message-Authenticator is wrong: wrong secret or forged.
    #[error("answer failed authentication")]
    Authentication(#[source] AuthError),
}

impl ResponseError {
    /// A stable label for the `reason` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Identifier { .. } => "identifier",
            Self::UnexpectedCode { .. } => "unexpected_code",
            Self::Authentication(_) => "authenticator",
        }
    }
}

/// Checks `datagram` against our request (`identifier`, `request_authenticator`) and reads
/// the answer.
///
/// Order matters: the identifier is checked first (cheap, and a mismatch is not an attack),
/// then the code, then the Response Authenticator and Message-Authenticator over the received
/// octets, and only then are attributes trusted.
pub fn interpret(
    datagram: &[u8],
    kind: DaeKind,
    identifier: u8,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<DaeReply, ResponseError> {
    let packet = Packet::decode(datagram)?;
    if packet.identifier != identifier {
        return Err(ResponseError::Identifier {
            expected: identifier,
            got: packet.identifier,
        });
    }
    let ack = match (kind, packet.code) {
        (DaeKind::Disconnect, Code::DisconnectAck) | (DaeKind::Coa, Code::CoaAck) => true,
        (DaeKind::Disconnect, Code::DisconnectNak) | (DaeKind::Coa, Code::CoaNak) => false,
        (kind, code) => return Err(ResponseError::UnexpectedCode { code, kind }),
    };
    verify_response(datagram, request_authenticator, secret)
        .map_err(ResponseError::Authentication)?;
    let error_cause = packet
        .value(AttributeType::ERROR_CAUSE)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(|v| ErrorCauseInfo::new(u32::from_be_bytes(v)));
    Ok(if ack {
        DaeReply::Ack { error_cause }
    } else {
        DaeReply::Nak { error_cause }
    })
}

#[cfg(test)]
mod tests {
    use rampart_radius::{Attribute, ErrorCause, PacketBuilder};

    use super::*;

    fn request() -> Packet {
        let bytes = PacketBuilder::new(Code::DisconnectRequest, 42)
            .attr(Attribute::user_name("u"))
            .encode_request(b"s")
            .unwrap();
        Packet::decode(&bytes).unwrap()
    }

    #[test]
    fn reads_nak_with_error_cause() {
        let req = request();
        let answer = PacketBuilder::reply(Code::DisconnectNak, &req)
            .attr(Attribute::error_cause(ErrorCause::SessionContextNotFound))
            .encode_response(&req.authenticator, b"s")
            .unwrap();
        let reply = interpret(&answer, DaeKind::Disconnect, 42, &req.authenticator, b"s").unwrap();
        let cause = reply.error_cause().unwrap();
        assert_eq!(
            (cause.code, cause.name.as_str()),
            (503, "Session-Context-Not-Found")
        );
        assert!(matches!(reply, DaeReply::Nak { .. }));
    }

    #[test]
    fn rejects_wrong_secret_identifier_and_code() {
        let req = request();
        let answer = PacketBuilder::reply(Code::DisconnectAck, &req)
            .encode_response(&req.authenticator, b"other")
            .unwrap();
        let err = interpret(&answer, DaeKind::Disconnect, 42, &req.authenticator, b"s");
        assert_eq!(err.unwrap_err().reason(), "authenticator");
        let err = interpret(
            &answer,
            DaeKind::Disconnect,
            43,
            &req.authenticator,
            b"other",
        );
        assert_eq!(err.unwrap_err().reason(), "identifier");
        let err = interpret(&answer, DaeKind::Coa, 42, &req.authenticator, b"other");
        assert_eq!(err.unwrap_err().reason(), "unexpected_code");
        assert_eq!(
            interpret(
                &answer[..10],
                DaeKind::Coa,
                42,
                &req.authenticator,
                b"other"
            )
            .unwrap_err()
            .reason(),
            "malformed"
        );
        assert!(
            interpret(
                &answer,
                DaeKind::Disconnect,
                42,
                &req.authenticator,
                b"other"
            )
            .is_ok()
        );
    }
}
