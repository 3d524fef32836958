//! [`DeviceActions`] over the real world: the NAS carrying the device's live session (RFC 5176),
//! the broker (Mosquitto dynamic security), the registry, webhooks and the SIEM. Every
//! outcome also goes to the hash-chained audit log through the containment context.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use rampart_contain::dae::SessionIdentity;
use rampart_contain::{Action, ActionKind, Context, Outcome, Status};
use rampart_core::{DeviceState, Label, RadiusSession};
use rampart_playbook::ActionSpec;
use rampart_store::{PageRequest, SimFilter, Store};
use serde_json::json;

use crate::actions::{ActionResult, ActionTarget, DeviceActions};
use crate::config::NasEntry;
use crate::recent::RecentDevices;

/// Finds a SIM's live RADIUS session (the in-memory session table of the accounting server).
pub trait SessionLookup: Send + Sync {
    /// The live session of `imsi`, if any.
    fn session_of_imsi(&self, imsi: &str) -> Option<RadiusSession>;
}

/// Revokes a device's certificates and cuts its sessions (the identity authority).
#[async_trait]
pub trait Revoker: Send + Sync {
    /// Revokes every certificate of the device; returns a short description.
    async fn revoke_device(&self, target: &ActionTarget) -> Result<String, String>;
}

/// Broker outcomes kept for undo (whether a client was disabled before we disabled it).
const MEMO_CAP: usize = 1_000_000;

/// The actions as the server runs them.
pub struct ContainActions {
    store: Arc<dyn Store>,
    ctx: Context,
    nas: Vec<NasEntry>,
    sessions: Arc<dyn SessionLookup>,
    broker_user: Option<String>,
    quarantine_group: Option<Label>,
    revoker: Option<Arc<dyn Revoker>>,
    recent: Option<Arc<dyn RecentDevices>>,
    memo: Mutex<HashMap<String, Outcome>>,
}

