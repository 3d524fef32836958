//! What operators do through the API: read and change incidents, undo their actions, decide
//! approvals, manage playbooks.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::PoisonError;

use rampart_core::{DeviceId, TenantId};
use rampart_incidents::{Status, TimelineEvent};
use rampart_playbook::{ActionSpec, Playbook, PlaybookSet, Target};
use rampart_store::IncidentRow;
use serde_json::{Value, json};

use super::{RespondError, Responder};
use crate::actions::ActionTarget;

impl Responder {
    /// Approvals waiting, visible to `tenant` (all with `None`).
    pub fn approvals(&self, tenant: Option<&TenantId>) -> Value {
        let a = self
            .approvals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<Value> = a
            .iter()
            .filter(|(_, p)| p.decision.is_none() && tenant.is_none_or(|t| *t == p.tenant))
            .map(|(id, p)| {
                json!({
                    "id": id, "tenant": p.tenant.as_str(), "incident": p.incident,
                    "playbook": p.playbook, "device": p.device.as_str(), "step": p.step,
                    "deadline": p.deadline.format(&time::format_description::well_known::Rfc3339).ok(),
                })
            })
            .collect();
        list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        json!({ "approvals": list })
    }

    /// Decides an approval.
    pub fn decide(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        approve: bool,
        actor: &str,
    ) -> Result<Value, RespondError> {
        let mut a = self
            .approvals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let p = a
            .get_mut(id)
            .filter(|p| tenant.is_none_or(|t| *t == p.tenant))
            .ok_or_else(|| RespondError::NotFound(format!("no pending approval {id}")))?;
        if p.decision.is_some() {
            return Err(RespondError::Conflict(format!(
                "approval {id} already decided"
            )));
        }
        p.decision = Some((approve, actor.to_owned()));
        p.notify.notify_one();
        Ok(
            json!({ "id": id, "decision": if approve { "approved" } else { "denied" }, "by": actor }),
        )
    }

    /// Visible incident or NotFound.
    async fn visible(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
    ) -> Result<IncidentRow, RespondError> {
        self.flush().await;
        let r = self
            .store
            .get_incident(id)
            .await?
            .ok_or_else(|| RespondError::NotFound(format!("no incident {id}")))?;
        match tenant {
            Some(t) if r.tenant.as_ref() != Some(t) => {
                Err(RespondError::NotFound(format!("no incident {id}")))
            }
            _ => Ok(r),
        }
    }

