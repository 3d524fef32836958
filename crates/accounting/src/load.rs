//! A RADIUS accounting load generator: many concurrent sessions (Start, Interim-Updates, Stop
//! with the 3GPP attributes of a packet gateway), each worker one request in flight,
//! retransmitting on timeout like a NAS. Reports throughput and response latency, and which
//! requests were acknowledged (the kill -9 test checks those are all stored).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rampart_radius::auth::verify_response;
use rampart_radius::uli::{Ecgi, Tai};
use rampart_radius::{
    AcctStatusType, Attribute, AttributeType, Code, Packet, PacketBuilder, Plmn, RatType,
    TgppValue, UserLocationInfo,
};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The accounting server.
    pub target: SocketAddr,
    /// Shared secret.
    pub secret: Vec<u8>,
    /// Requests in total.
    pub count: u64,
    /// Workers, each with one request in flight and its own socket.
    pub concurrency: usize,
    /// Total requests per second (`None`: as fast as answers come).
    pub rate: Option<u64>,
    /// Interim-Updates between each Start and Stop.
    pub interims: u32,
    /// Wait for an answer this long before retransmitting.
    pub timeout: Duration,
    /// Retransmissions before giving up on a request.
    pub retries: u32,
    /// Prefix of the Acct-Session-Ids (to tell runs apart).
    pub prefix: String,
    /// Add a Message-Authenticator to every request.
    pub message_authenticator: bool,
}

