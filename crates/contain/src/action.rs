//! The action enum playbooks build, and the context that executes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::{AuditLog, AuditWriter};
use crate::broker::DynsecClient;
use crate::dae::{DaeClient, DaeError, DaeExchange, DaeReply, SessionIdentity};
use crate::outcome::{ActionKind, Detail, Outcome, Status};
use crate::siem::{CefEvent, SyslogFormatter, SyslogSender, syslog};
use crate::telemetry::{self, count};
use crate::webhook::{WebhookClient, WebhookError};

/// One containment step. Serialisable, so playbooks can be data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// End the session on the NAS. Not reversible.
    RadiusDisconnect {
        /// NAS name in the context.
        nas: String,
        /// The session.
        session: SessionIdentity,
    },
    /// Apply the NAS's quarantine policy by CoA; undo restores its normal policy.
    RadiusQuarantine {
        /// NAS name in the context.
        nas: String,
        /// The session.
        session: SessionIdentity,
    },
    /// Disable the device's broker account; undo enables it unless it was disabled before.
    BrokerDisable {
        /// Dynsec username.
        username: String,
    },
    /// Drop whoever holds this MQTT client id. Not reversible.
    BrokerKick {
        /// MQTT client id.
        client_id: String,
    },
    /// POST a signed JSON payload. Not reversible.
    Webhook {
        /// Endpoint name in the context.
        endpoint: String,
        /// The JSON body.
        payload: serde_json::Value,
    },
    /// Send a CEF event to the SIEM. Not reversible.
    Siem {
        /// The event.
        event: CefEvent,
    },
}

/// What actions run against: clients by name, plus optional audit and SIEM sinks that every
/// outcome is written to.
#[derive(Debug, Default, Clone)]
pub struct Context {
    nas: HashMap<String, DaeClient>,
    broker: Option<DynsecClient>,
    webhooks: HashMap<String, WebhookClient>,
    siem: Option<(SyslogFormatter, Arc<SyslogSender>)>,
    audit: Option<Audit>,
}

/// Where outcomes are appended.
#[derive(Debug, Clone)]
enum Audit {
    /// Directly, one `fsync` per outcome, on a blocking thread.
    Log(Arc<Mutex<AuditLog>>),
    /// Through the group-committing writer.
    Writer(AuditWriter),
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a NAS client under its configured name.
    #[must_use]
    pub fn with_nas(mut self, client: DaeClient) -> Self {
        self.nas.insert(client.nas().name.clone(), client);
        self
    }

    /// Sets the broker client.
    #[must_use]
    pub fn with_broker(mut self, client: DynsecClient) -> Self {
        self.broker = Some(client);
        self
    }

    /// Adds a webhook endpoint under `name`.
    #[must_use]
    pub fn with_webhook(mut self, name: impl Into<String>, client: WebhookClient) -> Self {
        self.webhooks.insert(name.into(), client);
        self
    }

    /// Sends every outcome (and `Siem` actions) to this syslog collector.
    #[must_use]
    pub fn with_siem(mut self, formatter: SyslogFormatter, sender: Arc<SyslogSender>) -> Self {
        self.siem = Some((formatter, sender));
        self
    }

    /// Appends every outcome to this audit log.
    #[must_use]
    pub fn with_audit(mut self, log: Arc<Mutex<AuditLog>>) -> Self {
        self.audit = Some(Audit::Log(log));
        self
    }

    /// Appends every outcome through `writer`, which commits outcomes of concurrent actions
    /// together (each action still waits for its own line to be on disk).
    #[must_use]
    pub fn with_audit_writer(mut self, writer: AuditWriter) -> Self {
        self.audit = Some(Audit::Writer(writer));
        self
    }

    async fn record(&self, outcome: Outcome) -> Outcome {
        count(
            telemetry::ACTIONS_TOTAL,
            &[
                ("action", outcome.action.as_str()),
                ("status", outcome.status.as_str()),
            ],
        );
        tracing::info!(
            action = outcome.action.as_str(),
            undo = outcome.undo,
            target = %outcome.target,
            status = outcome.status.as_str(),
            attempts = outcome.attempts,
            error = outcome.error.as_deref().unwrap_or(""),
            "containment action finished"
        );
        let appended = match &self.audit {
            None => Ok(()),
            Some(Audit::Writer(w)) => w
                .append(&outcome)
                .await
                .map(drop)
                .map_err(|e| crate::outcome::error_chain(&e)),
            Some(Audit::Log(log)) => {
                let log = log.clone();
                let entry = outcome.clone();
                tokio::task::spawn_blocking(move || {
                    let mut log = log
                        .lock()
                        .map_err(|_| "audit log lock poisoned".to_owned())?;
                    log.append(&entry)
                        .map(drop)
                        .map_err(|e| crate::outcome::error_chain(&e))
                })
                .await
                .unwrap_or_else(|e| Err(format!("audit writer failed: {e}")))
            }
        };
        if let Err(error) = appended {
            tracing::error!(%error, "outcome not written to the audit log");
        }
        if outcome.action != ActionKind::Siem
            && let Some((formatter, sender)) = &self.siem
        {
            let event = outcome.to_cef();
            let msg = formatter.format(
                OffsetDateTime::now_utc(),
                syslog::severity_from_cef(event.severity),
                "contain",
                &event.format(),
            );
            if let Err(error) = sender.send(&msg).await {
                tracing::warn!(%error, "outcome not sent to the siem");
            }
        }
        outcome
    }
}

