//! From sources to detection workers: each observation goes to the worker owning its
//! subject, a collector batch as one message per worker. A worker's queue is bounded in
//! observations, however they were sent; what does not fit is dropped and counted
//! (`rampart_detection_dropped_total`), so a source never waits on detection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;

use rampart_bus::Observation;
use rampart_core::FlowRecord;
use rampart_detect::{Router, RuleConfig};
use rampart_netflow::FlowSink;
use rampart_observe::Observer;

use super::DETECTION_DROPPED;

/// Observations a detection worker may have queued (single ones and batches together).
pub(super) const QUEUE: usize = 65_536;

/// What a detection worker takes from its queue.
pub(crate) enum WorkerMsg {
    /// An observation of one of its subjects.
    Obs(Observation),
    /// Observations of its subjects from one collector batch, in arrival order: one hand-over
    /// and at most one wake-up for all of them.
    Batch(Vec<Observation>),
    /// The rules to evaluate from now on.
    Rules(Arc<RuleConfig>),
}

/// Routes observations to the detection workers.
#[derive(Clone)]
pub(super) struct Dispatch {
    pub(super) router: Router,
    pub(super) workers: Vec<SyncSender<WorkerMsg>>,
    /// Per worker, the observations sent and not yet taken: the bound on its queue, whether
    /// they came one by one or in batches.
    pub(super) queued: Vec<Arc<Queued>>,
}

/// A worker's queued observations, on a cache line of its own (two threads write it).
#[derive(Default)]
#[repr(align(64))]
pub(super) struct Queued(AtomicUsize);

