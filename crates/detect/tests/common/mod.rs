//! IoT-23 labelled CSV (Zeek conn fields plus `label`, `detailed-label`) turned into
//! attributed flow observations the way the observer attributes an unregistered capture: the
//! side inside the private ranges is the device.

#![allow(dead_code, clippy::unwrap_used, clippy::too_many_arguments)] // Shared by several test binaries.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_bus::{Attributed, Observation, Subject};
use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp, proto, tcp_flags};
use rampart_detect::eval::LabelledFlow;

pub(crate) fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: ../shared/data not found");
    None
}

fn home(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_private()
                || a.is_link_local()
                || (a.octets()[0] == 100 && a.octets()[1] & 0xc0 == 64)
        }
        IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00 || a.is_unicast_link_local(),
    }
}

fn history_flags(h: &str) -> (u8, u8) {
    let (mut o, mut r) = (0, 0);
    for c in h.bytes() {
        let f = match c.to_ascii_uppercase() {
            b'S' => tcp_flags::SYN,
            b'H' => tcp_flags::SYN | tcp_flags::ACK,
            b'A' => tcp_flags::ACK,
            b'D' => tcp_flags::PSH,
            b'F' => tcp_flags::FIN,
            b'R' => tcp_flags::RST,
            _ => 0,
        };
        if c.is_ascii_uppercase() {
            o |= f;
        } else {
            r |= f;
        }
    }
    (o, r)
}

fn secs_ms(s: &str) -> i64 {
    (s.parse::<f64>().unwrap_or(0.0) * 1000.0).round() as i64
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// The observations of a file (in event order) and its labels.
pub(crate) fn load(path: &Path) -> (Vec<Observation>, Vec<LabelledFlow>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (ts, uid, oh, op, rh, rp, pr, sv, du) = (
        col("ts"),
        col("uid"),
        col("id.orig_h"),
        col("id.orig_p"),
        col("id.resp_h"),
        col("id.resp_p"),
        col("proto"),
        col("service"),
        col("duration"),
    );
    let (st, hi, opk, oib, rpk, rib, lb, dl) = (
        col("conn_state"),
        col("history"),
        col("orig_pkts"),
        col("orig_ip_bytes"),
        col("resp_pkts"),
        col("resp_ip_bytes"),
        col("label"),
        col("detailed-label"),
    );
    let exporter: Arc<str> = Arc::from(path.file_name().unwrap().to_string_lossy().as_ref());
    let mut obs = Vec::new();
    let mut labels = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != header.len() {
            continue;
        }
        let src: IpAddr = f[oh].parse().unwrap();
        let dst: IpAddr = f[rh].parse().unwrap();
        let protocol = match f[pr] {
            "tcp" => proto::TCP,
            "udp" => proto::UDP,
            "icmp" if src.is_ipv6() => proto::ICMPV6,
            "icmp" => proto::ICMP,
            _ => 0,
        };
        let (fl, rfl) = if protocol == proto::TCP {
            history_flags(f[hi])
        } else {
            (0, 0)
        };
        let start = secs_ms(f[ts]);
        let end = start + secs_ms(f[du]);
        let service = match f[sv] {
            "" | "-" => None,
            s => Some(Box::from(s)),
        };
        let record = FlowRecord {
            source: SignalSource::Zeek,
            exporter: Some(Arc::clone(&exporter)),
            uid: Some(Box::from(f[uid])),
            start: Timestamp(start),
            end: Timestamp(end),
            src,
            dst,
            src_port: f[op].parse().unwrap_or(0),
            dst_port: f[rp].parse().unwrap_or(0),
            protocol,
            packets: num(f[opk]),
            bytes: num(f[oib]),
            rev_packets: num(f[rpk]),
            rev_bytes: num(f[rib]),
            tcp_flags: fl,
            rev_tcp_flags: rfl,
            state: ConnState::from_zeek(f[st]).unwrap_or_default(),
            service,
            facts: Default::default(),
        };
        let responder = !home(src) && home(dst);
        let subject = Subject {
            tenant: None,
            device_id: None,
            host: Some(if responder { dst } else { src }),
        };
        let malicious = !f[lb].eq_ignore_ascii_case("benign");
        labels.push(LabelledFlow {
            uid: f[uid].to_owned(),
            device: subject.key(),
            start,
            malicious: malicious.then(|| f[dl].to_owned()),
        });
        obs.push(Observation::Flow(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: responder,
        })));
    }
    obs.sort_by_key(|o| o.event_time());
    (obs, labels)
}

