//! The UDP listener: per listen address, a receive task and a decode thread with its own
//! [`Collector`] (the parser state is not shareable, and exporters stick to one address),
//! handing batches of flows to the caller's [`FlowSink`] on that thread.
//!
//! # Why receiving and decoding are split
//!
//! The kernel drops what arrives while its socket buffer is full, and that buffer is capped
//! (`net.core.rmem_max`, often a few MiB: a fraction of a second at a high rate). A receive
//! task that decoded every datagram before reading the next would stop draining the socket
//! for as long as decoding, or a scheduling gap on a busy host, lasts. Here the receive task
//! only copies datagrams out of the kernel, back to back into large reusable batch buffers,
//! and queues the batches (up to [`NetflowConfig::decode_queue_bytes`]) to the decode
//! thread; the decoder catches up from the queue. The queue is bounded: when it is full the
//! receive task waits, and the socket buffer takes the excess again.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_core::FlowRecord;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::collector::{Collector, CollectorLimits, LimitsError};
use crate::telemetry;

/// Largest UDP payload: a buffer this size never truncates a datagram.
const MAX_DATAGRAM: usize = 65_535;
/// Datagrams are received back to back into batch buffers of this size (plus room for one
/// largest datagram); a batch is queued to the decoder when full or when the socket is empty.
const BATCH_BYTES: usize = 256 * 1024;
/// Longest a partial batch waits in the receiver for the busy decoder (which takes it as soon
/// as it is idle anyway).
const HOLD: Duration = Duration::from_millis(5);
/// Emptied batches kept for reuse (16 MiB): enough for a steady rate, while the rest of a
/// burst's batches are freed once decoded instead of staying allocated.
const SPARE_BATCHES: usize = 64;
/// How often the decoder forgets idle exporters and refreshes the pending-sets gauge.
const MAINTENANCE: Duration = Duration::from_secs(30);

/// `[netflow]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetflowConfig {
    /// UDP addresses to listen on; every address accepts v5, v9 and IPFIX.
    pub listen: Vec<SocketAddr>,
    /// Requested socket receive buffer (SO_RCVBUF), bytes: absorbs bursts while a batch is
    /// decoded. The kernel may cap it (net.core.rmem_max).
    pub recv_buffer_bytes: usize,
    /// Most flows handed over in one batch.
    pub max_batch: usize,
    /// Most datagrams read per socket wakeup before the batch is queued to the decoder.
    pub max_datagrams_per_wakeup: usize,
    /// Received datagrams waiting for the decoder, bytes (in batches of 256 KiB, allocated
    /// as a burst needs them): absorbs bursts and scheduling gaps beyond what the socket
    /// buffer holds. Raw datagrams are the compact form to queue: 128 MiB is about 2.7
    /// million records, where the decoded flows would take several times that.
    pub decode_queue_bytes: usize,
    /// Exporters silent this long are forgotten, seconds.
    pub exporter_idle_secs: u64,
    /// Memory bounds of each listener's collector.
    pub limits: CollectorLimits,
}

impl Default for NetflowConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                SocketAddr::from(([0, 0, 0, 0], 2055)),
                SocketAddr::from(([0, 0, 0, 0], 4739)),
            ],
            recv_buffer_bytes: 8 * 1024 * 1024,
            max_batch: 4096,
            max_datagrams_per_wakeup: 1024,
            decode_queue_bytes: 128 * 1024 * 1024,
            exporter_idle_secs: 3600,
            limits: CollectorLimits::default(),
        }
    }
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No listen address configured.
    #[error("netflow: no listen address configured")]
    NoListen,
    /// The decode thread could not be started.
    #[error("cannot start the netflow decode thread: {0}")]
    Thread(std::io::Error),
    /// A socket could not be set up.
    #[error("cannot bind the netflow socket {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The limits are invalid.
    #[error(transparent)]
    Limits(#[from] LimitsError),
}

/// A started listener: its bound addresses and the task to run.
pub struct Built {
    /// Bound addresses, in the order of `listen` (useful with port 0).
    pub local_addrs: Vec<SocketAddr>,
    /// Runs until the shutdown future resolves; the batch in progress is handed over first.
    pub task: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

fn bind(addr: SocketAddr, recv_buffer: usize) -> Result<UdpSocket, BuildError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| BuildError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    if recv_buffer > 0 {
        // Best effort: the kernel caps it, and a smaller buffer still works.
        if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
            tracing::warn!(error = %e, %addr, "cannot enlarge the netflow receive buffer");
        }
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}

