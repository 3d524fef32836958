//! Against a real Mosquitto broker (`RAMPART_TEST_MQTT_URL`, e.g. `mqtt://127.0.0.1:1883`),
//! publishing with the real `mosquitto_pub`: valid, AWS short-name, invalid and oversized
//! reports, then a broker-side takeover of the subscriber's client id.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::time::Duration;

use common::{Tally, mosquitto_pub, next};
use metrics_util::debugging::DebuggingRecorder;
use rampart_core::{DeviceMetrics, GeoPoint, Timestamp};
use rampart_mqtt::{MqttSourceConfig, telemetry};
use tokio::sync::mpsc;

fn broker() -> Option<(String, String)> {
    let Ok(url) = std::env::var("RAMPART_TEST_MQTT_URL") else {
        common::skip("RAMPART_TEST_MQTT_URL is not set (eval \"$(scripts/services.sh)\")");
        return None;
    };
    if !common::have("mosquitto_pub") {
        common::skip("mosquitto_pub is not installed (apt-get install mosquitto-clients)");
        return None;
    }
    let rest = url
        .strip_prefix("mqtt://")
        .expect("RAMPART_TEST_MQTT_URL is mqtt://host:port");
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    Some((host.to_owned(), port.to_owned()))
}

struct Pub {
    host: String,
    port: String,
    prefix: String,
}

impl Pub {
    fn topic(&self, device: &str) -> String {
        format!("{}/devices/{device}/metrics", self.prefix)
    }

    fn send(&self, device: &str, payload: &str) {
        let topic = self.topic(device);
        mosquitto_pub(&[
            "-h", &self.host, "-p", &self.port, "-q", "1", "-t", &topic, "-m", payload,
        ]);
    }

    fn send_file(&self, device: &str, path: &std::path::Path) {
        let topic = self.topic(device);
        let file = path.to_str().unwrap();
        mosquitto_pub(&[
            "-h", &self.host, "-p", &self.port, "-q", "1", "-t", &topic, "-f", file,
        ]);
    }
}

/// Publishes `payload` as `device` until it arrives (the subscription may not be in place
/// yet); returns the report.
async fn until_arrives(
    p: &Pub,
    rx: &mut mpsc::Receiver<(String, DeviceMetrics)>,
    device: &str,
    payload: &str,
) -> DeviceMetrics {
    for _ in 0..40 {
        p.send(device, payload);
        if let Some((dev, m)) = next(rx, 1).await {
            assert_eq!(dev, device);
            return m;
        }
    }
    panic!("no report from {device} arrived");
}

const VALID: &str = r#"{
  "header": {"report_id": 1717171717, "version": "1.0"},
  "timestamp": "2026-05-31T15:28:37.123Z",
  "interval_s": 300,
  "position": {"lat": 48.8566, "lon": 2.3522, "accuracy_m": 12.5},
  "metrics": {
    "listening_tcp_ports": {"ports": [{"port": 443}, {"port": 22, "interface": "eth0"}, {"port": 22, "interface": "wlan0"}], "total": 3},
    "listening_udp_ports": {"ports": [{"port": 5353}], "total": 1},
    "network_stats": {"bytes_in": 29358, "bytes_out": 26485, "packets_in": 1013, "packets_out": 1138},
    "tcp_connections": {"established_connections": {
      "connections": [{"remote_addr": "203.0.113.7:443", "local_port": 50212, "local_interface": "eth0"},
                      {"remote_addr": "[2001:db8::1]:8883"}],
      "total": 5}}
  }
}"#;

const AWS_SHORT: &str = r#"{"hed":{"rid":1530304554,"v":"1.0"},"met":{"tp":{"pts":[{"pt":24800,"if":"eth0"},{"pt":22}],"t":2},"up":{"pts":[{"pt":5353,"if":"eth0"}],"t":1},"ns":{"bi":29358693495,"bo":26485035,"pi":10013573555,"po":11382615},"tc":{"ec":{"cs":[{"li":"eth0","lp":80,"rad":"192.168.0.1:8000"}],"t":1}}},"cmet":{"cpu_usage":[{"number":26}]}}"#;

