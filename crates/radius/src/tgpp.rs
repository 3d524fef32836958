//! 3GPP vendor-specific attributes (vendor 10415) of TS 29.061 §16.4.7.
//!
//! Numbers and types checked against the FreeRADIUS 3.2.1 and Wireshark 4.0 dictionaries.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::attr::Attribute;
use crate::error::ValueError;
use crate::packet::Packet;
use crate::uli::UserLocationInfo;
use crate::values::{decode_ipv4, decode_ipv6, decode_text, decode_u32, exact, u32_enum};

/// The 3GPP SMI Private Enterprise Code.
pub const VENDOR_ID: u32 = 10415;

/// 3GPP-IMSI: UTF-8 IMSI digits.
pub const IMSI: u8 = 1;
/// 3GPP-Charging-ID: integer.
pub const CHARGING_ID: u8 = 2;
/// 3GPP-PDP-Type: integer.
pub const PDP_TYPE: u8 = 3;
/// 3GPP-Charging-Gateway-Address (CG-Address): ipaddr.
pub const CG_ADDRESS: u8 = 4;
/// 3GPP-GPRS-Negotiated-QoS-Profile: string.
pub const GPRS_NEGOTIATED_QOS_PROFILE: u8 = 5;
/// 3GPP-SGSN-Address (the serving node, SGSN or SGW): ipaddr.
pub const SGSN_ADDRESS: u8 = 6;
/// 3GPP-GGSN-Address (the GGSN or PGW): ipaddr.
pub const GGSN_ADDRESS: u8 = 7;
/// 3GPP-IMSI-MCC-MNC: digit string of the home network.
pub const IMSI_MCC_MNC: u8 = 8;
/// 3GPP-GGSN-MCC-MNC: digit string.
pub const GGSN_MCC_MNC: u8 = 9;
/// 3GPP-NSAPI: string.
pub const NSAPI: u8 = 10;
/// 3GPP-Session-Stop-Indicator: one octet.
pub const SESSION_STOP_INDICATOR: u8 = 11;
/// 3GPP-Selection-Mode: string.
pub const SELECTION_MODE: u8 = 12;
/// 3GPP-Charging-Characteristics: string.
pub const CHARGING_CHARACTERISTICS: u8 = 13;
/// 3GPP-Charging-Gateway-IPv6-Address: ipv6addr.
pub const CG_IPV6_ADDRESS: u8 = 14;
/// 3GPP-SGSN-IPv6-Address: ipv6addr.
pub const SGSN_IPV6_ADDRESS: u8 = 15;
/// 3GPP-GGSN-IPv6-Address: ipv6addr.
pub const GGSN_IPV6_ADDRESS: u8 = 16;
/// 3GPP-IPv6-DNS-Servers: array of ipv6addr.
pub const IPV6_DNS_SERVERS: u8 = 17;
/// 3GPP-SGSN-MCC-MNC: digit string of the serving network.
pub const SGSN_MCC_MNC: u8 = 18;
/// 3GPP-Teardown-Indicator: one octet.
pub const TEARDOWN_INDICATOR: u8 = 19;
/// 3GPP-IMEISV: UTF-8 IMEI(SV) digits.
pub const IMEISV: u8 = 20;
/// 3GPP-RAT-Type: one octet.
pub const RAT_TYPE: u8 = 21;
/// 3GPP-User-Location-Info: see [`UserLocationInfo`].
pub const USER_LOCATION_INFO: u8 = 22;
/// 3GPP-MS-TimeZone: two octets, see [`MsTimeZone`].
pub const MS_TIME_ZONE: u8 = 23;
/// 3GPP-CAMEL-Charging-Info: octets.
pub const CAMEL_CHARGING_INFO: u8 = 24;
/// 3GPP-Packet-Filter: octets.
pub const PACKET_FILTER: u8 = 25;
/// 3GPP-Negotiated-DSCP: one octet.
pub const NEGOTIATED_DSCP: u8 = 26;
/// 3GPP-Allocate-IP-Type: one octet.
pub const ALLOCATE_IP_TYPE: u8 = 27;