impl Action {
    /// The kind, for outcomes and metrics.
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::RadiusDisconnect { .. } => ActionKind::RadiusDisconnect,
            Self::RadiusQuarantine { .. } => ActionKind::RadiusQuarantine,
            Self::BrokerDisable { .. } => ActionKind::BrokerDisable,
            Self::BrokerKick { .. } => ActionKind::BrokerKick,
            Self::Webhook { .. } => ActionKind::Webhook,
            Self::Siem { .. } => ActionKind::Siem,
        }
    }

    fn target(&self) -> String {
        match self {
            Self::RadiusDisconnect { nas, session } | Self::RadiusQuarantine { nas, session } => {
                format!("{} on {nas}", session.label())
            }
            Self::BrokerDisable { username } => format!("user {username}"),
            Self::BrokerKick { client_id } => format!("client id {client_id}"),
            Self::Webhook { endpoint, .. } => format!("webhook {endpoint}"),
            Self::Siem { event } => format!("event {}", event.signature_id),
        }
    }

    /// Runs the action; never panics and never returns early without an outcome.
    pub async fn execute(&self, ctx: &Context) -> Outcome {
        let out = Outcome::new(self.kind(), false, self.target());
        let out = match self {
            Self::RadiusDisconnect { nas, session } => match ctx.nas.get(nas) {
                None => missing(out, "nas"),
                Some(client) => radius(out, nas, client.disconnect(session).await, true),
            },
            Self::RadiusQuarantine { nas, session } => match ctx.nas.get(nas) {
                None => missing(out, "nas"),
                Some(client) => radius(out, nas, client.quarantine(session).await, false),
            },
            Self::BrokerDisable { username } => match &ctx.broker {
                None => missing(out, "broker"),
                Some(broker) => {
                    let mut out = out;
                    out.detail = Detail::Broker {
                        subject: username.clone(),
                        was_disabled: None,
                    };
                    let (result, attempts) = broker.disable_counted(username).await;
                    out.attempts = attempts;
                    match result {
                        Ok(r) => {
                            out.detail = Detail::Broker {
                                subject: username.clone(),
                                was_disabled: Some(r.was_disabled),
                            };
                            out.finish(if r.was_disabled {
                                Status::AlreadyInState
                            } else {
                                Status::Applied
                            })
                        }
                        Err(e) => out.fail(&e),
                    }
                }
            },
            Self::BrokerKick { client_id } => match &ctx.broker {
                None => missing(out, "broker"),
                Some(broker) => {
                    let mut out = out;
                    out.detail = Detail::Broker {
                        subject: client_id.clone(),
                        was_disabled: None,
                    };
                    let (result, attempts) = broker.kick_counted(client_id).await;
                    out.attempts = attempts;
                    match result {
                        Ok(()) => out.finish(Status::Applied),
                        Err(e) => out.fail(&e),
                    }
                }
            },
            Self::Webhook { endpoint, payload } => match ctx.webhooks.get(endpoint) {
                None => missing(out, "webhook endpoint"),
                Some(client) => {
                    let (result, attempts) = client.send(payload).await;
                    webhook(out, endpoint, result, attempts)
                }
            },
            Self::Siem { event } => match &ctx.siem {
                None => missing(out, "siem"),
                Some((formatter, sender)) => {
                    let mut out = out;
                    out.attempts = 1;
                    let msg = formatter.format(
                        OffsetDateTime::now_utc(),
                        syslog::severity_from_cef(event.severity),
                        "alert",
                        &event.format(),
                    );
                    match sender.send(&msg).await {
                        Ok(()) => out.finish(Status::Applied),
                        Err(e) => out.fail(&e),
                    }
                }
            },
        };
        ctx.record(out).await
    }

    /// Reverses `done` (an outcome of this action) where the world allows: a quarantine CoA is
    /// followed by one restoring the normal policy, a disabled broker account is enabled
    /// again unless it was disabled before. Everything else reports `NotReversible`.
    pub async fn undo(&self, ctx: &Context, done: &Outcome) -> Outcome {
        let out = Outcome::new(self.kind(), true, self.target());
        let out = match self {
            Self::RadiusQuarantine { nas, session } => match ctx.nas.get(nas) {
                None => missing(out, "nas"),
                // A quarantine the NAS refused changed nothing; restoring anyway is harmless
                // (CoA is idempotent) and covers an ACK lost on the way back.
                Some(client) => radius(out, nas, client.restore(session).await, false),
            },
            Self::BrokerDisable { username } => {
                let was_disabled = match &done.detail {
                    Detail::Broker { was_disabled, .. } => *was_disabled,
                    _ => None,
                };
                match (&ctx.broker, was_disabled) {
                    (_, Some(true)) => out.finish(Status::AlreadyInState),
                    (None, _) => missing(out, "broker"),
                    (Some(broker), _) => {
                        let mut out = out;
                        out.detail = Detail::Broker {
                            subject: username.clone(),
                            was_disabled: Some(true),
                        };
                        let (result, attempts) = broker.enable_counted(username).await;
                        out.attempts = attempts;
                        match result {
                            Ok(()) => out.finish(Status::Applied),
                            Err(e) => out.fail(&e),
                        }
                    }
                }
            }
            Self::RadiusDisconnect { .. }
            | Self::BrokerKick { .. }
            | Self::Webhook { .. }
            | Self::Siem { .. } => out.finish(Status::NotReversible),
        };
        ctx.record(out).await
    }
}