impl LoadConfig {
    /// Defaults: 64 workers, 2 interims per session, 1 s timeout, 2 retries.
    pub fn new(target: SocketAddr, secret: &[u8], count: u64) -> Self {
        Self {
            target,
            secret: secret.to_vec(),
            count,
            concurrency: 64,
            rate: None,
            interims: 2,
            timeout: Duration::from_secs(1),
            retries: 2,
            prefix: "load".to_owned(),
            message_authenticator: false,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Requests sent (not counting retransmissions).
    pub sent: u64,
    /// Requests acknowledged.
    pub acked: u64,
    /// Requests never acknowledged.
    pub failed: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Response latency percentiles (from the first transmission), microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// (Acct-Session-Id, Acct-Status-Type name) of every acknowledged request.
    pub acked_records: Vec<(String, &'static str)>,
}

impl LoadReport {
    /// Acknowledged requests per second.
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

struct WorkerReport {
    sent: u64,
    acked: u64,
    failed: u64,
    retransmissions: u64,
    latencies: Vec<u32>,
    acked_records: Vec<(String, &'static str)>,
}

/// Runs the load until `count` requests were sent or `stop` is set.
pub async fn run(config: LoadConfig, stop: Arc<AtomicBool>) -> std::io::Result<LoadReport> {
    let workers = config.concurrency.max(1);
    let config = Arc::new(config);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let share =
            config.count / workers as u64 + u64::from((w as u64) < config.count % workers as u64);
        let bind: SocketAddr = if config.target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind).await?;
        handles.push(tokio::spawn(worker(
            config.clone(),
            stop.clone(),
            socket,
            w,
            share,
        )));
    }
    let mut report = LoadReport::default();
    let mut latencies = Vec::new();
    for h in handles {
        let r = h.await.map_err(std::io::Error::other)??;
        report.sent += r.sent;
        report.acked += r.acked;
        report.failed += r.failed;
        report.retransmissions += r.retransmissions;
        latencies.extend(r.latencies);
        report.acked_records.extend(r.acked_records);
    }
    report.elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies.get(i).copied().map_or(0, u64::from)
    };
    report.p50_us = pct(0.50);
    report.p99_us = pct(0.99);
    report.max_us = latencies.last().copied().map_or(0, u64::from);
    Ok(report)
}

async fn worker(
    config: Arc<LoadConfig>,
    stop: Arc<AtomicBool>,
    socket: UdpSocket,
    w: usize,
    share: u64,
) -> std::io::Result<WorkerReport> {
    let mut r = WorkerReport {
        sent: 0,
        acked: 0,
        failed: 0,
        retransmissions: 0,
        latencies: Vec::with_capacity(share as usize),
        acked_records: Vec::new(),
    };
    let mut pace = config.rate.filter(|r| *r > 0).map(|rate| {
        let period = Duration::from_secs_f64(config.concurrency.max(1) as f64 / rate as f64);
        tokio::time::interval(period)
    });
    let per_session = u64::from(config.interims) + 2;
    let mut buf = [0u8; 4096];
    for i in 0..share {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(p) = pace.as_mut() {
            p.tick().await;
        }
        let session = i / per_session;
        let step = i % per_session;
        let status = match step {
            0 => AcctStatusType::Start,
            s if s + 1 == per_session => AcctStatusType::Stop,
            _ => AcctStatusType::InterimUpdate,
        };
        let session_id = format!("{}-{w}-{session}", config.prefix);
        let request = build_request(&config, w, session, step, status, &session_id, i as u8)?;
        let Ok(sent_packet) = Packet::decode(&request) else {
            continue;
        };
        r.sent += 1;
        let first = Instant::now();
        let mut acked = false;
        'attempts: for attempt in 0..=config.retries {
            if attempt > 0 {
                r.retransmissions += 1;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            socket.send_to(&request, config.target).await?;
            let deadline = Instant::now() + config.timeout;
            loop {
                let got = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
                let Ok(Ok((n, _))) = got else { break };
                let answer = buf.get(..n).unwrap_or_default();
                if answer.get(1) == Some(&sent_packet.identifier)
                    && verify_response(answer, &sent_packet.authenticator, &config.secret).is_ok()
                {
                    acked = true;
                    break 'attempts;
                }
            }
        }
        if acked {
            r.acked += 1;
            let us = u32::try_from(first.elapsed().as_micros()).unwrap_or(u32::MAX);
            r.latencies.push(us);
            r.acked_records.push((session_id, status_name(status)));
        } else {
            r.failed += 1;
        }
    }
    Ok(r)
}

/// Acct-Status-Type name as stored.
pub fn status_name(s: AcctStatusType) -> &'static str {
    match s {
        AcctStatusType::Start => "Start",
        AcctStatusType::Stop => "Stop",
        AcctStatusType::InterimUpdate => "Interim-Update",
        AcctStatusType::AccountingOn => "Accounting-On",
        AcctStatusType::AccountingOff => "Accounting-Off",
        AcctStatusType::Other(_) => "Other",
    }
}

fn build_request(
    config: &LoadConfig,
    w: usize,
    session: u64,
    step: u64,
    status: AcctStatusType,
    session_id: &str,
    identifier: u8,
) -> std::io::Result<Vec<u8>> {
    let n = (w as u64) << 24 | (session & 0xff_ffff);
    let imsi = format!("00101{:010}", n % 10_000_000_000);
    let ip = Ipv4Addr::from(0x0a00_0000 | (n as u32 & 0x00ff_ffff));
    let plmn = Plmn::new(1, 1, false).map_err(std::io::Error::other)?;
    let octets = step * 1_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut b = PacketBuilder::new(Code::AccountingRequest, identifier)
        .attr(Attribute::acct_status_type(status))
        .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, session_id))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "load-pgw"))
        .attr(Attribute::ipv4(AttributeType::FRAMED_IP_ADDRESS, ip))
        .attr(Attribute::text(
            AttributeType::CALLED_STATION_ID,
            "iot.load",
        ))
        .attr(Attribute::u32(
            AttributeType::EVENT_TIMESTAMP,
            u32::try_from(now).unwrap_or(u32::MAX),
        ))
        .attrs(Attribute::input_octets64(octets))
        .attrs(Attribute::output_octets64(octets / 2))
        .tgpp(TgppValue::Imsi(imsi))
        .tgpp(TgppValue::Imeisv(format!(
            "35{:014}",
            n % 100_000_000_000_000
        )))
        .tgpp(TgppValue::RatType(RatType::Eutran))
        .tgpp(TgppValue::UserLocationInfo(UserLocationInfo::TaiEcgi(
            Tai { plmn, tac: 0x1a2b },
            Ecgi {
                plmn,
                eci: (n as u32) & 0x0fff_ffff,
            },
        )));
    if config.message_authenticator {
        b = b.message_authenticator();
    }
    b.encode_request(&config.secret)
        .map_err(std::io::Error::other)
}
