//! Attributes as they appear on the wire, and the Vendor-Specific split (RFC 2865 §5.26).

use std::fmt;

use crate::error::{DecodeError, EncodeError};
use crate::tgpp;

/// A top-level attribute type number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u8);

impl AttributeType {
    /// 1, RFC 2865.
    pub const USER_NAME: Self = Self(1);
    /// 2, RFC 2865 (hidden with the shared secret, see [`crate::auth::hide_password`]).
    pub const USER_PASSWORD: Self = Self(2);
    /// 4, RFC 2865.
    pub const NAS_IP_ADDRESS: Self = Self(4);
    /// 5, RFC 2865.
    pub const NAS_PORT: Self = Self(5);
    /// 6, RFC 2865.
    pub const SERVICE_TYPE: Self = Self(6);
    /// 8, RFC 2865.
    pub const FRAMED_IP_ADDRESS: Self = Self(8);
    /// 11, RFC 2865.
    pub const FILTER_ID: Self = Self(11);
    /// 18, RFC 2865.
    pub const REPLY_MESSAGE: Self = Self(18);
    /// 24, RFC 2865.
    pub const STATE: Self = Self(24);
    /// 25, RFC 2865.
    pub const CLASS: Self = Self(25);
    /// 26, RFC 2865.
    pub const VENDOR_SPECIFIC: Self = Self(26);
    /// 27, RFC 2865.
    pub const SESSION_TIMEOUT: Self = Self(27);
    /// 30, RFC 2865; carries the APN on the 3GPP Gi/SGi interface.
    pub const CALLED_STATION_ID: Self = Self(30);
    /// 31, RFC 2865; carries the MSISDN on the 3GPP Gi/SGi interface.
    pub const CALLING_STATION_ID: Self = Self(31);
    /// 33, RFC 2865; proxies add it and servers echo it in responses.
    pub const PROXY_STATE: Self = Self(33);
    /// 32, RFC 2865.
    pub const NAS_IDENTIFIER: Self = Self(32);
    /// 40, RFC 2866.
    pub const ACCT_STATUS_TYPE: Self = Self(40);
    /// 41, RFC 2866.
    pub const ACCT_DELAY_TIME: Self = Self(41);
    /// 42, RFC 2866.
    pub const ACCT_INPUT_OCTETS: Self = Self(42);
    /// 43, RFC 2866.
    pub const ACCT_OUTPUT_OCTETS: Self = Self(43);
    /// 44, RFC 2866.
    pub const ACCT_SESSION_ID: Self = Self(44);
    /// 45, RFC 2866.
    pub const ACCT_AUTHENTIC: Self = Self(45);
    /// 46, RFC 2866.
    pub const ACCT_SESSION_TIME: Self = Self(46);
    /// 47, RFC 2866.
    pub const ACCT_INPUT_PACKETS: Self = Self(47);
    /// 48, RFC 2866.
    pub const ACCT_OUTPUT_PACKETS: Self = Self(48);
    /// 49, RFC 2866.
    pub const ACCT_TERMINATE_CAUSE: Self = Self(49);
    /// 50, RFC 2866.
    pub const ACCT_MULTI_SESSION_ID: Self = Self(50);
    /// 52, RFC 2869.
    pub const ACCT_INPUT_GIGAWORDS: Self = Self(52);
    /// 53, RFC 2869.
    pub const ACCT_OUTPUT_GIGAWORDS: Self = Self(53);
    /// 55, RFC 2869.
    pub const EVENT_TIMESTAMP: Self = Self(55);
    /// 61, RFC 2865.
    pub const NAS_PORT_TYPE: Self = Self(61);
    /// 79, RFC 3579.
    pub const EAP_MESSAGE: Self = Self(79);
    /// 80, RFC 3579.
    pub const MESSAGE_AUTHENTICATOR: Self = Self(80);
    /// 87, RFC 2869.
    pub const NAS_PORT_ID: Self = Self(87);
    /// 95, RFC 3162.
    pub const NAS_IPV6_ADDRESS: Self = Self(95);
    /// 96, RFC 3162.
    pub const FRAMED_INTERFACE_ID: Self = Self(96);
    /// 97, RFC 3162.
    pub const FRAMED_IPV6_PREFIX: Self = Self(97);
    /// 101, RFC 5176.
    pub const ERROR_CAUSE: Self = Self(101);

