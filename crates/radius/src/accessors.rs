//! Typed reads and constructors for the standard attributes.
//!
//! Readers return `None` when the attribute is absent *or* malformed: accounting
//! consumers treat both alike. Callers that need the difference read [`Packet::value`]
//! and use the codecs in [`crate::values`].

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use crate::attr::{Attribute, AttributeType as T};
use crate::packet::Packet;
use crate::values::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, ErrorCause, Ipv6Prefix, NasPortType,
    decode_ipv4, decode_ipv6, decode_text, decode_u32, exact,
};

macro_rules! readers {
    ($($(#[$meta:meta])* $name:ident: $kind:ident => $ret:ty = $conv:expr;)*) => {
        impl Packet {
            $(
                $(#[$meta])*
                pub fn $name(&self) -> Option<$ret> {
                    self.value(T::$kind).and_then(|v| $conv(v).ok())
                }
            )*
        }
    };
}

fn text(v: &[u8]) -> Result<&str, crate::ValueError> {
    decode_text(v)
}
fn octets(v: &[u8]) -> Result<&[u8], crate::ValueError> {
    Ok(v)
}
fn enumerated<E: From<u32>>(v: &[u8]) -> Result<E, crate::ValueError> {
    decode_u32(v).map(E::from)
}

readers! {
    /// User-Name (1).
    user_name: USER_NAME => &str = text;
    /// NAS-IP-Address (4).
    nas_ip_address: NAS_IP_ADDRESS => Ipv4Addr = decode_ipv4;
    /// NAS-Port (5).
    nas_port: NAS_PORT => u32 = decode_u32;
    /// Framed-IP-Address (8): the address the device got.
    framed_ip_address: FRAMED_IP_ADDRESS => Ipv4Addr = decode_ipv4;
    /// Filter-Id (11).
    filter_id: FILTER_ID => &str = text;
    /// Reply-Message (18), first instance.
    reply_message: REPLY_MESSAGE => &str = text;
    /// State (24).
    state: STATE => &[u8] = octets;
    /// Class (25).
    class: CLASS => &[u8] = octets;
    /// Session-Timeout (27), seconds.
    session_timeout: SESSION_TIMEOUT => u32 = decode_u32;
    /// Called-Station-Id (30): the APN on 3GPP Gi/SGi.
    called_station_id: CALLED_STATION_ID => &str = text;
    /// Calling-Station-Id (31): the MSISDN on 3GPP Gi/SGi.
    calling_station_id: CALLING_STATION_ID => &str = text;
    /// NAS-Identifier (32).
    nas_identifier: NAS_IDENTIFIER => &str = text;
    /// Acct-Status-Type (40).
    acct_status_type: ACCT_STATUS_TYPE => AcctStatusType = enumerated;
    /// Acct-Delay-Time (41), seconds.
    acct_delay_time: ACCT_DELAY_TIME => u32 = decode_u32;
    /// Acct-Input-Octets (42), low 32 bits; see [`Packet::input_octets64`].
    acct_input_octets: ACCT_INPUT_OCTETS => u32 = decode_u32;
    /// Acct-Output-Octets (43), low 32 bits; see [`Packet::output_octets64`].
    acct_output_octets: ACCT_OUTPUT_OCTETS => u32 = decode_u32;
    /// Acct-Session-Id (44).
    acct_session_id: ACCT_SESSION_ID => &str = text;
    /// Acct-Authentic (45).
    acct_authentic: ACCT_AUTHENTIC => AcctAuthentic = enumerated;
    /// Acct-Session-Time (46), seconds.
    acct_session_time: ACCT_SESSION_TIME => u32 = decode_u32;
    /// Acct-Input-Packets (47).
    acct_input_packets: ACCT_INPUT_PACKETS => u32 = decode_u32;
    /// Acct-Output-Packets (48).
    acct_output_packets: ACCT_OUTPUT_PACKETS => u32 = decode_u32;
    /// Acct-Terminate-Cause (49).
    acct_terminate_cause: ACCT_TERMINATE_CAUSE => AcctTerminateCause = enumerated;
    /// Acct-Multi-Session-Id (50).
    acct_multi_session_id: ACCT_MULTI_SESSION_ID => &str = text;
    /// Acct-Input-Gigawords (52): how often Acct-Input-Octets wrapped.
    acct_input_gigawords: ACCT_INPUT_GIGAWORDS => u32 = decode_u32;
    /// Acct-Output-Gigawords (53): how often Acct-Output-Octets wrapped.
    acct_output_gigawords: ACCT_OUTPUT_GIGAWORDS => u32 = decode_u32;
    /// Event-Timestamp (55), seconds since the Unix epoch.
    event_timestamp: EVENT_TIMESTAMP => u32 = decode_u32;
    /// NAS-Port-Type (61).
    nas_port_type: NAS_PORT_TYPE => NasPortType = enumerated;
    /// Message-Authenticator (80).
    message_authenticator: MESSAGE_AUTHENTICATOR => [u8; 16] = exact::<16>;
    /// NAS-IPv6-Address (95).
    nas_ipv6_address: NAS_IPV6_ADDRESS => Ipv6Addr = decode_ipv6;
    /// Framed-Interface-Id (96).
    framed_interface_id: FRAMED_INTERFACE_ID => [u8; 8] = exact::<8>;
    /// Framed-IPv6-Prefix (97), first instance.
    framed_ipv6_prefix: FRAMED_IPV6_PREFIX => Ipv6Prefix = Ipv6Prefix::decode;
    /// Error-Cause (101).
    error_cause: ERROR_CAUSE => ErrorCause = enumerated;
}

impl Packet {
    /// Event-Timestamp (55) as a point in time.
    pub fn event_time(&self) -> Option<SystemTime> {
        let secs = self.event_timestamp()?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs.into()))
    }

    /// Octets received from the device: Acct-Input-Gigawords × 2³² + Acct-Input-Octets
    /// (RFC 2869 §5.1). `None` without Acct-Input-Octets; missing Gigawords count as 0.
    pub fn input_octets64(&self) -> Option<u64> {
        combine(self.acct_input_octets()?, self.acct_input_gigawords())
    }

    /// Octets sent to the device, combined as for [`Packet::input_octets64`].
    pub fn output_octets64(&self) -> Option<u64> {
        combine(self.acct_output_octets()?, self.acct_output_gigawords())
    }
}

fn combine(octets: u32, gigawords: Option<u32>) -> Option<u64> {
    Some(u64::from(gigawords.unwrap_or(0)) << 32 | u64::from(octets))
}

/// Splits a 64-bit counter into (Gigawords, Octets).
fn split64(total: u64) -> (u32, u32) {
    ((total >> 32) as u32, total as u32)
}

impl Attribute {
    /// A text attribute (UTF-8 string).
    pub fn text(kind: T, value: &str) -> Self {
        Self::new(kind, value.as_bytes())
    }

    /// A 32-bit integer attribute.
    pub fn u32(kind: T, value: u32) -> Self {
        Self::new(kind, value.to_be_bytes())
    }

    /// An IPv4 address attribute.
    pub fn ipv4(kind: T, value: Ipv4Addr) -> Self {
        Self::new(kind, value.octets())
    }

    /// An IPv6 address attribute.
    pub fn ipv6(kind: T, value: Ipv6Addr) -> Self {
        Self::new(kind, value.octets())
    }

    /// User-Name (1).
    pub fn user_name(value: &str) -> Self {
        Self::text(T::USER_NAME, value)
    }

    /// Acct-Status-Type (40).
    pub fn acct_status_type(value: AcctStatusType) -> Self {
        Self::u32(T::ACCT_STATUS_TYPE, value.into())
    }

    /// Acct-Authentic (45).
    pub fn acct_authentic(value: AcctAuthentic) -> Self {
        Self::u32(T::ACCT_AUTHENTIC, value.into())
    }

    /// Acct-Terminate-Cause (49).
    pub fn acct_terminate_cause(value: AcctTerminateCause) -> Self {
        Self::u32(T::ACCT_TERMINATE_CAUSE, value.into())
    }

    /// NAS-Port-Type (61).
    pub fn nas_port_type(value: NasPortType) -> Self {
        Self::u32(T::NAS_PORT_TYPE, value.into())
    }

    /// Error-Cause (101).
    pub fn error_cause(value: ErrorCause) -> Self {
        Self::u32(T::ERROR_CAUSE, value.into())
    }

    /// Framed-IPv6-Prefix (97).
    pub fn framed_ipv6_prefix(value: Ipv6Prefix) -> Self {
        Self::new(T::FRAMED_IPV6_PREFIX, value.encode())
    }

    /// Acct-Input-Octets (42) and Acct-Input-Gigawords (52) for a 64-bit counter.
    pub fn input_octets64(total: u64) -> [Self; 2] {
        let (giga, low) = split64(total);
        [
            Self::u32(T::ACCT_INPUT_OCTETS, low),
            Self::u32(T::ACCT_INPUT_GIGAWORDS, giga),
        ]
    }

    /// Acct-Output-Octets (43) and Acct-Output-Gigawords (53) for a 64-bit counter.
    pub fn output_octets64(total: u64) -> [Self; 2] {
        let (giga, low) = split64(total);
        [
            Self::u32(T::ACCT_OUTPUT_OCTETS, low),
            Self::u32(T::ACCT_OUTPUT_GIGAWORDS, giga),
        ]
    }
}
