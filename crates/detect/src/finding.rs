//! What detection says: a [`Finding`] about one subject, with the evidence that convicted it
//! and the threshold or baseline it was measured against, so an operator can check the call
//! without re-running anything.

use std::net::IpAddr;

use rampart_bus::Subject;
use rampart_core::{ConnState, FlowRecord, Timestamp};
use serde::{Deserialize, Serialize};

/// How bad it is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth recording, not worth a look.
    #[default]
    Info,
    /// Unusual, probably harmless.
    Low,
    /// Should be looked at.
    Medium,
    /// Very likely a compromise or a policy breach.
    High,
    /// Act now.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What was found. The [`Category`] groups kinds the way labelled data sets name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The SIM is in equipment outside its allowed IMEIs (or not the learned one).
    SimImeiMismatch,
    /// One equipment (IMEI) was seen with several SIMs.
    ImeiSharedBySims,
    /// Serving network or cell outside the allowed zones.
    LocationOutsideZone,
    /// The device entered a country it was not seen in before.
    NewCountry,
    /// GPS position outside the geofence.
    Geofence,
    /// Two positions too far apart for the time between them.
    ImpossibleTravel,
    /// Usage over a fixed cap for the period.
    DataCap,
    /// Usage far above the device's own (or its profile's) baseline.
    DataAnomaly,
    /// Many session starts in a short time.
    ReconnectStorm,
    /// Too many sessions open at once.
    ConcurrentSessions,
    /// A device that used to report went quiet.
    Silent,
    /// Many destinations probed on one port.
    HorizontalScan,
    /// Many ports probed on one host.
    VerticalScan,
    /// Repeated attempts to (or traffic with) a command-and-control endpoint.
    CommandAndControl,
    /// A destination or name listed in a threat-intelligence feed.
    ThreatIntel,
    /// IRC, a classic botnet control channel.
    Irc,
    /// Connections at regular intervals to one endpoint.
    Beaconing,
    /// The device takes part in a flood.
    Ddos,
    /// Traffic outside the profile's allow-list or MUD policy.
    UnexpectedTraffic,
    /// Another engine's alert (Suricata, Zeek) about the device.
    EngineAlert,
    /// A declarative behaviour rule fired.
    Rule,
    /// A device certificate expires soon, or its newest certificate has expired.
    CertificateExpiring,
    /// A revoked certificate is still presented to Rampart's endpoints.
    RevokedCertificateInUse,
    /// One public key is certified for several devices.
    SharedKey,
    /// One certificate is used from several addresses at once.
    SharedCertificate,
    /// An active device has no valid (unrevoked, unexpired) certificate.
    DeviceWithoutIdentity,
    /// A certified key is below the key policy (type or size).
    WeakKey,
    /// A SIM whose IMEI policy accepts any equipment.
    SimWithoutImeiLock,
    /// A root or issuing CA certificate expires soon.
    CaExpiring,
}

/// Families of kinds, the granularity labelled data is scored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// SIM/IMEI binding.
    Identity,
    /// Where the device is.
    Location,
    /// How much it uses.
    Usage,
    /// Connectivity sessions.
    Session,
    /// Reconnaissance.
    Scan,
    /// Command and control, downloads of tools, known-bad endpoints.
    C2,
    /// Flooding.
    Ddos,
    /// Expected-behaviour policies.
    Policy,
    /// Other engines' alerts.
    Alert,
    /// Declarative rules.
    Rule,
    /// Identity hygiene: configuration audit results, not behaviour (never a flow verdict).
    Hygiene,
}

