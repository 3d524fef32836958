//! The rule book: the configuration file's rules (read-only) and those defined through the
//! API (stored), one running set the detection workers are told about on every change.
//!
//! Changes are serialised by one lock: validate, store, then apply — so the store and the
//! running set never disagree for longer than the send to the workers. Every change made
//! here is audited; changes another process made to a shared store are picked up by
//! [`RuleBook::reload`] and applied without a second audit record.

use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use rampart_api::audit::AuditTrail;
use rampart_api::detection::DetectionError;
use rampart_core::Timestamp;
use rampart_detect::{Rule, RuleConfig, RuleProblem};
use rampart_store::{RuleRow, Store};
use serde_json::{Value, json};

use crate::signals::WorkerMsg;

/// Metric: stored rules that no longer validate (skipped at load).
const STORED_INVALID: &str = "rampart_detection_stored_rules_invalid_total";
/// Most rules defined through the API.
pub(crate) const MAX_API_RULES: usize = 1000;
/// Longest name of a rule defined through the API.
const MAX_API_NAME: usize = 64;

/// A rule defined through the API, with who wrote it when.
#[derive(Debug, Clone, PartialEq)]
struct ApiRule {
    rule: Rule,
    updated_at: Timestamp,
    updated_by: String,
}

/// The configuration's rules and the API's, and the workers to tell.
pub(crate) struct RuleBook {
    store: Arc<dyn Store>,
    audit: Arc<dyn AuditTrail>,
    config: Vec<Rule>,
    api: tokio::sync::Mutex<BTreeMap<String, ApiRule>>,
    running: RwLock<Arc<RuleConfig>>,
    workers: Mutex<Vec<SyncSender<WorkerMsg>>>,
}

/// Names of rules defined through the API go into URLs and audit records: 1-64 letters,
/// digits, `-`, `_`, `.`, starting with a letter or digit.
fn check_api_name(name: &str) -> Result<(), RuleProblem> {
    let ok = !name.is_empty()
        && name.len() <= MAX_API_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(RuleProblem::new(
            "name",
            "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
        ))
    }
}

fn refused(name: &str, problems: Vec<RuleProblem>) -> DetectionError {
    let n = problems.len();
    DetectionError::Invalid {
        message: format!(
            "rule {name} refused: {n} problem{}",
            if n == 1 { "" } else { "s" }
        ),
        details: problems.iter().map(ToString::to_string).collect(),
    }
}

fn internal(e: impl std::fmt::Display) -> DetectionError {
    DetectionError::Internal(e.to_string())
}

fn view(rule: &Rule, source: &str, api: Option<&ApiRule>) -> Value {
    let mut v = serde_json::to_value(rule).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("source".into(), json!(source));
        if let Some(a) = api {
            m.insert("updated_at".into(), json!(a.updated_at));
            m.insert("updated_by".into(), json!(a.updated_by));
        }
    }
    v
}

/// Rules of the store, checked again (a rule stored by an older build, or by hand, that no
/// longer validates is skipped and counted, as is one shadowed by a configuration rule).
fn parse_stored(rows: Vec<RuleRow>, config: &[Rule]) -> BTreeMap<String, ApiRule> {
    let mut out = BTreeMap::new();
    for row in rows {
        match Rule::from_json(&row.body) {
            Ok(rule) if rule.name == row.name && !config.iter().any(|c| c.name == row.name) => {
                out.insert(
                    row.name,
                    ApiRule {
                        rule,
                        updated_at: row.updated_at,
                        updated_by: row.updated_by,
                    },
                );
            }
            Ok(_) => {
                metrics::counter!(STORED_INVALID).increment(1);
                tracing::warn!(rule = %row.name, "stored rule skipped: its name is taken by the configuration file (or differs from its body)");
            }
            Err(problems) => {
                metrics::counter!(STORED_INVALID).increment(1);
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                tracing::warn!(rule = %row.name, ?problems, "stored rule skipped: invalid");
            }
        }
    }
    out
}

