//! One journal entry: everything applying one request (or one session timeout) changed, in
//! the form the store folds. Written by the accounting writer before it answers, read back by
//! the folder; JSON, like the store's own detail columns.

use rampart_core::{AccountingRecord, RadiusSession, SimSighting, Timestamp};
use rampart_sessions::{Applied, RegistryIndex, SessionChange};
use rampart_store::AccountingOp;
use serde::{Deserialize, Serialize};

/// How the session row changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Change {
    /// Nothing to write.
    None,
    /// Upsert the session the record carries (the usual case, stored once).
    Record,
    /// Upsert this session.
    Upsert(Box<RadiusSession>),
    /// Delete one session.
    End {
        /// NAS.
        nas: String,
        /// Acct-Session-Id.
        session_id: String,
    },
    /// Delete every session of a NAS.
    EndNas {
        /// NAS.
        nas: String,
    },
}

/// Octets credited to an IMSI's hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Usage {
    pub(crate) imsi: String,
    pub(crate) hour: Timestamp,
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// The entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The accepted record (absent for a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) record: Option<AccountingRecord>,
    pub(crate) change: Change,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sighting: Option<SimSighting>,
    /// The sighting's IMSI is not a registered SIM (at the time of the request).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) unknown: bool,
}

impl Entry {
    /// The entry for an applied request.
    pub(crate) fn applied(a: &Applied, registry: &RegistryIndex) -> Self {
        let change = match &a.change {
            SessionChange::Upsert(s) if **s == a.record.session => Change::Record,
            SessionChange::Upsert(s) => Change::Upsert(s.clone()),
            SessionChange::End { nas, session_id } => Change::End {
                nas: nas.clone(),
                session_id: session_id.clone(),
            },
            SessionChange::EndNas { nas } => Change::EndNas { nas: nas.clone() },
            SessionChange::None => Change::None,
        };
        Self {
            record: Some(a.record.clone()),
            change,
            usage: a.usage.as_ref().map(|u| Usage {
                imsi: u.imsi.clone(),
                hour: u.hour,
                up: u.up,
                down: u.down,
            }),
            sighting: a.sighting.clone(),
            unknown: a
                .sighting
                .as_ref()
                .is_some_and(|s| registry.sim(&s.imsi).is_none()),
        }
    }

    /// The entry for a session ended by timeout.
    pub(crate) fn timeout(s: &RadiusSession) -> Self {
        Self {
            record: None,
            change: Change::End {
                nas: s.nas.clone(),
                session_id: s.session_id.clone(),
            },
            usage: None,
            sighting: None,
            unknown: false,
        }
    }

    /// The store operations, in the order the store applies them.
    pub(crate) fn into_ops(self, ops: &mut Vec<AccountingOp>) {
        let Self {
            record,
            change,
            usage,
            sighting,
            unknown,
        } = self;
        let session = match (&change, &record) {
            (Change::Record, Some(r)) => Some(Box::new(r.session.clone())),
            _ => None,
        };
        let (at, nas) = record.as_ref().map_or((Timestamp(0), String::new()), |r| {
            (r.event_time, r.session.nas.clone())
        });
        if let Some(r) = record {
            ops.push(AccountingOp::Record(Box::new(r)));
        }
        match change {
            Change::None => {}
            Change::Record => {
                if let Some(s) = session {
                    ops.push(AccountingOp::UpsertSession(s));
                }
            }
            Change::Upsert(s) => ops.push(AccountingOp::UpsertSession(s)),
            Change::End { nas, session_id } => {
                ops.push(AccountingOp::EndSession { nas, session_id });
            }
            Change::EndNas { nas } => ops.push(AccountingOp::EndNas { nas }),
        }
        if let Some(u) = usage {
            ops.push(AccountingOp::Usage {
                imsi: u.imsi,
                hour: u.hour,
                up: u.up,
                down: u.down,
            });
        }
        if let Some(s) = sighting {
            if unknown {
                ops.push(AccountingOp::UnknownImsi {
                    imsi: s.imsi.clone(),
                    at,
                    nas,
                    imeisv: s.imeisv.clone(),
                });
            }
            ops.push(AccountingOp::Sighting(Box::new(s)));
        }
    }
}
