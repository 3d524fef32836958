//! `rampart bench radius`: drive any RADIUS accounting server (Rampart, FreeRADIUS) with the
//! same load, for BENCHMARKS.md. `rampart bench est`: EST enrolments over HTTPS ([`est`]).

mod est;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::Subcommand;
use rampart_accounting::load::{LoadConfig, run as run_load};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Send accounting Start/Interim/Stop with 3GPP attributes; print requests/s and latency.
    Radius {
        /// Accounting server address.
        #[arg(long, default_value = "127.0.0.1:1813")]
        target: SocketAddr,
        /// Shared secret.
        #[arg(long, env = "RAMPART_BENCH_SECRET", hide_env_values = true)]
        secret: String,
        /// Requests in total.
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// Concurrent sessions (workers with one request in flight each).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Total requests per second (default: as fast as answered).
        #[arg(long)]
        rate: Option<u64>,
        /// Interim-Updates per session.
        #[arg(long, default_value_t = 2)]
        interims: u32,
        /// Seconds to wait for an answer before retransmitting.
        #[arg(long, default_value_t = 1.0)]
        timeout: f64,
        /// Acct-Session-Id prefix.
        #[arg(long, default_value = "bench")]
        prefix: String,
    },
    /// Enrol devices over EST (RFC 7030) against a running serve: one new TLS connection and
    /// one token per enrolment; print enrolments/s and latency.
    Est(est::EstArgs),
}

pub(crate) async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Radius {
            target,
            secret,
            count,
            concurrency,
            rate,
            interims,
            timeout,
            prefix,
        } => {
            let mut config = LoadConfig::new(target, secret.as_bytes(), count);
            config.concurrency = concurrency;
            config.rate = rate;
            config.interims = interims;
            config.timeout = Duration::from_secs_f64(timeout.max(0.001));
            config.prefix = prefix;
            radius(config).await
        }
        BenchCommand::Est(a) => est::run(a).await,
    }
}

async fn radius(config: LoadConfig) -> anyhow::Result<ExitCode> {
    let r = run_load(config, Arc::new(AtomicBool::new(false))).await?;
    println!(
        "sent={} acked={} failed={} retransmissions={} elapsed_s={:.3} rate_rps={:.0} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        r.sent,
        r.acked,
        r.failed,
        r.retransmissions,
        r.elapsed.as_secs_f64(),
        r.rate(),
        r.p50_us as f64 / 1000.0,
        r.p99_us as f64 / 1000.0,
        r.max_us as f64 / 1000.0
    );
    Ok(if r.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
