//! Building and signing Disconnect-Request and CoA-Request packets (sans-IO).

use rampart_radius::{Attribute, AttributeType, Code, EncodeError, PacketBuilder, TgppValue};
use serde::{Deserialize, Serialize};

use super::{DaeKind, IdentityAttr, NasConfig, SessionIdentity};

/// One attribute of a policy a CoA applies: a Filter-Id, or any attribute, vendor ones
/// included (a walled-garden APN, a VRF name, a rate limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyAttr {
    /// Filter-Id (11).
    FilterId(String),
    /// A standard attribute with a text value.
    Text {
        /// Attribute type.
        attr: u8,
        /// Value.
        value: String,
    },
    /// A standard attribute with a 32-bit integer value.
    Integer {
        /// Attribute type.
        attr: u8,
        /// Value.
        value: u32,
    },
    /// A vendor sub-attribute (RFC 2865 §5.26 format) with a text value.
    VendorText {
        /// SMI enterprise number.
        vendor: u32,
        /// Vendor-Type.
        attr: u8,
        /// Value.
        value: String,
    },
    /// A vendor sub-attribute with a 32-bit integer value.
    VendorInteger {
        /// SMI enterprise number.
        vendor: u32,
        /// Vendor-Type.
        attr: u8,
        /// Value.
        value: u32,
    },
}

impl PolicyAttr {
    /// The attribute on the wire.
    pub fn to_attribute(&self) -> Attribute {
        match self {
            Self::FilterId(v) => Attribute::text(AttributeType::FILTER_ID, v),
            Self::Text { attr, value } => Attribute::text(AttributeType(*attr), value),
            Self::Integer { attr, value } => Attribute::u32(AttributeType(*attr), *value),
            Self::VendorText {
                vendor,
                attr,
                value,
            } => Attribute::vendor(*vendor, *attr, value.as_bytes()),
            Self::VendorInteger {
                vendor,
                attr,
                value,
            } => Attribute::vendor(*vendor, *attr, value.to_be_bytes()),
        }
    }
}

/// Why no request could be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The session has none of the attributes this NAS identifies sessions by.
    #[error("the session has none of the identifying attributes the nas expects")]
    NoIdentity,
    /// A CoA without any policy attribute would change nothing.
    #[error("a coa-request needs at least one policy attribute")]
    EmptyPolicy,
    /// An attribute value too long, an invalid IMSI, a packet over 4096 octets.
    #[error("cannot encode the request")]
    Encode(#[from] EncodeError),
}

/// A signed request ready to send, and what checking the answer needs.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The datagram; retransmissions send exactly these octets.
    pub bytes: Vec<u8>,
    /// Identifier (octet 1).
    pub identifier: u8,
    /// The Request Authenticator, needed to verify the Response Authenticator.
    pub authenticator: [u8; 16],
}

impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("len", &self.bytes.len())
            .field("identifier", &self.identifier)
            .finish_non_exhaustive()
    }
}

