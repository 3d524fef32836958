//! Value codecs for the RFC 2865 data types and the enumerated standard attributes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::ValueError;

/// Reads a 32-bit `integer` (RFC 2865 §5).
pub fn decode_u32(value: &[u8]) -> Result<u32, ValueError> {
    exact::<4>(value).map(u32::from_be_bytes)
}

/// Reads an `ipaddr`.
pub fn decode_ipv4(value: &[u8]) -> Result<Ipv4Addr, ValueError> {
    exact::<4>(value).map(Ipv4Addr::from)
}

/// Reads an `ipv6addr` (RFC 3162).
pub fn decode_ipv6(value: &[u8]) -> Result<Ipv6Addr, ValueError> {
    exact::<16>(value).map(Ipv6Addr::from)
}

/// Reads a `text` value (RFC 2865 says UTF-8).
pub fn decode_text(value: &[u8]) -> Result<&str, ValueError> {
    std::str::from_utf8(value).map_err(|_| ValueError::InvalidUtf8)
}

/// Reads a value of exactly `N` octets.
pub fn exact<const N: usize>(value: &[u8]) -> Result<[u8; N], ValueError> {
    value.try_into().map_err(|_| ValueError::WrongLength {
        expected: N,
        actual: value.len(),
    })
}

/// An IPv6 prefix as carried by Framed-IPv6-Prefix (RFC 3162 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// A prefix; bits beyond `len` are cleared, as RFC 3162 requires them to be zero.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, ValueError> {
        if len > 128 {
            return Err(ValueError::OutOfRange {
                field: "prefix length",
                value: len.into(),
            });
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Ok(Self {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the zero-length prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Parses the wire form: reserved octet, prefix length, 0..=16 prefix octets.
    pub fn decode(value: &[u8]) -> Result<Self, ValueError> {
        let [_reserved, len, prefix @ ..] = value else {
            return Err(ValueError::WrongLength {
                expected: 2,
                actual: value.len(),
            });
        };
        let needed = usize::from(len.div_ceil(8));
        if prefix.len() > 16 || prefix.len() < needed {
            return Err(ValueError::WrongLength {
                expected: 2 + needed,
                actual: value.len(),
            });
        }
        let mut octets = [0u8; 16];
        octets[..prefix.len()].copy_from_slice(prefix);
        Self::new(Ipv6Addr::from(octets), *len)
    }

    /// The wire form, with only as many prefix octets as the length needs.
    pub fn encode(&self) -> Vec<u8> {
        let needed = usize::from(self.len.div_ceil(8));
        let mut out = vec![0, self.len];
        out.extend_from_slice(&self.addr.octets()[..needed]);
        out
    }
}

macro_rules! u32_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value without a name here.
            Other(u32),
        }

        impl From<u32> for $name {
            fn from(value: u32) -> Self {
                match value {
                    $($value => Self::$variant,)*
                    other => Self::Other(other),
                }
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $value,)*
                    $name::Other(other) => other,
                }
            }
        }
    };
}
pub(crate) use u32_enum;

u32_enum! {
    /// Acct-Status-Type (40), RFC 2866 §5.1.
    AcctStatusType {
        /// 1.
        Start = 1,
        /// 2.
        Stop = 2,
        /// 3.
        InterimUpdate = 3,
        /// 7.
        AccountingOn = 7,
        /// 8.
        AccountingOff = 8,
    }
}

u32_enum! {
    /// Acct-Authentic (45), RFC 2866 §5.6.
    AcctAuthentic {
        /// 1.
        Radius = 1,
        /// 2.
        Local = 2,
        /// 3.
        Remote = 3,
        /// 4 (RFC 4072 Diameter).
        Diameter = 4,
    }
}

u32_enum! {
    /// Acct-Terminate-Cause (49), RFC 2866 §5.10.
    AcctTerminateCause {
        /// 1.
        UserRequest = 1,
        /// 2.
        LostCarrier = 2,
        /// 3.
        LostService = 3,
        /// 4.
        IdleTimeout = 4,
        /// 5.
        SessionTimeout = 5,
        /// 6.
        AdminReset = 6,
        /// 7.
        AdminReboot = 7,
        /// 8.
        PortError = 8,
        /// 9.
        NasError = 9,
        /// 10.
        NasRequest = 10,
        /// 11.
        NasReboot = 11,
        /// 12.
        PortUnneeded = 12,
        /// 13.
        PortPreempted = 13,
        /// 14.
        PortSuspended = 14,
        /// 15.
        ServiceUnavailable = 15,
        /// 16.
        Callback = 16,
        /// 17.
        UserError = 17,
        /// 18.
        HostRequest = 18,
    }
}

u32_enum! {
    /// NAS-Port-Type (61), RFC 2865 §5.41 and later IANA assignments.
    NasPortType {
        /// 0.
        Async = 0,
        /// 1.
        Sync = 1,
        /// 2.
        IsdnSync = 2,
        /// 5.
        Virtual = 5,
        /// 15.
        Ethernet = 15,
        /// 18.
        WirelessOther = 18,
        /// 19.
        Wireless80211 = 19,
        /// 22.
        WirelessCdma2000 = 22,
        /// 23.
        WirelessUmts = 23,
        /// 24.
        Wireless1xEv = 24,
    }
}

u32_enum! {
    /// Error-Cause (101), RFC 5176 §3.6.
    ErrorCause {
        /// 201.
        ResidualSessionContextRemoved = 201,
        /// 202.
        InvalidEapPacket = 202,
        /// 401.
        UnsupportedAttribute = 401,
        /// 402.
        MissingAttribute = 402,
        /// 403.
        NasIdentificationMismatch = 403,
        /// 404.
        InvalidRequest = 404,
        /// 405.
        UnsupportedService = 405,
        /// 406.
        UnsupportedExtension = 406,
        /// 407.
        InvalidAttributeValue = 407,
        /// 501.
        AdministrativelyProhibited = 501,
        /// 502.
        RequestNotRoutable = 502,
        /// 503.
        SessionContextNotFound = 503,
        /// 504.
        SessionContextNotRemovable = 504,
        /// 505.
        OtherProxyProcessingError = 505,
        /// 506.
        ResourcesUnavailable = 506,
        /// 507.
        RequestInitiated = 507,
        /// 508.
        MultipleSessionSelectionUnsupported = 508,
    }
}