impl Queued {
    /// Reserves room for `n` observations; false (nothing reserved) when the queue is full.
    fn reserve(&self, n: usize) -> bool {
        let before = self.0.fetch_add(n, Ordering::Relaxed);
        if before + n > QUEUE {
            self.0.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub(super) fn taken(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Dispatch {
    pub(super) fn send(&self, obs: Observation) {
        let i = self.router.shard_of_observation(&obs);
        self.deliver(i, WorkerMsg::Obs(obs), 1);
    }

    /// Sends a batch as one message per worker (fewer channel operations and wake-ups than
    /// one per observation, which matters at hundreds of thousands of flows per second).
    pub(super) fn send_all(&self, batch: impl ExactSizeIterator<Item = Observation>) {
        let n = self.workers.len();
        if n == 0 {
            return;
        }
        let per = batch.len() / n + batch.len() / (4 * n) + 1;
        let mut split: Vec<Vec<Observation>> = (0..n).map(|_| Vec::with_capacity(per)).collect();
        for obs in batch {
            let i = self.router.shard_of_observation(&obs);
            if let Some(part) = split.get_mut(i) {
                part.push(obs);
            }
        }
        for (i, part) in split.into_iter().enumerate() {
            if !part.is_empty() {
                let len = part.len();
                self.deliver(i, WorkerMsg::Batch(part), len);
            }
        }
    }

    fn deliver(&self, i: usize, msg: WorkerMsg, len: usize) {
        let (Some(tx), Some(queued)) = (self.workers.get(i), self.queued.get(i)) else {
            return;
        };
        if !queued.reserve(len) {
            metrics::counter!(DETECTION_DROPPED).increment(len as u64);
            return;
        }
        if tx.try_send(msg).is_err() {
            queued.taken(len);
            metrics::counter!(DETECTION_DROPPED).increment(len as u64);
        }
    }
}

/// Decoded flows, attributed and routed on the collector's decode thread: no hand-over to
/// another thread between decoding a batch and queueing it to detection.
#[derive(Clone)]
pub(super) struct FlowsToDetection {
    pub(super) observer: Observer,
    pub(super) dispatch: Dispatch,
}

impl FlowSink for FlowsToDetection {
    fn flows(&mut self, batch: Vec<FlowRecord>) {
        let o = &self.observer;
        self.dispatch
            .send_all(batch.into_iter().map(|flow| o.flow(flow)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::mpsc::{Receiver, sync_channel};

    use rampart_bus::{Attributed, Subject};
    use rampart_core::{DeviceId, DeviceMetrics, TenantId, Timestamp};

    use super::*;

    /// A metrics observation of device `d-{i}`, tagged with `i`.
    fn obs(i: usize) -> Observation {
        Observation::Metrics(Box::new(Attributed {
            record: DeviceMetrics {
                time: Timestamp(1_700_000_000_000),
                bytes_in: Some(i as u64),
                ..Default::default()
            },
            subject: Subject {
                tenant: Some(TenantId::default_tenant()),
                device_id: Some(DeviceId::parse(&format!("d-{i}")).unwrap()),
                host: None,
            },
            subject_is_responder: false,
        }))
    }

    fn tag(o: &Observation) -> usize {
        match o {
            Observation::Metrics(m) => m.record.bytes_in.map_or(usize::MAX, |b| b as usize),
            _ => usize::MAX,
        }
    }

    fn dispatch(workers: usize, messages: usize) -> (Dispatch, Vec<Receiver<WorkerMsg>>) {
        let (txs, rxs) = (0..workers).map(|_| sync_channel(messages)).unzip();
        let d = Dispatch {
            router: Router::new(workers),
            workers: txs,
            queued: (0..workers).map(|_| Arc::default()).collect(),
        };
        (d, rxs)
    }

    fn queued(d: &Dispatch, i: usize) -> usize {
        d.queued[i].0.load(Relaxed)
    }

    #[test]
    fn a_batch_is_one_message_per_worker_in_arrival_order() {
        let (d, rxs) = dispatch(2, 16);
        d.send_all((0..1000).map(obs));
        let mut seen = Vec::new();
        for (i, rx) in rxs.iter().enumerate() {
            let Ok(WorkerMsg::Batch(batch)) = rx.try_recv() else {
                panic!("worker {i} got no batch");
            };
            assert!(rx.try_recv().is_err(), "one message per worker");
            assert!(
                batch.iter().all(|o| d.router.shard_of_observation(o) == i),
                "every observation goes to the worker owning its subject"
            );
            let tags: Vec<usize> = batch.iter().map(tag).collect();
            assert!(tags.windows(2).all(|w| w[0] < w[1]), "arrival order kept");
            assert_eq!(queued(&d, i), batch.len());
            seen.extend(tags);
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..1000).collect::<Vec<_>>(),
            "nothing lost or doubled"
        );
    }

    #[test]
    fn the_bound_counts_observations_not_messages() {
        let (d, rxs) = dispatch(1, 1024);
        let size = 4096;
        let fits = QUEUE / size;
        for k in 0..fits + 3 {
            d.send_all((k * size..(k + 1) * size).map(obs));
        }
        let sizes: Vec<usize> = rxs[0]
            .try_iter()
            .map(|m| match m {
                WorkerMsg::Batch(b) => b.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(
            sizes.len(),
            fits,
            "batches past the bound are dropped whole"
        );
        assert_eq!(sizes.iter().sum::<usize>(), QUEUE);
        assert_eq!(queued(&d, 0), QUEUE);
        d.send(obs(0));
        assert!(
            rxs[0].try_recv().is_err(),
            "single observations share the bound"
        );

        // What the worker takes makes room again, for that many.
        d.queued[0].taken(size);
        d.send_all((0..size).map(obs));
        d.send_all((0..size).map(obs));
        assert_eq!(rxs[0].try_iter().count(), 1);
        assert_eq!(queued(&d, 0), QUEUE);
    }

    #[test]
    fn a_full_channel_gives_back_the_reservation() {
        let (d, rxs) = dispatch(1, 1);
        d.send_all((0..10).map(obs));
        d.send_all((10..20).map(obs));
        assert_eq!(queued(&d, 0), 10, "the refused batch holds no room");
        assert_eq!(rxs[0].try_iter().count(), 1);
    }
}
