//! Suppression windows in `rampart serve`: stored, audited, held in memory for the detection
//! workers, which ask which window mutes a raised finding ([`Gate`]), mark it so on the
//! board and keep it from incident response while the window is open.
//!
//! The in-memory set holds the windows not yet ended; it is changed at once by this process's
//! API and reloaded from the store every [`REFRESH`] (windows another process opened, windows
//! that ended). A window's end needs no reload to take effect: matching reads the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rampart_api::audit::AuditTrail;
use rampart_api::detection::DetectionError;
use rampart_api::response::Visibility;
use rampart_core::{TenantId, Timestamp};
use rampart_detect::{ContextProvider, Finding, Suppression, SuppressionRequest};
use rampart_detect::{RuleProblem, SuppressionSet};
use rampart_store::{Store, SuppressionFilter, SuppressionRow};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How often the windows are reloaded from the store.
pub(crate) const REFRESH: Duration = Duration::from_secs(10);
/// Windows ended longer ago than this are deleted from the store (the audit log keeps them).
const KEEP_ENDED_MS: i64 = 90 * 86_400_000;
/// Most windows open or waiting at once.
pub(crate) const MAX_WINDOWS: usize = 10_000;
/// Metric: findings raised while a window muted them.
const SUPPRESSED: &str = "rampart_findings_suppressed_total";
/// Metric: stored windows that do not decode (skipped).
const STORED_INVALID: &str = "rampart_detection_stored_suppressions_invalid_total";

/// The windows, stored and live.
pub(crate) struct LiveSuppressions {
    store: Arc<dyn Store>,
    audit: Arc<dyn AuditTrail>,
    set: RwLock<Arc<SuppressionSet>>,
    writes: tokio::sync::Mutex<()>,
    seq: AtomicU64,
}

fn internal(e: impl std::fmt::Display) -> DetectionError {
    DetectionError::Internal(e.to_string())
}

fn refused(problems: &[RuleProblem]) -> DetectionError {
    let n = problems.len();
    DetectionError::Invalid {
        message: format!(
            "suppression window refused: {n} problem{}",
            if n == 1 { "" } else { "s" }
        ),
        details: problems.iter().map(ToString::to_string).collect(),
    }
}

fn view(s: &Suppression, now: Timestamp) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("active".into(), json!(s.active(now)));
    }
    v
}

fn decode(rows: Vec<SuppressionRow>) -> Vec<Suppression> {
    rows.into_iter()
        .filter_map(|r| match serde_json::from_value::<Suppression>(r.body) {
            Ok(s) if s.id == r.id => Some(s),
            Ok(_) | Err(_) => {
                metrics::counter!(STORED_INVALID).increment(1);
                tracing::warn!(suppression = %r.id, "stored suppression window skipped: it does not decode");
                None
            }
        })
        .collect()
}

/// May a caller with `vis` see the window?
fn visible(vis: &Visibility, s: &Suppression) -> bool {
    match vis {
        Visibility::Platform => true,
        Visibility::Tenant(t) => s.tenant.as_ref().is_none_or(|own| own == t),
    }
}

