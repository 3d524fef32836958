//! Building and signing packets.

use crate::attr::{Attribute, AttributeType};
use crate::auth::sign;
use crate::code::{AuthenticatorKind, Code};
use crate::error::EncodeError;
use crate::packet::{HEADER_LEN, Packet};
use crate::tgpp::TgppValue;

/// Builds a packet and signs it with the shared secret.
///
/// ```
/// use rampart_radius::{AcctStatusType, Attribute, Code, Packet, PacketBuilder, auth};
///
/// let secret = b"testing123";
/// let request = PacketBuilder::new(Code::AccountingRequest, 7)
///     .attr(Attribute::acct_status_type(AcctStatusType::Start))
///     .attr(Attribute::user_name("device-1"))
///     .encode_request(secret)?;
/// assert!(auth::verify_request(&request, secret).is_ok());
///
/// let request = Packet::decode(&request)?;
/// let response = PacketBuilder::reply(Code::AccountingResponse, &request)
///     .encode_response(&request.authenticator, secret)?;
/// assert!(auth::verify_response(&response, &request.authenticator, secret).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PacketBuilder {
    packet: Packet,
    message_authenticator: bool,
    error: Option<EncodeError>,
}

impl PacketBuilder {
    /// An empty packet.
    pub fn new(code: Code, identifier: u8) -> Self {
        Self {
            packet: Packet::new(code, identifier),
            message_authenticator: false,
            error: None,
        }
    }

    /// A response to `request`: same identifier, and its Proxy-State attributes copied in
    /// order, as RFC 2865 §5.33 requires of servers.
    pub fn reply(code: Code, request: &Packet) -> Self {
        let mut builder = Self::new(code, request.identifier);
        let proxy_state = request
            .values(AttributeType::PROXY_STATE)
            .map(|v| Attribute::new(AttributeType::PROXY_STATE, v));
        builder.packet.attributes.extend(proxy_state);
        builder
    }

    /// Appends an attribute.
    pub fn attr(mut self, attribute: Attribute) -> Self {
        self.packet.attributes.push(attribute);
        self
    }

    /// Appends attributes.
    pub fn attrs(mut self, attributes: impl IntoIterator<Item = Attribute>) -> Self {
        self.packet.attributes.extend(attributes);
        self
    }

    /// Appends a 3GPP sub-attribute in its own Vendor-Specific attribute. An invalid value
    /// (e.g. an ECI above 28 bits) is reported when encoding.
    pub fn tgpp(mut self, value: TgppValue) -> Self {
        match value.to_attribute() {
            Ok(attribute) => self.packet.attributes.push(attribute),
            Err(error) => {
                self.error.get_or_insert(error.into());
            }
        }
        self
    }

    /// Adds a Message-Authenticator (first attribute, per the Blast-RADIUS guidance), and
    /// drops any added by hand.
    pub fn message_authenticator(mut self) -> Self {
        self.message_authenticator = true;
        self
    }

    /// The unsigned packet (zero authenticator, no Message-Authenticator).
    pub fn into_packet(self) -> Result<Packet, EncodeError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.packet),
        }
    }

    /// Encodes and signs an Accounting-Request, Disconnect-Request or CoA-Request.
    ///
    /// The Message-Authenticator, if requested, is computed over the packet with a zero
    /// Request Authenticator, which is then computed over the result (RFC 5176 §3.1).
    pub fn encode_request(&self, secret: &[u8]) -> Result<Vec<u8>, EncodeError> {
        self.expect_kind(AuthenticatorKind::RequestDigest)?;
        self.encode_signed([0; 16], true, secret)
    }

    /// Encodes an Access-Request or Status-Server with the caller's random
    /// `authenticator` (this crate does no I/O and holds no RNG) and signs the
    /// Message-Authenticator if requested. RFC 5997 requires one for Status-Server.
    pub fn encode_access_request(
        &self,
        authenticator: [u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        self.expect_kind(AuthenticatorKind::Random)?;
        self.encode_signed(authenticator, false, secret)
    }

    /// Encodes and signs a response to a request that carried `request_authenticator`.
    pub fn encode_response(
        &self,
        request_authenticator: &[u8; 16],
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        self.expect_kind(AuthenticatorKind::Response)?;
        self.encode_signed(*request_authenticator, true, secret)
    }

    fn expect_kind(&self, kind: AuthenticatorKind) -> Result<(), EncodeError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.packet.code.authenticator_kind() == kind {
            Ok(())
        } else {
            Err(EncodeError::WrongCode {
                code: self.packet.code,
            })
        }
    }

    fn encode_signed(
        &self,
        authenticator: [u8; 16],
        digest_auth: bool,
        secret: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let mut packet = Packet {
            authenticator,
            ..Packet::new(self.packet.code, self.packet.identifier)
        };
        let ma_offset = if self.message_authenticator {
            packet.attributes.push(Attribute::new(
                AttributeType::MESSAGE_AUTHENTICATOR,
                [0; 16],
            ));
            Some(HEADER_LEN + 2)
        } else {
            None
        };
        let others = self.packet.attributes.iter().filter(|a| {
            !(self.message_authenticator && a.kind() == AttributeType::MESSAGE_AUTHENTICATOR)
        });
        packet.attributes.extend(others.cloned());
        let mut out = packet.encode()?;
        sign(&mut out, ma_offset, digest_auth, secret);
        Ok(out)
    }
}