#[tokio::test]
async fn reports_through_mosquitto() {
    let Some((host, port)) = broker() else { return };
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);

    let prefix = common::unique_prefix();
    let client_id = format!("rampart-test-{}", prefix.rsplit('/').next().unwrap());
    let mut cfg = MqttSourceConfig::new(format!("mqtt://{host}:{port}"));
    cfg.client_id = client_id.clone();
    cfg.topics = vec![format!("{prefix}/devices/{{device}}/metrics")];
    cfg.reconnect_min_ms = 100;
    cfg.reconnect_max_ms = 1_000;
    let (tx, mut rx) = mpsc::channel(64);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = cfg
        .build(tx, async {
            stop_rx.await.ok();
        })
        .unwrap();
    let task = tokio::spawn(task);
    let p = Pub { host, port, prefix };

    // The subscription is live once a probe comes through.
    let probe = r#"{"header":{"report_id":1,"version":"1.0"}}"#;
    let before = Timestamp::now();
    let m = until_arrives(&p, &mut rx, "probe", probe).await;
    assert!(
        m.time.0 >= before.0 && m.time.0 <= Timestamp::now().0,
        "receive time"
    );
    while next(&mut rx, 1).await.is_some() {}
    let (r0, d0, i0, o0) = (
        tally.get(telemetry::RECEIVED_TOTAL),
        tally.get(telemetry::DECODED_TOTAL),
        tally.get(telemetry::INVALID_TOTAL),
        tally.get(telemetry::OVERSIZED_TOTAL),
    );

    p.send("meter-1", VALID);
    let (dev, m) = next(&mut rx, 5).await.expect("valid report");
    assert_eq!(dev, "meter-1");
    let expected = DeviceMetrics {
        time: Timestamp(1_780_241_317_123),
        interval_s: Some(300),
        bytes_in: Some(29358),
        bytes_out: Some(26485),
        packets_in: Some(1013),
        packets_out: Some(1138),
        listening_tcp_ports: vec![22, 443],
        listening_udp_ports: vec![5353],
        established_connections: Some(5),
        remote_addrs: vec![
            "203.0.113.7:443".parse().unwrap(),
            "[2001:db8::1]:8883".parse().unwrap(),
        ],
        position: Some(GeoPoint {
            lat: 48.8566,
            lon: 2.3522,
            accuracy_m: Some(12.5),
        }),
    };
    assert_eq!(m, expected);

    p.send("aws-thing-1", AWS_SHORT);
    let (dev, m) = next(&mut rx, 5).await.expect("aws report");
    assert_eq!(dev, "aws-thing-1");
    assert_eq!(m.listening_tcp_ports, vec![22, 24800]);
    assert_eq!(m.listening_udp_ports, vec![5353]);
    assert_eq!(m.bytes_in, Some(29_358_693_495));
    assert_eq!(m.packets_in, Some(10_013_573_555));
    assert_eq!(m.established_connections, Some(1));
    assert_eq!(m.remote_addrs, vec!["192.168.0.1:8000".parse().unwrap()]);

    p.send(
        "meter-1",
        "{\"header\": {\"report_id\": 2, \"version\": \"1.0\"",
    );
    p.send(
        "meter-1",
        r#"{"header":{"report_id":3,"version":"1.0"},"position":{"lat":91,"lon":0}}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let mut body = String::from(r#"{"header":{"report_id":4,"version":"1.0"},"custom_metrics":""#);
    body.push_str(&"x".repeat(70 * 1024));
    body.push_str("\"}");
    std::fs::write(&big, &body).unwrap();
    p.send_file("meter-1", &big);
    // Messages from one broker arrive in order: once the marker is here, the three refused
    // reports before it were processed.
    p.send("meter-1", r#"{"header":{"report_id":99,"version":"1.0"}}"#);
    let (dev, _) = next(&mut rx, 5).await.expect("marker report");
    assert_eq!(dev, "meter-1");
    assert_eq!(tally.get(telemetry::RECEIVED_TOTAL) - r0, 6);
    assert_eq!(tally.get(telemetry::DECODED_TOTAL) - d0, 3);
    assert_eq!(tally.get(telemetry::INVALID_TOTAL) - i0, 2);
    assert_eq!(tally.get(telemetry::OVERSIZED_TOTAL) - o0, 1);
    assert_eq!(tally.get(telemetry::RECONNECTS_TOTAL), 0);

    // Another client takes our client id over: the broker disconnects the subscriber, which
    // must come back, resubscribe and keep receiving.
    mosquitto_pub(&[
        "-h",
        &p.host,
        "-p",
        &p.port,
        "-i",
        &client_id,
        "-t",
        &p.topic("kicker"),
        "-m",
        probe,
    ]);
    let m = until_arrives(&p, &mut rx, "after-kick", VALID).await;
    assert_eq!(m, expected);
    assert!(
        tally.get(telemetry::RECONNECTS_TOTAL) >= 1,
        "reconnect counted"
    );
    assert!(
        tally.get(telemetry::CONNECTION_ERRORS_TOTAL) >= 1,
        "loss counted"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn unreachable_broker_is_retried_until_shutdown() {
    // Needs no broker: a closed loopback port refuses at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);
    let mut cfg = MqttSourceConfig::new(format!("mqtt://127.0.0.1:{port}"));
    cfg.reconnect_min_ms = 50;
    cfg.reconnect_max_ms = 200;
    let (tx, _rx) = mpsc::channel(1);
    let task = cfg
        .build(tx, tokio::time::sleep(Duration::from_millis(1_500)))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops on shutdown");
    let errors = tally.get(telemetry::CONNECTION_ERRORS_TOTAL);
    // 50 + 100 + 200 + 200 ... ms within 1.5 s: several attempts, but bounded by the backoff.
    assert!((4..=12).contains(&errors), "{errors} attempts");
}