impl NetflowConfig {
    /// Binds every listen address; the returned task receives and decodes until `shutdown`
    /// resolves, handing every batch of flows to a clone of `sink` on the listener's decode
    /// thread. A full `sink` drops the batch (counted in `netflow_records_dropped_total`)
    /// rather than stalling the socket.
    pub fn build<S: FlowSink + Clone>(
        self,
        sink: S,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Built, BuildError> {
        if self.listen.is_empty() {
            return Err(BuildError::NoListen);
        }
        telemetry::describe();
        let mut receivers = Vec::with_capacity(self.listen.len());
        let mut decoders = Vec::with_capacity(self.listen.len());
        let mut local_addrs = Vec::with_capacity(self.listen.len());
        let queue_batches = (self.decode_queue_bytes / BATCH_BYTES).max(1);
        for addr in &self.listen {
            let socket = bind(*addr, self.recv_buffer_bytes)?;
            local_addrs.push(socket.local_addr().map_err(|source| BuildError::Bind {
                addr: *addr,
                source,
            })?);
            let (queue_tx, queue_rx) = mpsc::channel(queue_batches);
            let (spare_tx, spare_rx) =
                std::sync::mpsc::sync_channel(queue_batches.min(SPARE_BATCHES));
            let idle = Arc::new(AtomicBool::new(true));
            receivers.push(Receiver {
                socket,
                queue: queue_tx,
                spare: spare_rx,
                per_wakeup: self.max_datagrams_per_wakeup.max(1),
                decoder_idle: Arc::clone(&idle),
            });
            decoders.push(Decoder {
                waiting: idle,
                collector: Collector::new(self.limits.clone())?,
                queue: queue_rx,
                spare: spare_tx,
                sink: sink.clone(),
                max_batch: self.max_batch.max(1),
                idle: Duration::from_secs(self.exporter_idle_secs.max(1)),
            });
        }
        drop(sink);
        let mut done = Vec::with_capacity(decoders.len());
        let mut threads = Vec::with_capacity(decoders.len());
        for (i, d) in decoders.into_iter().enumerate() {
            let (done_tx, done_rx) = oneshot::channel::<()>();
            done.push(done_rx);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("netflow-decode-{i}"))
                    .spawn(move || {
                        d.run();
                        done_tx.send(()).ok();
                    })
                    .map_err(BuildError::Thread)?,
            );
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = async move {
            let handles: Vec<_> = receivers
                .into_iter()
                .map(|r| tokio::spawn(r.run(stop_rx.clone())))
                .collect();
            shutdown.await;
            // Fails only when every receiver has already stopped.
            stop_tx.send(true).ok();
            for h in handles {
                if let Err(e) = h.await {
                    tracing::error!(error = %e, "netflow receiver failed");
                }
            }
            // The receivers dropped their queues: the decoders finish what is queued.
            for d in done {
                if d.await.is_err() {
                    tracing::error!("netflow decoder failed");
                }
            }
            drop(threads);
            tracing::info!("netflow collector stopped");
        };
        Ok(Built {
            local_addrs,
            task: Box::pin(task),
        })
    }
}

/// Received datagrams, back to back in one buffer.
struct Batch {
    buf: Vec<u8>,
    /// Bytes of `buf` in use.
    used: usize,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
}

impl Batch {
    fn new() -> Self {
        Self {
            buf: vec![0; BATCH_BYTES + MAX_DATAGRAM],
            used: 0,
            datagrams: Vec::with_capacity(256),
        }
    }

    /// A batch without buffer, sent only to wake the decoder.
    fn tick() -> Self {
        Self {
            buf: Vec::new(),
            used: 0,
            datagrams: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.used >= BATCH_BYTES
    }
}

/// Copies datagrams out of the socket into batches for the decoder.
struct Receiver {
    socket: UdpSocket,
    queue: mpsc::Sender<Batch>,
    /// Batches the decoder is done with, for reuse.
    spare: std::sync::mpsc::Receiver<Batch>,
    per_wakeup: usize,
    /// Set while the decoder waits for a batch.
    decoder_idle: Arc<AtomicBool>,
}

impl Receiver {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut maintenance = tokio::time::interval(MAINTENANCE);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A partial batch held back while the decoder is busy, and since when.
        let mut held: Option<(Batch, Instant)> = None;
        loop {
            let hold_until = held.as_ref().map(|(_, since)| *since + HOLD);
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = maintenance.tick() => {
                    // An empty batch: the decoder's cue for maintenance when traffic stops.
                    self.queue.try_send(Batch::tick()).ok();
                }
                _ = sleep_until(hold_until) => {
                    if let Some((batch, _)) = held.take()
                        && self.queue.send(batch).await.is_err()
                    {
                        return;
                    }
                }
                r = self.socket.readable() => {
                    if let Err(e) = r {
                        metrics::counter!(telemetry::RECEIVE_ERRORS).increment(1);
                        tracing::warn!(error = %e, "netflow socket not readable");
                        continue;
                    }
                    let (batch, since) = match held.take() {
                        Some(h) => h,
                        None => (self.batch(), Instant::now()),
                    };
                    match self.drain(batch).await {
                        None => return,
                        Some(batch) if batch.datagrams.is_empty() => {}
                        // The decoder is waiting: hand over now. Otherwise keep filling the
                        // batch while it works (one handover per decoding round, not one
                        // per wakeup), for at most HOLD.
                        Some(batch) if self.decoder_idle.load(Ordering::Relaxed) => {
                            if self.queue.send(batch).await.is_err() {
                                return;
                            }
                        }
                        Some(batch) => held = Some((batch, since)),
                    }
                }
            }
        }
        if let Some((batch, _)) = held {
            self.queue.send(batch).await.ok();
        }
    }

    /// A spare batch, or a new one.
    fn batch(&self) -> Batch {
        self.spare.try_recv().unwrap_or_else(|_| Batch::new())
    }

    /// Reads what the socket holds (up to `per_wakeup` datagrams) into `batch` without
    /// waiting for more, queueing it whenever it fills; returns the partial batch left, or
    /// `None` once the decoder is gone.
    async fn drain(&mut self, mut batch: Batch) -> Option<Batch> {
        for _ in 0..self.per_wakeup {
            let at = batch.used;
            let room = batch.buf.get_mut(at..at + MAX_DATAGRAM).unwrap_or_default();
            match self.socket.try_recv_from(room) {
                Ok((n, from)) => {
                    batch.datagrams.push((from, at..at + n));
                    batch.used += n;
                    if batch.is_full() {
                        let next = self.batch();
                        self.queue
                            .send(std::mem::replace(&mut batch, next))
                            .await
                            .ok()?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors and the like surface here; they do not stop the listener.
                    metrics::counter!(telemetry::RECEIVE_ERRORS).increment(1);
                    tracing::debug!(error = %e, "netflow receive failed");
                    break;
                }
            }
        }
        Some(batch)
    }
}

