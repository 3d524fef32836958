//! Typed, serialisable results for incident timelines.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::dae::DaeExchange;
use crate::siem::CefEvent;

/// Which action produced an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// RFC 5176 Disconnect-Request.
    RadiusDisconnect,
    /// RFC 5176 CoA-Request applying the quarantine policy (its undo restores the normal one).
    RadiusQuarantine,
    /// Mosquitto dynsec `disableClient` (undo: `enableClient`).
    BrokerDisable,
    /// MQTT session takeover of a client id.
    BrokerKick,
    /// Signed webhook.
    Webhook,
    /// CEF event to the SIEM.
    Siem,
}

impl ActionKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RadiusDisconnect => "radius_disconnect",
            Self::RadiusQuarantine => "radius_quarantine",
            Self::BrokerDisable => "broker_disable",
            Self::BrokerKick => "broker_kick",
            Self::Webhook => "webhook",
            Self::Siem => "siem",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The change was made.
    Applied,
    /// The world was already in the wanted state (session already gone, client already
    /// disabled): nothing needed doing, which counts as success.
    AlreadyInState,
    /// The change could not be made; see `error`.
    Failed,
    /// An undo of something that cannot be undone (a disconnect, a sent notification).
    NotReversible,
}

impl Status {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::AlreadyInState => "already_in_state",
            Self::Failed => "failed",
            Self::NotReversible => "not_reversible",
        }
    }

    /// Whether the wanted state holds.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Applied | Self::AlreadyInState)
    }
}

/// Action-specific facts, including the prior state an undo needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Detail {
    /// Nothing to add.
    None,
    /// A RADIUS exchange (absent when nothing was answered).
    Radius {
        /// NAS name.
        nas: String,
        /// The answer, transmissions and ignored datagrams.
        exchange: Option<DaeExchange>,
    },
    /// A broker command.
    Broker {
        /// Dynsec username or MQTT client id.
        subject: String,
        /// Whether the client was disabled before (known once the broker answered).
        was_disabled: Option<bool>,
    },
    /// A webhook delivery.
    Webhook {
        /// Endpoint name.
        endpoint: String,
        /// Final HTTP status, if any answer came.
        status: Option<u16>,
        /// Delivery id (constant across retries).
        delivery_id: Option<String>,
    },
}

/// The record of one action or undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Which action.
    pub action: ActionKind,
    /// Whether this is the undo of an earlier outcome.
    pub undo: bool,
    /// What it acted on, human-readable (never a secret).
    pub target: String,
    /// How it ended.
    pub status: Status,
    /// Attempts made (transmissions, HTTP requests, broker round trips).
    pub attempts: u32,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Action-specific facts.
    pub detail: Detail,
    /// Why it failed (the error chain), for `Failed`.
    pub error: Option<String>,
}

impl Outcome {
    /// An outcome that knows nothing but its action: what an undo is given when the original
    /// outcome is lost (a restart); the undo then assumes the action changed the world.
    pub fn unknown(action: ActionKind, target: impl Into<String>) -> Self {
        Self::new(action, false, target.into()).finish(Status::Applied)
    }

    pub(crate) fn new(action: ActionKind, undo: bool, target: String) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            action,
            undo,
            target,
            status: Status::Failed,
            attempts: 0,
            started_at: now,
            finished_at: now,
            detail: Detail::None,
            error: None,
        }
    }

    pub(crate) fn finish(mut self, status: Status) -> Self {
        self.status = status;
        self.finished_at = OffsetDateTime::now_utc();
        self
    }

    pub(crate) fn fail(mut self, error: &(dyn std::error::Error + 'static)) -> Self {
        self.error = Some(error_chain(error));
        self.finish(Status::Failed)
    }

    /// The outcome as a CEF event (`contain.<action>` or `contain.<action>.undo`), for the
    /// SIEM.
    pub fn to_cef(&self) -> CefEvent {
        let sig = if self.undo {
            format!("contain.{}.undo", self.action.as_str())
        } else {
            format!("contain.{}", self.action.as_str())
        };
        let severity = match self.status {
            Status::Failed => 8,
            _ => 5,
        };
        let name = format!(
            "{}{} {}",
            self.action.as_str(),
            if self.undo { " undo" } else { "" },
            self.status.as_str()
        );
        let mut event = CefEvent::rampart(sig, name, severity)
            .ext("act", self.action.as_str())
            .ext("outcome", self.status.as_str())
            .ext("duser", self.target.clone())
            .ext("cn1", self.attempts.to_string())
            .ext("cn1Label", "attempts")
            .ext(
                "rt",
                (self.finished_at.unix_timestamp_nanos() / 1_000_000).to_string(),
            );
        if let Some(e) = &self.error {
            event = event.ext("reason", e.clone());
        }
        event
    }
}

/// `outer: inner: innermost`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