fn missing(mut out: Outcome, what: &str) -> Outcome {
    out.error = Some(format!("no {what} configured under that name"));
    out.finish(Status::Failed)
}

/// Reads a Disconnect/CoA result: ACK applied; for a disconnect, NAK 503 (session context
/// not found) means the session is already gone, which is what was wanted.
fn radius(
    mut out: Outcome,
    nas: &str,
    result: Result<DaeExchange, DaeError>,
    disconnect: bool,
) -> Outcome {
    match result {
        Ok(exchange) => {
            out.attempts = exchange.attempts;
            let status = match &exchange.reply {
                DaeReply::Ack { .. } => Status::Applied,
                DaeReply::Nak { error_cause }
                    if disconnect && error_cause.as_ref().is_some_and(|c| c.is_session_gone()) =>
                {
                    Status::AlreadyInState
                }
                DaeReply::Nak { error_cause } => {
                    out.error = Some(match error_cause {
                        Some(c) => format!("nak: {} ({})", c.name, c.code),
                        None => "nak without error-cause".to_owned(),
                    });
                    Status::Failed
                }
            };
            out.detail = Detail::Radius {
                nas: nas.to_owned(),
                exchange: Some(exchange),
            };
            out.finish(status)
        }
        Err(error) => {
            out.attempts = error.attempts();
            out.detail = Detail::Radius {
                nas: nas.to_owned(),
                exchange: None,
            };
            out.fail(&error)
        }
    }
}

fn webhook(
    mut out: Outcome,
    endpoint: &str,
    result: Result<crate::webhook::Delivery, WebhookError>,
    attempts: u32,
) -> Outcome {
    out.attempts = attempts;
    match result {
        Ok(d) => {
            out.detail = Detail::Webhook {
                endpoint: endpoint.to_owned(),
                status: Some(d.status),
                delivery_id: Some(d.delivery_id),
            };
            out.finish(Status::Applied)
        }
        Err(error) => {
            let status = match &error {
                WebhookError::Status(s) => Some(*s),
                _ => None,
            };
            out.detail = Detail::Webhook {
                endpoint: endpoint.to_owned(),
                status,
                delivery_id: None,
            };
            out.fail(&error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_data() {
        let json =
            r#"{"type":"radius_quarantine","nas":"pgw1","session":{"imsi":"001010123456789"}}"#;
        let a: Action = serde_json::from_str(json).unwrap();
        assert_eq!(a.kind(), ActionKind::RadiusQuarantine);
        let back: Action = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    #[tokio::test]
    async fn unconfigured_targets_fail_cleanly_and_irreversible_undo_says_so() {
        let ctx = Context::new();
        let a = Action::RadiusDisconnect {
            nas: "nope".into(),
            session: SessionIdentity::default(),
        };
        let out = a.execute(&ctx).await;
        assert_eq!(out.status, Status::Failed);
        assert!(out.error.as_deref().unwrap().contains("no nas"));
        let undo = a.undo(&ctx, &out).await;
        assert_eq!((undo.status, undo.undo), (Status::NotReversible, true));
        let round: Outcome = serde_json::from_str(&serde_json::to_string(&out).unwrap()).unwrap();
        assert_eq!(round, out);
    }
}
