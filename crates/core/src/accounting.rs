//! Connectivity records learnt from RADIUS accounting: live data sessions, where a SIM was
//! seen, how much it used. Plain data shared by the session table, the store and the API.

use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use crate::{DeviceId, TenantId, Timestamp};

/// A decoded 3GPP-User-Location-Info: the cell or area the device was in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    /// Location type of TS 29.061 (`CGI`, `SAI`, `RAI`, `TAI`, `ECGI`, `TAI+ECGI`, `NCGI`,
    /// `5GS-TAI`, `5GS-TAI+NCGI`, or `type-N` for others).
    pub kind: String,
    /// Serving network as `MCC-MNC`, e.g. `262-01`.
    #[serde(default)]
    pub mcc_mnc: Option<String>,
    /// Location Area Code (2G/3G).
    #[serde(default)]
    pub lac: Option<u16>,
    /// Cell Identity (CGI) or Service Area Code (SAI).
    #[serde(default)]
    pub ci: Option<u32>,
    /// Tracking Area Code (LTE and 5G).
    #[serde(default)]
    pub tac: Option<u32>,
    /// E-UTRAN Cell Identity (28 bits).
    #[serde(default)]
    pub eci: Option<u32>,
    /// NR Cell Identity (36 bits).
    #[serde(default)]
    pub nci: Option<u64>,
}

/// A live data session as the packet gateway reported it, keyed by (NAS, Acct-Session-Id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadiusSession {
    /// The reporting NAS: NAS-Identifier, else NAS-IP-Address, else the client's name.
    pub nas: String,
    /// Acct-Session-Id, unique per NAS.
    pub session_id: String,
    /// Acct-Multi-Session-Id.
    #[serde(default)]
    pub multi_session_id: Option<String>,
    /// 3GPP-IMSI (or User-Name when that is all there is), as sent.
    #[serde(default)]
    pub imsi: Option<String>,
    /// 3GPP-IMEISV, as sent.
    #[serde(default)]
    pub imeisv: Option<String>,
    /// Calling-Station-Id (the MSISDN on Gi/SGi).
    #[serde(default)]
    pub msisdn: Option<String>,
    /// Framed-IP-Address.
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix.
    #[serde(default)]
    pub ipv6_prefix: Option<Ipv6Net>,
    /// Called-Station-Id: the APN.
    #[serde(default)]
    pub apn: Option<String>,
    /// 3GPP-RAT-Type name, e.g. `EUTRAN`.
    #[serde(default)]
    pub rat: Option<String>,
    /// Last reported location.
    #[serde(default)]
    pub location: Option<Location>,
    /// Event time of the Start (or of the first record seen).
    pub started_at: Timestamp,
    /// Event time of the last record.
    pub updated_at: Timestamp,
    /// Cumulative octets from the device (Gigawords included).
    pub input_octets: u64,
    /// Cumulative octets to the device.
    pub output_octets: u64,
    /// Cumulative packets from the device.
    #[serde(default)]
    pub input_packets: u64,
    /// Cumulative packets to the device.
    #[serde(default)]
    pub output_packets: u64,
    /// Owning tenant, when the IMSI is a registered SIM (resolved when the record arrived).
    #[serde(default)]
    pub tenant: Option<TenantId>,
    /// Device the SIM was bound to when the record arrived.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
}

/// One accepted Accounting-Request, as persisted before it was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountingRecord {
    /// Acct-Status-Type name: `Start`, `Interim-Update`, `Stop`, `Accounting-On`, ...
    pub status: String,
    /// Event-Timestamp when present, else the receive time.
    pub event_time: Timestamp,
    /// Wall-clock receive time.
    pub received_at: Timestamp,
    /// Configured name of the RADIUS client that sent it.
    pub client: String,
    /// The session after this record was applied (for Accounting-On/Off: only `nas` is set).
    pub session: RadiusSession,
    /// Acct-Session-Time, seconds.
    #[serde(default)]
    pub session_time: Option<u32>,
    /// Acct-Terminate-Cause name, on Stop.
    #[serde(default)]
    pub terminate_cause: Option<String>,
}

/// Bytes a SIM moved in one hour (event time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageHour {
    /// Start of the hour.
    pub hour: Timestamp,
    /// Octets from the device.
    pub bytes_up: u64,
    /// Octets to the device.
    pub bytes_down: u64,
}

/// What was last seen of a SIM (by IMSI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimSighting {
    /// The IMSI.
    pub imsi: String,
    /// Last IMEISV reported with it.
    #[serde(default)]
    pub imeisv: Option<String>,
    /// Last location reported with it.
    #[serde(default)]
    pub location: Option<Location>,
    /// Event time of the last report.
    pub seen_at: Timestamp,
}

/// An IMSI that reported traffic but is not a registered SIM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownImsi {
    /// The IMSI as sent.
    pub imsi: String,
    /// First event time.
    pub first_seen: Timestamp,
    /// Last event time.
    pub last_seen: Timestamp,
    /// Accounting records seen.
    pub count: u64,
    /// NAS of the last record.
    #[serde(default)]
    pub last_nas: Option<String>,
    /// IMEISV of the last record.
    #[serde(default)]
    pub last_imeisv: Option<String>,
}
