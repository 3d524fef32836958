//! The loop against a scripted broker: subscription renewal, backoff, counters, shutdown.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rampart_core::DeviceMetrics;
use tokio::sync::mpsc;

use super::*;
use crate::broker::BrokerError;
use crate::encode;

type Script = VecDeque<Result<BrokerEvent<Vec<u8>>, BrokerError>>;

#[derive(Default)]
struct Log {
    subscribes: Vec<Vec<String>>,
    disconnects: usize,
    polls_at: Vec<Instant>,
}

struct Fake {
    script: Script,
    log: Arc<Mutex<Log>>,
}

impl Broker for Fake {
    type Payload = Vec<u8>;

    async fn poll(&mut self) -> Result<BrokerEvent<Vec<u8>>, BrokerError> {
        self.log.lock().unwrap().polls_at.push(Instant::now());
        match self.script.pop_front() {
            Some(e) => e,
            None => std::future::pending().await,
        }
    }

    fn subscribe(&mut self, filters: &[String], _qos: u8) -> Result<(), BrokerError> {
        self.log.lock().unwrap().subscribes.push(filters.to_vec());
        Ok(())
    }

    async fn disconnect(&mut self) {
        self.log.lock().unwrap().disconnects += 1;
    }
}

/// Running totals: a debugging snapshot drains the counters it reads.
pub(crate) struct Tally {
    snap: Snapshotter,
    totals: std::collections::HashMap<String, u64>,
}

impl Tally {
    pub(crate) fn new(snap: Snapshotter) -> Self {
        Self {
            snap,
            totals: std::collections::HashMap::new(),
        }
    }

    /// The counter's value so far.
    pub(crate) fn get(&mut self, name: &str) -> u64 {
        for (k, _, _, v) in self.snap.snapshot().into_vec() {
            if let DebugValue::Counter(c) = v {
                *self.totals.entry(k.key().name().to_owned()).or_default() += c;
            }
        }
        self.totals.get(name).copied().unwrap_or(0)
    }
}

fn resolved() -> Resolved {
    let mut c = MqttSourceConfig::new("mqtt://127.0.0.1:1");
    c.topics = vec!["t/{device}/m".into(), "alt/{device}".into()];
    c.reconnect_min_ms = 100;
    c.reconnect_max_ms = 400;
    c.resolve().unwrap()
}

fn publish(topic: &str, payload: Vec<u8>) -> Result<BrokerEvent<Vec<u8>>, BrokerError> {
    Ok(BrokerEvent::Publish {
        topic: topic.into(),
        payload,
    })
}

fn lost() -> Result<BrokerEvent<Vec<u8>>, BrokerError> {
    Err(BrokerError("connection reset".into()))
}

#[tokio::test(start_paused = true)]
async fn decodes_counts_backs_off_and_resubscribes() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);

    let good = encode(
        &DeviceMetrics {
            bytes_in: Some(5),
            ..DeviceMetrics::default()
        },
        1,
    )
    .unwrap();
    let script: Script = [
        Ok(BrokerEvent::Connected),
        publish("t/dev-1/m", good.clone()),
        publish("t/dev-1/m", b"{not json".to_vec()),
        publish("t/dev 1/m", good.clone()),
        publish("other/dev-1", good.clone()),
        publish("t/dev-1/m", vec![b' '; MAX_PAYLOAD_BYTES + 1]),
        lost(),
        lost(),
        lost(),
        lost(),
        Ok(BrokerEvent::Connected),
        Ok(BrokerEvent::SubscribeRefused),
        publish("alt/dev-2", good),
    ]
    .into_iter()
    .collect();
    let log = Arc::new(Mutex::new(Log::default()));
    let broker = Fake {
        script,
        log: log.clone(),
    };
    let (tx, mut rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(broker, resolved(), tx, async {
        stop_rx.await.ok();
    }));

    let (dev, m) = rx.recv().await.unwrap();
    assert_eq!((dev.as_str(), m.bytes_in), ("dev-1", Some(5)));
    let (dev, _) = rx.recv().await.unwrap();
    assert_eq!(dev, "dev-2");
    stop_tx.send(()).unwrap();
    task.await.unwrap();

    assert_eq!(tally.get(telemetry::RECEIVED_TOTAL), 6);
    assert_eq!(tally.get(telemetry::DECODED_TOTAL), 2);
    assert_eq!(tally.get(telemetry::INVALID_TOTAL), 3);
    assert_eq!(tally.get(telemetry::OVERSIZED_TOTAL), 1);
    assert_eq!(tally.get(telemetry::CONNECTION_ERRORS_TOTAL), 4);
    assert_eq!(tally.get(telemetry::RECONNECTS_TOTAL), 1);
    assert_eq!(tally.get(telemetry::SUBSCRIBE_REFUSED_TOTAL), 1);

    let log = log.lock().unwrap();
    let filters = vec!["t/+/m".to_owned(), "alt/+".to_owned()];
    assert_eq!(log.subscribes, vec![filters.clone(), filters]);
    assert_eq!(log.disconnects, 1);
    // Polls after each of the four losses: waits of 100, 200, 400 and 400 ms (capped).
    let gaps: Vec<u128> = log.polls_at[6..11]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(gaps, vec![100, 200, 400, 400]);
}

#[tokio::test(start_paused = true)]
async fn full_consumer_drops_and_closed_consumer_stops() {
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let good = encode(&DeviceMetrics::default(), 1).unwrap();
    let script: Script = [
        Ok(BrokerEvent::Connected),
        publish("t/a/m", good.clone()),
        publish("t/b/m", good.clone()),
    ]
    .into_iter()
    .collect();
    let log = Arc::new(Mutex::new(Log::default()));
    let (tx, mut rx) = mpsc::channel(1);
    let task = tokio::spawn(run(
        Fake {
            script,
            log: log.clone(),
        },
        resolved(),
        tx,
        std::future::pending(),
    ));
    // Nobody reads: the second report waits sink_timeout, then is dropped.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tally.get(telemetry::DROPPED_TOTAL), 1);
    assert_eq!(rx.recv().await.unwrap().0, "a");
    drop(rx);
    // The script is exhausted; closing the channel alone does not wake the loop, so feed it.
    assert!(!task.is_finished());
    task.abort();

    let script: Script = [Ok(BrokerEvent::Connected), publish("t/a/m", good)]
        .into_iter()
        .collect();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let log = Arc::new(Mutex::new(Log::default()));
    run(
        Fake {
            script,
            log: log.clone(),
        },
        resolved(),
        tx,
        std::future::pending(),
    )
    .await;
    assert_eq!(log.lock().unwrap().disconnects, 1);
}
