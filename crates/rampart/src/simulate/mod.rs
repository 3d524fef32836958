//! `rampart simulate --target ADDR`: a fleet that behaves like a real one on the wire. It
//! sends real RADIUS accounting (Start, Interim-Update, Stop with the 3GPP attributes of a
//! packet gateway), real NetFlow v9/IPFIX/v5 exports of the devices' traffic, and, with
//! `--mqtt`, device metrics reports — for the devices `rampart devices generate` registers
//! with the same `--seed`, so the server attributes everything. Some devices can misbehave
//! (SIM moved to another device, roaming to another country, usage spike, telnet scanning,
//! C2 beaconing, UDP flood) from `--misbehave-after` seconds on; `--truth FILE` writes which,
//! for checking what detection found.

mod fleet;
mod mqtt;
mod radius;

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rampart_core::Timestamp;
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use tokio::net::UdpSocket;

use self::fleet::{Misbehaviour, Rng};

/// `rampart simulate` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Host running Rampart (RADIUS and NetFlow go to its ports below).
    #[arg(long)]
    target: String,
    /// Devices to simulate (those of `rampart devices generate COUNT --seed SEED` that have a
    /// SIM).
    #[arg(long, default_value_t = 1000)]
    devices: u64,
    /// Fleet seed, as given to `rampart devices generate`.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How long to run, seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Ordinary flows per second for the whole fleet.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// RADIUS accounting port (0: send no accounting).
    #[arg(long, default_value_t = 1813)]
    radius_port: u16,
    /// Environment variable holding the RADIUS shared secret.
    #[arg(long, default_value = "RAMPART_SIM_SECRET")]
    secret_env: String,
    /// Seconds between Interim-Updates of a session.
    #[arg(long, default_value_t = 30)]
    interim: u64,
    /// NetFlow/IPFIX port (0: send no flows).
    #[arg(long, default_value_t = 2055)]
    netflow_port: u16,
    /// Export protocol.
    #[arg(long, value_enum, default_value_t = FlowVersion::V9)]
    netflow_version: FlowVersion,
    /// MQTT broker URL for device metrics reports (e.g. mqtt://127.0.0.1:1883).
    #[arg(long)]
    mqtt: Option<String>,
    /// Seconds between metrics reports of a device.
    #[arg(long, default_value_t = 60)]
    metrics_every: u64,
    /// Misbehaving devices, `KIND=COUNT` (repeatable): sim-swap, roaming, usage-spike, scan,
    /// c2, flood.
    #[arg(long = "misbehave", value_parser = parse_misbehave)]
    misbehave: Vec<(Misbehaviour, u64)>,
    /// Seconds of ordinary behaviour before misbehaviour starts.
    #[arg(long, default_value_t = 10)]
    misbehave_after: u64,
    /// The C2 endpoint beaconing devices contact.
    #[arg(long, default_value = "198.51.100.66:6667")]
    c2: SocketAddr,
    /// Write the misbehaving devices and what they do here (JSON).
    #[arg(long)]
    truth: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FlowVersion {
    V5,
    V9,
    Ipfix,
}

fn parse_misbehave(s: &str) -> Result<(Misbehaviour, u64), String> {
    use clap::ValueEnum;
    let (kind, count) = s.split_once('=').unwrap_or((s, "1"));
    let kind = Misbehaviour::from_str(kind, true).map_err(|_| {
        format!("unknown misbehaviour {kind:?} (sim-swap, roaming, usage-spike, scan, c2, flood)")
    })?;
    let count = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    Ok((kind, count))
}

fn now() -> Timestamp {
    Timestamp::now()
}