impl ContainActions {
    /// Actions through `ctx` (clients by name, audit and SIEM sinks), the registry in `store`
    /// and the live sessions in `sessions`. `broker_user` is the template of a device's broker
    /// user name (`{device}`, `{tenant}`); `None` means no broker is configured.
    pub fn new(
        store: Arc<dyn Store>,
        ctx: Context,
        nas: Vec<NasEntry>,
        sessions: Arc<dyn SessionLookup>,
        broker_user: Option<String>,
        quarantine_group: Option<Label>,
        revoker: Option<Arc<dyn Revoker>>,
    ) -> Self {
        Self {
            store,
            ctx,
            nas,
            sessions,
            broker_user,
            quarantine_group,
            revoker,
            recent: None,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a device's SIMs from `recent` when it described them a moment ago, instead of
    /// reading the store before a RADIUS action.
    #[must_use]
    pub fn with_recent(mut self, recent: Arc<dyn RecentDevices>) -> Self {
        self.recent = Some(recent);
        self
    }

    fn username(&self, t: &ActionTarget) -> Option<String> {
        self.broker_user.as_ref().map(|tpl| {
            tpl.replace("{device}", t.device.as_str())
                .replace("{tenant}", t.tenant.as_str())
        })
    }

    /// The device's live sessions with the NAS that can end each: its SIMs as the registry
    /// described them a moment ago when that finds a session, else as the store has them.
    async fn sessions(&self, t: &ActionTarget) -> Result<Vec<(String, RadiusSession)>, String> {
        if let Some(d) = self
            .recent
            .as_ref()
            .and_then(|r| r.recent(&t.tenant, &t.device))
        {
            let out = self.live(d.imsis.iter().map(String::as_str))?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        let filter = SimFilter {
            device_id: Some(t.device.clone()),
            ..SimFilter::default()
        };
        let page = PageRequest {
            after: None,
            limit: 16,
        };
        let sims = self
            .store
            .list_sims(&t.tenant, &filter, &page)
            .await
            .map_err(|e| format!("registry: {e}"))?;
        self.live(sims.items.iter().map(|s| s.imsi.as_str()))
    }

    /// The live sessions of these IMSIs, each with the NAS that can end it.
    fn live<'a>(
        &self,
        imsis: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<(String, RadiusSession)>, String> {
        let mut out = Vec::new();
        for imsi in imsis {
            if let Some(s) = self.sessions.session_of_imsi(imsi) {
                let nas = self
                    .nas
                    .iter()
                    .find(|n| n.serves(&s.nas))
                    .map(|n| n.name.clone())
                    .ok_or_else(|| {
                        format!(
                            "no [[respond.nas]] serves NAS {:?} of session {}",
                            s.nas, s.session_id
                        )
                    })?;
                out.push((nas, s));
            }
        }
        Ok(out)
    }

    async fn radius(&self, t: &ActionTarget, quarantine: bool, undo: bool) -> ActionResult {
        let name = if quarantine {
            "radius_quarantine"
        } else {
            "radius_disconnect"
        };
        let sessions = match self.sessions(t).await {
            Ok(s) => s,
            Err(e) => return failed(name, undo, t, e),
        };
        if sessions.is_empty() {
            return ActionResult {
                succeeded: true,
                action: name.into(),
                undo,
                status: Status::AlreadyInState.as_str().into(),
                target: format!("{}/{}", t.tenant, t.device),
                detail: json!({"note": "no live session"}),
            };
        }
        let mut outcomes = Vec::with_capacity(sessions.len());
        for (nas, s) in sessions {
            let session = SessionIdentity {
                user_name: None,
                acct_session_id: Some(s.session_id.clone()),
                framed_ip: s.ipv4,
                imsi: s.imsi.clone(),
                calling_station_id: s.msisdn.clone(),
            };
            let o = match (quarantine, undo) {
                (false, false) => {
                    Action::RadiusDisconnect { nas, session }
                        .execute(&self.ctx)
                        .await
                }
                (false, true) => {
                    let a = Action::RadiusDisconnect { nas, session };
                    let prior = Outcome::unknown(ActionKind::RadiusDisconnect, "");
                    a.undo(&self.ctx, &prior).await
                }
                (true, false) => {
                    Action::RadiusQuarantine { nas, session }
                        .execute(&self.ctx)
                        .await
                }
                (true, true) => {
                    let a = Action::RadiusQuarantine { nas, session };
                    let prior = Outcome::unknown(ActionKind::RadiusQuarantine, "");
                    a.undo(&self.ctx, &prior).await
                }
            };
            outcomes.push(o);
        }
        combine(name, undo, outcomes)
    }

    async fn broker(&self, t: &ActionTarget, undo: bool) -> ActionResult {
        let Some(username) = self.username(t) else {
            return failed(
                "broker_disable",
                undo,
                t,
                "no [respond.broker] configured".into(),
            );
        };
        let action = Action::BrokerDisable {
            username: username.clone(),
        };
        let o = if undo {
            let prior = self
                .memo
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&username)
                .unwrap_or_else(|| Outcome::unknown(ActionKind::BrokerDisable, &username));
            action.undo(&self.ctx, &prior).await
        } else {
            let o = action.execute(&self.ctx).await;
            if o.status.is_success() {
                let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
                if memo.len() < MEMO_CAP {
                    // A second disable of an already disabled client must not make undo
                    // forget that we disabled it first.
                    memo.entry(username).or_insert_with(|| o.clone());
                }
            }
            o
        };
        combine("broker_disable", undo, vec![o])
    }

    async fn kick(&self, t: &ActionTarget, undo: bool) -> ActionResult {
        let Some(username) = self.username(t) else {
            return failed(
                "broker_kick",
                undo,
                t,
                "no [respond.broker] configured".into(),
            );
        };
        let action = Action::BrokerKick {
            client_id: username,
        };
        let o = if undo {
            action
                .undo(&self.ctx, &Outcome::unknown(ActionKind::BrokerKick, ""))
                .await
        } else {
            action.execute(&self.ctx).await
        };
        combine("broker_kick", undo, vec![o])
    }

    async fn registry(&self, t: &ActionTarget, spec: &ActionSpec, undo: bool) -> ActionResult {
        let name = spec.name().as_str();
        let device = match self.store.get_device(&t.tenant, &t.device).await {
            Ok(Some(d)) => d,
            Ok(None) => return failed(name, undo, t, "device not registered".into()),
            Err(e) => return failed(name, undo, t, format!("registry: {e}")),
        };
        let mut d = device.clone();
        let (wanted, group) = match spec {
            ActionSpec::RegistryQuarantine => (
                Some(DeviceState::Quarantined),
                self.quarantine_group.clone(),
            ),
            ActionSpec::RegistryDisable => (Some(DeviceState::Disabled), None),
            ActionSpec::MoveToGroup { group } => (None, Some(group.clone())),
            _ => (None, None),
        };
        if let Some(state) = wanted {
            d.state = if undo {
                if d.state == state {
                    DeviceState::Active
                } else {
                    d.state
                }
            } else {
                state
            };
        }
        if let Some(g) = group {
            if undo {
                d.groups.retain(|x| x != &g);
            } else if !d.groups.contains(&g) {
                d.groups.push(g);
            }
        }
        let target = format!("device {}/{}", t.tenant, t.device);
        if d == device {
            return ActionResult {
                succeeded: true,
                action: name.into(),
                undo,
                status: Status::AlreadyInState.as_str().into(),
                target,
                detail: json!({"state": d.state.as_str()}),
            };
        }
        match self.store.update_device(&d).await {
            Ok(after) => ActionResult {
                succeeded: true,
                action: name.into(),
                undo,
                status: Status::Applied.as_str().into(),
                target,
                detail: json!({
                    "state_before": device.state.as_str(),
                    "state": after.state.as_str(),
                    "groups": after.groups.iter().map(Label::as_str).collect::<Vec<_>>(),
                }),
            },
            Err(e) => failed(name, undo, t, format!("registry: {e}")),
        }
    }
}

fn failed(action: &str, undo: bool, t: &ActionTarget, error: String) -> ActionResult {
    ActionResult {
        succeeded: false,
        action: action.into(),
        undo,
        status: Status::Failed.as_str().into(),
        target: format!("{}/{}", t.tenant, t.device),
        detail: json!({ "error": error }),
    }
}

/// One result for the outcomes of one action (a device with two SIMs has two sessions).
fn combine(action: &str, undo: bool, outcomes: Vec<Outcome>) -> ActionResult {
    let succeeded = outcomes
        .iter()
        .all(|o| o.status.is_success() || o.status == Status::NotReversible);
    let status = if !succeeded {
        Status::Failed
    } else if outcomes.iter().any(|o| o.status == Status::Applied) {
        Status::Applied
    } else {
        outcomes
            .first()
            .map_or(Status::AlreadyInState, |o| o.status)
    };
    let target = outcomes
        .iter()
        .map(|o| o.target.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    ActionResult {
        succeeded,
        action: action.into(),
        undo,
        status: status.as_str().into(),
        target,
        detail: json!({ "outcomes": outcomes }),
    }
}

#[async_trait]
impl DeviceActions for ContainActions {
    async fn apply(
        &self,
        target: &ActionTarget,
        action: &ActionSpec,
        undo: bool,
        actor: &str,
    ) -> ActionResult {
        tracing::debug!(actor, action = action.name().as_str(), undo, device = %target.device, "action");
        match action {
            ActionSpec::RadiusDisconnect => self.radius(target, false, undo).await,
            ActionSpec::RadiusQuarantine => self.radius(target, true, undo).await,
            ActionSpec::BrokerDisable => self.broker(target, undo).await,
            ActionSpec::BrokerKick => self.kick(target, undo).await,
            ActionSpec::RegistryQuarantine
            | ActionSpec::RegistryDisable
            | ActionSpec::MoveToGroup { .. } => self.registry(target, action, undo).await,
            ActionSpec::Webhook { endpoint } => {
                let payload = json!({
                    "event": if undo { "rampart.action.undo" } else { "rampart.action" },
                    "tenant": target.tenant.as_str(),
                    "device": target.device.as_str(),
                    "actor": actor,
                });
                let a = Action::Webhook {
                    endpoint: endpoint.clone(),
                    payload,
                };
                // A notification cannot be unsent; the undo is announced instead.
                let o = a.execute(&self.ctx).await;
                combine("webhook", undo, vec![o])
            }
            ActionSpec::Siem => {
                let event = rampart_contain::siem::CefEvent::rampart(
                    if undo {
                        "respond.undo"
                    } else {
                        "respond.action"
                    },
                    "Containment",
                    5,
                )
                .ext("duser", target.device.as_str())
                .ext("cs1", target.tenant.as_str())
                .ext("suser", actor);
                let o = Action::Siem { event }.execute(&self.ctx).await;
                combine("siem", undo, vec![o])
            }
            ActionSpec::RevokeCertificate => {
                if undo {
                    return ActionResult {
                        succeeded: true,
                        action: "revoke_certificate".into(),
                        undo,
                        status: Status::NotReversible.as_str().into(),
                        target: format!("{}/{}", target.tenant, target.device),
                        detail: json!({"note": "a revoked certificate stays revoked; enrol again"}),
                    };
                }
                match &self.revoker {
                    None => failed(
                        "revoke_certificate",
                        undo,
                        target,
                        "no identity authority in this process".into(),
                    ),
                    Some(r) => match r.revoke_device(target).await {
                        Ok(note) => ActionResult {
                            succeeded: true,
                            action: "revoke_certificate".into(),
                            undo,
                            status: Status::Applied.as_str().into(),
                            target: format!("{}/{}", target.tenant, target.device),
                            detail: json!({ "note": note }),
                        },
                        Err(e) => failed("revoke_certificate", undo, target, e),
                    },
                }
            }
        }
    }
}
