//! The UDP listener survives garbage and keeps decoding what follows it.

#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::time::Duration;

use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto};
use rampart_netflow::NetflowConfig;
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use tokio::sync::{mpsc, oneshot};

fn flow(i: u32) -> FlowRecord {
    FlowRecord {
        source: SignalSource::Ipfix,
        exporter: None,
        uid: None,
        start: Timestamp(1_704_067_190_000),
        end: Timestamp(1_704_067_199_000),
        src: std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
        dst: "198.51.100.9".parse().unwrap(),
        src_port: 50_000,
        dst_port: 53,
        protocol: proto::UDP,
        packets: 1,
        bytes: 80,
        rev_packets: 0,
        rev_bytes: 0,
        tcp_flags: 0,
        rev_tcp_flags: 0,
        state: ConnState::OTH,
        service: None,
        facts: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_then_valid_datagrams() {
    let config: NetflowConfig =
        serde_json::from_str(r#"{"listen": ["127.0.0.1:0"], "max_batch": 16}"#).unwrap();
    assert!(serde_json::from_str::<NetflowConfig>(r#"{"listn": []}"#).is_err());
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop, stopped) = oneshot::channel::<()>();
    let built = config
        .build(tx, async move {
            stopped.await.ok();
        })
        .unwrap();
    let to = built.local_addrs[0];
    let task = tokio::spawn(built.task);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Deterministic pseudo-random garbage, some of it with valid version numbers.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let valid = Encoder::new(EncoderOptions::new(ExportVersion::Ipfix))
        .encode(
            &(0..40).map(flow).collect::<Vec<_>>(),
            Timestamp(1_704_067_200_000),
        )
        .unwrap();
    for i in 0..3000u32 {
        let len = usize::try_from(next() % 1500).unwrap();
        let mut d: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
        if d.len() >= 2 {
            d[0] = 0;
            d[1] = [5u8, 9, 10, 7][(i % 4) as usize];
        }
        if i % 7 == 0 {
            // A truncated or corrupted copy of a real datagram.
            d = valid[0].clone();
            let cut = usize::try_from(next() % d.len() as u64).unwrap();
            d.truncate(cut.max(2));
            if let Some(b) = d.last_mut() {
                *b ^= 0x5a;
            }
        }
        sock.send_to(&d, to).unwrap();
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // A fresh exporter address: valid flows decode after all that.
    let clean = UdpSocket::bind("127.0.0.2:0").unwrap();
    for p in &valid {
        clean.send_to(p, to).unwrap();
    }
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got
        .iter()
        .filter(|f: &&FlowRecord| f.exporter.as_deref() == Some("127.0.0.2"))
        .count()
        < 40
    {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => got.extend(batch),
            _ => panic!("valid flows did not arrive"),
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap();
}
