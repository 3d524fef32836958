//! The live signal pipeline of `rampart serve`: NetFlow/IPFIX flows, device metrics over
//! MQTT and RADIUS accounting become attributed observations (one [`Observer`]), which are
//! routed by subject to detection workers — one thread per shard, each owning its devices'
//! state — whose findings land on a bounded in-memory board the API serves and, unless an
//! operator's suppression window mutes them, go to incident response. Rule changes made
//! through the API reach the workers through their queues, between observations.
//!
//! Sources never wait on detection: a worker whose queue is full loses the observation and
//! the loss is counted (`rampart_detection_dropped_total`), so a burst cannot stall the
//! collector's socket or the accounting server.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use rampart_api::signals::{LiveView, TrafficView};
use rampart_bus::Bus;
use rampart_core::{DeviceId, TenantId};
use rampart_detect::{
    ContextProvider, Engine, Finding, FindingEvent, NoIntel, Router, Shard, ThreatIntel,
};
use rampart_observe::{HomeNets, Observer, TrafficCounters};
use rampart_sessions::{Attributor, SessionTable};
use rampart_store::Store;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::context::RegistryContext;
use crate::detection::Detection;
use crate::detection::suppress::Gate;
use crate::settings::Settings;

mod dispatch;

pub(crate) use dispatch::WorkerMsg;
use dispatch::{Dispatch, FlowsToDetection, QUEUE, Queued};

/// Metric: observations detection never saw because its worker's queue was full.
pub(crate) const DETECTION_DROPPED: &str = "rampart_detection_dropped_total";
/// Metric: finding events incident response never saw because its queue was full.
const RESPONSE_DROPPED: &str = "rampart_respond_dropped_total";
/// Metric: findings raised live.
const FINDINGS_RAISED: &str = "rampart_findings_raised_total";

/// What the API reads.
pub(crate) struct Live {
    traffic: Arc<TrafficCounters>,
    board: Mutex<Board>,
}

/// Findings by id, oldest dropped first past the capacity.
struct Board {
    order: VecDeque<String>,
    by_id: HashMap<String, Finding>,
    capacity: usize,
    /// Findings a suppression window muted when they were raised, by id.
    muted: HashMap<String, Muted>,
}

/// A finding's suppression window, and whether it still keeps it from incident response.
/// Saved with detection's state at shutdown, so a finding muted before a restart stays muted
/// after it and still goes to response once its window is over.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Muted {
    window: String,
    active: bool,
}

impl Board {
    /// Records that `window` muted the finding `id`.
    fn mute(&mut self, id: &str, window: String) {
        if self.by_id.contains_key(id) {
            self.muted.insert(
                id.to_owned(),
                Muted {
                    window,
                    active: true,
                },
            );
        }
    }

    /// An active finding a suppression window still keeps from incident response.
    fn muted(&self, id: &str) -> Option<&Finding> {
        self.muted.get(id).filter(|m| m.active)?;
        self.by_id
            .get(id)
            .filter(|f| f.state == rampart_detect::AlarmState::Active)
    }

    /// Lets an active muted finding through (its window is over); returns it, once.
    fn unmute(&mut self, id: &str) -> Option<Finding> {
        let f = self.muted(id)?.clone();
        if let Some(m) = self.muted.get_mut(id) {
            m.active = false;
        }
        Some(f)
    }

