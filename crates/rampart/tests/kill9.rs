//! `kill -9` of `rampart serve` under RADIUS accounting load loses no acknowledged record.
//!
//! Runs the real binary on a fresh data directory, drives it with the load generator (which
//! records every request that got an Accounting-Response), SIGKILLs the server mid-load,
//! restarts it on the same directory and checks that every acknowledged (Acct-Session-Id,
//! Acct-Status-Type) is in the store and that the live sessions were restored.
//! `scripts/kill9-accounting.sh` runs this test.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_accounting::load::{LoadConfig, run};
use rampart_store::SessionFilter;
use support::{free_tcp, free_udp};

mod support;

const SECRET: &str = "kill9-secret";

fn spawn(dir: &Path, http: SocketAddr, radius: SocketAddr) -> Child {
    let config = dir.join("rampart.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[radius]\nlisten = \"{radius}\"\n[[radius.clients]]\nname = \"load\"\n\
             address = \"127.0.0.1\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg(http.to_string())
        .env("RAMPART_LOG", "warn")
        .env("RAMPART_ADMIN_TOKEN", "rmp_kill9_admin_token_0123456789")
        .env_remove("RAMPART_RADIUS_LISTEN")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(http).is_err() {
        assert!(Instant::now() < deadline, "rampart serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let http: SocketAddr = ([127, 0, 0, 1], free_tcp()).into();
    let radius: SocketAddr = ([127, 0, 0, 1], free_udp()).into();
    let mut server = spawn(dir.path(), http, radius);

    let mut config = LoadConfig::new(radius, SECRET.as_bytes(), 1_000_000);
    config.concurrency = 32;
    config.timeout = Duration::from_millis(300);
    config.retries = 1;
    config.prefix = "k9".to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(run(config, stop.clone()));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap().unwrap();
    assert!(
        report.acked > 100,
        "load too small to mean anything: {report:?}"
    );
    eprintln!(
        "acknowledged {} of {} requests before kill -9 ({} unanswered)",
        report.acked, report.sent, report.failed
    );

    // Restart on the same data directory: the store recovers, the session table is rebuilt.
    let mut server = spawn(dir.path(), http, radius);
    let store = rampart_store::open(None, &dir.path().join("data"))
        .await
        .unwrap();
    let mut missing = Vec::new();
    let mut by_session: std::collections::HashMap<String, HashSet<String>> = Default::default();
    for (sid, _) in &report.acked_records {
        if !by_session.contains_key(sid) {
            let stored = store.records_for_session(sid).await.unwrap();
            by_session.insert(
                sid.clone(),
                stored.into_iter().map(|r| r.record.status).collect(),
            );
        }
    }
    for (sid, status) in &report.acked_records {
        if !by_session.get(sid).is_some_and(|s| s.contains(*status)) {
            missing.push(format!("{sid} {status}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Sessions started but not stopped before the kill are live again after the restart.
    let live = store
        .list_sessions(&SessionFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!live.is_empty(), "open sessions were persisted");
    server.kill().unwrap();
    server.wait().unwrap();
}
