//! Signed webhooks against an in-test HTTP server that checks every signature with its own
//! HMAC code, answers from a script of statuses, and records what it got.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use rampart_contain::webhook::{self, WebhookClient, WebhookEndpoint, WebhookError};
use rampart_contain::{Action, Context, Detail, Secret, Status};
use serde_json::json;
use sha2::Sha256;

const KEY: &str = "webhook-key-1";

#[derive(Default)]
struct Seen {
    script: VecDeque<(u16, u64)>,
    deliveries: Vec<String>,
    bodies: Vec<serde_json::Value>,
}

async fn handler(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let ts = headers[webhook::TIMESTAMP_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    let sig = headers[webhook::SIGNATURE_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    // Independent check: HMAC-SHA256(key, ts + "." + body), fresh timestamp.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if sig != expected || now.abs_diff(ts.parse().unwrap()) > 300 {
        return StatusCode::UNAUTHORIZED;
    }
    assert_eq!(headers["content-type"], "application/json");
    let (status, delay_ms) = {
        let mut s = seen.lock().unwrap();
        s.deliveries.push(
            headers[webhook::DELIVERY_HEADER]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        s.bodies.push(serde_json::from_slice(&body).unwrap());
        s.script.pop_front().unwrap_or((200, 0))
    };
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    StatusCode::from_u16(status).unwrap()
}

async fn server(script: &[(u16, u64)]) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen {
        script: script.iter().copied().collect(),
        ..Default::default()
    }));
    let app = Router::new()
        .route("/hook", post(handler))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

fn endpoint(url: &str, key: &str) -> WebhookClient {
    let mut ep = WebhookEndpoint::new(url.parse().unwrap(), Secret::from(key));
    ep.retry = common::quick(4);
    ep.timeout = Duration::from_millis(500);
    WebhookClient::new(ep)
}

#[tokio::test]
async fn retries_5xx_and_429_with_one_delivery_id() {
    let (url, seen) = server(&[(503, 0), (429, 0), (500, 0)]).await;
    let ctx = Context::new().with_webhook("soc", endpoint(&url, KEY));
    let action = Action::Webhook {
        endpoint: "soc".into(),
        payload: json!({"incident": "inc-1", "action": "quarantine", "note": "a|b=c\n"}),
    };
    let out = action.execute(&ctx).await;
    assert_eq!(out.status, Status::Applied, "{out:?}");
    assert_eq!(out.attempts, 4);
    let Detail::Webhook {
        status: Some(200),
        delivery_id: Some(id),
        ..
    } = &out.detail
    else {
        panic!("{out:?}")
    };
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.deliveries, vec![id.clone(); 4]);
        assert_eq!(seen.bodies[3]["note"], "a|b=c\n");
    }
    assert_eq!(action.undo(&ctx, &out).await.status, Status::NotReversible);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_bad_keys_are_refused() {
    let (url, seen) = server(&[(404, 0)]).await;
    let (result, attempts) = endpoint(&url, KEY).send(&json!({"a": 1})).await;
    assert!(
        matches!(result, Err(WebhookError::Status(404))),
        "{result:?}"
    );
    assert_eq!(attempts, 1);
    // The receiver refuses a wrong key with 401, also final.
    let (result, attempts) = endpoint(&url, "not-the-key").send(&json!({"a": 1})).await;
    assert!(
        matches!(result, Err(WebhookError::Status(401))),
        "{result:?}"
    );
    assert_eq!(attempts, 1);
    assert_eq!(seen.lock().unwrap().deliveries.len(), 1);
}

#[tokio::test]
async fn slow_receiver_times_out_each_attempt() {
    let (url, seen) = server(&[(200, 2000), (200, 2000), (200, 2000), (200, 2000)]).await;
    let (result, attempts) = endpoint(&url, KEY).send(&json!({"a": 1})).await;
    assert!(
        matches!(result, Err(WebhookError::Timeout(_))),
        "{result:?}"
    );
    assert_eq!(attempts, 4);
    assert_eq!(seen.lock().unwrap().deliveries.len(), 4);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let port = common::free_tcp_port();
    let started = std::time::Instant::now();
    let (result, attempts) = endpoint(&format!("http://127.0.0.1:{port}/x"), KEY)
        .send(&json!({}))
        .await;
    assert!(
        matches!(result, Err(WebhookError::Transport(_))),
        "{result:?}"
    );
    assert_eq!(attempts, 4);
    // 100 + 200 + 400 ms between the four attempts.
    assert!(started.elapsed() >= Duration::from_millis(650));
}

#[test]
fn debug_never_shows_the_key() {
    let ep = WebhookEndpoint::new("http://h/x".parse().unwrap(), Secret::from(KEY));
    assert!(!format!("{ep:?}").contains(KEY));
}
