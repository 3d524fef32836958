//! Sans-IO RADIUS codec: RFC 2865/2866 packets, RFC 5176 Disconnect/CoA, RFC 3579
//! Message-Authenticator, and the 3GPP TS 29.061 vendor attributes (vendor 10415) that a
//! mobile packet gateway sends on the Gi/SGi accounting interface.
//!
//! Everything here is a pure function over octets: the caller owns sockets, timers and
//! randomness. That keeps the decoder fuzzable and lets the simulator reuse the encoder.
//!
//! * [`Packet::decode`] / [`Packet::encode`]: wire format, attributes kept raw and in order.
//! * Typed readers on [`Packet`] (`imsi()`, `user_location_info()`, `input_octets64()`, …).
//! * [`PacketBuilder`]: build and sign requests and responses.
//! * [`auth`]: verify Request/Response Authenticators and Message-Authenticator.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accessors;
mod attr;
pub mod auth;
mod builder;
mod code;
mod error;
mod packet;
pub mod tgpp;
pub mod uli;
pub mod values;

pub use attr::{
    Attribute, AttributeType, MAX_VALUE_LEN, MAX_VENDOR_PAYLOAD_LEN, SubAttribute, VendorPayload,
    VendorSpecific,
};
pub use builder::PacketBuilder;
pub use code::{AuthenticatorKind, Code};
pub use error::{AuthError, DecodeError, EncodeError, ValueError};
pub use packet::{HEADER_LEN, MAX_PACKET_LEN, Packet};
pub use tgpp::{MsTimeZone, PdpType, RatType, TgppValue};
pub use uli::{Plmn, UserLocationInfo};
pub use values::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, ErrorCause, Ipv6Prefix, NasPortType,
};

/// Decodes one UDP payload; see [`Packet::decode`].
pub fn decode(datagram: &[u8]) -> Result<Packet, DecodeError> {
    Packet::decode(datagram)
}

/// Encodes a packet with its authenticator as stored; see [`Packet::encode`].
pub fn encode(packet: &Packet) -> Result<Vec<u8>, EncodeError> {
    packet.encode()
}
