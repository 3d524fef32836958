//! The in-process observation bus: ingesters publish [`Observation`]s, the detection stage (a
//! later component) subscribes. A bounded broadcast channel: a subscriber that falls behind
//! loses the oldest observations and is told how many (`RecvError::Lagged`), so a slow
//! consumer can never stall accounting. Observations carry their own event time; consumers
//! must not read the wall clock.

#![forbid(unsafe_code)]

use rampart_core::{AccountingRecord, DeviceId, TenantId, Timestamp};
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
}

impl Observation {
    /// When it happened (the source's own timestamp when it sent one).
    pub fn event_time(&self) -> Timestamp {
        match self {
            Self::Accounting(a) => a.record.event_time,
        }
    }
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