impl FindingKind {
    /// The family the kind belongs to.
    pub fn category(self) -> Category {
        use FindingKind as K;
        match self {
            K::SimImeiMismatch | K::ImeiSharedBySims => Category::Identity,
            K::LocationOutsideZone | K::NewCountry | K::Geofence | K::ImpossibleTravel => {
                Category::Location
            }
            K::DataCap | K::DataAnomaly => Category::Usage,
            K::ReconnectStorm | K::ConcurrentSessions | K::Silent => Category::Session,
            K::HorizontalScan | K::VerticalScan => Category::Scan,
            K::CommandAndControl | K::ThreatIntel | K::Irc | K::Beaconing => Category::C2,
            K::Ddos => Category::Ddos,
            K::UnexpectedTraffic => Category::Policy,
            K::EngineAlert => Category::Alert,
            K::Rule => Category::Rule,
            K::CertificateExpiring
            | K::RevokedCertificateInUse
            | K::SharedKey
            | K::SharedCertificate
            | K::DeviceWithoutIdentity
            | K::WeakKey
            | K::SimWithoutImeiLock
            | K::CaExpiring => Category::Hygiene,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        use FindingKind as K;
        match self {
            K::SimImeiMismatch => "sim_imei_mismatch",
            K::ImeiSharedBySims => "imei_shared_by_sims",
            K::LocationOutsideZone => "location_outside_zone",
            K::NewCountry => "new_country",
            K::Geofence => "geofence",
            K::ImpossibleTravel => "impossible_travel",
            K::DataCap => "data_cap",
            K::DataAnomaly => "data_anomaly",
            K::ReconnectStorm => "reconnect_storm",
            K::ConcurrentSessions => "concurrent_sessions",
            K::Silent => "silent",
            K::HorizontalScan => "horizontal_scan",
            K::VerticalScan => "vertical_scan",
            K::CommandAndControl => "command_and_control",
            K::ThreatIntel => "threat_intel",
            K::Irc => "irc",
            K::Beaconing => "beaconing",
            K::Ddos => "ddos",
            K::UnexpectedTraffic => "unexpected_traffic",
            K::EngineAlert => "engine_alert",
            K::Rule => "rule",
            K::CertificateExpiring => "certificate_expiring",
            K::RevokedCertificateInUse => "revoked_certificate_in_use",
            K::SharedKey => "shared_key",
            K::SharedCertificate => "shared_certificate",
            K::DeviceWithoutIdentity => "device_without_identity",
            K::WeakKey => "weak_key",
            K::SimWithoutImeiLock => "sim_without_imei_lock",
            K::CaExpiring => "ca_expiring",
        }
    }
}

/// Which flows of the device a finding implicates beyond its evidence: later (and recent
/// earlier) flows that match are the same activity (the C2 host, the scan's port, the flood's
/// target). Unset fields match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Pattern {
    /// Remote address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
    /// Remote port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// IP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u8>,
    /// Only failed connection attempts match (a scan's probes, not the device's service).
    #[serde(default)]
    pub failed_only: bool,
}

impl Pattern {
    /// Whether a flow of the device (as originator) is part of the activity.
    pub fn matches(&self, flow: &FlowNote) -> bool {
        self.dst.is_none_or(|d| d == flow.remote)
            && self.dst_port.is_none_or(|p| p == flow.remote_port)
            && self.protocol.is_none_or(|p| p == flow.protocol)
            && (!self.failed_only || flow.failed)
    }
}

/// The facts of a flow a verdict needs, seen from the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowNote {
    /// Source id (Zeek uid, Suricata flow id).
    pub uid: Option<Box<str>>,
    /// The other side.
    pub remote: IpAddr,
    /// The other side's port.
    pub remote_port: u16,
    /// IP protocol.
    pub protocol: u8,
    /// First packet, ms.
    pub start: i64,
    /// Last packet, ms.
    pub end: i64,
    /// A failed TCP connection attempt.
    pub failed: bool,
}

/// One flow, session, answer, alert or measurement that contributed to a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// A flow.
    Flow(FlowEvidence),
    /// A DNS answer or a server name.
    Name {
        /// Event time.
        time: Timestamp,
        /// The name.
        name: Box<str>,
        /// Addresses it resolved to (or the server contacted).
        addrs: Vec<IpAddr>,
    },
    /// An accounting record.
    Session {
        /// Event time.
        time: Timestamp,
        /// Acct-Status-Type.
        status: String,
        /// NAS and Acct-Session-Id.
        session: String,
        /// IMSI.
        #[serde(default)]
        imsi: Option<String>,
        /// IMEISV.
        #[serde(default)]
        imeisv: Option<String>,
        /// Serving network / cell, as text.
        #[serde(default)]
        location: Option<String>,
    },
    /// Another engine's alert.
    Alert {
        /// Event time.
        time: Timestamp,
        /// Signature.
        signature: Box<str>,
        /// Signature id.
        signature_id: u64,
        /// Engine severity (1 high .. 3 low).
        engine_severity: u8,
        /// Source, destination, ports, protocol.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// A measured value.
    Metric {
        /// Event time.
        time: Timestamp,
        /// Metric name.
        name: String,
        /// Value.
        value: f64,
    },
}