u32_enum! {
    /// 3GPP-PDP-Type values (TS 29.061).
    PdpType {
        /// 0.
        Ipv4 = 0,
        /// 1.
        Ppp = 1,
        /// 2.
        Ipv6 = 2,
        /// 3.
        Ipv4v6 = 3,
        /// 4.
        NonIp = 4,
    }
}

/// 3GPP-RAT-Type values.
///
/// 0–99 follow the GTPv2 RAT Type of TS 29.274 §8.17 (so NR is 10); 101–105 are the
/// non-3GPP values of TS 29.061. The FreeRADIUS 3.2.1 dictionary stops at 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RatType {
    /// 1.
    Utran,
    /// 2.
    Geran,
    /// 3.
    Wlan,
    /// 4.
    Gan,
    /// 5.
    HspaEvolution,
    /// 6.
    Eutran,
    /// 7.
    Virtual,
    /// 8.
    EutranNbIot,
    /// 9.
    LteM,
    /// 10.
    Nr,
    /// 101.
    Ieee80216e,
    /// 102.
    Ehrpd3gpp2,
    /// 103.
    Hrpd3gpp2,
    /// 104.
    OneXRtt3gpp2,
    /// 105.
    Umb3gpp2,
    /// Any other value.
    Other(u8),
}

impl From<u8> for RatType {
    fn from(value: u8) -> Self {
        match value {
            1 => Self::Utran,
            2 => Self::Geran,
            3 => Self::Wlan,
            4 => Self::Gan,
            5 => Self::HspaEvolution,
            6 => Self::Eutran,
            7 => Self::Virtual,
            8 => Self::EutranNbIot,
            9 => Self::LteM,
            10 => Self::Nr,
            101 => Self::Ieee80216e,
            102 => Self::Ehrpd3gpp2,
            103 => Self::Hrpd3gpp2,
            104 => Self::OneXRtt3gpp2,
            105 => Self::Umb3gpp2,
            other => Self::Other(other),
        }
    }
}

impl From<RatType> for u8 {
    fn from(value: RatType) -> Self {
        match value {
            RatType::Utran => 1,
            RatType::Geran => 2,
            RatType::Wlan => 3,
            RatType::Gan => 4,
            RatType::HspaEvolution => 5,
            RatType::Eutran => 6,
            RatType::Virtual => 7,
            RatType::EutranNbIot => 8,
            RatType::LteM => 9,
            RatType::Nr => 10,
            RatType::Ieee80216e => 101,
            RatType::Ehrpd3gpp2 => 102,
            RatType::Hrpd3gpp2 => 103,
            RatType::OneXRtt3gpp2 => 104,
            RatType::Umb3gpp2 => 105,
            RatType::Other(other) => other,
        }
    }
}

impl RatType {
    /// The dictionary name (FreeRADIUS spelling where it has one).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Utran => "UTRAN",
            Self::Geran => "GERAN",
            Self::Wlan => "WLAN",
            Self::Gan => "GAN",
            Self::HspaEvolution => "HSPA-Evolution",
            Self::Eutran => "EUTRAN",
            Self::Virtual => "Virtual",
            Self::EutranNbIot => "EUTRAN-NB-IoT",
            Self::LteM => "LTE-M",
            Self::Nr => "NR",
            Self::Ieee80216e => "IEEE-802.16e",
            Self::Ehrpd3gpp2 => "3GPP2-eHRPD",
            Self::Hrpd3gpp2 => "3GPP2-HRPD",
            Self::OneXRtt3gpp2 => "3GPP2-1xRTT",
            Self::Umb3gpp2 => "3GPP2-UMB",
            Self::Other(_) => return None,
        })
    }
}

/// 3GPP-MS-TimeZone: the UE's offset from UTC and daylight-saving adjustment.
///
/// Octet 1 is the TS 24.008 §10.5.3.8 Time Zone (quarter hours in swapped BCD, sign in
/// bit 4), octet 2 the §10.5.3.12 Daylight Saving Time (bits 1–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsTimeZone {
    /// Offset of local time (including DST) from UTC, in minutes; a multiple of 15.
    pub offset_minutes: i16,
    /// Daylight-saving adjustment in hours: 0, 1 or 2 (3 is reserved).
    pub dst_hours: u8,
}

