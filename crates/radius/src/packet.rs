//! The packet: header plus attributes, decoded from and encoded to one UDP payload.

use crate::attr::{Attribute, AttributeType, SubAttribute, VendorPayload, walk};
use crate::code::Code;
use crate::error::{DecodeError, EncodeError};

/// Size of the fixed header: Code, Identifier, Length, Authenticator.
pub const HEADER_LEN: usize = 20;
/// Largest packet RFC 2865 §3 allows.
pub const MAX_PACKET_LEN: usize = 4096;

/// A decoded RADIUS packet.
///
/// Attributes keep wire order and raw values, so `decode(encode(p)) == p` and a packet
/// re-encodes to the octets it was decoded from (minus padding beyond Length).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Packet type.
    pub code: Code,
    /// Matches requests and responses.
    pub identifier: u8,
    /// Request or Response Authenticator.
    pub authenticator: [u8; 16],
    /// Attributes in wire order.
    pub attributes: Vec<Attribute>,
}

impl Packet {
    /// A packet without attributes and with a zero authenticator.
    pub fn new(code: Code, identifier: u8) -> Self {
        Self {
            code,
            identifier,
            authenticator: [0; 16],
            attributes: Vec::new(),
        }
    }

    /// Decodes one UDP payload.
    ///
    /// Octets beyond the Length field are padding and ignored (RFC 2865 §3); a Length
    /// beyond the datagram, outside 20..=4096, or attributes that do not tile the packet
    /// exactly are errors.
    pub fn decode(datagram: &[u8]) -> Result<Self, DecodeError> {
        let (header, bytes) = split_header(datagram)?;
        // Each attribute takes at least 2 octets, so there are at most 2038 of them.
        let mut attributes = Vec::new();
        for item in walk(&bytes[HEADER_LEN..], HEADER_LEN) {
            let (_, kind, value) = item?;
            attributes.push(Attribute::from_wire(kind, value));
        }
        Ok(Self {
            code: header.code,
            identifier: header.identifier,
            authenticator: header.authenticator,
            attributes,
        })
    }

    /// Encodes with the authenticator as stored; see [`crate::PacketBuilder`] to sign.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 16 * self.attributes.len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded packet to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.push(self.code.into());
        out.push(self.identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.authenticator);
        for attribute in &self.attributes {
            if let Err(error) = attribute.encode_into(out) {
                out.truncate(start);
                return Err(error);
            }
        }
        let len = out.len() - start;
        let Some(wire_len) = u16::try_from(len).ok().filter(|_| len <= MAX_PACKET_LEN) else {
            out.truncate(start);
            return Err(EncodeError::PacketTooLong { len });
        };
        out[start + 2..start + 4].copy_from_slice(&wire_len.to_be_bytes());
        Ok(())
    }

    /// Values of all non-vendor attributes of type `kind`, in order.
    pub fn values(&self, kind: AttributeType) -> impl Iterator<Item = &[u8]> {
        self.attributes.iter().filter_map(move |a| match a {
            Attribute::Raw { kind: k, value } if *k == kind => Some(value.as_slice()),
            _ => None,
        })
    }

    /// Value of the first non-vendor attribute of type `kind`.
    pub fn value(&self, kind: AttributeType) -> Option<&[u8]> {
        self.values(kind).next()
    }

    /// All sub-attributes of `vendor_id`, across all its Vendor-Specific attributes.
    pub fn vendor_sub_attributes(&self, vendor_id: u32) -> impl Iterator<Item = &SubAttribute> {
        self.attributes
            .iter()
            .filter_map(move |a| match a {
                Attribute::VendorSpecific(vsa) if vsa.vendor_id == vendor_id => {
                    Some(vsa.sub_attributes())
                }
                _ => None,
            })
            .flatten()
    }

    /// Value of the first sub-attribute `kind` of `vendor_id`.
    pub fn vendor_value(&self, vendor_id: u32, kind: u8) -> Option<&[u8]> {
        self.vendor_sub_attributes(vendor_id)
            .find(|s| s.kind == kind)
            .map(|s| s.value.as_slice())
    }

    /// Raw payloads of Vendor-Specific attributes of `vendor_id` that were not split.
    pub fn vendor_raw(&self, vendor_id: u32) -> impl Iterator<Item = &[u8]> {
        self.attributes.iter().filter_map(move |a| match a {
            Attribute::VendorSpecific(vsa) if vsa.vendor_id == vendor_id => match &vsa.payload {
                VendorPayload::Raw(raw) => Some(raw.as_slice()),
                VendorPayload::SubAttributes(_) => None,
            },
            _ => None,
        })
    }
}

/// The fixed header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) code: Code,
    pub(crate) identifier: u8,
    pub(crate) authenticator: [u8; 16],
}

/// Validates the header and returns it with the packet octets (padding cut off).
pub(crate) fn split_header(datagram: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    let Some((fixed, _)) = datagram.split_first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::TooShort {
            len: datagram.len(),
        });
    };
    let length = u16::from_be_bytes([fixed[2], fixed[3]]);
    let len = usize::from(length);
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
        return Err(DecodeError::InvalidLength { length });
    }
    let Some(bytes) = datagram.get(..len) else {
        return Err(DecodeError::LengthExceedsDatagram {
            length,
            available: datagram.len(),
        });
    };
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&fixed[4..HEADER_LEN]);
    let header = Header {
        code: Code::from(fixed[0]),
        identifier: fixed[1],
        authenticator,
    };
    Ok((header, bytes))
}
