//! Lookup latency under concurrent load, in process: the whole HTTP stack (routing, auth,
//! tenant scoping, JSON) without sockets, over a populated store.
//!
//! ```text
//! cargo run --release -p rampart-api --example lookup_bench -- DATA_DIR_OR_POSTGRES_URL \
//!     [CONCURRENCY=16] [REQUESTS=50000]
//! ```
//! Prints p50/p90/p99/max for `GET /api/v1/devices?imsi=` and `?ip=` (addresses taken from the
//! store, so every lookup hits).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rampart_api::ApiState;
use rampart_core::{ApiToken, DeviceState, Role, TenantId, Timestamp};
use rampart_store::{DeviceFilter, PageRequest, SimFilter, Store};
use tower::ServiceExt;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target = args
        .get(1)
        .expect("usage: lookup_bench DATA_DIR_OR_URL [CONC] [REQS]");
    let concurrency: usize = args.get(2).map_or(16, |s| s.parse().unwrap());
    let requests: usize = args.get(3).map_or(50_000, |s| s.parse().unwrap());
    let store: Arc<dyn Store> = if target.starts_with("postgres") {
        rampart_store::open(Some(target), Path::new("."))
            .await
            .unwrap()
    } else {
        rampart_store::open(None, Path::new(target)).await.unwrap()
    };
    let tenant = TenantId::default_tenant();
    let devices = store.count_devices(&tenant).await.unwrap();
    println!("store: {:?}, {devices} devices", store.backend());

    // Keys spread over the whole table: every 97th page of SIMs, devices with static IPs.
    let mut imsis = Vec::new();
    let mut after = None;
    for _ in 0..50 {
        let page = store
            .list_sims(
                &tenant,
                &SimFilter::default(),
                &PageRequest { after, limit: 1000 },
            )
            .await
            .unwrap();
        imsis.extend(page.items.iter().step_by(97).map(|s| s.imsi.to_string()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut ips = Vec::new();
    let filter = DeviceFilter {
        state: Some(DeviceState::Active),
        ..Default::default()
    };
    let mut after = None;
    while ips.len() < 500 {
        let page = store
            .list_devices(&tenant, &filter, &PageRequest { after, limit: 1000 })
            .await
            .unwrap();
        ips.extend(
            page.items
                .iter()
                .filter_map(|d| d.ips.first())
                .map(|n| n.addr().to_string()),
        );
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    println!("keys: {} imsis, {} ips", imsis.len(), ips.len());

    let secret = "bench-token-0123456789";
    let token = ApiToken {
        id: "bench".into(),
        name: "lookup bench".into(),
        role: Role::Viewer,
        tenant: None,
        created_at: Timestamp::now(),
    };
    store
        .put_token(&token, &rampart_api::auth::hash_token(secret))
        .await
        .unwrap();
    let app = rampart_api::router(ApiState::new(store, None));

    for (name, keys) in [("imsi", imsis), ("ip", ips)] {
        let keys = Arc::new(keys);
        let per_task = requests / concurrency;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..concurrency {
            let app = app.clone();
            let keys = keys.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let key = &keys[(t * 7919 + i * 31) % keys.len()];
                    let req = Request::get(format!("/api/v1/devices?{name}={key}"))
                        .header("authorization", format!("Bearer {secret}"))
                        .body(Body::empty())
                        .unwrap();
                    let t0 = Instant::now();
                    let resp = app.clone().oneshot(req).await.unwrap();
                    assert_eq!(resp.status(), StatusCode::OK);
                    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                        .await
                        .unwrap();
                    lat.push(t0.elapsed());
                    assert!(body.len() > 40, "lookup by {name}={key} found nothing");
                }
                lat
            }));
        }
        let mut all: Vec<Duration> = Vec::with_capacity(requests);
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let wall = started.elapsed();
        all.sort();
        let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
        println!(
            "lookup by {name}: {} requests, {concurrency} concurrent, {:.0} req/s; p50 {:?} p90 {:?} p99 {:?} max {:?}",
            all.len(),
            all.len() as f64 / wall.as_secs_f64(),
            q(0.50),
            q(0.90),
            q(0.99),
            all[all.len() - 1]
        );
    }
}
