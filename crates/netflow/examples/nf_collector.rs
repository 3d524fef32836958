//! Runs the UDP listener on one address and reports the records it handed over: the
//! collecting side of `scripts/bench-netflow.sh`.
//!
//! `nf_collector <listen host:port> <max seconds> [idle ms]`: stops after `max seconds`, or
//! once records have arrived and then none for `idle ms` (default 1000); prints
//! `records=N bytes=B seconds=S`. CPU time is measured from outside (`/usr/bin/time`).

use std::time::{Duration, Instant};

use rampart_core::FlowRecord;
use rampart_netflow::NetflowConfig;
use tokio::sync::mpsc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let listen = args.get(1).ok_or("listen address missing")?.parse()?;
    let secs: u64 = args.get(2).ok_or("seconds missing")?.parse()?;
    let idle = Duration::from_millis(args.get(3).map_or(Ok(1000), |s| s.parse())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let config = NetflowConfig {
            listen: vec![listen],
            recv_buffer_bytes: 32 * 1024 * 1024,
            ..NetflowConfig::default()
        };
        let (tx, mut rx) = mpsc::channel::<Vec<FlowRecord>>(4096);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let built = config.build(tx, async {
            stop_rx.await.ok();
        })?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let task = tokio::spawn(built.task);
        let mut records = 0u64;
        let mut bytes = 0u64;
        loop {
            let wait = if records == 0 {
                deadline.saturating_duration_since(Instant::now())
            } else {
                idle.min(deadline.saturating_duration_since(Instant::now()))
            };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(batch)) => {
                    records += batch.len() as u64;
                    bytes += batch.iter().map(|f| f.bytes).sum::<u64>();
                }
                Ok(None) | Err(_) => break,
            }
        }
        stop_tx.send(()).ok();
        while let Some(batch) = rx.recv().await {
            records += batch.len() as u64;
        }
        task.await?;
        let elapsed = started.elapsed().as_secs_f64();
        println!("records={records} bytes={bytes} seconds={elapsed:.1}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