impl MsTimeZone {
    /// Decodes the two-octet value.
    pub fn decode(value: &[u8]) -> Result<Self, ValueError> {
        let [tz, dst] = exact::<2>(value)?;
        let tens = tz & 0x07;
        let units = tz >> 4;
        if units > 9 {
            return Err(ValueError::InvalidBcd { digit: units });
        }
        let quarters = i16::from(tens * 10 + units);
        let sign = if tz & 0x08 != 0 { -1 } else { 1 };
        Ok(Self {
            offset_minutes: sign * quarters * 15,
            dst_hours: dst & 0x03,
        })
    }

    /// Encodes the two-octet value.
    pub fn encode(&self) -> Result<[u8; 2], ValueError> {
        let quarters = self.offset_minutes.unsigned_abs() / 15;
        if self.offset_minutes % 15 != 0 || quarters > 79 {
            return Err(ValueError::OutOfRange {
                field: "time zone offset",
                value: self.offset_minutes.unsigned_abs().into(),
            });
        }
        if self.dst_hours > 3 {
            return Err(ValueError::OutOfRange {
                field: "dst adjustment",
                value: self.dst_hours.into(),
            });
        }
        // quarters <= 79, so both digits fit in a nibble.
        let tens = (quarters / 10) as u8;
        let units = (quarters % 10) as u8;
        let sign = if self.offset_minutes < 0 { 0x08 } else { 0 };
        Ok([units << 4 | sign | tens, self.dst_hours])
    }
}

/// A decoded 3GPP sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TgppValue {
    /// 1.
    Imsi(String),
    /// 2.
    ChargingId(u32),
    /// 3.
    PdpType(PdpType),
    /// 4.
    CgAddress(Ipv4Addr),
    /// 5.
    GprsNegotiatedQosProfile(String),
    /// 6.
    SgsnAddress(Ipv4Addr),
    /// 7.
    GgsnAddress(Ipv4Addr),
    /// 8.
    ImsiMccMnc(String),
    /// 9.
    GgsnMccMnc(String),
    /// 10.
    Nsapi(String),
    /// 11.
    SessionStopIndicator(u8),
    /// 12.
    SelectionMode(String),
    /// 13.
    ChargingCharacteristics(String),
    /// 14.
    CgIpv6Address(Ipv6Addr),
    /// 15.
    SgsnIpv6Address(Ipv6Addr),
    /// 16.
    GgsnIpv6Address(Ipv6Addr),
    /// 17.
    Ipv6DnsServers(Vec<Ipv6Addr>),
    /// 18.
    SgsnMccMnc(String),
    /// 19.
    TeardownIndicator(u8),
    /// 20.
    Imeisv(String),
    /// 21.
    RatType(RatType),
    /// 22.
    UserLocationInfo(UserLocationInfo),
    /// 23.
    MsTimeZone(MsTimeZone),
    /// 26.
    NegotiatedDscp(u8),
    /// 27.
    AllocateIpType(u8),
    /// Any other sub-attribute, value raw.
    Other {
        /// Vendor-Type.
        kind: u8,
        /// Value octets.
        value: Vec<u8>,
    },
}

/// Reads a one-octet value; some peers (and Wireshark's dictionary) send a 4-octet integer.
fn small_int(value: &[u8]) -> Result<u8, ValueError> {
    match value {
        [b] => Ok(*b),
        [0, 0, 0, b] => Ok(*b),
        _ => Err(ValueError::WrongLength {
            expected: 1,
            actual: value.len(),
        }),
    }
}

fn string(value: &[u8]) -> Result<String, ValueError> {
    decode_text(value).map(str::to_owned)
}