    /// Incidents, most recently changed first.
    pub async fn list(
        &self,
        tenant: Option<&TenantId>,
        status: Vec<String>,
        device: Option<String>,
        limit: u32,
        before: Option<String>,
    ) -> Result<Value, RespondError> {
        let before = match before {
            Some(c) => Some(c.parse().map_err(|_| RespondError::Invalid {
                message: format!("invalid cursor {c:?}"),
                details: Vec::new(),
            })?),
            None => None,
        };
        self.flush().await;
        let limit = limit.clamp(1, 1000);
        let filter = rampart_store::IncidentFilter {
            tenant: tenant.cloned(),
            status: (!status.is_empty()).then_some(status),
            subject: device,
            limit,
            before,
        };
        let rows = self.store.list_incidents(&filter).await?;
        let next = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.cursor().to_string()))
            .flatten();
        Ok(json!({
            "incidents": rows.into_iter().map(|r| r.body).collect::<Vec<_>>(),
            "next": next,
        }))
    }

    /// One incident with its timeline.
    pub async fn get(&self, tenant: Option<&TenantId>, id: &str) -> Result<Value, RespondError> {
        let r = self.visible(tenant, id).await?;
        let timeline = self.store.timeline(id, 0, 1000).await?;
        Ok(json!({
            "incident": r.body,
            "timeline": timeline.into_iter().map(|t| {
                let mut b = t.body;
                if let Value::Object(m) = &mut b { m.insert("seq".into(), json!(t.seq)); }
                b
            }).collect::<Vec<_>>(),
        }))
    }

    /// An operator's change: status, assignee, note.
    pub async fn update(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        status: Option<String>,
        assignee: Option<String>,
        note: Option<String>,
        actor: &str,
    ) -> Result<Value, RespondError> {
        self.visible(tenant, id).await?;
        let to = match status {
            Some(s) => Some(Status::from_str(&s).map_err(|e| RespondError::Invalid {
                message: e.to_string(),
                details: Vec::new(),
            })?),
            None => None,
        };
        let mut events = Vec::new();
        if let Some(text) = note {
            events.push(TimelineEvent::Note { text });
        }
        if let Some(a) = assignee {
            events.push(TimelineEvent::Assigned {
                to: (!a.is_empty()).then_some(a),
            });
        }
        let inc = self.record(id, events, Some(actor), to).await?;
        self.audit
            .record_async(&json!({
                "event": "incident.updated", "actor": actor, "incident": id,
                "status": inc.status.as_str(), "assignee": inc.assignee,
            }))
            .await;
        serde_json::to_value(&inc).map_err(|e| RespondError::Internal(e.to_string()))
    }

    /// Undoes the incident's reversible actions, newest first (each once).
    pub async fn undo(
        &self,
        tenant: Option<&TenantId>,
        id: &str,
        actor: &str,
    ) -> Result<Value, RespondError> {
        self.visible(tenant, id).await?;
        let timeline = self.store.timeline(id, 0, 10_000).await?;
        let mut undone: HashSet<u64> = HashSet::new();
        let mut todo = Vec::new();
        for t in &timeline {
            let ev = &t.body["event"];
            if ev["type"] != "action" {
                continue;
            }
            let d = &ev["detail"];
            if let Some(of) = d["undo_of"].as_u64() {
                undone.insert(of);
                continue;
            }
            if ev["status"] != "applied" {
                continue;
            }
            let (Ok(spec), Some(tn), Some(dev)) = (
                serde_json::from_value::<ActionSpec>(d["spec"].clone()),
                d["tenant"].as_str(),
                d["device"].as_str(),
            ) else {
                continue;
            };
            if !spec.is_reversible() {
                continue;
            }
            let (Ok(tenant), Ok(device)) = (TenantId::parse(tn), DeviceId::parse(dev)) else {
                continue;
            };
            todo.push((t.seq, spec, ActionTarget { tenant, device }));
        }
        let mut results = Vec::new();
        for (seq, spec, target) in todo.into_iter().rev() {
            if undone.contains(&seq) {
                continue;
            }
            let r = self.actions.apply(&target, &spec, true, actor).await;
            let event = TimelineEvent::Action {
                name: r.action.clone(),
                status: r.status.clone(),
                target: r.target.clone(),
                detail: json!({
                    "spec": spec, "tenant": target.tenant.as_str(), "device": target.device.as_str(),
                    "undo_of": seq, "succeeded": r.succeeded, "result": r.detail,
                }),
            };
            self.record(id, vec![event], Some(actor), None).await?;
            results.push(serde_json::to_value(&r).unwrap_or(Value::Null));
        }
        self.audit
            .record_async(&json!({
                "event": "incident.undo", "actor": actor, "incident": id, "actions": results.len(),
            }))
            .await;
        Ok(json!({ "incident": id, "undone": results }))
    }

    /// The loaded playbooks.
    pub fn playbooks(&self) -> Value {
        let p = self
            .playbooks
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let list: Vec<Value> = p
            .set
            .iter()
            .map(|pb| {
                json!({
                    "name": pb.name, "description": pb.description, "enabled": pb.enabled,
                    "priority": pb.priority, "source": p.set.source_of(&pb.name),
                    "playbook": pb,
                })
            })
            .collect();
        json!({ "playbooks": list })
    }

    fn replace_set(&self, next: Vec<Playbook>) -> Result<PlaybookSet, RespondError> {
        PlaybookSet::from_playbooks(next, Some(&self.validator)).map_err(|e| {
            RespondError::Invalid {
                message: "playbook set refused".into(),
                details: e.errors().iter().map(ToString::to_string).collect(),
            }
        })
    }

    /// Validates and loads (or replaces) a playbook; the file is kept in the playbook
    /// directory so it survives restarts. The running set is unchanged on refusal.
    pub fn put_playbook(&self, name: &str, text: &str, actor: &str) -> Result<Value, RespondError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(RespondError::Invalid {
                message: format!("invalid playbook name {name:?}: letters, digits, - and _"),
                details: Vec::new(),
            });
        }
        let source = format!("api:{name}.toml");
        let pb = PlaybookSet::parse_one_with(&source, text, &self.validator).map_err(|e| {
            RespondError::Invalid {
                message: format!("playbook {name} refused"),
                details: e.errors().iter().map(ToString::to_string).collect(),
            }
        })?;
        if pb.name != name {
            return Err(RespondError::Invalid {
                message: format!("the file names playbook {:?}, not {name:?}", pb.name),
                details: Vec::new(),
            });
        }
        let mut p = self
            .playbooks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Playbook> = p.set.iter().filter(|x| x.name != name).cloned().collect();
        next.push(pb.clone());
        let set = self.replace_set(next)?;
        std::fs::create_dir_all(&p.dir)
            .and_then(|()| write_atomic(&p.dir.join(format!("{name}.toml")), text))
            .map_err(|e| RespondError::Internal(format!("playbook not saved: {e}")))?;
        p.set = set;
        drop(p);
        self.audit
            .record(&json!({"event": "playbook.loaded", "actor": actor, "playbook": name}));
        serde_json::to_value(&pb).map_err(|e| RespondError::Internal(e.to_string()))
    }

    /// Removes a playbook (and its file in the playbook directory).
    pub fn delete_playbook(&self, name: &str, actor: &str) -> Result<(), RespondError> {
        let mut p = self
            .playbooks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if p.set.get(name).is_none() {
            return Err(RespondError::NotFound(format!("no playbook {name}")));
        }
        let next: Vec<Playbook> = p.set.iter().filter(|x| x.name != name).cloned().collect();
        let set = self.replace_set(next)?;
        let file = p.dir.join(format!("{name}.toml"));
        if file.is_file() {
            std::fs::remove_file(&file)
                .map_err(|e| RespondError::Internal(format!("playbook file not removed: {e}")))?;
        }
        p.set = set;
        drop(p);
        self.audit
            .record(&json!({"event": "playbook.removed", "actor": actor, "playbook": name}));
        Ok(())
    }

    /// What a playbook would do to these devices.
    pub fn dry_run(&self, name: &str, devices: &[String]) -> Result<Value, RespondError> {
        let p = self
            .playbooks
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let pb = p
            .set
            .get(name)
            .ok_or_else(|| RespondError::NotFound(format!("no playbook {name}")))?;
        let mut targets = Vec::with_capacity(devices.len());
        for d in devices {
            targets.push(Target::Device(DeviceId::parse(d).map_err(|e| {
                RespondError::Invalid {
                    message: format!("device {d:?}: {e}"),
                    details: Vec::new(),
                }
            })?));
        }
        serde_json::to_value(rampart_playbook::plan(pb, &targets))
            .map_err(|e| RespondError::Internal(e.to_string()))
    }
}

fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("toml.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}
