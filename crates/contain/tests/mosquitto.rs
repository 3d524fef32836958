//! Broker quarantine against a real Mosquitto with the dynamic security plugin, started
//! here on a free port with a fresh dynsec configuration.
//!
//! Skips (with a message) when mosquitto, mosquitto_ctrl or the plugin is missing, unless
//! `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rampart_contain::broker::{BrokerConfig, DynsecClient};
use rampart_contain::{Action, Context, Detail, Secret, Status};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet};
use serde_json::json;

const ADMIN_PW: &str = "admin-pw-1";
const DEVICE_PW: &str = "device-pw-1";

struct Broker {
    child: Child,
    _dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn plugin() -> Option<PathBuf> {
    let known = [
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
    ];
    if let Some(p) = known.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    let out = Command::new("dpkg")
        .args(["-L", "mosquitto"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("mosquitto_dynamic_security.so"))
        .map(PathBuf::from)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn start() -> Option<Broker> {
    for tool in ["mosquitto", "mosquitto_ctrl"] {
        if !common::have(tool) {
            common::skip(&format!(
                "{tool} is not installed (apt-get install mosquitto mosquitto-clients)"
            ));
            return None;
        }
    }
    let Some(plugin) = plugin() else {
        common::skip("the mosquitto dynamic security plugin is not installed");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let dynsec = dir.path().join("dynsec.json");
    let init = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&dynsec)
        .args(["admin", ADMIN_PW])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = common::free_tcp_port();
    let conf = format!(
        "per_listener_settings false\n\
         persistence false\n\
         log_dest stderr\n\
         allow_anonymous false\n\
         listener {port} 127.0.0.1\n\
         plugin {}\n\
         plugin_opt_config_file {}\n",
        plugin.display(),
        dynsec.display()
    );
    std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
    // The broker may drop root for its own user, and the plugin rewrites its file.
    set_mode(dir.path(), 0o777);
    set_mode(&dynsec, 0o666);
    set_mode(&dir.path().join("mosquitto.conf"), 0o644);
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.path().join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("mosquitto.log")).unwrap())
        .spawn()
        .unwrap();
    let broker = Broker {
        child,
        _dir: dir,
        port,
    };
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(broker);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("mosquitto did not start on port {port}");
}

fn admin(port: u16, password: &str) -> DynsecClient {
    let mut config = BrokerConfig::new("127.0.0.1", port, "admin", Secret::from(password));
    config.retry = common::quick(2);
    config.timeout = Duration::from_secs(5);
    DynsecClient::new(config)
}

/// Connects as the device; the result of the CONNECT.
async fn device_connect(port: u16, client_id: &str) -> Result<rumqttc::EventLoop, ConnectionError> {
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_credentials("dev1", DEVICE_PW);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(opts, 10);
    std::mem::forget(client); // Keeps the request channel open for the event loop.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.poll()).await {
            Err(_) => panic!("no connack"),
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok(events),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Waits until the broker drops the device's connection.
async fn dropped(mut events: rumqttc::EventLoop) -> bool {
    let wait = async {
        loop {
            if events.poll().await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .is_ok()
}

fn refused(result: Result<rumqttc::EventLoop, ConnectionError>) -> bool {
    matches!(
        result,
        Err(ConnectionError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
        ))
    )
}

#[tokio::test]
async fn disable_drops_and_locks_out_then_undo_restores() {
    let Some(broker) = start() else { return };
    let port = broker.port;
    let client = admin(port, ADMIN_PW);
    let created = client
        .commands(&[json!({"command": "createClient", "username": "dev1", "password": DEVICE_PW})])
        .await
        .unwrap();
    assert_eq!(created[0].error, None);

    let events = device_connect(port, "dev1-a").await.unwrap();
    let ctx = Context::new().with_broker(client.clone());
    let disable = Action::BrokerDisable {
        username: "dev1".into(),
    };
    let first = disable.execute(&ctx).await;
    assert_eq!(first.status, Status::Applied, "{first:?}");
    assert_eq!(first.attempts, 1);
    assert!(matches!(
        first.detail,
        Detail::Broker {
            was_disabled: Some(false),
            ..
        }
    ));
    assert!(
        dropped(events).await,
        "the broker kept the device connected"
    );
    assert!(
        refused(device_connect(port, "dev1-b").await),
        "device reconnected while disabled"
    );
    assert!(client.is_disabled("dev1").await.unwrap());

    // Idempotent: a second run finds it disabled, and undoing that one leaves it so.
    let second = disable.execute(&ctx).await;
    assert_eq!(second.status, Status::AlreadyInState, "{second:?}");
    let undo_second = disable.undo(&ctx, &second).await;
    assert_eq!(undo_second.status, Status::AlreadyInState);
    assert!(client.is_disabled("dev1").await.unwrap());

    // Undoing the first restores the prior (enabled) state.
    let undo_first = disable.undo(&ctx, &first).await;
    assert_eq!(undo_first.status, Status::Applied, "{undo_first:?}");
    assert!(!client.is_disabled("dev1").await.unwrap());
    let events = device_connect(port, "dev1-c").await.unwrap();

    // Kick by client id: the session is taken over and the device dropped.
    let kick = Action::BrokerKick {
        client_id: "dev1-c".into(),
    };
    assert_eq!(kick.execute(&ctx).await.status, Status::Applied);
    assert!(dropped(events).await, "the kick did not drop the device");

    // Unknown user: a failure naming the plugin's reason.
    let missing = Action::BrokerDisable {
        username: "nobody".into(),
    }
    .execute(&ctx)
    .await;
    assert_eq!(missing.status, Status::Failed);
    assert!(
        missing.error.as_deref().unwrap().contains("not found"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn wrong_admin_password_fails_without_retrying() {
    let Some(broker) = start() else { return };
    let ctx = Context::new().with_broker(admin(broker.port, "wrong"));
    let out = Action::BrokerDisable {
        username: "dev1".into(),
    }
    .execute(&ctx)
    .await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.attempts, 1, "refused credentials must not be retried");
    assert!(
        out.error.as_deref().unwrap().contains("connection"),
        "{out:?}"
    );
    assert!(
        !format!("{out:?}").contains("wrong"),
        "secret leaked: {out:?}"
    );
}