impl TgppValue {
    /// Decodes sub-attribute `kind` from its value.
    pub fn decode(kind: u8, value: &[u8]) -> Result<Self, ValueError> {
        Ok(match kind {
            IMSI => Self::Imsi(string(value)?),
            CHARGING_ID => Self::ChargingId(decode_u32(value)?),
            PDP_TYPE => Self::PdpType(decode_u32(value)?.into()),
            CG_ADDRESS => Self::CgAddress(decode_ipv4(value)?),
            GPRS_NEGOTIATED_QOS_PROFILE => Self::GprsNegotiatedQosProfile(string(value)?),
            SGSN_ADDRESS => Self::SgsnAddress(decode_ipv4(value)?),
            GGSN_ADDRESS => Self::GgsnAddress(decode_ipv4(value)?),
            IMSI_MCC_MNC => Self::ImsiMccMnc(string(value)?),
            GGSN_MCC_MNC => Self::GgsnMccMnc(string(value)?),
            NSAPI => Self::Nsapi(string(value)?),
            SESSION_STOP_INDICATOR => Self::SessionStopIndicator(exact::<1>(value)?[0]),
            SELECTION_MODE => Self::SelectionMode(string(value)?),
            CHARGING_CHARACTERISTICS => Self::ChargingCharacteristics(string(value)?),
            CG_IPV6_ADDRESS => Self::CgIpv6Address(decode_ipv6(value)?),
            SGSN_IPV6_ADDRESS => Self::SgsnIpv6Address(decode_ipv6(value)?),
            GGSN_IPV6_ADDRESS => Self::GgsnIpv6Address(decode_ipv6(value)?),
            IPV6_DNS_SERVERS => {
                let (chunks, rest) = value.as_chunks::<16>();
                if !rest.is_empty() {
                    return Err(ValueError::WrongLength {
                        expected: value.len() - rest.len() + 16,
                        actual: value.len(),
                    });
                }
                Self::Ipv6DnsServers(chunks.iter().map(|c| Ipv6Addr::from(*c)).collect())
            }
            SGSN_MCC_MNC => Self::SgsnMccMnc(string(value)?),
            TEARDOWN_INDICATOR => Self::TeardownIndicator(exact::<1>(value)?[0]),
            IMEISV => Self::Imeisv(string(value)?),
            RAT_TYPE => Self::RatType(small_int(value)?.into()),
            USER_LOCATION_INFO => Self::UserLocationInfo(UserLocationInfo::decode(value)?),
            MS_TIME_ZONE => Self::MsTimeZone(MsTimeZone::decode(value)?),
            NEGOTIATED_DSCP => Self::NegotiatedDscp(small_int(value)?),
            ALLOCATE_IP_TYPE => Self::AllocateIpType(small_int(value)?),
            kind => Self::Other {
                kind,
                value: value.to_vec(),
            },
        })
    }

    /// The Vendor-Type and value octets.
    pub fn encode(&self) -> Result<(u8, Vec<u8>), ValueError> {
        let text = |kind, s: &String| Ok((kind, s.as_bytes().to_vec()));
        match self {
            Self::Imsi(s) => text(IMSI, s),
            Self::ChargingId(v) => Ok((CHARGING_ID, v.to_be_bytes().to_vec())),
            Self::PdpType(v) => Ok((PDP_TYPE, u32::from(*v).to_be_bytes().to_vec())),
            Self::CgAddress(a) => Ok((CG_ADDRESS, a.octets().to_vec())),
            Self::GprsNegotiatedQosProfile(s) => text(GPRS_NEGOTIATED_QOS_PROFILE, s),
            Self::SgsnAddress(a) => Ok((SGSN_ADDRESS, a.octets().to_vec())),
            Self::GgsnAddress(a) => Ok((GGSN_ADDRESS, a.octets().to_vec())),
            Self::ImsiMccMnc(s) => text(IMSI_MCC_MNC, s),
            Self::GgsnMccMnc(s) => text(GGSN_MCC_MNC, s),
            Self::Nsapi(s) => text(NSAPI, s),
            Self::SessionStopIndicator(b) => Ok((SESSION_STOP_INDICATOR, vec![*b])),
            Self::SelectionMode(s) => text(SELECTION_MODE, s),
            Self::ChargingCharacteristics(s) => text(CHARGING_CHARACTERISTICS, s),
            Self::CgIpv6Address(a) => Ok((CG_IPV6_ADDRESS, a.octets().to_vec())),
            Self::SgsnIpv6Address(a) => Ok((SGSN_IPV6_ADDRESS, a.octets().to_vec())),
            Self::GgsnIpv6Address(a) => Ok((GGSN_IPV6_ADDRESS, a.octets().to_vec())),
            Self::Ipv6DnsServers(list) => Ok((
                IPV6_DNS_SERVERS,
                list.iter().flat_map(|a| a.octets()).collect(),
            )),
            Self::SgsnMccMnc(s) => text(SGSN_MCC_MNC, s),
            Self::TeardownIndicator(b) => Ok((TEARDOWN_INDICATOR, vec![*b])),
            Self::Imeisv(s) => text(IMEISV, s),
            Self::RatType(r) => Ok((RAT_TYPE, vec![u8::from(*r)])),
            Self::UserLocationInfo(uli) => Ok((USER_LOCATION_INFO, uli.encode()?)),
            Self::MsTimeZone(tz) => Ok((MS_TIME_ZONE, tz.encode()?.to_vec())),
            Self::NegotiatedDscp(b) => Ok((NEGOTIATED_DSCP, vec![*b])),
            Self::AllocateIpType(b) => Ok((ALLOCATE_IP_TYPE, vec![*b])),
            Self::Other { kind, value } => Ok((*kind, value.clone())),
        }
    }

