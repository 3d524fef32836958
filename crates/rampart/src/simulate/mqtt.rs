//! The simulated devices' own reports: a metrics report per device over MQTT (the schema of
//! docs/mqtt-metrics.md) on `rampart/devices/{device}/metrics`, with a GPS position — which
//! jumps across an ocean for roaming devices.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use rampart_core::{DeviceMetrics, GeoPoint, Timestamp};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::task::JoinHandle;

use super::fleet::{Misbehaviour, SimDevice};

pub(crate) struct Publisher {
    client: AsyncClient,
    acked: Arc<AtomicU64>,
    driver: JoinHandle<()>,
    report_id: AtomicU64,
}

impl Publisher {
    /// Connects to `mqtt://HOST[:PORT]`.
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("mqtt://")
            .context("--mqtt takes mqtt://HOST[:PORT]")?;
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().context("bad MQTT port")?),
            None => (rest.trim_end_matches('/').to_owned(), 1883),
        };
        let id = format!("rampart-sim-{}", std::process::id());
        let mut options = MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 10_000);
        let acked = Arc::new(AtomicU64::new(0));
        let counter = acked.clone();
        let driver = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "mqtt connection");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            client,
            acked,
            driver,
            report_id: AtomicU64::new(1),
        })
    }

    /// Publishes `d`'s report for the interval ending at `t`.
    pub(crate) async fn publish(&self, d: &SimDevice, t: Timestamp, active: bool, interval: u64) {
        let ip = u32::from(d.ip);
        let mut position = GeoPoint {
            lat: 40.0 + f64::from(ip % 1000) / 100.0,
            lon: f64::from((ip / 1000) % 2000) / 100.0 - 5.0,
            accuracy_m: Some(10.0),
        };
        if active && d.misbehaviour == Some(Misbehaviour::Roaming) {
            position.lat = 40.7;
            position.lon = -74.0;
        }
        let spike = active
            && matches!(
                d.misbehaviour,
                Some(Misbehaviour::UsageSpike | Misbehaviour::Flood)
            );
        let metrics = DeviceMetrics {
            time: t,
            interval_s: u32::try_from(interval).ok(),
            bytes_out: Some(if spike { 200_000_000 } else { 50_000 }),
            bytes_in: Some(100_000),
            packets_out: Some(if spike { 150_000 } else { 60 }),
            packets_in: Some(80),
            listening_tcp_ports: vec![22],
            position: Some(position),
            ..DeviceMetrics::default()
        };
        let id = self.report_id.fetch_add(1, Ordering::Relaxed);
        let Ok(payload) = rampart_mqtt::encode(&metrics, id) else {
            return;
        };
        let topic = format!("rampart/devices/{}/metrics", d.device_id);
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            tracing::warn!(error = %e, "mqtt publish");
        }
    }

    /// Waits briefly for outstanding acknowledgements; returns how many reports the broker
    /// acknowledged.
    pub(crate) async fn finish(self) -> u64 {
        let sent = self.report_id.load(Ordering::Relaxed).saturating_sub(1);
        for _ in 0..50 {
            if self.acked.load(Ordering::Relaxed) >= sent {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ignored = self.client.disconnect().await;
        self.driver.abort();
        self.acked.load(Ordering::Relaxed)
    }
}
