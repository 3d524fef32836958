//! One journal entry: everything applying one request (or one session timeout) changed, in
//! the form the store folds. Written by the accounting writer before it answers, read back by
//! the folder. Written in the binary form of `binary` (its first byte is the format version);
//! entries of journals written before it are JSON objects (first byte `{`) and still fold.

use rampart_core::{AccountingRecord, RadiusSession, SimSighting, Timestamp};
use rampart_sessions::{Applied, RegistryIndex, SessionChange};
use rampart_store::AccountingOp;
use serde::{Deserialize, Serialize};

mod binary;
#[cfg(test)]
mod tests;

pub(crate) use binary::VERSION;

/// Why a journal entry payload could not be read (or written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The payload ends inside a field.
    #[error("journal entry cut short")]
    Truncated,
    /// A format version this build does not know (written by a newer Rampart).
    #[error("journal entry format version {0} is not known to this build")]
    Version(u8),
    /// A field holds a value the encoder never writes.
    #[error("invalid {0} in journal entry")]
    Invalid(&'static str),
    /// Bytes after the last field.
    #[error("{0} bytes after the journal entry")]
    Trailing(usize),
    /// A string longer than the format's 65,535 bytes (encoding only).
    #[error("string of {0} bytes too long for a journal entry")]
    TooLong(usize),
    /// A JSON entry of the earlier format that does not parse.
    #[error("journal entry in the JSON format: {0}")]
    Json(String),
}

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

/// An entry borrowed from what it describes: the writer encodes it without copying the
/// applied request, which it still needs afterwards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryRef<'a> {
    pub(crate) record: Option<&'a AccountingRecord>,
    pub(crate) change: ChangeRef<'a>,
    pub(crate) usage: Option<UsageRef<'a>>,
    pub(crate) sighting: Option<&'a SimSighting>,
    pub(crate) unknown: bool,
}

/// [`Change`], borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ChangeRef<'a> {
    None,
    Record,
    Upsert(&'a RadiusSession),
    End { nas: &'a str, session_id: &'a str },
    EndNas { nas: &'a str },
}

/// [`Usage`], borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageRef<'a> {
    pub(crate) imsi: &'a str,
    pub(crate) hour: Timestamp,
    pub(crate) up: u64,
    pub(crate) down: u64,
}

impl<'a> EntryRef<'a> {
    /// The entry for an applied request; `unknown` says whether its sighting's IMSI is not a
    /// registered SIM.
    pub(crate) fn applied(a: &'a Applied, unknown: bool) -> Self {
        let change = match &a.change {
            SessionChange::Upsert(s) if **s == a.record.session => ChangeRef::Record,
            SessionChange::Upsert(s) => ChangeRef::Upsert(s),
            SessionChange::End { nas, session_id } => ChangeRef::End { nas, session_id },
            SessionChange::EndNas { nas } => ChangeRef::EndNas { nas },
            SessionChange::None => ChangeRef::None,
        };
        Self {
            record: Some(&a.record),
            change,
            usage: a.usage.as_ref().map(|u| UsageRef {
                imsi: &u.imsi,
                hour: u.hour,
                up: u.up,
                down: u.down,
            }),
            sighting: a.sighting.as_ref(),
            unknown,
        }
    }

    /// The entry for a session ended by timeout.
    pub(crate) fn timeout(s: &'a RadiusSession) -> Self {
        Self {
            record: None,
            change: ChangeRef::End {
                nas: &s.nas,
                session_id: &s.session_id,
            },
            usage: None,
            sighting: None,
            unknown: false,
        }
    }

    /// Appends the binary form (the current format) to `out`; `out` is unchanged on error.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EntryError> {
        binary::encode(self, out)
    }
}

/// Whether the sighting of `a` names an IMSI that is not a registered SIM.
pub(crate) fn unknown_imsi(a: &Applied, registry: &RegistryIndex) -> bool {
    a.sighting
        .as_ref()
        .is_some_and(|s| registry.sim(&s.imsi).is_none())
}

impl Entry {
    /// The (NAS, Acct-Session-Id) whose row this entry upserts or deletes.
    pub(crate) fn session_key(&self) -> Option<(&str, &str)> {
        match (&self.change, &self.record) {
            (Change::Record, Some(r)) => Some((&r.session.nas, &r.session.session_id)),
            (Change::Upsert(s), _) => Some((&s.nas, &s.session_id)),
            (Change::End { nas, session_id }, _) => Some((nas, session_id)),
            _ => None,
        }
    }

    /// This entry, borrowed.
    pub(crate) fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            record: self.record.as_ref(),
            change: match &self.change {
                Change::None => ChangeRef::None,
                Change::Record => ChangeRef::Record,
                Change::Upsert(s) => ChangeRef::Upsert(s),
                Change::End { nas, session_id } => ChangeRef::End { nas, session_id },
                Change::EndNas { nas } => ChangeRef::EndNas { nas },
            },
            usage: self.usage.as_ref().map(|u| UsageRef {
                imsi: &u.imsi,
                hour: u.hour,
                up: u.up,
                down: u.down,
            }),
            sighting: self.sighting.as_ref(),
            unknown: self.unknown,
        }
    }

    /// Reads a payload of either format: binary (first byte the version) or the earlier JSON.
    pub(crate) fn decode(payload: &[u8]) -> Result<Self, EntryError> {
        match payload.first() {
            Some(&VERSION) => binary::decode(payload),
            Some(b'{') => {
                serde_json::from_slice(payload).map_err(|e| EntryError::Json(e.to_string()))
            }
            Some(&v) => Err(EntryError::Version(v)),
            None => Err(EntryError::Truncated),
        }
    }

    /// The store operations, in the order the store applies them.
    /// `upsert` false leaves out the session upsert: the caller knows a later change of
    /// the same session in the same transaction supersedes it.
    pub(crate) fn into_ops(self, ops: &mut Vec<AccountingOp>, upsert: bool) {
        let Self {
            record,
            change,
            usage,
            sighting,
            unknown,
        } = self;
        let session = match (&change, &record) {
            (Change::Record, Some(r)) if upsert => Some(Box::new(r.session.clone())),
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
            Change::Upsert(s) => {
                if upsert {
                    ops.push(AccountingOp::UpsertSession(s));
                }
            }
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