/// A flow from `src` (the device) to `dst`, at `t` ms.
pub(crate) fn flow(
    uid: &str,
    t: i64,
    src: &str,
    dst: &str,
    dport: u16,
    protocol: u8,
    state: ConnState,
    packets: u64,
    rev_packets: u64,
) -> Observation {
    let src: IpAddr = src.parse().unwrap();
    let flags = match (protocol, state) {
        (proto::TCP, ConnState::S0 | ConnState::REJ) => tcp_flags::SYN,
        (proto::TCP, _) => tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN,
        _ => 0,
    };
    Observation::Flow(Box::new(Attributed {
        record: FlowRecord {
            source: SignalSource::Zeek,
            exporter: None,
            uid: Some(Box::from(uid)),
            start: Timestamp(t),
            end: Timestamp(t + 100),
            src,
            dst: dst.parse().unwrap(),
            src_port: 40000,
            dst_port: dport,
            protocol,
            packets,
            bytes: packets * 60,
            rev_packets,
            rev_bytes: rev_packets * 60,
            tcp_flags: flags,
            rev_tcp_flags: 0,
            state,
            service: None,
            facts: Default::default(),
        },
        subject: Subject {
            tenant: None,
            device_id: None,
            host: Some(src),
        },
        subject_is_responder: false,
    }))
}

/// A synthetic day of a few devices: benign DNS/NTP/HTTPS chatter everywhere, one bot
/// retrying its controller, one scanning telnet, one flooding a target.
pub(crate) fn synthetic() -> Vec<Observation> {
    let mut v = Vec::new();
    let t0 = 1_700_000_000_000i64;
    let mut n = 0;
    let mut uid = || {
        n += 1;
        format!("S{n}")
    };
    for d in 1..=6 {
        let dev = format!("10.0.0.{d}");
        for i in 0..200 {
            let t = t0 + i * 30_000 + d * 7;
            v.push(flow(
                &uid(),
                t,
                &dev,
                "10.0.0.254",
                53,
                proto::UDP,
                ConnState::SF,
                1,
                1,
            ));
            v.push(flow(
                &uid(),
                t + 5,
                &dev,
                "203.0.113.9",
                443,
                proto::TCP,
                ConnState::SF,
                10,
                9,
            ));
        }
    }
    // Bot: retries its controller from minute 10.
    for i in 0..40 {
        let t = t0 + 600_000 + i * 8_000;
        v.push(flow(
            &uid(),
            t,
            "10.0.0.1",
            "198.51.100.7",
            50,
            proto::TCP,
            ConnState::S0,
            1,
            0,
        ));
    }
    // Scanner: telnet to 64 hosts from minute 20.
    for i in 0..64 {
        let t = t0 + 1_200_000 + i * 500;
        let dst = format!("198.18.{}.{}", i / 200, i % 200 + 1);
        v.push(flow(
            &uid(),
            t,
            "10.0.0.2",
            &dst,
            23,
            proto::TCP,
            ConnState::S0,
            1,
            0,
        ));
    }
    // Flood: 300 unanswered UDP flows to one target in 3 s from minute 30.
    for i in 0..300 {
        let t = t0 + 1_800_000 + i * 10;
        v.push(flow(
            &uid(),
            t,
            "10.0.0.3",
            "192.0.2.80",
            80,
            proto::UDP,
            ConnState::S0,
            3,
            0,
        ));
    }
    v.sort_by_key(|o| o.event_time());
    v
}