    /// Takes back the marks saved at the last stop, for the findings restored with it.
    fn restore_marks(&mut self, path: &std::path::Path) {
        let marks: HashMap<String, Muted> = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "suppression marks unreadable; restored findings shown unmuted");
                    return;
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "suppression marks not read");
                return;
            }
        };
        for (id, m) in marks {
            if self.by_id.contains_key(&id) {
                self.muted.insert(id, m);
            }
        }
    }

    /// A finding as the API shows it: muted ones say so, and by which window.
    fn view(&self, f: &Finding) -> Option<serde_json::Value> {
        let mut v = serde_json::to_value(f).ok()?;
        if let (Some(m), serde_json::Value::Object(o)) = (self.muted.get(&f.id), &mut v) {
            o.insert("suppressed".into(), m.active.into());
            o.insert("suppression".into(), m.window.clone().into());
        }
        Some(v)
    }

    fn apply(&mut self, event: FindingEvent) {
        match event {
            FindingEvent::Raised(f) => {
                metrics::counter!(FINDINGS_RAISED).increment(1);
                tracing::warn!(
                    kind = f.kind.as_str(),
                    severity = f.severity.as_str(),
                    subject = %f.subject.key(),
                    summary = %f.summary,
                    raised_at_ms = f.raised_at.0,
                    "finding"
                );
                // Raised again under the same id (a rerun of the identity audit): replaced
                // in place, listed once.
                if let Some(slot) = self.by_id.get_mut(&f.id) {
                    *slot = *f;
                    return;
                }
                if self.by_id.len() >= self.capacity
                    && let Some(old) = self.order.pop_front()
                {
                    self.by_id.remove(&old);
                    self.muted.remove(&old);
                }
                self.order.push_back(f.id.clone());
                self.by_id.insert(f.id.clone(), *f);
            }
            FindingEvent::Updated {
                id,
                last_seen,
                evidence_count,
            } => {
                if let Some(f) = self.by_id.get_mut(&id) {
                    f.last_seen = last_seen;
                    f.evidence_count = evidence_count;
                }
            }
            FindingEvent::Cleared { id, at } => {
                if let Some(f) = self.by_id.get_mut(&id) {
                    f.state = rampart_detect::AlarmState::Cleared;
                    f.cleared_at = Some(at);
                }
            }
        }
    }
}

impl Live {
    /// Puts findings raised outside detection (the identity hygiene audit) on the board.
    pub(crate) fn publish(&self, events: Vec<FindingEvent>) {
        let mut board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        for e in events {
            board.apply(e);
        }
    }
}

impl LiveView for Live {
    fn traffic(&self, tenant: &TenantId, device: &DeviceId) -> Option<TrafficView> {
        let t = self.traffic.device(tenant, device)?;
        Some(TrafficView {
            flows: t.flows,
            flows_originated: t.flows_originated,
            flows_received: t.flows_received,
            bytes_out: t.bytes_out,
            bytes_in: t.bytes_in,
            packets_out: t.packets_out,
            packets_in: t.packets_in,
            metric_reports: t.metric_reports,
            first_seen: t.first_seen.map(|x| x.to_rfc3339()),
            last_seen: t.last_seen.map(|x| x.to_rfc3339()),
            flows_by_source: t
                .flows_by_source
                .iter()
                .map(|(k, v)| {
                    let name = serde_json::to_value(k)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    (name, v)
                })
                .collect(),
        })
    }

    fn findings(
        &self,
        tenant: &TenantId,
        hosts: bool,
        device: Option<&DeviceId>,
        limit: usize,
    ) -> Vec<serde_json::Value> {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        board
            .order
            .iter()
            .rev()
            .filter_map(|id| board.by_id.get(id))
            .filter(|f| match (&f.subject.tenant, &f.subject.device_id) {
                (Some(t), Some(d)) => t == tenant && device.is_none_or(|want| want == d),
                // About a tenant but no device (an unbound SIM): that tenant's.
                (Some(t), None) => device.is_none() && (hosts || t == tenant),
                _ => hosts && device.is_none(),
            })
            .take(limit)
            .filter_map(|f| board.view(f))
            .collect()
    }
}

fn worker(
    mut shard: Shard,
    rx: Receiver<WorkerMsg>,
    queued: Arc<Queued>,
    live: Arc<Live>,
    respond: Option<mpsc::Sender<FindingEvent>>,
    gate: Gate,
) -> Shard {
    let mut out = Vec::new();
    while let Ok(msg) = rx.recv() {
        queued.taken(take(&mut shard, msg, &mut out));
        // Take what else is queued before touching the board's lock.
        while let Ok(more) = rx.try_recv() {
            queued.taken(take(&mut shard, more, &mut out));
            if out.len() > 256 {
                break;
            }
        }
        shard.take_updates(&mut out);
        if !out.is_empty() {
            deliver(&mut out, &live, respond.as_ref(), &gate);
        }
    }
    // Held observations stay held: they are part of the snapshot and resume after a restart.
    shard
}

/// Processes one message; returns how many queued observations it held.
fn take(shard: &mut Shard, msg: WorkerMsg, out: &mut Vec<FindingEvent>) -> usize {
    match msg {
        WorkerMsg::Obs(obs) => {
            shard.process(obs, out);
            1
        }
        WorkerMsg::Batch(batch) => {
            let n = batch.len();
            for obs in batch {
                shard.process(obs, out);
            }
            n
        }
        WorkerMsg::Rules(rules) => {
            shard.set_rules(rules, out);
            0
        }
    }
}

