//! The response engine the routes talk to in these tests: it records every call and answers
//! canned JSON, or an error chosen by the call's target.

use std::sync::Mutex;

use async_trait::async_trait;
use rampart_api::response::{
    IncidentQuery, IncidentUpdate, ResponseControl, ResponseError, Visibility,
};
use rampart_core::TenantId;
use serde_json::{Value, json};

/// One call the engine received.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) op: &'static str,
    pub(crate) vis: Option<Visibility>,
    /// The id or name the call is about; for a new mass action, the plan's `outcome`.
    pub(crate) target: String,
    /// Whatever else came with it.
    pub(crate) payload: Value,
    pub(crate) actor: Option<String>,
}

/// An engine that records every call and answers canned JSON, or an error chosen by the
/// target: `missing` (not found), `bad` (invalid, with details), `busy` (conflict), `boom`
/// (internal).
#[derive(Default)]
pub(crate) struct Recorder {
    calls: Mutex<Vec<Call>>,
}

/// What an internal failure says; it must reach the log only.
pub(crate) const SECRET_CAUSE: &str = "postgres://rampart:hunter2@db/rampart refused";

impl Recorder {
    fn answer(
        &self,
        op: &'static str,
        vis: Option<&Visibility>,
        target: &str,
        payload: Value,
        actor: Option<&str>,
    ) -> Result<Value, ResponseError> {
        self.calls.lock().unwrap().push(Call {
            op,
            vis: vis.cloned(),
            target: target.to_owned(),
            payload,
            actor: actor.map(str::to_owned),
        });
        match target {
            "missing" => Err(ResponseError::NotFound(format!("no such thing {target}"))),
            "bad" => Err(ResponseError::Invalid {
                message: "playbook bad refused: 2 problems".to_owned(),
                details: vec![
                    "bad.toml:3:1: trigger.severity: unknown severity \"loud\"".to_owned(),
                    "bad.toml:7:9: steps[0].action: unknown action \"explode\"".to_owned(),
                ],
            }),
            "busy" => Err(ResponseError::Conflict(
                "incident busy is resolved; it cannot be acknowledged".to_owned(),
            )),
            "boom" => Err(ResponseError::Internal(SECRET_CAUSE.to_owned())),
            _ => Ok(json!({"op": op, "target": target})),
        }
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub(crate) fn last(&self) -> Call {
        self.calls.lock().unwrap().last().cloned().unwrap()
    }

    pub(crate) fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait]
impl ResponseControl for Recorder {
    async fn list_incidents(
        &self,
        vis: &Visibility,
        query: IncidentQuery,
    ) -> Result<Value, ResponseError> {
        let payload = serde_json::to_value(&query).unwrap();
        let target = query.device.unwrap_or_default();
        self.answer("list_incidents", Some(vis), &target, payload, None)
    }
    async fn get_incident(&self, vis: &Visibility, id: &str) -> Result<Value, ResponseError> {
        self.answer("get_incident", Some(vis), id, Value::Null, None)
    }
    async fn update_incident(
        &self,
        vis: &Visibility,
        id: &str,
        update: IncidentUpdate,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        let payload = serde_json::to_value(&update).unwrap();
        self.answer("update_incident", Some(vis), id, payload, Some(actor))
    }
    async fn undo_incident(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer("undo_incident", Some(vis), id, Value::Null, Some(actor))
    }
    async fn list_playbooks(&self) -> Result<Value, ResponseError> {
        self.answer("list_playbooks", None, "", Value::Null, None)
    }
    async fn put_playbook(
        &self,
        name: &str,
        toml: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer("put_playbook", None, name, json!(toml), Some(actor))
    }
    async fn delete_playbook(&self, name: &str, actor: &str) -> Result<(), ResponseError> {
        self.answer("delete_playbook", None, name, Value::Null, Some(actor))
            .map(|_| ())
    }
    async fn dry_run_playbook(
        &self,
        vis: &Visibility,
        name: &str,
        request: Value,
    ) -> Result<Value, ResponseError> {
        self.answer("dry_run_playbook", Some(vis), name, request, None)
    }
    async fn list_approvals(&self, vis: &Visibility) -> Result<Value, ResponseError> {
        self.answer("list_approvals", Some(vis), "", Value::Null, None)
    }
    async fn decide_approval(
        &self,
        vis: &Visibility,
        id: &str,
        approve: bool,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer(
            "decide_approval",
            Some(vis),
            id,
            json!(approve),
            Some(actor),
        )
    }
    async fn create_mass_action(
        &self,
        tenant: &TenantId,
        plan: Value,
        dry_run: bool,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        // The plan picks the outcome; the payload records the tenant.
        let outcome = plan["outcome"].as_str().unwrap_or("ok").to_owned();
        let payload = json!({"tenant": tenant.to_string(), "plan": plan, "dry_run": dry_run});
        self.answer("create_mass_action", None, &outcome, payload, Some(actor))
    }
    async fn list_mass_actions(&self, vis: &Visibility) -> Result<Value, ResponseError> {
        self.answer("list_mass_actions", Some(vis), "", Value::Null, None)
    }
    async fn get_mass_action(&self, vis: &Visibility, id: &str) -> Result<Value, ResponseError> {
        self.answer("get_mass_action", Some(vis), id, Value::Null, None)
    }
    async fn approve_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer(
            "approve_mass_action",
            Some(vis),
            id,
            Value::Null,
            Some(actor),
        )
    }
    async fn abort_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer("abort_mass_action", Some(vis), id, Value::Null, Some(actor))
    }
    async fn undo_mass_action(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<Value, ResponseError> {
        self.answer("undo_mass_action", Some(vis), id, Value::Null, Some(actor))
    }
}
