//! Failure paths of the RFC 5176 client against an in-test NAS: a NAS signing with another
//! secret, a NAS that never answers, stray and malformed datagrams; and the whole chain of an
//! action through the context into the audit log and the SIEM.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_contain::audit::{self, AuditLog};
use rampart_contain::dae::{DaeClient, DaeError, NasConfig, ResponseError, SessionIdentity};
use rampart_contain::siem::{SyslogFormatter, SyslogSender, SyslogTransport, cef, syslog};
use rampart_contain::{Action, Context, Secret, Status, telemetry};
use rampart_radius::{Attribute, Code, ErrorCause, Packet, PacketBuilder, auth};
use tokio::net::UdpSocket;

/// A NAS answering every request: first with `noise` datagrams, then with `code`
/// signed with `secret`.
async fn fake_nas(secret: &'static [u8], code: Code, noise: bool) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Packet::decode(&buf[..n]) else {
                continue;
            };
            if noise {
                socket.send_to(b"\x29garbage", peer).await.unwrap();
                let mut other = req.clone();
                other.identifier = other.identifier.wrapping_add(1);
                let stray = PacketBuilder::reply(Code::DisconnectAck, &other)
                    .encode_response(&req.authenticator, secret)
                    .unwrap();
                socket.send_to(&stray, peer).await.unwrap();
            }
            let mut b = PacketBuilder::reply(code, &req);
            if code == Code::DisconnectNak {
                b = b.attr(Attribute::error_cause(ErrorCause::SessionContextNotFound));
            }
            let answer = b.encode_response(&req.authenticator, secret).unwrap();
            socket.send_to(&answer, peer).await.unwrap();
        }
    });
    addr
}

fn session() -> SessionIdentity {
    SessionIdentity {
        acct_session_id: Some("abc".into()),
        ..Default::default()
    }
}

fn nas(addr: SocketAddr, secret: &str) -> NasConfig {
    let mut nas = NasConfig::new("nas", addr, Secret::from(secret));
    nas.retry = common::quick(3);
    nas
}

#[tokio::test]
async fn answers_signed_with_another_secret_are_counted_and_refused() {
    let mut metrics = common::metrics();
    let before = metrics.get(
        telemetry::RADIUS_BAD_RESPONSES_TOTAL,
        &[("reason", "authenticator")],
    );
    let addr = fake_nas(b"other-secret", Code::DisconnectAck, false).await;
    let err = DaeClient::new(nas(addr, "our-secret"))
        .disconnect(&session())
        .await
        .unwrap_err();
    let DaeError::BadResponses {
        attempts,
        count,
        last,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*attempts, *count), (3, 3));
    assert!(matches!(last, ResponseError::Authentication(_)));
    let after = metrics.get(
        telemetry::RADIUS_BAD_RESPONSES_TOTAL,
        &[("reason", "authenticator")],
    );
    assert!(after >= before + 3, "{before} -> {after}");
}

#[tokio::test]
async fn noise_is_skipped_and_the_real_answer_taken() {
    let addr = fake_nas(b"s", Code::DisconnectNak, true).await;
    let ex = DaeClient::new(nas(addr, "s"))
        .disconnect(&session())
        .await
        .unwrap();
    assert_eq!(ex.attempts, 1);
    assert_eq!(ex.bad_responses, 2);
    assert_eq!(ex.reply.error_cause().unwrap().code, 503);
}

#[tokio::test]
async fn silence_means_retries_then_timeout() {
    let mut metrics = common::metrics();
    // Bound but never read: requests vanish.
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sink.local_addr().unwrap();
    let before = metrics.get(telemetry::RADIUS_TIMEOUTS_TOTAL, &[]);
    let started = std::time::Instant::now();
    let err = DaeClient::new(nas(addr, "s"))
        .disconnect(&session())
        .await
        .unwrap_err();
    assert!(matches!(err, DaeError::Timeout { attempts: 3 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no answer from the nas after 3 transmissions"
    );
    assert!(started.elapsed() >= Duration::from_millis(650));
    // All three transmissions were the same signed octets.
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (n, _) = sink.recv_from(&mut buf).await.unwrap();
        auth::verify_request(&buf[..n], b"s").unwrap();
        seen.push(buf[..n].to_vec());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    assert!(metrics.get(telemetry::RADIUS_TIMEOUTS_TOTAL, &[]) > before);
}

#[tokio::test]
async fn outcomes_reach_the_audit_log_and_the_siem() {
    let addr = fake_nas(b"s", Code::DisconnectNak, false).await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("audit.jsonl");
    let log = Arc::new(Mutex::new(AuditLog::open(&log_path).unwrap()));
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sender = SyslogSender::new(
        SyslogTransport::Udp,
        collector.local_addr().unwrap(),
        common::quick(2),
    );
    let ctx = Context::new()
        .with_nas(DaeClient::new(nas(addr, "s")))
        .with_audit(log.clone())
        .with_siem(SyslogFormatter::default(), Arc::new(sender));
    let action = Action::RadiusDisconnect {
        nas: "nas".into(),
        session: session(),
    };
    let out = action.execute(&ctx).await;
    assert_eq!(out.status, Status::AlreadyInState);
    let undo = action.undo(&ctx, &out).await;

    let head = audit::verify(&log_path).unwrap();
    assert_eq!(head.seq, 2);
    let text = std::fs::read_to_string(&log_path).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let recorded: rampart_contain::Outcome =
        serde_json::from_value(first["record"].clone()).unwrap();
    assert_eq!(recorded, out);

    let mut buf = [0u8; 8192];
    let mut sigs = Vec::new();
    for _ in 0..2 {
        let n = tokio::time::timeout(Duration::from_secs(2), collector.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        let msg = syslog::parse(line).unwrap();
        assert_eq!((msg.facility, msg.app_name.as_str()), (10, "rampart"));
        let event = cef::parse(&msg.msg).unwrap();
        assert!(
            event
                .extensions
                .contains(&("duser".into(), "session abc on nas".into()))
        );
        sigs.push((event.signature_id, event.extensions[1].1.clone()));
    }
    assert_eq!(
        sigs,
        [
            (
                "contain.radius_disconnect".to_owned(),
                "already_in_state".to_owned()
            ),
            (
                "contain.radius_disconnect.undo".to_owned(),
                "not_reversible".to_owned()
            ),
        ]
    );
    assert_eq!(undo.status, Status::NotReversible);
}
