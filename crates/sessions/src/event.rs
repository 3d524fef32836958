//! One Accounting-Request reduced to what the session table needs, owned and typed.

use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use rampart_core::{Location, Timestamp};
use rampart_radius::{AcctStatusType, Packet, UserLocationInfo};

/// Why a verified Accounting-Request cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Acct-Status-Type is missing or not one of Start, Interim-Update, Stop, On, Off.
    #[error("missing or unsupported acct-status-type")]
    StatusType,
    /// A session record without Acct-Session-Id.
    #[error("missing acct-session-id")]
    SessionId,
}

/// What an accounting record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A session began.
    Start,
    /// A session is still up; counters are cumulative.
    Interim,
    /// A session ended.
    Stop,
    /// The NAS (re)started: all its sessions are gone.
    AccountingOn,
    /// The NAS is shutting down: all its sessions are gone.
    AccountingOff,
}

impl Status {
    /// RFC 2866 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Interim => "Interim-Update",
            Self::Stop => "Stop",
            Self::AccountingOn => "Accounting-On",
            Self::AccountingOff => "Accounting-Off",
        }
    }
}

/// The fields of an Accounting-Request that Rampart keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctEvent {
    /// What happened.
    pub status: Status,
    /// Name of the configured client that sent it.
    pub client: String,
    /// NAS-Identifier, else NAS-IP-Address, else NAS-IPv6-Address, else the client name.
    pub nas: String,
    /// Acct-Session-Id (empty for Accounting-On/Off).
    pub session_id: String,
    /// Acct-Multi-Session-Id.
    pub multi_session_id: Option<String>,
    /// 3GPP-IMSI, else User-Name when it is all digits.
    pub imsi: Option<String>,
    /// 3GPP-IMEISV.
    pub imeisv: Option<String>,
    /// Calling-Station-Id.
    pub msisdn: Option<String>,
    /// Framed-IP-Address.
    pub ipv4: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix.
    pub ipv6_prefix: Option<Ipv6Net>,
    /// Called-Station-Id.
    pub apn: Option<String>,
    /// 3GPP-RAT-Type name.
    pub rat: Option<String>,
    /// 3GPP-User-Location-Info, decoded.
    pub location: Option<Location>,
    /// Cumulative octets from the device (with Gigawords).
    pub input_octets: Option<u64>,
    /// Cumulative octets to the device.
    pub output_octets: Option<u64>,
    /// Cumulative packets from the device.
    pub input_packets: Option<u32>,
    /// Cumulative packets to the device.
    pub output_packets: Option<u32>,
    /// Acct-Session-Time.
    pub session_time: Option<u32>,
    /// Acct-Terminate-Cause.
    pub terminate_cause: Option<String>,
    /// Event-Timestamp, else the receive time.
    pub event_time: Timestamp,
    /// Wall-clock receive time.
    pub received_at: Timestamp,
}

impl AcctEvent {
    /// Reads a verified Accounting-Request. `client` is the configured client's name.
    pub fn from_packet(
        p: &Packet,
        client: &str,
        received_at: Timestamp,
    ) -> Result<Self, EventError> {
        let status = match p.acct_status_type() {
            Some(AcctStatusType::Start) => Status::Start,
            Some(AcctStatusType::InterimUpdate) => Status::Interim,
            Some(AcctStatusType::Stop) => Status::Stop,
            Some(AcctStatusType::AccountingOn) => Status::AccountingOn,
            Some(AcctStatusType::AccountingOff) => Status::AccountingOff,
            _ => return Err(EventError::StatusType),
        };
        let session_id = match (status, p.acct_session_id()) {
            (_, Some(id)) if !id.is_empty() => id.to_owned(),
            (Status::AccountingOn | Status::AccountingOff, _) => String::new(),
            _ => return Err(EventError::SessionId),
        };
        let nas = p
            .nas_identifier()
            .map(str::to_owned)
            .or_else(|| p.nas_ip_address().map(|a| a.to_string()))
            .or_else(|| p.nas_ipv6_address().map(|a| a.to_string()))
            .unwrap_or_else(|| client.to_owned());
        let imsi = p.imsi().map(str::to_owned).or_else(|| {
            p.user_name()
                .filter(|u| (6..=15).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
        });
        let event_time = p
            .event_timestamp()
            .map_or(received_at, |s| Timestamp(i64::from(s) * 1000));
        Ok(Self {
            status,
            client: client.to_owned(),
            nas,
            session_id,
            multi_session_id: p.acct_multi_session_id().map(str::to_owned),
            imsi,
            imeisv: p.imeisv().map(str::to_owned),
            msisdn: p.calling_station_id().map(str::to_owned),
            ipv4: p.framed_ip_address(),
            ipv6_prefix: p
                .framed_ipv6_prefix()
                .and_then(|x| Ipv6Net::new(x.addr(), x.len()).ok()),
            apn: p.called_station_id().map(str::to_owned),
            rat: p.rat_type().map(|r| match r.name() {
                Some(n) => n.to_owned(),
                None => format!("{r:?}"),
            }),
            location: p.user_location_info().as_ref().map(location),
            input_octets: p.input_octets64(),
            output_octets: p.output_octets64(),
            input_packets: p.acct_input_packets(),
            output_packets: p.acct_output_packets(),
            session_time: p.acct_session_time(),
            terminate_cause: p.acct_terminate_cause().map(|c| format!("{c:?}")),
            event_time,
            received_at,
        })
    }
}

/// The location fields an operator reads, whatever the location type.
pub fn location(uli: &UserLocationInfo) -> Location {
    let kind = match uli {
        UserLocationInfo::Cgi(_) => "CGI".to_owned(),
        UserLocationInfo::Sai(_) => "SAI".to_owned(),
        UserLocationInfo::Rai(_) => "RAI".to_owned(),
        UserLocationInfo::Tai(_) => "TAI".to_owned(),
        UserLocationInfo::Ecgi(_) => "ECGI".to_owned(),
        UserLocationInfo::TaiEcgi(..) => "TAI+ECGI".to_owned(),
        UserLocationInfo::Ncgi(_) => "NCGI".to_owned(),
        UserLocationInfo::FiveGsTai(_) => "5GS-TAI".to_owned(),
        UserLocationInfo::FiveGsTaiNcgi(..) => "5GS-TAI+NCGI".to_owned(),
        other => format!("type-{}", other.location_type()),
    };
    let ci = match uli {
        UserLocationInfo::Cgi(c) => Some(u32::from(c.ci)),
        UserLocationInfo::Sai(s) => Some(u32::from(s.sac)),
        _ => None,
    };
    Location {
        kind,
        mcc_mnc: uli.plmn().map(|p| p.to_string()),
        lac: uli.lac(),
        ci,
        tac: uli.tac(),
        eci: uli.eci(),
        nci: uli.nci(),
    }
}