    /// The dictionary name of the types this crate knows.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "User-Name",
            2 => "User-Password",
            4 => "NAS-IP-Address",
            5 => "NAS-Port",
            6 => "Service-Type",
            8 => "Framed-IP-Address",
            11 => "Filter-Id",
            18 => "Reply-Message",
            24 => "State",
            25 => "Class",
            26 => "Vendor-Specific",
            27 => "Session-Timeout",
            30 => "Called-Station-Id",
            31 => "Calling-Station-Id",
            32 => "NAS-Identifier",
            33 => "Proxy-State",
            40 => "Acct-Status-Type",
            41 => "Acct-Delay-Time",
            42 => "Acct-Input-Octets",
            43 => "Acct-Output-Octets",
            44 => "Acct-Session-Id",
            45 => "Acct-Authentic",
            46 => "Acct-Session-Time",
            47 => "Acct-Input-Packets",
            48 => "Acct-Output-Packets",
            49 => "Acct-Terminate-Cause",
            50 => "Acct-Multi-Session-Id",
            52 => "Acct-Input-Gigawords",
            53 => "Acct-Output-Gigawords",
            55 => "Event-Timestamp",
            61 => "NAS-Port-Type",
            79 => "EAP-Message",
            80 => "Message-Authenticator",
            87 => "NAS-Port-Id",
            95 => "NAS-IPv6-Address",
            96 => "Framed-Interface-Id",
            97 => "Framed-IPv6-Prefix",
            101 => "Error-Cause",
            _ => return None,
        })
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Attr-{}", self.0),
        }
    }
}

/// Largest value that fits in one attribute (Length is one octet and covers the header).
pub const MAX_VALUE_LEN: usize = 253;
/// Largest Vendor-Specific payload after the 4-octet Vendor-Id.
pub const MAX_VENDOR_PAYLOAD_LEN: usize = MAX_VALUE_LEN - 4;

/// One attribute, in wire order inside a [`crate::Packet`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// Any attribute other than a Vendor-Specific one, value kept as received.
    ///
    /// A type-26 attribute too short to hold a Vendor-Id also lands here, so that one
    /// broken attribute does not cost the rest of an accounting record.
    Raw {
        /// Attribute type.
        kind: AttributeType,
        /// Value octets (at most 253).
        value: Vec<u8>,
    },
    /// A Vendor-Specific attribute (type 26).
    VendorSpecific(VendorSpecific),
}

/// The content of a Vendor-Specific attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VendorSpecific {
    /// SMI Network Management Private Enterprise Code (10415 for 3GPP).
    pub vendor_id: u32,
    /// What follows the Vendor-Id.
    pub payload: VendorPayload,
}

/// The part of a Vendor-Specific attribute after the Vendor-Id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VendorPayload {
    /// Sub-attributes in the RFC 2865 §5.26 suggested format (type, length, value).
    SubAttributes(Vec<SubAttribute>),
    /// Octets of a vendor whose format is unknown, or that did not parse as sub-attributes.
    Raw(Vec<u8>),
}

/// One vendor sub-attribute in the RFC 2865 §5.26 format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubAttribute {
    /// Vendor-Type.
    pub kind: u8,
    /// Value octets.
    pub value: Vec<u8>,
}

/// Vendors known to use the RFC 2865 §5.26 suggested sub-attribute format.
///
/// Other vendors (e.g. USR, Lucent) use wider type fields, so guessing would mis-split them.
const TLV_VENDORS: &[u32] = &[
    9,    // Cisco
    311,  // Microsoft
    2636, // Juniper
    5535, // 3GPP2
    tgpp::VENDOR_ID,
    14122, // WISPr
];

impl Attribute {
    /// A non-vendor attribute.
    pub fn new(kind: AttributeType, value: impl Into<Vec<u8>>) -> Self {
        Self::Raw {
            kind,
            value: value.into(),
        }
    }

    /// A Vendor-Specific attribute holding a single sub-attribute.
    pub fn vendor(vendor_id: u32, kind: u8, value: impl Into<Vec<u8>>) -> Self {
        Self::VendorSpecific(VendorSpecific {
            vendor_id,
            payload: VendorPayload::SubAttributes(vec![SubAttribute {
                kind,
                value: value.into(),
            }]),
        })
    }

    /// The attribute type on the wire.
    pub fn kind(&self) -> AttributeType {
        match self {
            Self::Raw { kind, .. } => *kind,
            Self::VendorSpecific(_) => AttributeType::VENDOR_SPECIFIC,
        }
    }