/// Builds and signs a request for `session` on `nas`.
///
/// Attributes: the identifying ones `nas.identify_by` asks for (those the session has),
/// NAS-IP-Address and NAS-Identifier if configured, Event-Timestamp `now` (RFC 5176 §3 replay
/// protection), the `policy` attributes for a CoA, and a Message-Authenticator if configured.
/// The Request Authenticator is the MD5 digest over the packet with a zero authenticator and
/// the secret (RFC 5176 §3, as RFC 2866 accounting).
pub fn build(
    kind: DaeKind,
    identifier: u8,
    nas: &NasConfig,
    session: &SessionIdentity,
    policy: &[PolicyAttr],
    now_unix: u32,
) -> Result<SignedRequest, RequestError> {
    let code = match kind {
        DaeKind::Disconnect => Code::DisconnectRequest,
        DaeKind::Coa => Code::CoaRequest,
    };
    let mut builder = PacketBuilder::new(code, identifier);
    let mut identified = false;
    for attr in &nas.identify_by {
        let added = match attr {
            IdentityAttr::UserName => session.user_name.as_deref().map(Attribute::user_name),
            IdentityAttr::AcctSessionId => session
                .acct_session_id
                .as_deref()
                .map(|v| Attribute::text(AttributeType::ACCT_SESSION_ID, v)),
            IdentityAttr::FramedIpAddress => session
                .framed_ip
                .map(|ip| Attribute::ipv4(AttributeType::FRAMED_IP_ADDRESS, ip)),
            IdentityAttr::CallingStationId => session
                .calling_station_id
                .as_deref()
                .map(|v| Attribute::text(AttributeType::CALLING_STATION_ID, v)),
            IdentityAttr::Imsi => {
                if let Some(imsi) = &session.imsi {
                    builder = builder.tgpp(TgppValue::Imsi(imsi.clone()));
                    identified = true;
                }
                None
            }
        };
        if let Some(a) = added {
            builder = builder.attr(a);
            identified = true;
        }
    }
    if !identified {
        return Err(RequestError::NoIdentity);
    }
    if kind == DaeKind::Coa && policy.is_empty() {
        return Err(RequestError::EmptyPolicy);
    }
    if let Some(ip) = nas.nas_ip {
        builder = builder.attr(Attribute::ipv4(AttributeType::NAS_IP_ADDRESS, ip));
    }
    if let Some(id) = &nas.nas_identifier {
        builder = builder.attr(Attribute::text(AttributeType::NAS_IDENTIFIER, id));
    }
    builder = builder
        .attr(Attribute::u32(AttributeType::EVENT_TIMESTAMP, now_unix))
        .attrs(policy.iter().map(PolicyAttr::to_attribute));
    if nas.message_authenticator {
        builder = builder.message_authenticator();
    }
    let bytes = builder.encode_request(nas.secret.expose())?;
    let mut authenticator = [0u8; 16];
    if let Some(auth) = bytes.get(4..20) {
        authenticator.copy_from_slice(auth);
    }
    Ok(SignedRequest {
        bytes,
        identifier,
        authenticator,
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rampart_radius::{Packet, auth};

    use super::*;
    use crate::secret::Secret;

    fn nas() -> NasConfig {
        let mut nas = NasConfig::new("pgw", "127.0.0.1:3799".parse().unwrap(), Secret::from("s"));
        nas.identify_by = vec![
            IdentityAttr::Imsi,
            IdentityAttr::FramedIpAddress,
            IdentityAttr::UserName,
        ];
        nas.nas_ip = Some(Ipv4Addr::new(10, 0, 0, 1));
        nas
    }

    #[test]
    fn builds_signed_disconnect_with_configured_identity() {
        let session = SessionIdentity {
            user_name: Some("dev".into()),
            acct_session_id: Some("not-configured".into()),
            framed_ip: Some(Ipv4Addr::new(100, 64, 0, 7)),
            imsi: Some("262011234567890".into()),
            calling_station_id: None,
        };
        let req = build(DaeKind::Disconnect, 9, &nas(), &session, &[], 1_700_000_000).unwrap();
        let v = auth::verify_request(&req.bytes, b"s").unwrap();
        assert!(v.authenticator && v.message_authenticator);
        let p = Packet::decode(&req.bytes).unwrap();
        assert_eq!(p.code, Code::DisconnectRequest);
        assert_eq!(p.identifier, 9);
        assert_eq!(p.imsi(), Some("262011234567890"));
        assert_eq!(p.framed_ip_address(), Some(Ipv4Addr::new(100, 64, 0, 7)));
        assert_eq!(p.user_name(), Some("dev"));
        assert_eq!(p.acct_session_id(), None);
        assert_eq!(p.nas_ip_address(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.event_timestamp(), Some(1_700_000_000));
        assert_eq!(p.authenticator, req.authenticator);
    }

    #[test]
    fn coa_carries_policy_and_refuses_empty() {
        let session = SessionIdentity {
            user_name: Some("dev".into()),
            ..Default::default()
        };
        let policy = [
            PolicyAttr::FilterId("quarantine".into()),
            PolicyAttr::VendorText {
                vendor: 10415,
                attr: 3,
                value: "x".into(),
            },
        ];
        let req = build(DaeKind::Coa, 1, &nas(), &session, &policy, 5).unwrap();
        let p = Packet::decode(&req.bytes).unwrap();
        assert_eq!(p.code, Code::CoaRequest);
        assert_eq!(p.filter_id(), Some("quarantine"));
        assert_eq!(p.vendor_value(10415, 3), Some(&b"x"[..]));
        assert_eq!(
            build(DaeKind::Coa, 1, &nas(), &session, &[], 5),
            Err(RequestError::EmptyPolicy)
        );
        let nobody = SessionIdentity {
            acct_session_id: Some("only-this".into()),
            ..Default::default()
        };
        assert_eq!(
            build(DaeKind::Disconnect, 1, &nas(), &nobody, &[], 5),
            Err(RequestError::NoIdentity)
        );
    }
}
