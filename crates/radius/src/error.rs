//! Error types. Messages are lowercase without trailing punctuation so that they chain well.

use crate::code::Code;

/// Why a datagram is not a well-formed RADIUS packet.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram cannot hold the 20-octet header.
    #[error("datagram of {len} octets is shorter than the 20-octet radius header")]
    TooShort {
        /// Size of the datagram.
        len: usize,
    },
    /// The Length field is outside the 20..=4096 range of RFC 2865 §3.
    #[error("length field {length} is outside 20..=4096")]
    InvalidLength {
        /// Value of the Length field.
        length: u16,
    },
    /// The Length field claims more octets than were received (RFC 2865 §3: silently discard).
    #[error("length field {length} exceeds the {available} octets received")]
    LengthExceedsDatagram {
        /// Value of the Length field.
        length: u16,
        /// Size of the datagram.
        available: usize,
    },
    /// An attribute header does not fit in the packet.
    #[error("attribute header at offset {offset} is truncated")]
    AttributeHeaderTruncated {
        /// Offset of the attribute from the start of the packet.
        offset: usize,
    },
    /// An attribute Length below 2 (it would not even cover its own header).
    #[error("attribute at offset {offset} has invalid length {length}")]
    AttributeLengthTooSmall {
        /// Offset of the attribute from the start of the packet.
        offset: usize,
        /// Value of the attribute Length field.
        length: u8,
    },
    /// An attribute runs past the end of the packet.
    #[error("attribute at offset {offset} with length {length} runs past the end of the packet")]
    AttributeTruncated {
        /// Offset of the attribute from the start of the packet.
        offset: usize,
        /// Value of the attribute Length field.
        length: u8,
    },
}

/// Why a packet cannot be put on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An attribute value exceeds the 253 octets that fit in one attribute.
    #[error("attribute {kind} value of {len} octets exceeds 253")]
    AttributeTooLong {
        /// Attribute type.
        kind: u8,
        /// Value length.
        len: usize,
    },
    /// The sub-attributes of one Vendor-Specific attribute exceed 249 octets.
    #[error("vendor-specific payload of vendor {vendor_id} with {len} octets exceeds 249")]
    VendorPayloadTooLong {
        /// Vendor id.
        vendor_id: u32,
        /// Payload length.
        len: usize,
    },
    /// The encoded packet exceeds the 4096-octet limit of RFC 2865 §3.
    #[error("packet of {len} octets exceeds 4096")]
    PacketTooLong {
        /// Encoded length.
        len: usize,
    },
    /// A typed value given to the builder cannot be encoded.
    #[error("invalid attribute value")]
    InvalidValue(#[from] ValueError),
    /// The requested signing mode does not apply to this code.
    #[error("cannot sign a {code} packet this way")]
    WrongCode {
        /// Packet code.
        code: Code,
    },
}

/// Why an authenticator check failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The datagram is not a well-formed packet.
    #[error("malformed packet")]
    Decode(#[from] DecodeError),
    /// The packet code is not a request this check applies to.
    #[error("{code} is not a request")]
    NotARequest {
        /// Packet code.
        code: Code,
    },
    /// The packet code is not a response.
    #[error("{code} is not a response")]
    NotAResponse {
        /// Packet code.
        code: Code,
    },
    /// The Request Authenticator of an Accounting, Disconnect or CoA request is wrong.
    #[error("request authenticator mismatch")]
    RequestAuthenticator,
    /// The Response Authenticator is wrong.
    #[error("response authenticator mismatch")]
    ResponseAuthenticator,
    /// The Message-Authenticator HMAC is wrong.
    #[error("message-authenticator mismatch")]
    MessageAuthenticator,
    /// A Message-Authenticator attribute whose value is not 16 octets.
    #[error("message-authenticator has {len} octets instead of 16")]
    MessageAuthenticatorLength {
        /// Value length.
        len: usize,
    },
    /// More than one Message-Authenticator (RFC 3579 §3.2 allows at most one).
    #[error("more than one message-authenticator")]
    DuplicateMessageAuthenticator,
}

/// Why an attribute value does not match the type its attribute number calls for.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value has the wrong size.
    #[error("value has {actual} octets, expected {expected}")]
    WrongLength {
        /// Expected size (or minimum, for variable-size values).
        expected: usize,
        /// Actual size.
        actual: usize,
    },
    /// A text value is not UTF-8.
    #[error("value is not utf-8")]
    InvalidUtf8,
    /// A string that should hold only decimal digits holds something else.
    #[error("value is not a decimal digit string")]
    InvalidDigits,
    /// A BCD digit above 9 where a decimal digit is required.
    #[error("invalid bcd digit {digit:#x}")]
    InvalidBcd {
        /// The offending nibble.
        digit: u8,
    },
    /// A number outside what the field can carry.
    #[error("{field} value {value} is out of range")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: u64,
    },
}