    /// Parses one attribute value; `kind` and `value` come from the wire.
    pub(crate) fn from_wire(kind: u8, value: &[u8]) -> Self {
        if kind == AttributeType::VENDOR_SPECIFIC.0
            && let Some((id, rest)) = value.split_first_chunk::<4>()
        {
            let vendor_id = u32::from_be_bytes(*id);
            let subs = TLV_VENDORS
                .contains(&vendor_id)
                .then(|| parse_sub_attributes(rest))
                .flatten();
            let payload = match subs {
                Some(subs) => VendorPayload::SubAttributes(subs),
                None => VendorPayload::Raw(rest.to_vec()),
            };
            return Self::VendorSpecific(VendorSpecific { vendor_id, payload });
        }
        Self::Raw {
            kind: AttributeType(kind),
            value: value.to_vec(),
        }
    }

    /// Appends the wire form.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Raw { kind, value } => {
                let len = wire_len(kind.0, value.len())?;
                out.push(kind.0);
                out.push(len);
                out.extend_from_slice(value);
            }
            Self::VendorSpecific(vsa) => {
                let payload_len = vsa.payload_len();
                if payload_len > MAX_VENDOR_PAYLOAD_LEN {
                    return Err(EncodeError::VendorPayloadTooLong {
                        vendor_id: vsa.vendor_id,
                        len: payload_len,
                    });
                }
                out.push(AttributeType::VENDOR_SPECIFIC.0);
                out.push(wire_len(AttributeType::VENDOR_SPECIFIC.0, 4 + payload_len)?);
                out.extend_from_slice(&vsa.vendor_id.to_be_bytes());
                match &vsa.payload {
                    VendorPayload::Raw(raw) => out.extend_from_slice(raw),
                    VendorPayload::SubAttributes(subs) => {
                        for sub in subs {
                            out.push(sub.kind);
                            out.push(wire_len(sub.kind, sub.value.len())?);
                            out.extend_from_slice(&sub.value);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl VendorSpecific {
    fn payload_len(&self) -> usize {
        match &self.payload {
            VendorPayload::Raw(raw) => raw.len(),
            VendorPayload::SubAttributes(subs) => subs.iter().map(|s| 2 + s.value.len()).sum(),
        }
    }

    /// The sub-attributes, or an empty slice when the payload is raw.
    pub fn sub_attributes(&self) -> &[SubAttribute] {
        match &self.payload {
            VendorPayload::SubAttributes(subs) => subs,
            VendorPayload::Raw(_) => &[],
        }
    }
}

/// Length octet for a value of `value_len` octets.
fn wire_len(kind: u8, value_len: usize) -> Result<u8, EncodeError> {
    if value_len > MAX_VALUE_LEN {
        return Err(EncodeError::AttributeTooLong {
            kind,
            len: value_len,
        });
    }
    u8::try_from(value_len + 2).map_err(|_| EncodeError::AttributeTooLong {
        kind,
        len: value_len,
    })
}

/// Splits a vendor payload into type-length-value sub-attributes; `None` if it does not
/// tile exactly.
fn parse_sub_attributes(mut rest: &[u8]) -> Option<Vec<SubAttribute>> {
    // Every sub-attribute takes at least 2 octets, which bounds the allocation.
    let mut subs = Vec::with_capacity(rest.len() / 2);
    while let [kind, len, tail @ ..] = rest {
        let value_len = usize::from(*len).checked_sub(2)?;
        if value_len > tail.len() {
            return None;
        }
        let (value, next) = tail.split_at(value_len);
        subs.push(SubAttribute {
            kind: *kind,
            value: value.to_vec(),
        });
        rest = next;
    }
    rest.is_empty().then_some(subs)
}

/// Walks the attribute area of a packet, yielding `(offset, type, value)`.
///
/// `base` is the offset of `area` within the packet, used only in error positions.
pub(crate) fn walk(
    area: &[u8],
    base: usize,
) -> impl Iterator<Item = Result<(usize, u8, &[u8]), DecodeError>> {
    let mut pos = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pos >= area.len() {
            return None;
        }
        let offset = base + pos;
        let item = match area.get(pos..pos + 2) {
            None => Err(DecodeError::AttributeHeaderTruncated { offset }),
            Some(&[kind, len]) => {
                let end = pos + usize::from(len);
                if len < 2 {
                    Err(DecodeError::AttributeLengthTooSmall {
                        offset,
                        length: len,
                    })
                } else if let Some(value) = area.get(pos + 2..end) {
                    pos = end;
                    Ok((offset, kind, value))
                } else {
                    Err(DecodeError::AttributeTruncated {
                        offset,
                        length: len,
                    })
                }
            }
            Some(_) => Err(DecodeError::AttributeHeaderTruncated { offset }),
        };
        failed = item.is_err();
        Some(item)
    })
}