impl RuleBook {
    /// The book over the configuration's `config` rules and the store's.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        audit: Arc<dyn AuditTrail>,
        config: Vec<Rule>,
    ) -> anyhow::Result<Self> {
        let rows = store
            .list_rules()
            .await
            .map_err(|e| anyhow::anyhow!("loading detection rules: {e}"))?;
        let api = parse_stored(rows, &config);
        let book = Self {
            store,
            audit,
            config,
            api: tokio::sync::Mutex::new(BTreeMap::new()),
            running: RwLock::new(Arc::new(RuleConfig::default())),
            workers: Mutex::new(Vec::new()),
        };
        let set = book.combine(&api);
        if let Err(e) = set.validate() {
            anyhow::bail!("[detect.rules] with the rules stored through the API: {e}");
        }
        tracing::info!(
            config = book.config.len(),
            api = api.len(),
            "detection rules loaded"
        );
        *book.api.lock().await = api;
        *book.running.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(book)
    }

    /// The running set: the configuration's rules in their order, then the API's by name.
    pub(crate) fn running(&self) -> Arc<RuleConfig> {
        self.running
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The detection workers to tell about changes (none: forget them); they are told the
    /// running set at once (a no-op for a worker that already has it).
    pub(crate) fn attach(&self, workers: Vec<SyncSender<WorkerMsg>>) {
        let set = self.running();
        for w in &workers {
            // A worker gone means shutdown; nothing to tell.
            let _gone = w.send(WorkerMsg::Rules(set.clone())).is_err();
        }
        *self.workers.lock().unwrap_or_else(PoisonError::into_inner) = workers;
    }

    fn combine(&self, api: &BTreeMap<String, ApiRule>) -> RuleConfig {
        RuleConfig {
            rules: self
                .config
                .iter()
                .cloned()
                .chain(api.values().map(|a| a.rule.clone()))
                .collect(),
        }
    }

    /// Makes `set` the running set and sends it to every worker (waiting for room in a full
    /// queue: a rule change is not dropped like an observation).
    async fn publish(&self, set: RuleConfig) {
        let set = Arc::new(set);
        *self.running.write().unwrap_or_else(PoisonError::into_inner) = set.clone();
        let workers = self
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let sent = tokio::task::spawn_blocking(move || {
            for w in &workers {
                let _gone = w.send(WorkerMsg::Rules(set.clone())).is_err();
            }
        })
        .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "rule change not sent to the detection workers");
        }
    }

    /// Every rule, by name.
    pub(crate) async fn list(&self) -> Value {
        let api = self.api.lock().await;
        let mut items: Vec<(String, Value)> = self
            .config
            .iter()
            .map(|r| (r.name.clone(), view(r, "config", None)))
            .chain(
                api.values()
                    .map(|a| (a.rule.name.clone(), view(&a.rule, "api", Some(a)))),
            )
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        json!({ "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>() })
    }

    /// One rule.
    pub(crate) async fn get(&self, name: &str) -> Result<Value, DetectionError> {
        if let Some(r) = self.config.iter().find(|r| r.name == name) {
            return Ok(view(r, "config", None));
        }
        let api = self.api.lock().await;
        api.get(name)
            .map(|a| view(&a.rule, "api", Some(a)))
            .ok_or_else(|| DetectionError::NotFound(format!("rule {name} not found")))
    }

    /// Validates, stores and applies the rule `name`.
    pub(crate) async fn put(
        &self,
        name: &str,
        mut body: Value,
        actor: &str,
    ) -> Result<(Value, bool), DetectionError> {
        if self.config.iter().any(|r| r.name == name) {
            return Err(DetectionError::Conflict(format!(
                "rule {name} is defined in the configuration file; change it there"
            )));
        }
        let mut problems = Vec::new();
        if let Err(p) = check_api_name(name) {
            problems.push(p);
        }
        if let Value::Object(m) = &mut body {
            match m.get("name") {
                None => {
                    m.insert("name".into(), json!(name));
                }
                Some(Value::String(n)) if n == name => {}
                Some(_) => problems.push(RuleProblem::new(
                    "name",
                    "must be the name in the path (or left out)",
                )),
            }
        }
        let rule = match Rule::from_json(&body) {
            Ok(r) if problems.is_empty() => r,
            Ok(_) => return Err(refused(name, problems)),
            Err(more) => {
                problems.extend(more);
                return Err(refused(name, problems));
            }
        };
        let mut api = self.api.lock().await;
        if !api.contains_key(name) && api.len() >= MAX_API_RULES {
            return Err(refused(
                name,
                vec![RuleProblem::new(
                    "name",
                    format!("at most {MAX_API_RULES} rules can be defined through the API"),
                )],
            ));
        }
        let entry = ApiRule {
            rule: rule.clone(),
            updated_at: Timestamp::now(),
            updated_by: actor.to_owned(),
        };
        let mut next = api.clone();
        next.insert(name.to_owned(), entry.clone());
        let set = self.combine(&next);
        let whole: Vec<RuleProblem> = set.problems();
        if !whole.is_empty() {
            return Err(refused(name, whole));
        }
        let definition = serde_json::to_value(&rule).map_err(internal)?;
        let created = self
            .store
            .put_rule(&RuleRow {
                name: name.to_owned(),
                updated_at: entry.updated_at,
                updated_by: actor.to_owned(),
                body: definition.clone(),
            })
            .await
            .map_err(internal)?;
        *api = next;
        self.publish(set).await;
        drop(api);
        self.audit.record(&json!({
            "event": "rule.put", "actor": actor, "rule": name, "created": created,
            "definition": definition,
        }));
        Ok((view(&entry.rule, "api", Some(&entry)), created))
    }

    /// Deletes a rule defined through the API; the workers clear its active alarms.
    pub(crate) async fn delete(&self, name: &str, actor: &str) -> Result<(), DetectionError> {
        if self.config.iter().any(|r| r.name == name) {
            return Err(DetectionError::Conflict(format!(
                "rule {name} is defined in the configuration file; remove it there"
            )));
        }
        let mut api = self.api.lock().await;
        if !api.contains_key(name) {
            return Err(DetectionError::NotFound(format!("rule {name} not found")));
        }
        self.store.delete_rule(name).await.map_err(internal)?;
        api.remove(name);
        let set = self.combine(&api);
        self.publish(set).await;
        drop(api);
        self.audit
            .record(&json!({"event": "rule.deleted", "actor": actor, "rule": name}));
        Ok(())
    }

    /// Takes in what the store holds now (another process sharing it may have changed the
    /// rules); applies it when it differs from the running set.
    pub(crate) async fn reload(&self) -> anyhow::Result<bool> {
        let mut api = self.api.lock().await;
        let rows = self.store.list_rules().await?;
        let stored = parse_stored(rows, &self.config);
        let same = stored.len() == api.len()
            && stored
                .iter()
                .zip(api.iter())
                .all(|((n1, a), (n2, b))| n1 == n2 && a.rule == b.rule);
        if same {
            return Ok(false);
        }
        let set = self.combine(&stored);
        if let Err(e) = set.validate() {
            anyhow::bail!("stored rules refused: {e}");
        }
        *api = stored;
        self.publish(set).await;
        tracing::info!(
            rules = api.len(),
            "detection rules changed in the store; applied"
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_url_safe() {
        for ok in ["exfil", "exfil-2", "a.b_c", "9lives", &"x".repeat(64)] {
            assert!(check_api_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-lead",
            ".hidden",
            "with space",
            "a/b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(check_api_name(bad).is_err(), "{bad}");
        }
    }
}
