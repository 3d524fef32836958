//! Many NAS sockets with requests in flight at once, so that requests share group commits:
//! every request is answered, with the right identifier and a valid Response Authenticator,
//! a retransmission only with the answer it already had, and everything answered is in the
//! store once folded.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Harness, IMSI, SECRET};
use rampart_radius::auth::verify_response;
use rampart_radius::{
    AcctStatusType, Attribute, AttributeType, Code, Packet, PacketBuilder, TgppValue,
};

const SOCKETS: usize = 8;
const PER_SOCKET: usize = 200;
const WINDOW: usize = 24;

fn request(id: u8, session: &str) -> Vec<u8> {
    PacketBuilder::new(Code::AccountingRequest, id)
        .attr(Attribute::acct_status_type(AcctStatusType::Start))
        .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, session))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "pgw-c"))
        .tgpp(TgppValue::Imsi(IMSI.to_owned()))
        .encode_request(SECRET.as_bytes())
        .unwrap()
}

/// One NAS: keeps up to `WINDOW` requests in flight, retransmits what is not answered within
/// 2 s (as a NAS would), and returns how many answers each identifier got.
async fn nas(addr: std::net::SocketAddr, n: usize, tag: usize) -> HashMap<u8, usize> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let requests: Vec<Vec<u8>> = (0..n)
        .map(|i| request(u8::try_from(i).unwrap(), &format!("s{tag}-{i}")))
        .collect();
    let mut answered: HashMap<u8, usize> = HashMap::new();
    let mut outstanding = BTreeSet::new();
    let mut next = 0;
    let mut buf = [0u8; 4096];
    loop {
        while next < n && outstanding.len() < WINDOW {
            socket.send_to(&requests[next], addr).await.unwrap();
            outstanding.insert(u8::try_from(next).unwrap());
            next += 1;
        }
        if outstanding.is_empty() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await {
            Ok(Ok((len, _))) => {
                let answer = &buf[..len];
                let p = Packet::decode(answer).unwrap();
                assert_eq!(p.code, Code::AccountingResponse);
                let req = Packet::decode(&requests[usize::from(p.identifier)]).unwrap();
                verify_response(answer, &req.authenticator, SECRET.as_bytes()).unwrap();
                *answered.entry(p.identifier).or_default() += 1;
                outstanding.remove(&p.identifier);
            }
            Ok(Err(e)) => panic!("receive: {e}"),
            Err(_) => {
                for id in &outstanding {
                    socket
                        .send_to(&requests[usize::from(*id)], addr)
                        .await
                        .unwrap();
                }
            }
        }
    }
    // Answers to retransmissions of requests answered meanwhile would arrive now.
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await
    {
        let p = Packet::decode(&buf[..len]).unwrap();
        let req = Packet::decode(&requests[usize::from(p.identifier)]).unwrap();
        verify_response(&buf[..len], &req.authenticator, SECRET.as_bytes()).unwrap();
        *answered.entry(p.identifier).or_default() += 1;
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_each_answered_and_stored() {
    let h = Harness::start(|_| {}).await;
    let tasks: Vec<_> = (0..SOCKETS)
        .map(|tag| tokio::spawn(nas(h.addr, PER_SOCKET, tag)))
        .collect();
    let mut retransmitted = 0;
    for t in tasks {
        let answered = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("every request answered within 60 s")
            .unwrap();
        assert_eq!(answered.len(), PER_SOCKET);
        // A retransmission of an answered request gets the same answer again, so more than
        // one answer is possible only for a request that was sent more than once.
        retransmitted += answered.values().filter(|c| **c > 1).count();
    }
    h.folded().await;
    for tag in 0..SOCKETS {
        for i in [0, PER_SOCKET / 2, PER_SOCKET - 1] {
            let session = format!("s{tag}-{i}");
            assert_eq!(
                h.store.records_for_session(&session).await.unwrap().len(),
                1,
                "{session}"
            );
        }
    }
    let store = h.stop().await;
    let sessions = store.all_sessions().await.unwrap();
    assert_eq!(
        sessions.len(),
        SOCKETS * PER_SOCKET,
        "retransmitted: {retransmitted}"
    );
}
