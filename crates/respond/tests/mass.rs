//! Mass actions against a real SQLite registry: the service selects from the registry,
//! persists its operations in the store, and acts through a `DeviceActions` that changes the
//! registry itself.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rampart_core::{Device, DeviceId, DeviceRecord, DeviceState, Label, TenantId};
use rampart_playbook::ActionSpec;
use rampart_respond::{
    ActionResult, ActionTarget, AuditSink, DeviceActions, MassConfig, MassError, MassService,
    NoFindings,
};
use rampart_store::{DeviceFilter, OpRow, PageRequest, Store};
use serde_json::{Value, json};

/// The tag of devices whose `webhook` peer refuses them.
const REFUSED_TAG: &str = "peer-refuses";
/// Generous: the machine running the tests may be loaded.
const DEADLINE: Duration = Duration::from_secs(900);

/// Acts on the registry the service selects from.
///
/// * `registry_quarantine` sets the device's state to `quarantined` with `update_device`;
///   its undo sets it back to `active`.
/// * `webhook` stands in for a peer that refuses some devices: it answers `failed` for devices
///   tagged [`REFUSED_TAG`] and `applied` for the rest, without sending anything.
struct RegistryActions {
    store: Arc<dyn Store>,
    calls: AtomicU64,
    /// Devices an action (not an undo) was applied to.
    touched: Mutex<HashSet<DeviceId>>,
}

impl RegistryActions {
    fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            store,
            calls: AtomicU64::new(0),
            touched: Mutex::new(HashSet::new()),
        })
    }

    fn touched(&self) -> HashSet<DeviceId> {
        self.touched.lock().unwrap().clone()
    }

    fn touched_count(&self) -> usize {
        self.touched.lock().unwrap().len()
    }

    async fn act(&self, target: &ActionTarget, action: &ActionSpec, undo: bool) -> (bool, &str) {
        let device = match self.store.get_device(&target.tenant, &target.device).await {
            Ok(Some(d)) => d,
            _ => return (false, "failed"),
        };
        match action {
            ActionSpec::RegistryQuarantine => {
                let want = if undo {
                    DeviceState::Active
                } else {
                    DeviceState::Quarantined
                };
                if device.state == want {
                    return (true, "already_in_state");
                }
                let mut changed = device;
                changed.state = want;
                match self.store.update_device(&changed).await {
                    Ok(_) => (true, "applied"),
                    Err(_) => (false, "failed"),
                }
            }
            ActionSpec::Webhook { .. } if undo => (false, "not_reversible"),
            ActionSpec::Webhook { .. } => {
                if device.tags.iter().any(|t| t.as_str() == REFUSED_TAG) {
                    (false, "failed")
                } else {
                    (true, "applied")
                }
            }
            _ => (false, "skipped"),
        }
    }
}

#[async_trait]
impl DeviceActions for RegistryActions {
    async fn apply(
        &self,
        target: &ActionTarget,
        action: &ActionSpec,
        undo: bool,
        _actor: &str,
    ) -> ActionResult {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !undo {
            self.touched.lock().unwrap().insert(target.device.clone());
        }
        let (succeeded, status) = self.act(target, action, undo).await;
        ActionResult {
            succeeded,
            action: action.name().as_str().to_owned(),
            undo,
            status: status.to_owned(),
            target: target.device.to_string(),
            detail: json!({ "status": status }),
        }
    }
}

#[derive(Default)]
struct Audit(Mutex<Vec<Value>>);

impl AuditSink for Audit {
    fn record(&self, record: &Value) {
        self.0.lock().unwrap().push(record.clone());
    }
}

impl Audit {
    fn events(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r["event"].as_str().map(str::to_owned))
            .collect()
    }

    fn find(&self, event: &str) -> Option<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|r| r["event"] == event)
            .cloned()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    actions: Arc<RegistryActions>,
    audit: Arc<Audit>,
    svc: MassService,
}

fn config() -> MassConfig {
    MassConfig {
        persist_every: Duration::from_millis(200),
        ..MassConfig::default()
    }
}

async fn fixture(config: MassConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = rampart_store::open(None, dir.path()).await.unwrap();
    let actions = RegistryActions::new(Arc::clone(&store));
    let audit = Arc::new(Audit::default());
    let svc = service(&store, &actions, &audit, config);
    Fixture {
        _dir: dir,
        store,
        actions,
        audit,
        svc,
    }
}