/// Sleeps until `at`, or forever without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Where decoded flows go. Called on a listener's decode thread (one per listen address,
/// each with its own clone), so a sink that does its work in place saves a thread hand-over
/// per batch; it must not block for long, or the decode queue and then the socket fill.
pub trait FlowSink: Send + 'static {
    /// Takes one batch of flows, in the order their datagrams arrived.
    fn flows(&mut self, batch: Vec<FlowRecord>);
}

/// A queue to another task: a full queue drops the batch, counted.
impl FlowSink for mpsc::Sender<Vec<FlowRecord>> {
    fn flows(&mut self, batch: Vec<FlowRecord>) {
        let n = batch.len();
        if self.try_send(batch).is_err() {
            metrics::counter!(telemetry::RECORDS_DROPPED).increment(n as u64);
        }
    }
}

/// Decodes queued batches with its own collector and hands flows to the sink.
struct Decoder<S> {
    collector: Collector,
    queue: mpsc::Receiver<Batch>,
    spare: std::sync::mpsc::SyncSender<Batch>,
    sink: S,
    max_batch: usize,
    idle: Duration,
    /// Set while waiting for a batch.
    waiting: Arc<AtomicBool>,
}

impl<S: FlowSink> Decoder<S> {
    /// Runs until every receiver is gone and the queue is empty.
    fn run(mut self) {
        let mut flows: Vec<FlowRecord> = Vec::new();
        let mut maintained = Instant::now();
        loop {
            let mut batch = match self.queue.try_recv() {
                Ok(b) => b,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    self.waiting.store(true, Ordering::Relaxed);
                    let next = self.queue.blocking_recv();
                    self.waiting.store(false, Ordering::Relaxed);
                    match next {
                        Some(b) => b,
                        None => break,
                    }
                }
            };
            // Room for what the batch likely holds (a flow record takes 30 to 60 bytes on the
            // wire), not for `max_batch`: a mostly empty allocation per flush is wasted memory.
            flows.reserve(self.max_batch.min(batch.used / 32 + 64));
            for (from, range) in &batch.datagrams {
                let datagram = batch.buf.get(range.clone()).unwrap_or_default();
                if let Err(e) = self.collector.ingest(*from, datagram, &mut flows) {
                    tracing::debug!(error = %e, %from, "netflow datagram refused");
                }
                if flows.len() >= self.max_batch {
                    self.flush(&mut flows);
                }
            }
            self.flush(&mut flows);
            batch.datagrams.clear();
            batch.used = 0;
            // Full when the receiver already holds enough spares: the batch is freed.
            if !batch.buf.is_empty() {
                self.spare.try_send(batch).ok();
            }
            if maintained.elapsed() >= MAINTENANCE {
                maintained = Instant::now();
                self.collector.prune_idle(self.idle);
                metrics::gauge!(telemetry::PENDING_SETS).set(self.collector.pending_sets() as f64);
            }
        }
        self.flush(&mut flows);
    }

    fn flush(&mut self, flows: &mut Vec<FlowRecord>) {
        if flows.is_empty() {
            return;
        }
        self.sink.flows(std::mem::take(flows));
    }
}