/// A flow as evidence: its id, 5-tuple, times and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEvidence {
    /// Source id, when the source has one.
    #[serde(default)]
    pub uid: Option<Box<str>>,
    /// Originator.
    pub src: IpAddr,
    /// Originator port.
    pub src_port: u16,
    /// Responder.
    pub dst: IpAddr,
    /// Responder port.
    pub dst_port: u16,
    /// IP protocol.
    pub protocol: u8,
    /// First packet.
    pub start: Timestamp,
    /// Last packet.
    pub end: Timestamp,
    /// Packets originator → responder.
    pub packets: u64,
    /// Packets back.
    pub rev_packets: u64,
    /// Bytes originator → responder.
    pub bytes: u64,
    /// Bytes back.
    pub rev_bytes: u64,
    /// Zeek-style state.
    pub state: ConnState,
}

impl FlowEvidence {
    /// The evidence form of a flow.
    pub fn of(flow: &FlowRecord) -> Self {
        Self {
            uid: flow.uid.clone(),
            src: flow.src,
            src_port: flow.src_port,
            dst: flow.dst,
            dst_port: flow.dst_port,
            protocol: flow.protocol,
            start: flow.start,
            end: flow.end,
            packets: flow.packets,
            rev_packets: flow.rev_packets,
            bytes: flow.bytes,
            rev_bytes: flow.rev_bytes,
            state: flow.state,
        }
    }
}

impl Evidence {
    /// The flow id, when the evidence is a flow that has one.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Self::Flow(f) => f.uid.as_deref(),
            _ => None,
        }
    }
}

/// The bar a finding was measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// What was measured (`failed_attempts`, `distinct_destinations`, `packets_per_s`, ...).
    pub metric: String,
    /// The limit or baseline.
    pub limit: f64,
    /// What was observed.
    pub observed: f64,
    /// How the limit was obtained (`fixed`, `device_baseline`, `profile_p99`, ...).
    pub basis: String,
}

/// Whether a finding still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlarmState {
    /// Raised and not cleared; repeats update it.
    #[default]
    Active,
    /// The condition went away (a later repeat raises a new finding).
    Cleared,
}

/// A conclusion about one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: the same input gives the same id.
    pub id: String,
    /// What was found.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// About whom.
    #[serde(with = "crate::subject_serde")]
    pub subject: Subject,
    /// Event time of the earliest evidence.
    pub first_seen: Timestamp,
    /// Event time of the latest evidence (repeats move it).
    pub last_seen: Timestamp,
    /// Event time at which the finding was raised.
    pub raised_at: Timestamp,
    /// One line for a human.
    pub summary: String,
    /// The observations that triggered it (bounded; see `evidence_count`).
    pub evidence: Vec<Evidence>,
    /// How many observations contributed, including those not kept in `evidence`.
    pub evidence_count: u64,
    /// The threshold or baseline used.
    pub threshold: Threshold,
    /// Which other flows of the device are this activity.
    #[serde(default)]
    pub pattern: Option<Pattern>,
    /// The declarative rule, for [`FindingKind::Rule`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Active or cleared.
    #[serde(default)]
    pub state: AlarmState,
    /// Event time it was cleared.
    #[serde(default)]
    pub cleared_at: Option<Timestamp>,
}

/// A change to the set of findings, in the order the engine decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FindingEvent {
    /// A new finding.
    Raised(Box<Finding>),
    /// An active finding saw more evidence.
    Updated {
        /// Finding id.
        id: String,
        /// New last-seen time.
        last_seen: Timestamp,
        /// Evidence count so far.
        evidence_count: u64,
    },
    /// A finding was cleared.
    Cleared {
        /// Finding id.
        id: String,
        /// Event time of the clearing.
        at: Timestamp,
    },
}

/// A deterministic id: FNV-1a over the parts, in hex. Same input, same id, in replay and live.
pub(crate) fn finding_id(subject: &Subject, kind: FindingKind, at: i64, salt: u64) -> String {
    let mut h = Fnv::default();
    h.write(subject.key().as_bytes());
    h.write(kind.as_str().as_bytes());
    h.write(&at.to_le_bytes());
    h.write(&salt.to_le_bytes());
    format!("{:016x}", h.0)
}

/// FNV-1a, 64 bits: stable across runs and builds (unlike the std hasher's keys).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub(crate) fn ip(addr: IpAddr) -> u64 {
        let mut h = Self::default();
        match addr {
            IpAddr::V4(a) => h.write(&a.octets()),
            IpAddr::V6(a) => h.write(&a.octets()),
        }
        mix(h.0)
    }
}

/// A finaliser so low bits of a hash are usable as bitmap positions.
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}