fn service(
    store: &Arc<dyn Store>,
    actions: &Arc<RegistryActions>,
    audit: &Arc<Audit>,
    config: MassConfig,
) -> MassService {
    MassService::new(
        Arc::clone(store),
        Arc::clone(actions) as Arc<dyn DeviceActions>,
        Arc::clone(audit) as Arc<dyn AuditSink>,
        Arc::new(NoFindings),
        config,
    )
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn label(s: &str) -> Label {
    Label::parse(s).unwrap()
}

/// Registers `n` devices `<prefix>-<i, 6 digits>` of `profile`, those with `refused(i)`
/// tagged [`REFUSED_TAG`], in import batches of 1,000.
async fn register(
    store: &Arc<dyn Store>,
    t: &TenantId,
    prefix: &str,
    n: usize,
    profile: &str,
    refused: impl Fn(usize) -> bool,
) {
    let rows: Vec<(u64, DeviceRecord)> = (0..n)
        .map(|i| {
            let mut device = Device::new(
                t.clone(),
                DeviceId::parse(&format!("{prefix}-{i:06}")).unwrap(),
            );
            device.profile = Some(label(profile));
            if refused(i) {
                device.tags = vec![label(REFUSED_TAG)];
            }
            (i as u64 + 2, DeviceRecord { device, sim: None })
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        let out = store.import_batch(t, chunk, false).await.unwrap();
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }
}

/// Devices of `profile` in `state`, counted page by page.
async fn count(store: &Arc<dyn Store>, t: &TenantId, profile: &str, state: DeviceState) -> usize {
    let filter = DeviceFilter {
        profile: Some(label(profile)),
        state: Some(state),
        ..DeviceFilter::default()
    };
    let mut page = PageRequest {
        after: None,
        limit: 1_000,
    };
    let mut n = 0;
    loop {
        let p = store.list_devices(t, &filter, &page).await.unwrap();
        n += p.items.len();
        match p.next {
            Some(next) if !p.items.is_empty() => page.after = Some(next),
            _ => return n,
        }
    }
}

/// Polls the operation until `done` holds for it.
async fn wait_until(
    svc: &MassService,
    t: &TenantId,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let op = svc.get(Some(t), id).await.unwrap();
        if done(&op) {
            return op;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "operation {id} never got there: {}",
            summary(&op)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stored operation row, once it has `status`.
async fn stored(store: &Arc<dyn Store>, id: &str, status: &str) -> OpRow {
    let start = Instant::now();
    loop {
        let row = store.get_op(id).await.unwrap().unwrap();
        if row.status == status {
            return row;
        }
        assert!(start.elapsed() < DEADLINE, "{id} stayed {}", row.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_status(svc: &MassService, t: &TenantId, id: &str, status: &str) -> Value {
    wait_until(svc, t, id, |op| op["status"] == status).await
}

fn summary(op: &Value) -> String {
    format!(
        "status {} progress {} reason {}",
        op["status"], op["progress"], op["reason"]
    )
}

fn event_names(op: &Value) -> Vec<String> {
    op["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"]["event"].as_str().unwrap().to_owned())
        .collect()
}

fn waves_started(op: &Value) -> Vec<u64> {
    op["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["event"] == "wave_started")
        .map(|e| e["kind"]["wave"].as_u64().unwrap())
        .collect()
}

fn id_of(op: &Value) -> String {
    op["id"].as_str().unwrap().to_owned()
}

fn index_of(device: &DeviceId) -> usize {
    device.as_str().rsplit('-').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantines_100k_devices_in_waves_and_undoes_in_one_call() {
    const N: usize = 100_000;
    let f = fixture(config()).await;
    let t = tenant("fleet");
    let started = Instant::now();
    register(&f.store, &t, "meter", N, "meter", |_| false).await;
    register(&f.store, &t, "cam", 50, "camera", |_| false).await;
    eprintln!("registered {N} devices in {:?}", started.elapsed());

    let plan = json!({
        "selector": { "profiles": ["meter"] },
        "actions": [{ "action": "registry_quarantine" }],
        "waves": [{ "percent": 1 }, { "percent": 10 }, { "percent": 100 }],
        "rate_per_sec": 1_000_000,
    });
    let started = Instant::now();
    let created = f.svc.create(&t, plan, false, "alice").await.unwrap();
    let id = id_of(&created);
    assert!(id.starts_with("mass-"), "{id}");
    assert_eq!(created["targets"], N as u64);
    assert_eq!(created["wave_sizes"], json!([1_000, 9_000, 90_000]));
    let op = wait_status(&f.svc, &t, &id, "completed").await;
    eprintln!("quarantined {N} devices in {:?}", started.elapsed());

    let p = &op["progress"];
    assert_eq!(
        (&p["total"], &p["dispatched"], &p["succeeded"], &p["failed"]),
        (&json!(N), &json!(N), &json!(N), &json!(0)),
        "{}",
        summary(&op)
    );
    assert_eq!(
        event_names(&op),
        [
            "created",
            "wave_started",
            "wave_completed",
            "wave_started",
            "wave_completed",
            "wave_started",
            "wave_completed",
            "completed"
        ]
    );
    // What `get` shows is what the store holds.
    let row = stored(&f.store, &id, "completed").await;
    assert_eq!(row.body["progress"], op["progress"]);
    assert_eq!(row.body["events"], op["events"]);
    assert_eq!(row.body["actor"], "alice");
    assert_eq!(
        count(&f.store, &t, "meter", DeviceState::Quarantined).await,
        N
    );
    assert_eq!(count(&f.store, &t, "camera", DeviceState::Active).await, 50);
    assert_eq!(f.actions.touched_count(), N);
    let audited = f.audit.events();
    assert!(audited.contains(&"mass_action.created".to_owned()));
    assert!(audited.contains(&"mass_action.completed".to_owned()));

    // One call undoes it all.
    let started = Instant::now();
    let undo = f.svc.undo(Some(&t), &id, "bob").await.unwrap();
    let undo_id = id_of(&undo);
    assert_eq!(undo["undo_of"], id.as_str());
    assert_eq!(undo["mode"], "undo");
    assert_eq!(undo["targets"], N as u64);
    let undone = wait_status(&f.svc, &t, &undo_id, "completed").await;
    eprintln!("restored {N} devices in {:?}", started.elapsed());
    assert_eq!(undone["progress"]["succeeded"], N as u64);
    assert_eq!(count(&f.store, &t, "meter", DeviceState::Active).await, N);
    assert_eq!(
        count(&f.store, &t, "meter", DeviceState::Quarantined).await,
        0
    );
    let original = f.svc.get(Some(&t), &id).await.unwrap();
    assert_eq!(original["undone_by"], undo_id.as_str());
    assert!(event_names(&original).contains(&"undo_started".to_owned()));
    assert!(f.audit.find("mass_action.undo_started").is_some());
    assert!(matches!(
        f.svc.undo(Some(&t), &id, "bob").await,
        Err(MassError::Conflict(_))
    ));
    assert!(matches!(
        f.svc.undo(Some(&t), &undo_id, "bob").await,
        Err(MassError::Conflict(_))
    ));
    let listed = f.svc.list(Some(&t)).await.unwrap();
    let ids: Vec<&str> = listed["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [undo_id.as_str(), id.as_str()], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_condition_stops_the_second_wave() {
    const N: usize = 2_000;
    let f = fixture(MassConfig {
        concurrency: 8,
        ..config()
    })
    .await;
    let t = tenant("utility");
    // Waves end at 20 and 200 targets; from the 101st device on, the peer refuses.
    register(&f.store, &t, "sensor", N, "sensor", |i| i >= 100).await;
    let plan = json!({
        "selector": { "profiles": ["sensor"], "states": ["active"] },
        "actions": [
            { "action": "webhook", "endpoint": "sim-platform" },
            { "action": "registry_quarantine" }
        ],
        "waves": [{ "percent": 1 }, { "percent": 10 }, { "percent": 100 }],
        "rate_per_sec": 1_000_000,
        "abort": { "max_failure_ratio": 0.2, "min_sample": 20 },
    });
    let op = f.svc.create(&t, plan, false, "alice").await.unwrap();
    let id = id_of(&op);
    let op = wait_until(&f.svc, &t, &id, |op| {
        op["status"] == "aborted" && all_recorded(op)
    })
    .await;

    let reason = op["reason"].as_str().unwrap();
    assert!(
        reason.contains("failed, more than the 20.00% allowed"),
        "{reason}"
    );
    assert_eq!(waves_started(&op), [0, 1], "the last wave never started");
    let p = &op["progress"];
    let (dispatched, succeeded, failed, skipped) = (
        p["dispatched"].as_u64().unwrap(),
        p["succeeded"].as_u64().unwrap(),
        p["failed"].as_u64().unwrap(),
        p["skipped"].as_u64().unwrap(),
    );
    assert_eq!(dispatched, 200);
    assert_eq!(succeeded, 100, "{}", summary(&op));
    // Device 100 starts once at least 93 earlier ones have finished (8 at a time), so the
    // rule (more than 20% failed) fires after 24 failures at the earliest.
    assert!(failed >= 24, "{}", summary(&op));
    assert_eq!(
        succeeded + failed + skipped,
        dispatched,
        "in-flight results recorded"
    );

    // Devices touched: only within the first two waves, and only those started.
    let touched = f.actions.touched();
    assert_eq!(touched.len() as u64, succeeded + failed);
    assert!(touched.iter().all(|d| index_of(d) < 200));
    assert_eq!(
        count(&f.store, &t, "sensor", DeviceState::Quarantined).await as u64,
        succeeded
    );
    let failures = op["failures"].as_array().unwrap();
    assert_eq!(failures.len() as u64, failed);
    assert_eq!(failures[0]["errors"][0]["action"], "webhook");
    assert_eq!(failures[0]["errors"][0]["status"], "failed");
    // The ending is audited as the run task finishes, which may be just after `get` first
    // shows the status.
    let deadline = Instant::now() + DEADLINE;
    let audited = loop {
        if let Some(a) = f.audit.find("mass_action.abort_condition") {
            break a;
        }
        assert!(Instant::now() < deadline, "abort condition never audited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(audited["reason"], reason);
    assert_eq!(audited["id"], id.as_str());

    // Undo covers the devices where every action applied.
    let undo = f.svc.undo(Some(&t), &id, "bob").await.unwrap();
    assert_eq!(undo["targets"], succeeded);
    wait_status(&f.svc, &t, &id_of(&undo), "completed").await;
    assert_eq!(
        count(&f.store, &t, "sensor", DeviceState::Quarantined).await,
        0
    );
}

/// Whether every dispatched target has a result or was skipped (nothing in flight).
fn all_recorded(op: &Value) -> bool {
    let p = &op["progress"];
    let finished = p["succeeded"].as_u64().unwrap_or(0)
        + p["failed"].as_u64().unwrap_or(0)
        + p["skipped"].as_u64().unwrap_or(0);
    finished == p["dispatched"].as_u64().unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blast_radius_cap_waits_for_approval() {
    let f = fixture(config()).await;
    let t = tenant("water");
    register(&f.store, &t, "valve", 30, "valve", |_| false).await;
    let plan = json!({
        "selector": { "profiles": ["valve"] },
        "actions": [{ "action": "registry_quarantine" }],
        "rate_per_sec": 1_000,
        "blast_radius_cap": 10,
    });
    let op = f.svc.create(&t, plan, false, "alice").await.unwrap();
    let id = id_of(&op);
    assert_eq!(op["status"], "awaiting_approval");
    // Give the driver time to (wrongly) act; it must not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = f.store.get_op(&id).await.unwrap().unwrap();
    assert_eq!(row.status, "awaiting_approval");
    assert_eq!(row.body["progress"]["dispatched"], 0);
    assert_eq!(f.actions.calls.load(Ordering::Relaxed), 0);
    assert_eq!(count(&f.store, &t, "valve", DeviceState::Active).await, 30);

    let approved = f.svc.approve(Some(&t), &id, "carol").await.unwrap();
    assert_eq!(approved["id"], id.as_str());
    let op = wait_status(&f.svc, &t, &id, "completed").await;
    assert_eq!(op["progress"]["succeeded"], 30);
    assert!(event_names(&op).contains(&"approved".to_owned()));
    assert_eq!(
        count(&f.store, &t, "valve", DeviceState::Quarantined).await,
        30
    );
    assert_eq!(
        f.audit.find("mass_action.approved").unwrap()["actor"],
        "carol"
    );
    assert!(matches!(
        f.svc.approve(Some(&t), &id, "carol").await,
        Err(MassError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_abort_during_a_pause() {
    let f = fixture(config()).await;
    let t = tenant("grid");
    register(&f.store, &t, "relay", 100, "relay", |_| false).await;
    let plan = json!({
        "selector": { "profiles": ["relay"] },
        "actions": [{ "action": "registry_quarantine" }],
        "waves": [{ "count": 10 }, { "count": 100 }],
        "pause_between_waves": "1h",
        "rate_per_sec": 1_000,
    });
    let op = f.svc.create(&t, plan, false, "alice").await.unwrap();
    let id = id_of(&op);
    wait_until(&f.svc, &t, &id, |op| {
        event_names(op).contains(&"wave_completed".to_owned())
    })
    .await;
    assert_eq!(f.actions.touched_count(), 10);

    f.svc.abort(Some(&t), &id, "dave").await.unwrap();
    // Far sooner than the hour-long pause: the abort wakes the run.
    let op = wait_status(&f.svc, &t, &id, "aborted").await;
    assert_eq!(op["reason"], "aborted by dave");
    assert_eq!(waves_started(&op), [0]);
    assert_eq!(op["progress"]["dispatched"], 10);
    assert_eq!(f.actions.touched_count(), 10);
    assert_eq!(
        count(&f.store, &t, "relay", DeviceState::Quarantined).await,
        10
    );
    assert_eq!(
        f.audit.find("mass_action.aborted").unwrap()["actor"],
        "dave"
    );
    assert!(
        f.audit.find("mass_action.abort_condition").is_none(),
        "an operator abort is not an abort condition"
    );
    // The run ends; its final state lands in the store.
    assert_eq!(
        stored(&f.store, &id, "aborted").await.body["reason"],
        "aborted by dave"
    );
    assert!(matches!(
        f.svc.abort(Some(&t), &id, "dave").await,
        Err(MassError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_confined_to_their_tenant() {
    let f = fixture(config()).await;
    let (a, b) = (tenant("acme"), tenant("globex"));
    register(&f.store, &a, "dev", 20, "meter", |_| false).await;
    register(&f.store, &b, "dev", 20, "meter", |_| false).await;
    let plan = json!({
        "selector": { "profiles": ["meter"] },
        "actions": [{ "action": "registry_quarantine" }],
        "rate_per_sec": 1_000,
    });
    let done = id_of(
        &f.svc
            .create(&a, plan.clone(), false, "alice")
            .await
            .unwrap(),
    );
    wait_status(&f.svc, &a, &done, "completed").await;
    let mut capped = plan;
    capped["blast_radius_cap"] = json!(1);
    let waiting = id_of(&f.svc.create(&a, capped, false, "alice").await.unwrap());
    assert_eq!(
        count(&f.store, &a, "meter", DeviceState::Quarantined).await,
        20
    );
    assert_eq!(count(&f.store, &b, "meter", DeviceState::Active).await, 20);

    for id in [&done, &waiting] {
        let not_found = |r: Result<Value, MassError>| matches!(r, Err(MassError::NotFound(_)));
        assert!(not_found(f.svc.get(Some(&b), id).await), "{id}");
        assert!(not_found(f.svc.approve(Some(&b), id, "mallory").await));
        assert!(not_found(f.svc.abort(Some(&b), id, "mallory").await));
        assert!(not_found(f.svc.undo(Some(&b), id, "mallory").await));
        assert_eq!(f.svc.get(Some(&a), id).await.unwrap()["tenant"], "acme");
        assert_eq!(f.svc.get(None, id).await.unwrap()["tenant"], "acme");
    }
    assert!(matches!(
        f.svc.get(Some(&a), "mass-unknown").await,
        Err(MassError::NotFound(_))
    ));
    let listed = |v: Value| v["operations"].as_array().unwrap().len();
    assert_eq!(listed(f.svc.list(Some(&b)).await.unwrap()), 0);
    assert_eq!(listed(f.svc.list(Some(&a)).await.unwrap()), 2);
    assert_eq!(listed(f.svc.list(None).await.unwrap()), 2);
    // Nothing mallory tried changed anything.
    assert_eq!(
        f.svc.get(Some(&a), &waiting).await.unwrap()["status"],
        "awaiting_approval"
    );
    assert_eq!(count(&f.store, &b, "meter", DeviceState::Active).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let f = fixture(MassConfig {
        max_targets: 100,
        ..config()
    })
    .await;
    let t = tenant("farm");
    register(&f.store, &t, "probe", 50, "probe", |_| false).await;
    register(&f.store, &t, "gate", 5, "gate", |_| false).await;
    let plan = json!({
        "selector": { "profiles": ["probe"] },
        "actions": [{ "action": "registry_quarantine" }],
        "waves": [{ "percent": 10 }, { "percent": 100 }],
        "rate_per_sec": 10,
        "blast_radius_cap": 20,
    });
    let dry = f.svc.create(&t, plan.clone(), true, "alice").await.unwrap();
    let sample: Vec<String> = (0..20).map(|i| format!("probe-{i:06}")).collect();
    assert_eq!(
        dry,
        json!({
            "targets": 50,
            "wave_sizes": [5, 45],
            "needs_approval": true,
            "sample": sample,
            "min_duration_secs": 4,
        })
    );
    assert_eq!(f.svc.list(None).await.unwrap(), json!({ "operations": [] }));
    for kind in ["mass_action", "mass_action_run"] {
        assert!(
            f.store
                .list_ops(kind, None, None, 1_000)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(f.actions.calls.load(Ordering::Relaxed), 0);
    assert!(f.audit.events().is_empty());
    assert_eq!(count(&f.store, &t, "probe", DeviceState::Active).await, 50);

    // Refusals write nothing either.
    let mut bad = plan.clone();
    bad["rate_per_sec"] = json!(0);
    bad["selector"] = json!({});
    match f.svc.create(&t, bad, true, "alice").await {
        Err(MassError::Invalid { details, .. }) => {
            assert_eq!(details.len(), 2, "{details:?}");
            assert!(
                details.iter().any(|d| d.contains("rate_per_sec")),
                "{details:?}"
            );
            assert!(
                details.iter().any(|d| d.contains("selector")),
                "{details:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    register(&f.store, &t, "probe-extra", 51, "probe", |_| false).await;
    match f.svc.create(&t, plan, false, "alice").await {
        Err(MassError::Invalid { message, .. }) => {
            assert!(message.contains("more than 100 devices"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.store
            .list_ops("mass_action", None, None, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_marks_running_operations_interrupted() {
    let f = fixture(config()).await;
    let t = tenant("port");
    register(&f.store, &t, "crane", 100, "crane", |_| false).await;
    let plan = json!({
        "selector": { "profiles": ["crane"] },
        "actions": [{ "action": "registry_quarantine" }],
        "waves": [{ "count": 10 }, { "count": 100 }],
        "pause_between_waves": "1h",
        "rate_per_sec": 1_000,
    });
    let paused = id_of(
        &f.svc
            .create(&t, plan.clone(), false, "alice")
            .await
            .unwrap(),
    );
    let mut capped = plan;
    capped["blast_radius_cap"] = json!(5);
    let waiting = id_of(&f.svc.create(&t, capped, false, "alice").await.unwrap());
    // Wait until the store holds the first wave's completion.
    let start = Instant::now();
    loop {
        let row = f.store.get_op(&paused).await.unwrap().unwrap();
        if event_names(&row.body).contains(&"wave_completed".to_owned()) {
            assert_eq!(row.status, "running");
            break;
        }
        assert!(start.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(&f.store, &t, "crane", DeviceState::Quarantined).await,
        10
    );

    // A new process over the same store: the operations are not resumed.
    let audit = Arc::new(Audit::default());
    let actions = RegistryActions::new(Arc::clone(&f.store));
    let svc = service(&f.store, &actions, &audit, config());
    assert_eq!(svc.restore().await.unwrap(), 2);
    assert_eq!(svc.restore().await.unwrap(), 0);
    for (id, before) in [(&paused, "running"), (&waiting, "awaiting_approval")] {
        let op = svc.get(Some(&t), id).await.unwrap();
        assert_eq!(op["status"], "interrupted");
        assert_eq!(op["previous_status"], before);
        assert_eq!(event_names(&op).last().unwrap(), "interrupted");
        assert!(matches!(
            svc.approve(Some(&t), id, "carol").await,
            Err(MassError::Conflict(_))
        ));
    }
    assert_eq!(audit.events(), ["mass_action.interrupted"; 2]);
    assert_eq!(actions.calls.load(Ordering::Relaxed), 0);

    // They can still be undone: the first wave's devices come back.
    let undo = svc.undo(Some(&t), &paused, "bob").await.unwrap();
    assert_eq!(undo["targets"], 10);
    wait_status(&svc, &t, &id_of(&undo), "completed").await;
    assert_eq!(
        count(&f.store, &t, "crane", DeviceState::Quarantined).await,
        0
    );
    let undo = svc.undo(Some(&t), &waiting, "bob").await.unwrap();
    assert_eq!(undo["targets"], 0);
    wait_status(&svc, &t, &id_of(&undo), "completed").await;
}
