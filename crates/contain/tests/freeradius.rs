//! RFC 5176 against a real FreeRADIUS 3.2 acting as the NAS's Dynamic Authorization Server,
//! configured here in a temporary directory.
//!
//! The `coa` virtual server ACKs a Disconnect-Request carrying Event-Timestamp and
//! Message-Authenticator; NAKs user `gone` with Error-Cause 503; ACKs a CoA-Request only when
//! it carries Filter-Id `quarantine` (with the walled-garden vendor attribute) or `normal`,
//! and NAKs user `locked` with 501. FreeRADIUS drops requests whose Request Authenticator or
//! Message-Authenticator does not verify, so every answer also proves our signing.
//!
//! Skips (with a message) when freeradius is missing, unless `RAMPART_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rampart_contain::dae::{
    DaeClient, DaeError, DaeReply, IdentityAttr, NasConfig, PolicyAttr, SessionIdentity,
};
use rampart_contain::{Action, Context, Detail, Secret, Status, telemetry};

const SECRET: &str = "testing123";

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
name = freeradius
confdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stderr
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
modules {{
  always reject {{
    rcode = reject
  }}
  always ok {{
    rcode = ok
  }}
}}
client local {{
  ipaddr = 127.0.0.1
  secret = {SECRET}
}}
server coa {{
  listen {{
    type = coa
    ipaddr = 127.0.0.1
    port = {port}
  }}
  recv-coa {{
    if (!&request:Event-Timestamp || !&request:Message-Authenticator) {{
      update reply {{
        &Error-Cause := Missing-Attribute
      }}
      reject
    }}
    elsif (&request:User-Name == "gone") {{
      update reply {{
        &Error-Cause := Session-Context-Not-Found
      }}
      reject
    }}
    elsif (&request:User-Name == "locked") {{
      update reply {{
        &Error-Cause := Administratively-Prohibited
      }}
      reject
    }}
    elsif (&request:Packet-Type == Disconnect-Request) {{
      ok
    }}
    elsif (&request:Filter-Id == "quarantine" && &request:3GPP-IMSI == "001010123456789" && &request:3GPP-Charging-Characteristics == "walled-garden") {{
      ok
    }}
    elsif (&request:Filter-Id == "normal") {{
      ok
    }}
    else {{
      update reply {{
        &Error-Cause := Invalid-Request
      }}
      reject
    }}
  }}
  send-coa {{
    ok
  }}
}}
"#
    )
}

