//! The in-process observation bus: ingesters publish [`Observation`]s, the detection stage (a
//! later component) subscribes. A bounded broadcast channel: a subscriber that falls behind
//! loses the oldest observations and is told how many (`RecvError::Lagged`), so a slow
//! consumer can never stall accounting. Observations carry their own event time; consumers
//! must not read the wall clock.

#![forbid(unsafe_code)]

use std::net::IpAddr;

use rampart_core::{
    AccountingRecord, AlertRecord, DeviceId, DeviceMetrics, DnsRecord, FlowRecord, NameRecord,
    TenantId, Timestamp,
};
use serde::Serialize;
use tokio::sync::broadcast;

/// Default capacity of the channel.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Something a source saw, at its event time.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub enum Observation {
    /// One accepted RADIUS Accounting-Request.
    Accounting(Box<AccountingObservation>),
    /// A flow from an exporter, a capture or a log.
    Flow(Box<Attributed<FlowRecord>>),
    /// A DNS answer.
    Dns(Box<Attributed<DnsRecord>>),
    /// A server name seen in TLS or HTTP.
    Name(Box<Attributed<NameRecord>>),
    /// An alert another engine raised.
    Alert(Box<Attributed<AlertRecord>>),
    /// A device's own metrics report.
    Metrics(Box<Attributed<DeviceMetrics>>),
}

impl Observation {
    /// When it happened (the source's own timestamp when it sent one).
    pub fn event_time(&self) -> Timestamp {
        match self {
            Self::Accounting(a) => a.record.event_time,
            Self::Flow(f) => f.record.end,
            Self::Dns(d) => d.record.time,
            Self::Name(n) => n.record.time,
            Self::Alert(a) => a.record.time,
            Self::Metrics(m) => m.record.time,
        }
    }

    /// The subject the observation is about (for accounting: the SIM's device).
    pub fn subject(&self) -> Subject {
        match self {
            Self::Accounting(a) => Subject {
                tenant: a.tenant.clone(),
                device_id: a.device_id.clone(),
                host: None,
            },
            Self::Flow(f) => f.subject.clone(),
            Self::Dns(d) => d.subject.clone(),
            Self::Name(n) => n.subject.clone(),
            Self::Alert(a) => a.subject.clone(),
            Self::Metrics(m) => m.subject.clone(),
        }
    }
}

/// Whom an observation concerns: a registered device when attribution found one, and the
/// device-side address (the key detection uses for hosts no registry names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct Subject {
    /// Owning tenant of the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The registered device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// The device-side address of the observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<IpAddr>,
}

impl Subject {
    /// A stable text key: `tenant/device` for registered devices, else the host address.
    pub fn key(&self) -> String {
        match (&self.tenant, &self.device_id, &self.host) {
            (Some(t), Some(d), _) => format!("{t}/{d}"),
            (_, _, Some(h)) => format!("host:{h}"),
            _ => "unattributed".to_owned(),
        }
    }
}

/// A record with the subject attribution gave it, and which side of a flow the subject is.
#[derive(Debug, Clone, Serialize)]
pub struct Attributed<T> {
    /// The record as the source produced it.
    pub record: T,
    /// Whom it concerns.
    pub subject: Subject,
    /// For flows, DNS, names and alerts: the subject is the responder/destination side (an
    /// inbound connection), not the originator.
    #[serde(default)]
    pub subject_is_responder: bool,
}

/// An accounting record and the device it was attributed to.
#[derive(Debug, Clone, Serialize)]
pub struct AccountingObservation {
    /// The record as stored.
    pub record: AccountingRecord,
    /// Owning tenant of the SIM, when registered.
    pub tenant: Option<TenantId>,
    /// Device the SIM is bound to, when registered and bound.
    pub device_id: Option<DeviceId>,
    /// The IMSI is not a registered SIM.
    pub unknown_imsi: bool,
}

/// Publisher side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Observation>,
}

impl Bus {
    /// A bus holding at most `capacity` observations per lagging subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes; with no subscriber the observation is dropped (nothing consumes it yet).
    pub fn publish(&self, observation: Observation) {
        // An error only means there is no subscriber.
        let _ignored = self.tx.send(observation);
    }

    /// A new subscriber, receiving what is published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Observation> {
        self.tx.subscribe()
    }
}

impl Default for Bus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}
