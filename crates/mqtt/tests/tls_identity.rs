//! Certificate identity end to end: a private Mosquitto with mutual TLS,
//! `use_identity_as_username` and a `%u` pattern ACL (the configuration the crate
//! documentation gives), certificates made with the real `openssl`, devices publishing with
//! the real `mosquitto_pub`. The subscriber connects over TLS (rustls, aws-lc-rs) with its own
//! client certificate; a device's report arrives under its own id, and the same device
//! publishing under another device's topic is stopped by the broker.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Tally, next};
use metrics_util::debugging::DebuggingRecorder;
use rampart_mqtt::{MqttSourceConfig, telemetry};
use tokio::sync::mpsc;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A leaf signed by `ca-test`, with the extensions rustls' verifier insists on.
fn leaf(dir: &Path, cn: &str, server: bool) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{cn}.key"),
            "-out",
            &format!("{cn}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    let ext = if server {
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    } else {
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{cn}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{cn}.csr"),
            "-CA",
            "ca-test.pem",
            "-CAkey",
            "ca-test.key",
            "-CAcreateserial",
            "-out",
            &format!("{cn}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{cn}.ext"),
        ],
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_broker(dir: &Path, port: u16) -> Broker {
    let d = dir.display();
    let conf = format!(
        "per_listener_settings true\n\
         persistence false\n\
         log_dest stderr\n\
         listener {port} 127.0.0.1\n\
         cafile {d}/ca-test.pem\n\
         certfile {d}/broker.pem\n\
         keyfile {d}/broker.key\n\
         require_certificate true\n\
         use_identity_as_username true\n\
         max_packet_size 131072\n\
         acl_file {d}/rampart.acl\n"
    );
    let acl = "user rampart-metrics\ntopic read rampart/devices/+/metrics\n\n\
               pattern write rampart/devices/%u/metrics\n";
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    std::fs::write(dir.join("rampart.acl"), acl).unwrap();
    // The broker may drop root for its own user: everything it reads must be world-readable.
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        set_mode(&path, 0o644);
    }
    set_mode(dir, 0o755);
    let log =
        std::fs::File::create(std::env::temp_dir().join(format!("rampart-mqtt-tls-{port}.log")))
            .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let broker = Broker(child);
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return broker;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("mosquitto did not start on port {port}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn device_pub(dir: &Path, port: u16, cert: &str, topic: &str, payload: &str) -> bool {
    let d = |f: &str| dir.join(f).display().to_string();
    Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .args([
            "--cafile",
            &d("ca-test.pem"),
            "--cert",
            &d(&format!("{cert}.pem")),
            "--key",
            &d(&format!("{cert}.key")),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

fn subscriber_config(dir: &Path, port: u16, ca_file: PathBuf) -> MqttSourceConfig {
    let mut cfg = MqttSourceConfig::new(format!("mqtts://127.0.0.1:{port}"));
    cfg.client_id = "rampart-metrics".into();
    cfg.ca_file = Some(ca_file);
    cfg.client_cert_file = Some(dir.join("rampart-metrics.pem"));
    cfg.client_key_file = Some(dir.join("rampart-metrics.key"));
    cfg.reconnect_min_ms = 100;
    cfg.reconnect_max_ms = 500;
    cfg
}

const REPORT: &str =
    r#"{"header":{"report_id":1,"version":"1.0"},"metrics":{"network_stats":{"bytes_out":42}}}"#;

#[tokio::test]
async fn certificate_identity_through_mosquitto_tls() {
    for tool in ["mosquitto", "mosquitto_pub", "openssl"] {
        if !common::have(tool) {
            common::skip(&format!("{tool} is not installed"));
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    ca(path, "ca-test");
    ca(path, "ca-other");
    leaf(path, "broker", true);
    for cn in ["rampart-metrics", "meter-1", "meter-2"] {
        leaf(path, cn, false);
    }
    let port = free_port();
    let _broker = start_broker(path, port);
    let recorder = DebuggingRecorder::new();
    let mut tally = Tally::new(recorder.snapshotter());
    let _guard = metrics::set_default_local_recorder(&recorder);

    // A broker certificate from an unknown CA is refused: nothing is ever subscribed.
    let (tx, mut rx) = mpsc::channel(8);
    let wrong = subscriber_config(path, port, path.join("ca-other.pem"));
    let task = tokio::spawn(
        wrong
            .build(tx, tokio::time::sleep(Duration::from_secs(2)))
            .unwrap(),
    );
    assert!(device_pub(
        path,
        port,
        "meter-1",
        "rampart/devices/meter-1/metrics",
        REPORT
    ));
    assert!(
        next(&mut rx, 2).await.is_none(),
        "a report through an unverified broker"
    );
    task.await.unwrap();
    assert!(tally.get(telemetry::CONNECTION_ERRORS_TOTAL) >= 1);
    assert_eq!(tally.get(telemetry::RECEIVED_TOTAL), 0);

    let (tx, mut rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let cfg = subscriber_config(path, port, path.join("ca-test.pem"));
    let task = tokio::spawn(
        cfg.build(tx, async {
            stop_rx.await.ok();
        })
        .unwrap(),
    );
    let mut arrived = None;
    for _ in 0..40 {
        assert!(device_pub(
            path,
            port,
            "meter-1",
            "rampart/devices/meter-1/metrics",
            REPORT
        ));
        if let Some(r) = next(&mut rx, 1).await {
            arrived = Some(r);
            break;
        }
    }
    let (device, m) = arrived.expect("meter-1's report over TLS");
    assert_eq!((device.as_str(), m.bytes_out), ("meter-1", Some(42)));
    while next(&mut rx, 1).await.is_some() {}

    // meter-1's certificate, meter-2's topic: the broker's ACL drops it. A marker from
    // meter-2's own certificate follows; it must be the next thing to arrive.
    assert!(device_pub(
        path,
        port,
        "meter-1",
        "rampart/devices/meter-2/metrics",
        REPORT
    ));
    let marker =
        r#"{"header":{"report_id":2,"version":"1.0"},"metrics":{"network_stats":{"bytes_out":7}}}"#;
    assert!(device_pub(
        path,
        port,
        "meter-2",
        "rampart/devices/meter-2/metrics",
        marker
    ));
    let (device, m) = next(&mut rx, 5).await.expect("meter-2's own report");
    assert_eq!(
        (device.as_str(), m.bytes_out),
        ("meter-2", Some(7)),
        "impersonation got through"
    );

    // No certificate, no connection.
    let refused = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "rampart/devices/x/metrics",
            "-m",
            REPORT,
        ])
        .args(["--cafile", &path.join("ca-test.pem").display().to_string()])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a client without a certificate connected"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
