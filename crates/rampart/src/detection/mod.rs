//! Detection's operator controls in `rampart serve`: rules defined through the API beside
//! the configuration file's ([`rules::RuleBook`]), applied to the running detection workers
//! without a restart, and suppression windows ([`suppress::LiveSuppressions`]) that keep
//! matching findings from incident response. Both persist in the store and every change is
//! audited; the API reaches them through [`DetectionControl`].

pub(crate) mod rules;
pub(crate) mod suppress;

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use async_trait::async_trait;
use rampart_api::audit::AuditTrail;
use rampart_api::detection::{DetectionControl, DetectionError};
use rampart_api::response::Visibility;
use rampart_core::TenantId;
use rampart_detect::{ContextProvider, RuleConfig};
use rampart_store::Store;
use serde_json::Value;
use tokio::sync::watch;

use crate::signals::WorkerMsg;
use rules::RuleBook;
use suppress::{Gate, LiveSuppressions};

/// Rules and suppression windows, shared by the API and the detection workers.
#[derive(Clone)]
pub(crate) struct Detection {
    rules: Arc<RuleBook>,
    suppressions: Arc<LiveSuppressions>,
}

impl Detection {
    /// Loads the stored rules (beside `config`'s) and windows, and keeps both in step with
    /// the store until `stop`.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        audit: Arc<dyn AuditTrail>,
        config: &RuleConfig,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let rules =
            Arc::new(RuleBook::open(store.clone(), audit.clone(), config.rules.clone()).await?);
        let suppressions = Arc::new(LiveSuppressions::open(store, audit).await?);
        let me = Self {
            rules,
            suppressions,
        };
        let refresh = me.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(suppress::REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tick.tick() => {}
                }
                n += 1;
                if let Err(e) = refresh.rules.reload().await {
                    tracing::warn!(error = %e, "detection rules not reloaded");
                }
                if let Err(e) = refresh.suppressions.reload().await {
                    tracing::warn!(error = %e, "suppression windows not reloaded");
                }
                // About hourly: windows long over leave the store.
                if n % 360 == 1 {
                    match refresh.suppressions.purge().await {
                        Ok(0) => {}
                        Ok(k) => tracing::info!(windows = k, "old suppression windows purged"),
                        Err(e) => tracing::warn!(error = %e, "suppression windows not purged"),
                    }
                }
            }
        });
        Ok(me)
    }

    /// The rules the workers start with.
    pub(crate) fn running_rules(&self) -> Arc<RuleConfig> {
        self.rules.running()
    }

    /// Hands the workers' queues over, so rule changes reach them.
    pub(crate) fn attach(&self, workers: Vec<SyncSender<WorkerMsg>>) {
        self.rules.attach(workers);
    }

    /// Lets go of the workers' queues (at shutdown, so the workers can finish).
    pub(crate) fn detach(&self) {
        self.rules.attach(Vec::new());
    }

    /// A worker's view of the suppression windows.
    pub(crate) fn gate(&self, context: Arc<dyn ContextProvider>) -> Gate {
        Gate::new(self.suppressions.clone(), context)
    }

    /// What the API calls.
    pub(crate) fn control(&self) -> Arc<dyn DetectionControl> {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl DetectionControl for Detection {
    async fn list_rules(&self) -> Result<Value, DetectionError> {
        Ok(self.rules.list().await)
    }

    async fn get_rule(&self, name: &str) -> Result<Value, DetectionError> {
        self.rules.get(name).await
    }

    async fn put_rule(
        &self,
        name: &str,
        rule: Value,
        actor: &str,
    ) -> Result<(Value, bool), DetectionError> {
        self.rules.put(name, rule, actor).await
    }

    async fn delete_rule(&self, name: &str, actor: &str) -> Result<(), DetectionError> {
        self.rules.delete(name, actor).await
    }

    async fn list_suppressions(
        &self,
        vis: &Visibility,
        ended: bool,
    ) -> Result<Value, DetectionError> {
        self.suppressions.list(vis, ended).await
    }

    async fn get_suppression(&self, vis: &Visibility, id: &str) -> Result<Value, DetectionError> {
        self.suppressions.get(vis, id).await
    }

    async fn create_suppression(
        &self,
        tenant: Option<&TenantId>,
        request: Value,
        actor: &str,
    ) -> Result<Value, DetectionError> {
        self.suppressions.create(tenant, &request, actor).await
    }

    async fn delete_suppression(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<(), DetectionError> {
        self.suppressions.delete(vis, id, actor).await
    }
}
