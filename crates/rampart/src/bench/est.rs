//! `rampart bench est`: EST `simpleenroll` load against a running `rampart serve`, each
//! enrolment on a new TLS connection (full handshake, no session resumption) with its own
//! one-time token, as a fleet of devices enrolling at once would arrive. With
//! `--handshake-only` the same connections are opened and closed after the handshake: the bound
//! enrolment is compared with.
//!
//! Keys, CSRs and tokens are made before the clock starts: tokens go straight into the CA
//! directory (one write), which serve picks up at the warm-up request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rampart_core::DeviceId;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::ca::CaCommon;

/// Longest one enrolment may take before it counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// `rampart bench est`
#[derive(Debug, Args)]
pub(crate) struct EstArgs {
    #[command(flatten)]
    common: CaCommon,
    /// EST listener of the serve under test.
    #[arg(long, default_value = "127.0.0.1:8443")]
    target: SocketAddr,
    /// Name the server certificate is checked against.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Enrolments (or handshakes) in total.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Clients working at once, each with one connection in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Tenant of the enrolled devices.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// Device id prefix; ids are the prefix, a run number and a sequence number.
    #[arg(long, default_value = "est-")]
    prefix: String,
    /// Only open TLS connections (full handshake) and close them: no tokens, no enrolment.
    #[arg(long)]
    handshake_only: bool,
    /// Process id of the serve under test: its CPU time (user + system) during the timed part
    /// is printed per operation.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// One device's request, prepared before the clock starts.
struct Prepared {
    token: String,
    body: String,
}

/// What one connection came to.
enum Outcome {
    Ok(Duration),
    Failed(String),
}

pub(crate) async fn run(a: EstArgs) -> anyhow::Result<std::process::ExitCode> {
    let service = a.common.service(false).await?;
    let root = service
        .with_authority(|auth| Ok(auth.ca().root_der().clone()))
        .await?;
    let tls = client_config(root)?;
    let name = ServerName::try_from(a.server_name.clone()).context("--server-name")?;
    let count = a.count.max(1);
    let concurrency = a.concurrency.clamp(1, count);
    let prepared = if a.handshake_only {
        Vec::new()
    } else {
        prepare(&service, &a, count + 1).await?
    };
    let target = a.target;
    let handshake_only = a.handshake_only;
    let server_pid = a.server_pid;
    let report = tokio::task::spawn_blocking(move || {
        let prepared = Arc::new(prepared);
        // Warm-up, untimed: serve reloads the authority when it sees the new tokens.
        if !handshake_only {
            let first = prepared
                .get(count)
                .map(|p| one(&tls, &name, target, Some(p)));
            if let Some(Outcome::Failed(e)) = first {
                bail!("warm-up enrolment failed: {e}");
            }
        }
        let before = server_pid.map(cpu_seconds);
        let mut report = drive(
            &tls,
            &name,
            target,
            &prepared,
            count,
            concurrency,
            handshake_only,
        );
        report.server_cpu = before.zip(server_pid.map(cpu_seconds)).map(|(b, a)| a - b);
        Ok(report)
    })
    .await
    .context("benchmark stopped")??;
    report.print(
        if a.handshake_only {
            "handshakes"
        } else {
            "enrolled"
        },
        concurrency,
    );
    Ok(if report.failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(2)
    })
}

fn client_config(root: CertificateDer<'static>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).context("the CA root certificate")?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("tls versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Every device connects once: a full handshake each time.
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Keys and CSRs (P-256, on every core) and one token per device (one write of the store).
async fn prepare(
    service: &crate::identity::IdentityService,
    a: &EstArgs,
    n: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let started = Instant::now();
    // Fresh device ids per run, so runs against one CA never collide.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() & 0xff_ffff_ffff);
    let run_id = format!("{run_id:x}");
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{}{run_id}-{i}", a.prefix))
        .collect();
    if let Some(id) = ids.first() {
        DeviceId::parse(id).context("--prefix")?;
    }
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = n.div_ceil(threads);
    let bodies: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(per.max(1))
            .map(|chunk| s.spawn(move || chunk.iter().map(|d| csr_body(d)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err(anyhow::anyhow!("key generation stopped"))])
            })
            .collect::<anyhow::Result<Vec<String>>>()
    })?;
    let tenant = a.tenant.clone();
    let devices: Vec<(String, String)> = ids.iter().map(|d| (tenant.clone(), d.clone())).collect();
    let tokens = service
        .with_authority(move |auth| {
            auth.profile("device")?;
            Ok(auth
                .tokens()
                .create_many(&devices, "device", time::Duration::hours(1))?)
        })
        .await?;
    eprintln!(
        "prepared {n} keys, CSRs and tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(tokens
        .into_iter()
        .zip(bodies)
        .map(|(t, body)| Prepared {
            token: t.expose().to_owned(),
            body,
        })
        .collect())
}