/// Findings to the board and, unless a suppression window mutes them, to incident response.
/// A muted finding still active when its window is over goes to response at its next repeat.
fn deliver(
    out: &mut Vec<FindingEvent>,
    live: &Live,
    respond: Option<&mpsc::Sender<FindingEvent>>,
    gate: &Gate,
) {
    // Window look-ups may ask the registry: outside the board's lock.
    let windows: Vec<Option<String>> = out
        .iter()
        .map(|e| match e {
            FindingEvent::Raised(f) => gate.muting(f),
            _ => None,
        })
        .collect();
    let mut forward = Vec::new();
    let mut muted = Vec::new();
    {
        let mut board = live.board.lock().unwrap_or_else(PoisonError::into_inner);
        for (e, window) in out.drain(..).zip(windows) {
            match (&e, window) {
                (FindingEvent::Raised(f), Some(w)) => {
                    let id = f.id.clone();
                    board.apply(e);
                    board.mute(&id, w);
                    continue;
                }
                (FindingEvent::Raised(_) | FindingEvent::Cleared { .. }, None) => {
                    if respond.is_some() {
                        forward.push(e.clone());
                    }
                }
                (FindingEvent::Updated { id, .. }, _) => {
                    if let Some(f) = board.muted(id) {
                        muted.push(f.clone());
                    }
                }
                (FindingEvent::Cleared { .. }, Some(_)) => {}
            }
            board.apply(e);
        }
    }
    let over: Vec<&Finding> = muted.iter().filter(|f| !gate.still_muted(f)).collect();
    if !over.is_empty() {
        let mut board = live.board.lock().unwrap_or_else(PoisonError::into_inner);
        for f in over {
            if let Some(f) = board.unmute(&f.id)
                && respond.is_some()
            {
                forward.push(FindingEvent::Raised(Box::new(f)));
            }
        }
    }
    if let Some(tx) = respond {
        for e in forward {
            if tx.try_send(e).is_err() {
                metrics::counter!(RESPONSE_DROPPED).increment(1);
            }
        }
    }
}

/// The running pipeline.
pub(crate) struct Started {
    pub(crate) live: Arc<Live>,
    tasks: Vec<JoinHandle<()>>,
    workers: Vec<std::thread::JoinHandle<Shard>>,
    router: Router,
    snapshot: std::path::PathBuf,
    detection: Detection,
}

impl Started {
    /// Waits for the sources to stop (after shutdown), then for the detection workers to drain
    /// their queues, and saves detection state for the next start.
    pub(crate) async fn join(self) {
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "signal task failed");
            }
        }
        // The rule book holds the last senders: without them the workers drain and stop.
        self.detection.detach();
        let (workers, router, path) = (self.workers, self.router, self.snapshot);
        let saved = tokio::task::spawn_blocking(move || {
            let shards: Vec<Shard> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
            let engine = Engine::from_shards(router, shards);
            engine.save(&path).map(|()| (engine.devices(), path))
        })
        .await;
        match saved {
            Ok(Ok((devices, path))) => {
                tracing::info!(devices, path = %path.display(), "detection state saved");
                let marks = self
                    .live
                    .board
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .muted
                    .clone();
                if let Err(e) = save_marks(&marks_path(&path), &marks) {
                    tracing::warn!(error = %e, "suppression marks not saved");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "detection state not saved"),
            Err(e) => tracing::warn!(error = %e, "detection state not saved"),
        }
    }
}

/// Where the board's suppression marks are kept beside detection's snapshot.
fn marks_path(snapshot: &std::path::Path) -> std::path::PathBuf {
    snapshot.with_file_name("detect-muted.json")
}

/// Writes the marks whole (a new file renamed over the old one).
fn save_marks(path: &std::path::Path, marks: &HashMap<String, Muted>) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(marks).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens at exit.
    let _ignored = rx.wait_for(|s| *s).await;
}