impl LiveSuppressions {
    /// The windows of `store` not yet ended.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        audit: Arc<dyn AuditTrail>,
    ) -> anyhow::Result<Self> {
        let me = Self {
            store,
            audit,
            set: RwLock::new(Arc::new(SuppressionSet::default())),
            writes: tokio::sync::Mutex::new(()),
            seq: AtomicU64::new(0),
        };
        let n = me
            .reload()
            .await
            .map_err(|e| anyhow::anyhow!("loading suppression windows: {e}"))?;
        tracing::info!(windows = n, "suppression windows loaded");
        Ok(me)
    }

    /// The windows in force now, for a worker's batch.
    pub(crate) fn current(&self) -> Arc<SuppressionSet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, set: SuppressionSet) {
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }

    /// Reloads the windows not yet ended from the store; returns how many.
    pub(crate) async fn reload(&self) -> rampart_store::Result<usize> {
        let _w = self.writes.lock().await;
        let rows = self
            .store
            .list_suppressions(&SuppressionFilter {
                ending_after: Some(Timestamp::now()),
                limit: u32::try_from(MAX_WINDOWS).unwrap_or(u32::MAX),
                ..SuppressionFilter::default()
            })
            .await?;
        let set = SuppressionSet::new(decode(rows));
        let n = set.items().len();
        self.replace(set);
        Ok(n)
    }

    /// Deletes windows long over from the store; returns how many.
    pub(crate) async fn purge(&self) -> rampart_store::Result<u64> {
        let before = Timestamp(Timestamp::now().0.saturating_sub(KEEP_ENDED_MS));
        self.store.purge_suppressions(before).await
    }

    fn new_id(&self, now: Timestamp) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mut h = Sha256::new();
        h.update(nanos.to_le_bytes());
        h.update(now.0.to_le_bytes());
        h.update(n.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        format!("sup-{}", &hex::encode(h.finalize())[..16])
    }

    /// Opens a window over `tenant`'s findings (`None`: every finding).
    pub(crate) async fn create(
        &self,
        tenant: Option<&TenantId>,
        request: &Value,
        actor: &str,
    ) -> Result<Value, DetectionError> {
        let now = Timestamp::now();
        let req = SuppressionRequest::from_json(request).map_err(|p| refused(&p))?;
        let s = req
            .into_suppression(self.new_id(now), tenant.cloned(), actor, now)
            .map_err(|p| refused(&p))?;
        let body = serde_json::to_value(&s).map_err(internal)?;
        let _w = self.writes.lock().await;
        let mut items = self.current().items().to_vec();
        items.retain(|x| x.until > now);
        if items.len() >= MAX_WINDOWS {
            return Err(DetectionError::Conflict(format!(
                "{MAX_WINDOWS} suppression windows are open or waiting; delete some first"
            )));
        }
        self.store
            .insert_suppression(&SuppressionRow {
                id: s.id.clone(),
                tenant: s.tenant.clone(),
                starts_at: s.from,
                ends_at: s.until,
                created_at: s.created_at,
                body,
            })
            .await
            .map_err(internal)?;
        items.push(s.clone());
        self.replace(SuppressionSet::new(items));
        self.audit.record(&json!({
            "event": "suppression.created", "actor": actor, "suppression": s.id,
            "tenant": s.tenant, "selector": s.selector, "from": s.from, "until": s.until,
            "reason": s.reason,
        }));
        Ok(view(&s, now))
    }

    /// Windows visible with `vis`; ended ones only with `ended`.
    pub(crate) async fn list(
        &self,
        vis: &Visibility,
        ended: bool,
    ) -> Result<Value, DetectionError> {
        let now = Timestamp::now();
        let filter = SuppressionFilter {
            tenant: match vis {
                Visibility::Tenant(t) => Some(t.clone()),
                Visibility::Platform => None,
            },
            include_platform: true,
            ending_after: (!ended).then_some(now),
            limit: u32::try_from(MAX_WINDOWS).unwrap_or(u32::MAX),
        };
        let rows = self
            .store
            .list_suppressions(&filter)
            .await
            .map_err(internal)?;
        let items: Vec<Value> = decode(rows).iter().map(|s| view(s, now)).collect();
        Ok(json!({ "items": items }))
    }

    async fn find(&self, vis: &Visibility, id: &str) -> Result<Suppression, DetectionError> {
        let row = self.store.get_suppression(id).await.map_err(internal)?;
        decode(row.into_iter().collect())
            .pop()
            .filter(|s| visible(vis, s))
            .ok_or_else(|| DetectionError::NotFound(format!("suppression window {id} not found")))
    }

    /// One window.
    pub(crate) async fn get(&self, vis: &Visibility, id: &str) -> Result<Value, DetectionError> {
        Ok(view(&self.find(vis, id).await?, Timestamp::now()))
    }

    /// Deletes a window: it stops applying at once.
    pub(crate) async fn delete(
        &self,
        vis: &Visibility,
        id: &str,
        actor: &str,
    ) -> Result<(), DetectionError> {
        let s = self.find(vis, id).await?;
        if s.tenant.is_none() && *vis != Visibility::Platform {
            return Err(DetectionError::Forbidden(format!(
                "suppression window {id} applies to every tenant; a platform token addressing \
                 no tenant deletes it"
            )));
        }
        let _w = self.writes.lock().await;
        if !self.store.delete_suppression(id).await.map_err(internal)? {
            return Err(DetectionError::NotFound(format!(
                "suppression window {id} not found"
            )));
        }
        let mut items = self.current().items().to_vec();
        items.retain(|x| x.id != id);
        self.replace(SuppressionSet::new(items));
        self.audit.record(&json!({
            "event": "suppression.deleted", "actor": actor, "suppression": id,
            "tenant": s.tenant,
        }));
        Ok(())
    }
}

/// What a detection worker asks about its findings: which open window mutes a finding, with
/// the registry context (profile, groups, tags) looked up only when a window needs it.
pub(crate) struct Gate {
    suppressions: Arc<LiveSuppressions>,
    context: Arc<dyn ContextProvider>,
}

impl Gate {
    pub(crate) fn new(
        suppressions: Arc<LiveSuppressions>,
        context: Arc<dyn ContextProvider>,
    ) -> Self {
        Self {
            suppressions,
            context,
        }
    }

    /// The open window muting `f` in `set`, if any.
    fn window<'s>(
        &self,
        set: &'s SuppressionSet,
        f: &Finding,
        now: Timestamp,
    ) -> Option<&'s Suppression> {
        set.muting(f, now, || self.context.context(&f.subject))
    }

    /// The id of the open window muting a raised finding, if any; counted.
    pub(crate) fn muting(&self, f: &Finding) -> Option<String> {
        let set = self.suppressions.current();
        if set.is_empty() {
            return None;
        }
        let s = self.window(&set, f, Timestamp::now())?;
        metrics::counter!(SUPPRESSED).increment(1);
        tracing::debug!(finding = %f.id, suppression = %s.id, "finding muted by a suppression window");
        Some(s.id.clone())
    }

    /// Whether an open window still mutes `f` (one that was muted when raised).
    pub(crate) fn still_muted(&self, f: &Finding) -> bool {
        let set = self.suppressions.current();
        self.window(&set, f, Timestamp::now()).is_some()
    }
}