/// A P-256 key and its CSR as an EST body: base64 DER in lines (the PEM's inside).
fn csr_body(device: &str) -> anyhow::Result<String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, device);
    let pem = params.serialize_request(&key)?.pem()?;
    Ok(pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(|l| format!("{l}\r\n"))
        .collect())
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/<pid>/stat` (ticks of
/// 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse::<f64>().unwrap_or(0.0) / 100.0)
        .sum()
}

struct Report {
    server_cpu: Option<f64>,
    ok: usize,
    failed: usize,
    first_failure: Option<String>,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Report {
    fn print(&self, what: &str, concurrency: usize) {
        let q = |p: f64| {
            let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_us
                .get(i)
                .map_or(f64::NAN, |us| *us as f64 / 1000.0)
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{what}={} failed={} concurrency={concurrency} elapsed_s={secs:.3} rate_per_s={:.0} \
             p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
            self.ok,
            self.failed,
            self.ok as f64 / secs,
            q(0.5),
            q(0.99),
            q(1.0)
        );
        if let Some(cpu) = self.server_cpu {
            println!(
                "server_cpu_s={cpu:.2} server_cpu_us_per_op={:.0}",
                cpu * 1e6 / self.ok.max(1) as f64
            );
        }
        if let Some(e) = &self.first_failure {
            eprintln!("first failure: {e}");
        }
    }
}

fn drive(
    tls: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    target: SocketAddr,
    prepared: &Arc<Vec<Prepared>>,
    count: usize,
    concurrency: usize,
    handshake_only: bool,
) -> Report {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(count));
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let p = if handshake_only {
                        None
                    } else {
                        prepared.get(i)
                    };
                    mine.push(one(tls, name, target, p));
                }
                results
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    let elapsed = started.elapsed();
    let mut report = Report {
        server_cpu: None,
        ok: 0,
        failed: 0,
        first_failure: None,
        elapsed,
        latencies_us: Vec::new(),
    };
    for r in results.into_inner().unwrap_or_else(PoisonError::into_inner) {
        match r {
            Outcome::Ok(d) => {
                report.ok += 1;
                report
                    .latencies_us
                    .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            }
            Outcome::Failed(e) => {
                report.failed += 1;
                report.first_failure.get_or_insert(e);
            }
        }
    }
    report.latencies_us.sort_unstable();
    report
}

/// One connection: handshake, then (with a request) one `simpleenroll` read to the end.
fn one(
    tls: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    target: SocketAddr,
    request: Option<&Prepared>,
) -> Outcome {
    let started = Instant::now();
    match exchange(tls, name, target, request) {
        Ok(()) => Outcome::Ok(started.elapsed()),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

fn exchange(
    tls: &Arc<rustls::ClientConfig>,
    name: &ServerName<'static>,
    target: SocketAddr,
    request: Option<&Prepared>,
) -> anyhow::Result<()> {
    let tcp = TcpStream::connect_timeout(&target, IO_TIMEOUT).context("connect")?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    let conn = rustls::ClientConnection::new(tls.clone(), name.clone()).context("tls")?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let Some(p) = request else {
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .context("handshake")?;
        }
        stream.conn.send_close_notify();
        // The peer may already be gone; the handshake is what was measured.
        let _ignored = stream.conn.complete_io(&mut stream.sock);
        return Ok(());
    };
    let head = format!(
        "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        name.to_str(),
        p.token,
        p.body.len()
    );
    stream.write_all(head.as_bytes()).context("request")?;
    stream.write_all(p.body.as_bytes()).context("request")?;
    stream.flush().context("request")?;
    let mut answer = Vec::with_capacity(2048);
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A server that closes without close_notify after a complete answer is fine here.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err(e).context("response"),
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200") {
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        bail!("{status}: {body}");
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    if body.trim().is_empty() {
        bail!("200 without a certificate");
    }
    Ok(())
}
