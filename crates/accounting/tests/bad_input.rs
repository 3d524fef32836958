//! Bad input is counted and dropped, never answered; retransmissions are answered without
//! being applied twice; the session table refuses new sessions when full and says so; a
//! restart restores the live sessions.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use common::{Harness, IMSI, SECRET, counter, exchange};
use rampart_radius::auth::verify_response;
use rampart_radius::{AcctStatusType, Attribute, AttributeType, Code, PacketBuilder, TgppValue};

fn request(id: u8, status: AcctStatusType, session: &str, imsi: &str, secret: &str) -> Vec<u8> {
    PacketBuilder::new(Code::AccountingRequest, id)
        .attr(Attribute::acct_status_type(status))
        .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, session))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "pgw-t"))
        .attr(Attribute::ipv4(
            AttributeType::FRAMED_IP_ADDRESS,
            [10, 9, 0, id].into(),
        ))
        .tgpp(TgppValue::Imsi(imsi.to_owned()))
        .encode_request(secret.as_bytes())
        .unwrap()
}

fn result(r: &str) -> u64 {
    counter(&format!("rampart_radius_requests_total{{result=\"{r}\"}}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_oversized_and_unknown_clients_are_dropped() {
    let h = Harness::start(|_| {}).await;
    let good = request(1, AcctStatusType::Start, "g-1", IMSI, SECRET);
    let malformed = result("malformed");
    for bad in [
        b"not radius at all".to_vec(),
        good[..good.len() - 3].to_vec(), // truncated
        vec![4u8; 5000],                 // oversized
        vec![],                          // empty
        good[..10].to_vec(),             // shorter than a header
    ] {
        assert_eq!(exchange(h.addr, &bad, 200).await, None, "never answered");
    }
    assert!(result("malformed") >= malformed + 5);

    let bad_auth = result("bad_authenticator");
    let forged = request(2, AcctStatusType::Start, "g-2", IMSI, "other-secret");
    assert_eq!(exchange(h.addr, &forged, 200).await, None);
    assert!(result("bad_authenticator") > bad_auth);

    // The server still works and nothing bad was stored.
    let answer = exchange(h.addr, &good, 2000)
        .await
        .expect("good request answered");
    let req = rampart_radius::decode(&good).unwrap();
    verify_response(&answer, &req.authenticator, SECRET.as_bytes()).unwrap();
    h.folded().await;
    assert_eq!(h.store.count_accounting_records().await.unwrap(), 1);
    h.stop().await;

    // A server whose only client is elsewhere drops everything from here.
    let h = Harness::start(|c| c.clients[0].network = "192.0.2.0/24".parse().unwrap()).await;
    let unknown = result("unknown_client");
    assert_eq!(exchange(h.addr, &good, 200).await, None);
    assert!(result("unknown_client") > unknown);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_message_authenticator() {
    let h = Harness::start(|c| c.clients[0].require_message_authenticator = true).await;
    let plain = request(3, AcctStatusType::Start, "m-1", IMSI, SECRET);
    assert_eq!(exchange(h.addr, &plain, 200).await, None);
    let signed = PacketBuilder::new(Code::AccountingRequest, 4)
        .attr(Attribute::acct_status_type(AcctStatusType::Start))
        .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, "m-2"))
        .message_authenticator()
        .encode_request(SECRET.as_bytes())
        .unwrap();
    assert!(exchange(h.addr, &signed, 2000).await.is_some());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_are_answered_once_applied() {
    let h = Harness::start(|_| {}).await;
    let start = request(7, AcctStatusType::Start, "d-1", IMSI, SECRET);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        socket.send_to(&start, h.addr).await.unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(Ok((n, _))) = tokio::time::timeout(
            std::time::Duration::from_millis(1000),
            socket.recv_from(&mut buf),
        )
        .await
        {
            answers.push(buf[..n].to_vec());
        }
    }
    assert!(!answers.is_empty());
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "same answer");
    h.folded().await;
    assert_eq!(h.store.records_for_session("d-1").await.unwrap().len(), 1);
    assert!(result("duplicate") >= 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_table_refuses_new_sessions_but_keeps_records_and_restores() {
    let h = Harness::start(|c| c.max_sessions = 2).await;
    let refused = counter("rampart_radius_sessions_refused_total");
    for (i, sid) in ["c-1", "c-2", "c-3"].into_iter().enumerate() {
        let imsi = format!("00101000000000{i}");
        let r = request(10 + i as u8, AcctStatusType::Start, sid, &imsi, SECRET);
        assert!(
            exchange(h.addr, &r, 2000).await.is_some(),
            "{sid} acknowledged"
        );
    }
    assert_eq!(h.sessions.read().unwrap().len(), 2);
    assert!(counter("rampart_radius_sessions_refused_total") > refused);
    h.folded().await;
    assert_eq!(
        h.store.records_for_session("c-3").await.unwrap().len(),
        1,
        "record kept"
    );
    assert_eq!(h.store.all_sessions().await.unwrap().len(), 2);
    // Unknown IMSIs are recorded, not dropped.
    let unknown = h.store.unknown_imsis(10).await.unwrap();
    assert_eq!(unknown.len(), 3, "{unknown:?}");
    let (status, v) = h.get("/api/v1/unknown-imsis").await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().unwrap().len(), 3);

    // Accounting-On from the NAS ends its sessions.
    let on = PacketBuilder::new(Code::AccountingRequest, 20)
        .attr(Attribute::acct_status_type(AcctStatusType::AccountingOn))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "other-pgw"))
        .encode_request(SECRET.as_bytes())
        .unwrap();
    assert!(exchange(h.addr, &on, 2000).await.is_some());
    assert_eq!(h.sessions.read().unwrap().len(), 2, "other NAS: untouched");

    // Restart over the same store: the sessions come back.
    let (store, _db_dir) = h.stop_keeping_dir().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = rampart_accounting::ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![common::client(SECRET)],
    );
    config.journal_dir = Some(dir.path().join("journal"));
    let h = Harness::over(store, config, dir).await;
    assert_eq!(h.sessions.read().unwrap().len(), 2);
    let on = PacketBuilder::new(Code::AccountingRequest, 21)
        .attr(Attribute::acct_status_type(AcctStatusType::AccountingOn))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "pgw-t"))
        .encode_request(SECRET.as_bytes())
        .unwrap();
    assert!(exchange(h.addr, &on, 2000).await.is_some());
    assert!(h.sessions.read().unwrap().is_empty());
    h.folded().await;
    assert!(h.store.all_sessions().await.unwrap().is_empty());
    h.stop().await;
}