fn start() -> Option<Server> {
    if !common::have("freeradius") {
        common::skip("freeradius is not installed (apt-get install freeradius)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_udp_port();
    std::fs::write(dir.path().join("radiusd.conf"), config(dir.path(), port)).unwrap();
    let log = dir.path().join("radiusd.log");
    let child = Command::new("freeradius")
        .args(["-X", "-n", "radiusd", "-l", "stdout", "-d"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    };
    for _ in 0..100 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Ready to process requests") {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "freeradius did not start: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

fn nas(addr: SocketAddr, secret: &str) -> NasConfig {
    let mut nas = NasConfig::new("pgw1", addr, Secret::from(secret));
    nas.identify_by = vec![
        IdentityAttr::UserName,
        IdentityAttr::AcctSessionId,
        IdentityAttr::Imsi,
        IdentityAttr::FramedIpAddress,
    ];
    nas.nas_ip = Some("127.0.0.1".parse().unwrap());
    nas.retry = common::quick(3);
    nas.quarantine = vec![
        PolicyAttr::FilterId("quarantine".into()),
        // 3GPP-Charging-Characteristics stands in for a walled-garden profile selector.
        PolicyAttr::VendorText {
            vendor: 10415,
            attr: 13,
            value: "walled-garden".into(),
        },
    ];
    nas.normal = vec![PolicyAttr::FilterId("normal".into())];
    nas
}

fn session(user: &str) -> SessionIdentity {
    SessionIdentity {
        user_name: Some(user.into()),
        acct_session_id: Some("5F3A0001".into()),
        framed_ip: Some("100.64.0.7".parse().unwrap()),
        imsi: Some("001010123456789".into()),
        calling_station_id: None,
    }
}

#[tokio::test]
async fn disconnect_and_quarantine_against_freeradius() {
    let Some(server) = start() else { return };
    let mut metrics = common::metrics();
    let ctx = Context::new().with_nas(DaeClient::new(nas(server.addr, SECRET)));

    // Disconnect: ACK.
    let disconnect = Action::RadiusDisconnect {
        nas: "pgw1".into(),
        session: session("dev1"),
    };
    let out = disconnect.execute(&ctx).await;
    assert_eq!(out.status, Status::Applied, "{out:?}");
    assert_eq!(out.attempts, 1);
    let Detail::Radius {
        exchange: Some(ex), ..
    } = &out.detail
    else {
        panic!("{out:?}")
    };
    assert_eq!(ex.reply, DaeReply::Ack { error_cause: None });
    assert_eq!(
        disconnect.undo(&ctx, &out).await.status,
        Status::NotReversible
    );

    // Disconnect of a session the NAS no longer has: NAK 503, which is success.
    let gone = Action::RadiusDisconnect {
        nas: "pgw1".into(),
        session: session("gone"),
    };
    let out = gone.execute(&ctx).await;
    assert_eq!(out.status, Status::AlreadyInState, "{out:?}");
    let Detail::Radius {
        exchange: Some(ex), ..
    } = &out.detail
    else {
        panic!("{out:?}")
    };
    let cause = ex.reply.error_cause().unwrap();
    assert_eq!(
        (cause.code, cause.name.as_str()),
        (503, "Session-Context-Not-Found")
    );

    // Quarantine by CoA, then undo restores the normal policy.
    let quarantine = Action::RadiusQuarantine {
        nas: "pgw1".into(),
        session: session("dev1"),
    };
    let out = quarantine.execute(&ctx).await;
    assert_eq!(out.status, Status::Applied, "{out:?}");
    let undone = quarantine.undo(&ctx, &out).await;
    assert_eq!(undone.status, Status::Applied, "{undone:?}");
    assert!(undone.undo);

    // A NAS refusing by policy: CoA-NAK 501, a failure with the cause named.
    let locked = Action::RadiusQuarantine {
        nas: "pgw1".into(),
        session: session("locked"),
    };
    let out = locked.execute(&ctx).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(
        out.error.as_deref(),
        Some("nak: Administratively-Prohibited (501)")
    );

    assert!(
        metrics.get(
            telemetry::RADIUS_RESPONSES_TOTAL,
            &[("code", "disconnect_nak")]
        ) >= 1
    );
    assert!(metrics.get(telemetry::RADIUS_ERROR_CAUSES_TOTAL, &[("cause", "503")]) >= 1);
    assert!(
        metrics.get(
            telemetry::ACTIONS_TOTAL,
            &[("action", "radius_quarantine"), ("status", "applied")]
        ) >= 2
    );
}

#[tokio::test]
async fn coa_without_policy_attribute_is_refused_by_the_nas() {
    let Some(server) = start() else { return };
    let client = DaeClient::new(nas(server.addr, SECRET));
    // Identified, signed, but the wrong policy: FreeRADIUS answers NAK 404.
    let ex = client
        .send(
            rampart_contain::dae::DaeKind::Coa,
            &session("dev1"),
            &[PolicyAttr::FilterId("something-else".into())],
        )
        .await
        .unwrap();
    assert_eq!(ex.reply.error_cause().map(|c| c.code), Some(404));
}

#[tokio::test]
async fn wrong_secret_gets_no_answer_from_freeradius() {
    let Some(server) = start() else { return };
    let client = DaeClient::new(nas(server.addr, "not-the-secret"));
    let started = std::time::Instant::now();
    let err = client.disconnect(&session("dev1")).await.unwrap_err();
    // FreeRADIUS silently discards a request whose authenticator does not verify.
    assert!(matches!(err, DaeError::Timeout { attempts: 3 }), "{err:?}");
    // 100 + 200 + 400 ms of listening.
    assert!(started.elapsed() >= Duration::from_millis(650));
}