pub(crate) async fn run(args: SimulateArgs) -> anyhow::Result<std::process::ExitCode> {
    let host = (args.target.as_str(), 0)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}", args.target))?
        .next()
        .context("target resolves to no address")?
        .ip();
    let mut devices = fleet::build(args.devices, args.seed, &args.misbehave);
    anyhow::ensure!(
        !devices.is_empty(),
        "the generated fleet has no device with a SIM"
    );
    let started = now();
    if let Some(path) = &args.truth {
        let truth: Vec<_> = devices
            .iter()
            .filter_map(|d| {
                d.misbehaviour.map(|m| {
                    serde_json::json!({"device_id": d.device_id, "imsi": d.imsi, "ip": d.ip,
                        "misbehaviour": m, "from": Timestamp(started.0 + args.misbehave_after as i64 * 1000)})
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&truth)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    let radius = if args.radius_port == 0 {
        None
    } else {
        let secret = std::env::var(&args.secret_env).with_context(|| {
            format!(
                "the RADIUS shared secret is read from ${} (set it, or --radius-port 0)",
                args.secret_env
            )
        })?;
        Some(
            radius::Sender::start(SocketAddr::new(host, args.radius_port), secret.into_bytes())
                .await?,
        )
    };
    let mqtt = match &args.mqtt {
        Some(url) => Some(mqtt::Publisher::connect(url).await?),
        None => None,
    };
    let flows_socket = if args.netflow_port == 0 {
        None
    } else {
        let bind: SocketAddr = if host.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(bind).await?;
        s.connect(SocketAddr::new(host, args.netflow_port)).await?;
        Some(s)
    };
    let mut encoder = Encoder::new(EncoderOptions {
        domain_id: 1,
        boot_time: Timestamp(started.0 - 3_600_000),
        ..EncoderOptions::new(match args.netflow_version {
            FlowVersion::V5 => ExportVersion::V5,
            FlowVersion::V9 => ExportVersion::V9,
            FlowVersion::Ipfix => ExportVersion::Ipfix,
        })
    });

    let run_id = started.0;
    if let Some(r) = &radius {
        for d in &devices {
            r.send(radius::request(
                d,
                radius::Kind::Start,
                run_id,
                now(),
                false,
            )?)
            .await;
        }
    }
    let c2 = match args.c2 {
        SocketAddr::V4(a) => (*a.ip(), a.port()),
        SocketAddr::V6(_) => anyhow::bail!("--c2 must be an IPv4 endpoint"),
    };
    let mut rng = Rng(args.seed ^ 0x5151);
    let n = devices.len() as u64;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let (mut flows_sent, mut datagrams) = (0u64, 0u64);
    let mut batch = Vec::new();
    for second in 1..=args.duration {
        ticker.tick().await;
        let t = now();
        let active = second >= args.misbehave_after;
        batch.clear();
        for d in devices.iter_mut() {
            let normal = args.rate / n + u64::from(rng.below(n) < args.rate % n);
            fleet::flows_for(d, &mut rng, t, second, active, normal, c2, &mut batch);
        }
        if let Some(sock) = &flows_socket {
            for (i, dgram) in encoder.encode(&batch, t)?.iter().enumerate() {
                if sock.send(dgram).await.is_ok() {
                    datagrams += 1;
                }
                if i % 64 == 63 {
                    tokio::task::yield_now().await;
                }
            }
            flows_sent += batch.len() as u64;
        }
        if let Some(r) = &radius
            && second % args.interim.max(1) == 0
        {
            for d in &devices {
                r.send(radius::request(
                    d,
                    radius::Kind::Interim,
                    run_id,
                    t,
                    active,
                )?)
                .await;
            }
        }
        if let Some(m) = &mqtt
            && second % args.metrics_every.max(1) == 0
        {
            for d in &devices {
                m.publish(d, t, active, args.metrics_every).await;
            }
        }
    }
    if let Some(r) = &radius {
        for d in &devices {
            r.send(radius::request(d, radius::Kind::Stop, run_id, now(), true)?)
                .await;
        }
    }
    let acct = match radius {
        Some(r) => Some(r.finish().await),
        None => None,
    };
    let published = match mqtt {
        Some(m) => m.finish().await,
        None => 0,
    };
    let report = serde_json::json!({
        "devices": n,
        "misbehaving": devices.iter().filter(|d| d.misbehaviour.is_some()).count(),
        "seconds": args.duration,
        "flows_sent": flows_sent,
        "netflow_datagrams": datagrams,
        "accounting": acct.as_ref().map(|a| serde_json::json!({"sent": a.sent, "acked": a.acked, "failed": a.failed})),
        "metrics_published": published,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(match acct {
        Some(a) if a.failed > 0 => std::process::ExitCode::from(2),
        _ => std::process::ExitCode::SUCCESS,
    })
}