/// An attributor over the registry alone (no accounting server in this process), its index
/// reloaded every 30 s.
async fn registry_attributor(store: Arc<dyn Store>) -> anyhow::Result<Attributor> {
    let index = rampart_accounting::load_index(store.as_ref())
        .await
        .context("loading the attribution index")?;
    let attributor = Attributor::new(
        Arc::new(RwLock::new(SessionTable::new(1))),
        Arc::new(RwLock::new(Arc::new(index))),
    );
    let refresh = attributor.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        tick.tick().await;
        loop {
            tick.tick().await;
            match rampart_accounting::load_index(store.as_ref()).await {
                Ok(index) => refresh.set_registry(index),
                Err(e) => tracing::warn!(error = %e, "attribution index reload failed"),
            }
        }
    });
    Ok(attributor)
}

/// Starts detection and the NetFlow and MQTT sources; accounting arrives through `bus`.
#[allow(clippy::too_many_arguments)] // The peers of the pipeline, each built by `serve`.
pub(crate) async fn start(
    settings: &Settings,
    netflow_flag: Option<&str>,
    attributor: Option<Attributor>,
    bus: &Bus,
    store: Arc<dyn Store>,
    respond: Option<mpsc::Sender<FindingEvent>>,
    detection: &Detection,
    registry: Arc<RegistryContext>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Started> {
    let config = &settings.config;
    let attributor = match attributor {
        Some(a) => a,
        None => registry_attributor(store.clone()).await?,
    };
    let home = if config.signals.home_nets.is_empty() {
        HomeNets::private()
    } else {
        HomeNets::new(config.signals.home_nets.clone())
    };
    let traffic = Arc::new(TrafficCounters::new(config.signals.traffic_capacity));
    let observer = Observer::new(Some(attributor), home, traffic.clone());
    let live = Arc::new(Live {
        traffic,
        board: Mutex::new(Board {
            order: VecDeque::new(),
            by_id: HashMap::new(),
            capacity: config.signals.findings_capacity.max(1),
            muted: HashMap::new(),
        }),
    });

    let mut tasks_pre = Vec::new();
    let intel: Arc<dyn ThreatIntel> = match &config.intel {
        Some(cfg) => {
            let (store, report) = rampart_intel::IntelStore::open(cfg.clone());
            for feed in report.feeds.iter().filter(|f| f.error.is_some()) {
                tracing::warn!(feed = %feed.name, error = ?feed.error, "threat-intel feed not loaded");
            }
            tracing::info!(entries = report.entries, "threat intelligence loaded");
            let store = Arc::new(store);
            tasks_pre.push(rampart_intel::spawn_watcher(
                store.clone(),
                stopped(stop.clone()),
            ));
            Arc::new(crate::intel::Feeds(store))
        }
        None => Arc::new(NoIntel),
    };
    let workers = config
        .signals
        .detection_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    // Detection state survives restarts: saved at shutdown, restored here (with the shard
    // count it was saved with, so every device finds its state on the same shard).
    let snapshot = settings.data_dir.join("detect-state.json");
    let mut detect_config = config.live_detection();
    // The configuration's rules and those defined through the API.
    detect_config.rules = (*detection.running_rules()).clone();
    // One notion of the fleet's networks: attribution's and detection's.
    if !config.signals.home_nets.is_empty() {
        detect_config.engine.home_nets = rampart_detect::HomeNets(config.signals.home_nets.clone());
    }
    let context: Arc<dyn ContextProvider> = registry;
    let fresh = || {
        Engine::new(
            detect_config.clone(),
            workers,
            intel.clone(),
            context.clone(),
        )
        .map_err(|e| anyhow::anyhow!("[detect]: {e}"))
    };
    let engine = if snapshot.is_file() {
        match Engine::load(
            &snapshot,
            detect_config.clone(),
            intel.clone(),
            context.clone(),
        ) {
            Ok(e) => {
                tracing::info!(devices = e.devices(), "detection state restored");
                e
            }
            Err(e) => {
                tracing::warn!(error = %e, "detection state not restored; starting fresh");
                fresh()?
            }
        }
    } else {
        fresh()?
    };
    {
        let mut board = live.board.lock().unwrap_or_else(PoisonError::into_inner);
        for f in engine.active_findings() {
            board.order.push_back(f.id.clone());
            board.by_id.insert(f.id.clone(), f);
        }
        board.restore_marks(&marks_path(&snapshot));
    }
    let (router, shards) = engine.into_shards();
    let mut queued = Vec::with_capacity(shards.len());
    let mut senders = Vec::with_capacity(shards.len());
    let mut worker_threads = Vec::with_capacity(shards.len());
    for (i, shard) in shards.into_iter().enumerate() {
        let (tx, rx) = sync_channel(QUEUE);
        let live = live.clone();
        let respond = respond.clone();
        let gate = detection.gate(context.clone());
        let q = Arc::<Queued>::default();
        queued.push(q.clone());
        worker_threads.push(
            std::thread::Builder::new()
                .name(format!("detect-{i}"))
                .spawn(move || worker(shard, rx, q, live, respond, gate))
                .context("starting a detection worker")?,
        );
        senders.push(tx);
    }
    detection.attach(senders.clone());
    let dispatch = Dispatch {
        router,
        workers: senders,
        queued,
    };
    let mut tasks = tasks_pre;

    // Accounting, from the RADIUS server's bus.
    let mut accounting = bus.subscribe();
    let d = dispatch.clone();
    let mut stop_acct = stop.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop_acct.wait_for(|s| *s) => break,
                got = accounting.recv() => match got {
                    Ok(obs) => d.send(obs),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        metrics::counter!(DETECTION_DROPPED).increment(n);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    }));

    // NetFlow / IPFIX.
    if let Some((netflow, explicit)) = netflow_config(config.netflow.as_ref(), netflow_flag)? {
        let sink = FlowsToDetection {
            observer: observer.clone(),
            dispatch: dispatch.clone(),
        };
        match netflow.build(sink, stopped(stop.clone())) {
            Ok(built) => {
                tracing::info!(addrs = ?built.local_addrs, "netflow/ipfix collector listening");
                tasks.push(tokio::spawn(built.task));
            }
            Err(e) if !explicit => tracing::warn!(error = %e, "netflow collector not started"),
            Err(e) => return Err(e).context("starting the netflow collector"),
        }
    }

    // Device metrics over MQTT.
    if let Some(mqtt) = &config.mqtt {
        let tenant = match &config.signals.mqtt_tenant {
            Some(t) => Some(
                t.parse::<TenantId>()
                    .map_err(|e| anyhow::anyhow!("[signals] mqtt_tenant: {e}"))?,
            ),
            None => Some(TenantId::default_tenant()),
        };
        let (tx, mut rx) = mpsc::channel(4096);
        let task = mqtt
            .build(tx, stopped(stop.clone()))
            .map_err(|e| anyhow::anyhow!("[mqtt]: {e}"))?;
        tasks.push(tokio::spawn(task));
        let (d, o) = (dispatch, observer);
        tasks.push(tokio::spawn(async move {
            while let Some((device, metrics)) = rx.recv().await {
                match DeviceId::parse(&device) {
                    Ok(id) => d.send(o.metrics(tenant.clone(), id, metrics)),
                    Err(e) => tracing::debug!(error = %e, "mqtt report for an invalid device id"),
                }
            }
        }));
    }
    Ok(Started {
        live,
        tasks,
        workers: worker_threads,
        router,
        snapshot,
        detection: detection.clone(),
    })
}

/// The collector's settings: `--netflow-listen` (comma-separated addresses, or `off`), else
/// `[netflow]`, else loopback on 2055 and 4739 (not an error when those ports are taken).
fn netflow_config(
    section: Option<&rampart_netflow::NetflowConfig>,
    flag: Option<&str>,
) -> anyhow::Result<Option<(rampart_netflow::NetflowConfig, bool)>> {
    if let Some(flag) = flag {
        if flag.trim() == "off" {
            return Ok(None);
        }
        let listen = flag
            .split(',')
            .map(|a| a.trim().parse::<SocketAddr>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!("--netflow-listen {flag:?}: expected ADDR:PORT[,ADDR:PORT] or off")
            })?;
        let mut cfg = section.cloned().unwrap_or_default();
        cfg.listen = listen;
        return Ok(Some((cfg, true)));
    }
    Ok(Some(match section {
        Some(cfg) => (cfg.clone(), true),
        None => {
            let cfg = rampart_netflow::NetflowConfig {
                listen: vec![
                    SocketAddr::from(([127, 0, 0, 1], 2055)),
                    SocketAddr::from(([127, 0, 0, 1], 4739)),
                ],
                ..rampart_netflow::NetflowConfig::default()
            };
            (cfg, false)
        }
    }))
}
