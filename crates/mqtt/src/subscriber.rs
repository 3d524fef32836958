//! The source's task: connect, subscribe, decode each publish, hand `(device id, metrics)`
//! to the consumer, and come back after every loss of the broker.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rampart_core::{DeviceMetrics, Timestamp};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::time::Instant;

use crate::broker::{Broker, BrokerEvent, Rumqtt};
use crate::config::{BuildError, MqttSourceConfig, Resolved};
use crate::telemetry::{self, incr};
use crate::{MAX_PAYLOAD_BYTES, decode};

/// What the source hands to its consumer: the device id from the topic, and its report.
pub type DeviceReport = (String, DeviceMetrics);

/// The running source; completes on shutdown or when the consumer's channel closes.
pub type MqttSourceTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A connection that lasted this long proves the broker healthy: the next loss starts the
/// backoff from its minimum again. Shorter ones (a broker that accepts then drops us, a
/// client-id fight) keep escalating it.
const STABLE_AFTER: Duration = Duration::from_secs(10);

impl MqttSourceConfig {
    /// Resolves the settings (reading password and TLS files now, so mistakes surface at
    /// start-up) and returns the source's task. Spawn it; it runs until `shutdown`
    /// completes or `sink`'s receiver is dropped, reconnecting with exponential backoff
    /// whenever the broker is lost. It never fails after this point: broker errors are
    /// logged and counted.
    pub fn build(
        &self,
        sink: mpsc::Sender<DeviceReport>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<MqttSourceTask, BuildError> {
        let resolved = self.resolve()?;
        let broker = Rumqtt::new(&resolved);
        Ok(Box::pin(run(broker, resolved, sink, shutdown)))
    }
}

pub(crate) async fn run<B: Broker>(
    mut broker: B,
    cfg: Resolved,
    sink: mpsc::Sender<DeviceReport>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let filters: Vec<String> = cfg.patterns.iter().map(|p| p.filter().to_owned()).collect();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = cfg.backoff_min;
    let mut connected_at: Option<Instant> = None;
    let mut ever_connected = false;
    let endpoint = format!("{}:{}", cfg.endpoint.host, cfg.endpoint.port);
    loop {
        let event = tokio::select! {
            biased;
            () = &mut shutdown => break,
            e = broker.poll() => e,
        };
        match event {
            Ok(BrokerEvent::Connected) => {
                if ever_connected {
                    incr(telemetry::RECONNECTS_TOTAL);
                }
                ever_connected = true;
                connected_at = Some(Instant::now());
                tracing::info!(broker = %endpoint, topics = ?filters, "mqtt connected");
                if let Err(e) = broker.subscribe(&filters, cfg.qos) {
                    tracing::warn!(error = %e, "mqtt subscribe request failed");
                }
            }
            Ok(BrokerEvent::Publish { topic, payload }) => {
                let Some(report) = handle(&cfg, &topic, payload.as_ref()) else {
                    continue;
                };
                let sent = tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    r = sink.send_timeout(report, cfg.sink_timeout) => r,
                };
                match sent {
                    Ok(()) => {}
                    Err(SendTimeoutError::Timeout(_)) => incr(telemetry::DROPPED_TOTAL),
                    Err(SendTimeoutError::Closed(_)) => {
                        tracing::info!("mqtt source stopping: consumer gone");
                        broker.disconnect().await;
                        return;
                    }
                }
            }
            Ok(BrokerEvent::SubscribeRefused) => {
                incr(telemetry::SUBSCRIBE_REFUSED_TOTAL);
                tracing::error!(topics = ?filters, "mqtt broker refused a subscription (check its acl)");
            }
            Ok(BrokerEvent::Other) => {}
            Err(e) => {
                incr(telemetry::CONNECTION_ERRORS_TOTAL);
                if connected_at
                    .take()
                    .is_some_and(|t| t.elapsed() >= STABLE_AFTER)
                {
                    backoff = cfg.backoff_min;
                }
                tracing::warn!(broker = %endpoint, error = %e, retry_in_ms = backoff.as_millis() as u64, "mqtt connection lost");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(cfg.backoff_max);
            }
        }
    }
    tracing::info!("mqtt source stopping: shutdown");
    broker.disconnect().await;
}

/// One publish: counted, bounded, attributed to a device, decoded.
fn handle(cfg: &Resolved, topic: &str, payload: &[u8]) -> Option<DeviceReport> {
    incr(telemetry::RECEIVED_TOTAL);
    if payload.len() > MAX_PAYLOAD_BYTES {
        incr(telemetry::OVERSIZED_TOTAL);
        tracing::debug!(topic = %crate::error::excerpt(topic), size = payload.len(), "mqtt report oversized");
        return None;
    }
    let mut device = None;
    let mut topic_error = None;
    for p in &cfg.patterns {
        match p.device_id(topic) {
            Ok(id) => {
                device = Some(id);
                break;
            }
            Err(e) => topic_error = Some(e),
        }
    }
    let Some(device) = device else {
        incr(telemetry::INVALID_TOTAL);
        if let Some(e) = topic_error {
            tracing::debug!(error = %e, "mqtt report refused");
        }
        return None;
    };
    match decode(payload, Timestamp::now()) {
        Ok(metrics) => {
            incr(telemetry::DECODED_TOTAL);
            Some((device.to_owned(), metrics))
        }
        Err(e) => {
            incr(telemetry::INVALID_TOTAL);
            tracing::debug!(device, error = %e, "mqtt report refused");
            None
        }
    }
}

#[cfg(test)]
#[path = "subscriber_tests.rs"]
mod tests;
