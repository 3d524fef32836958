//! Shared set-up: a store with one registered device and SIM, the accounting server in
//! process, the API over the same store, and a Prometheus recorder to read counters.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rampart_accounting::{Built, Client, Progress, ServerConfig};
use rampart_bus::Bus;
use rampart_config::Secret;
use rampart_core::{
    ApiToken, Device, DeviceId, Iccid, ImeiPolicy, Imsi, Role, Sim, Tenant, TenantId, Timestamp,
};
use rampart_sessions::SessionTable;
use rampart_store::{SqliteStore, Store};
use serde_json::Value;
use tokio::sync::oneshot;
use tower::ServiceExt;

pub const SECRET: &str = "testing123";
pub const ROOT: &str = "rmp_test_root_token";
pub const IMSI: &str = "262011234567890";
pub const DEVICE: &str = "meter-42";

pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("install the metrics recorder")
    })
}

/// The value of a counter line, 0 when absent.
pub fn counter(name_and_labels: &str) -> u64 {
    metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub addr: SocketAddr,
    pub sessions: Arc<std::sync::RwLock<SessionTable>>,
    pub progress: Progress,
    pub router: axum::Router,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

pub async fn registered_store(dir: &std::path::Path) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir).await.expect("store"));
    let now = Timestamp::now();
    let tenant = TenantId::default_tenant();
    store
        .put_tenant(&Tenant {
            id: tenant.clone(),
            name: "Default".to_owned(),
            created_at: now,
        })
        .await
        .expect("tenant");
    store
        .put_token(
            &ApiToken {
                id: "tok_root".to_owned(),
                name: "root".to_owned(),
                role: Role::Admin,
                tenant: None,
                created_at: now,
            },
            &rampart_api::auth::hash_token(ROOT),
        )
        .await
        .expect("token");
    let device_id = DeviceId::parse(DEVICE).expect("id");
    store
        .insert_device(&Device::new(tenant.clone(), device_id.clone()))
        .await
        .expect("device");
    let payload = "894901000000000001";
    let check = rampart_core::luhn_check_digit(payload).expect("luhn");
    store
        .insert_sim(&Sim {
            tenant,
            iccid: Iccid::parse(&format!("{payload}{check}")).expect("iccid"),
            imsi: Imsi::parse(IMSI).expect("imsi"),
            msisdn: None,
            imei_policy: ImeiPolicy::None,
            allowed_imeis: Vec::new(),
            learned_imei: None,
            device_id: Some(device_id),
            created_at: now,
            updated_at: now,
        })
        .await
        .expect("sim");
    store
}

pub fn client(secret: &str) -> Client {
    Client {
        name: "lab".into(),
        network: "127.0.0.0/8".parse().expect("net"),
        secret: Secret::new(secret),
        require_message_authenticator: false,
    }
}

impl Harness {
    pub async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        metrics();
        let dir = tempfile::tempdir().expect("tmp");
        let store = registered_store(dir.path()).await;
        let mut config =
            ServerConfig::new("127.0.0.1:0".parse().expect("addr"), vec![client(SECRET)]);
        config.journal_dir = Some(dir.path().join("journal"));
        configure(&mut config);
        Self::over(store, config, dir).await
    }

    pub async fn over(store: Arc<dyn Store>, config: ServerConfig, dir: tempfile::TempDir) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let Built {
            local_addr,
            sessions,
            progress,
            task,
            ..
        } = config
            .build(store.clone(), Bus::default(), async move {
                let _ignored = stopped.await;
            })
            .await
            .expect("build");
        let router = rampart_api::router(rampart_api::ApiState::new(store.clone(), None));
        Self {
            store,
            addr: local_addr,
            sessions,
            progress,
            router,
            stop: Some(stop),
            task: Some(tokio::spawn(task)),
            _dir: dir,
        }
    }

    /// Waits until every acknowledged request is folded into the store (milliseconds when
    /// idle), so that the store and the API show it.
    pub async fn folded(&self) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.progress.folded())
            .await
            .expect("acknowledged requests folded into the store within 10 s");
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {ROOT}"))
            .body(Body::empty())
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn stop(self) -> Arc<dyn Store> {
        self.stop_keeping_dir().await.0
    }

    /// Stops the server; the directory (which holds the store's database) stays until the
    /// returned guard is dropped, so that the store can be used further.
    pub async fn stop_keeping_dir(mut self) -> (Arc<dyn Store>, tempfile::TempDir) {
        if let Some(s) = self.stop.take() {
            let _ignored = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
        (self.store, self._dir)
    }
}

/// Sends one datagram from a fresh socket and waits up to `ms` for an answer.
pub async fn exchange(addr: SocketAddr, datagram: &[u8], ms: u64) -> Option<Vec<u8>> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    socket.send_to(datagram, addr).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let r = tokio::time::timeout(
        std::time::Duration::from_millis(ms),
        socket.recv_from(&mut buf),
    )
    .await;
    match r {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}
