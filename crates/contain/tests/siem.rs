//! SIEM export received on local sockets and parsed back: RFC 5424 over UDP, over TCP with
//! RFC 6587 octet counting (including a reconnect after the collector hangs up), and JSON
//! lines.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use rampart_contain::siem::{
    CefEvent, JsonLines, SyslogFormatter, SyslogSender, SyslogTransport, cef, syslog,
};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};

fn event(n: u32) -> CefEvent {
    CefEvent::rampart("detect.beacon", "Beaconing to a|known C2", 8)
        .ext("src", "100.64.0.7")
        .ext("msg", format!("event {n} with = and \\ and\nnewline"))
}

fn message(n: u32) -> String {
    let e = event(n);
    SyslogFormatter::default().format(
        OffsetDateTime::now_utc(),
        syslog::severity_from_cef(e.severity),
        "alert",
        &e.format(),
    )
}

/// Reads one octet-counted frame.
async fn read_frame(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> Option<String> {
    let mut len = Vec::new();
    if r.read_until(b' ', &mut len).await.unwrap() == 0 {
        return None;
    }
    let len: usize = std::str::from_utf8(&len[..len.len() - 1])
        .unwrap()
        .parse()
        .unwrap();
    let mut msg = vec![0u8; len];
    r.read_exact(&mut msg).await.unwrap();
    Some(String::from_utf8(msg).unwrap())
}

fn check(line: &str, n: u32) {
    let msg = syslog::parse(line).unwrap();
    assert_eq!((msg.facility, msg.severity), (10, 3));
    assert_eq!(msg.msgid, "alert");
    assert_eq!(msg.structured_data, "-");
    assert!(
        msg.timestamp.ends_with('Z') && msg.timestamp.len() == 27,
        "{}",
        msg.timestamp
    );
    assert_eq!(cef::parse(&msg.msg).unwrap(), event(n));
}

#[tokio::test]
async fn udp_datagrams_parse_back() {
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sender = SyslogSender::new(
        SyslogTransport::Udp,
        collector.local_addr().unwrap(),
        common::quick(2),
    );
    for n in 0..3 {
        sender.send(&message(n)).await.unwrap();
    }
    let mut buf = [0u8; 4096];
    for n in 0..3 {
        let len = tokio::time::timeout(Duration::from_secs(2), collector.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        check(std::str::from_utf8(&buf[..len]).unwrap(), n);
    }
}

#[tokio::test]
async fn tcp_octet_counting_and_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sender = SyslogSender::new(
        SyslogTransport::Tcp,
        listener.local_addr().unwrap(),
        common::quick(3),
    );
    // CEF escapes line breaks, but octet counting does not depend on that.
    for n in 0..3 {
        sender.send(&message(n)).await.unwrap();
    }
    let (conn, _) = listener.accept().await.unwrap();
    let mut reader = BufReader::new(conn);
    for n in 0..3 {
        check(&read_frame(&mut reader).await.unwrap(), n);
    }
    // The collector hangs up; the next message goes on a new connection.
    drop(reader);
    tokio::time::sleep(Duration::from_millis(100)).await;
    sender.send(&message(7)).await.unwrap();
    let (conn, _) = tokio::time::timeout(Duration::from_secs(2), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut reader = BufReader::new(conn);
    check(&read_frame(&mut reader).await.unwrap(), 7);
}

#[tokio::test]
async fn tcp_collector_down_is_an_error_after_retries() {
    let port = common::free_tcp_port();
    let sender = SyslogSender::new(
        SyslogTransport::Tcp,
        ([127, 0, 0, 1], port).into(),
        common::quick(2),
    );
    assert!(sender.send("x").await.is_err());
}

#[test]
fn json_lines_of_outcomes_and_events() {
    let mut out = JsonLines::new(Vec::new());
    out.write(&event(1)).unwrap();
    out.write(&event(2)).unwrap();
    let text = String::from_utf8(out.into_inner()).unwrap();
    let back: Vec<CefEvent> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, [event(1), event(2)]);
}