    /// A Vendor-Specific attribute carrying this value.
    pub fn to_attribute(&self) -> Result<Attribute, ValueError> {
        let (kind, value) = self.encode()?;
        Ok(Attribute::vendor(VENDOR_ID, kind, value))
    }
}

macro_rules! tgpp_readers {
    ($($(#[$meta:meta])* $name:ident: $kind:ident => $ret:ty = $conv:expr;)*) => {
        impl Packet {
            $(
                $(#[$meta])*
                pub fn $name(&self) -> Option<$ret> {
                    self.vendor_value(VENDOR_ID, $kind).and_then(|v| $conv(v).ok())
                }
            )*
        }
    };
}

tgpp_readers! {
    /// 3GPP-IMSI.
    imsi: IMSI => &str = decode_text;
    /// 3GPP-Charging-ID.
    charging_id: CHARGING_ID => u32 = decode_u32;
    /// 3GPP-PDP-Type.
    pdp_type: PDP_TYPE => PdpType = |v| decode_u32(v).map(PdpType::from);
    /// 3GPP-SGSN-Address: the serving SGSN/SGW.
    sgsn_address: SGSN_ADDRESS => Ipv4Addr = decode_ipv4;
    /// 3GPP-GGSN-Address: the GGSN/PGW.
    ggsn_address: GGSN_ADDRESS => Ipv4Addr = decode_ipv4;
    /// 3GPP-IMSI-MCC-MNC: the home network.
    imsi_mcc_mnc: IMSI_MCC_MNC => &str = decode_text;
    /// 3GPP-GGSN-MCC-MNC.
    ggsn_mcc_mnc: GGSN_MCC_MNC => &str = decode_text;
    /// 3GPP-SGSN-MCC-MNC: the serving network, differs from the home one when roaming.
    sgsn_mcc_mnc: SGSN_MCC_MNC => &str = decode_text;
    /// 3GPP-NSAPI.
    nsapi: NSAPI => &str = decode_text;
    /// 3GPP-Selection-Mode.
    selection_mode: SELECTION_MODE => &str = decode_text;
    /// 3GPP-Charging-Characteristics.
    charging_characteristics: CHARGING_CHARACTERISTICS => &str = decode_text;
    /// 3GPP-IMEISV: the device's IMEI (14 digits) or IMEISV (16 digits).
    imeisv: IMEISV => &str = decode_text;
    /// 3GPP-RAT-Type.
    rat_type: RAT_TYPE => RatType = |v| small_int(v).map(RatType::from);
    /// 3GPP-User-Location-Info.
    user_location_info: USER_LOCATION_INFO => UserLocationInfo = UserLocationInfo::decode;
    /// 3GPP-MS-TimeZone.
    ms_time_zone: MS_TIME_ZONE => MsTimeZone = MsTimeZone::decode;
    /// 3GPP-Negotiated-DSCP.
    negotiated_dscp: NEGOTIATED_DSCP => u8 = small_int;
    /// 3GPP-Session-Stop-Indicator.
    session_stop_indicator: SESSION_STOP_INDICATOR => u8 = |v| exact::<1>(v).map(|[b]| b);
}

impl Packet {
    /// All 3GPP sub-attributes, decoded, in wire order.
    pub fn tgpp_values(&self) -> impl Iterator<Item = Result<TgppValue, ValueError>> {
        self.vendor_sub_attributes(VENDOR_ID)
            .map(|s| TgppValue::decode(s.kind, &s.value))
    }
}
