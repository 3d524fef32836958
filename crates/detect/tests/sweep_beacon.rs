//! ICMP sweeps and jittered beacons, positive and negative.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::sync::Arc;

use common::flow;
use rampart_bus::Observation;
use rampart_core::{ConnState, proto};
use rampart_detect::{
    DetectConfig, Engine, Finding, FindingEvent, FindingKind, NoContext, NoIntel, Severity,
};

const T0: i64 = 1_700_000_000_000;

fn run(obs: Vec<Observation>) -> Vec<Finding> {
    let mut e = Engine::new(
        DetectConfig::default(),
        1,
        Arc::new(NoIntel),
        Arc::new(NoContext),
    )
    .unwrap();
    let mut out = Vec::new();
    for o in obs {
        e.process(o, &mut out);
    }
    e.flush(&mut out);
    out.into_iter()
        .filter_map(|ev| match ev {
            FindingEvent::Raised(f) => Some(*f),
            _ => None,
        })
        .collect()
}

fn icmp(i: i64, dst: &str, type_code: u16, answered: bool) -> Observation {
    flow(
        &format!("i{i}"),
        T0 + i * 50,
        "192.168.7.9",
        dst,
        type_code,
        proto::ICMP,
        ConnState::OTH,
        1,
        u64::from(answered),
    )
}

#[test]
fn ping_sweep_of_a_subnet_is_a_scan() {
    let obs = (0..16)
        .map(|i| icmp(i, &format!("192.168.7.{}", 20 + i), 0, i % 3 == 0))
        .collect();
    let f = run(obs);
    let sweep = f
        .iter()
        .find(|f| f.kind == FindingKind::HorizontalScan)
        .expect("a ping sweep");
    assert_eq!(sweep.severity, Severity::Medium);
    assert!(sweep.summary.contains("ICMP"), "{}", sweep.summary);
}

#[test]
fn capture_style_echo_requests_are_probes_and_port_unreachables_are_not() {
    // A capture gives the ICMP type in the source port and the code in the destination port.
    let with_type = |ty: u16| -> Vec<Observation> {
        (0..16)
            .map(|i| {
                let mut o = icmp(i, &format!("192.168.7.{}", 20 + i), 3, false);
                if let Observation::Flow(a) = &mut o {
                    a.record.src_port = ty;
                    a.record.dst_port = if ty == 3 { 3 } else { 0 };
                }
                o
            })
            .collect()
    };
    assert!(kinds(&run(with_type(8))).contains(&FindingKind::HorizontalScan));
    assert!(kinds(&run(with_type(13))).contains(&FindingKind::HorizontalScan));
    assert!(run(with_type(3)).is_empty());
}

fn kinds(f: &[Finding]) -> Vec<FindingKind> {
    f.iter().map(|f| f.kind).collect()
}

#[test]
fn pinging_a_gateway_and_resolvers_is_not_a_sweep() {
    let hosts = ["192.168.7.1", "8.8.8.8", "1.1.1.1"];
    let obs = (0..60)
        .map(|i| icmp(i, hosts[(i % 3) as usize], 0x0800, true))
        .collect();
    assert!(run(obs).is_empty());
}

#[test]
fn icmp_errors_to_many_hosts_are_not_probes() {
    // Port unreachable and time exceeded are answers a device sends, not requests.
    let obs = (0..30)
        .map(|i| {
            let tc = if i % 2 == 0 { 0x0303 } else { 0x0b00 };
            icmp(i, &format!("192.168.7.{}", 20 + i), tc, false)
        })
        .collect();
    assert!(run(obs).is_empty());
}

/// Connections to one external endpoint at `T0 + offsets`, `out`/`back` packets each way.
fn https(offsets: &[i64], sizes: impl Fn(usize) -> (u64, u64)) -> Vec<Observation> {
    offsets
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let (out, back) = sizes(i);
            flow(
                &format!("b{i}"),
                T0 + t,
                "10.0.0.2",
                "203.0.113.5",
                443,
                proto::TCP,
                ConnState::SF,
                out,
                back,
            )
        })
        .collect()
}

/// Start times with a sleep of `period` ± up to 25 %.
fn jittered(n: usize, period: i64) -> Vec<i64> {
    let swings = [-25, 10, 22, -12, 5, -20, 18, -8, 25, -15, 0, 12, -22, 7];
    let mut t = 0;
    (0..n)
        .map(|i| {
            t += period + period * swings[i % swings.len()] / 100;
            t
        })
        .collect()
}

#[test]
fn jittered_beacon_with_the_same_exchange_is_c2() {
    let f = run(https(&jittered(14, 3000), |i| (12 + (i % 2) as u64, 14)));
    let c2 = f
        .iter()
        .find(|f| f.kind == FindingKind::CommandAndControl)
        .expect("a jittered beacon");
    assert_eq!(c2.severity, Severity::Medium);
    assert!(c2.summary.contains("jitter"), "{}", c2.summary);
}

#[test]
fn a_device_timer_without_jitter_is_not_c2() {
    let offsets: Vec<i64> = (1..=14).map(|i| i * 3000).collect();
    let f = run(https(&offsets, |_| (12, 14)));
    assert!(f.iter().all(|f| f.severity < Severity::Medium), "{f:?}");
}

#[test]
fn jittered_connections_with_varied_exchanges_are_not_c2() {
    // A browser or an app: irregular times, and each exchange its own size.
    let f = run(https(&jittered(14, 3000), |i| {
        (5 + 7 * i as u64, 40 + 13 * i as u64)
    }));
    assert!(f.iter().all(|f| f.severity < Severity::Medium), "{f:?}");
}

#[test]
fn too_few_connections_are_not_c2() {
    let f = run(https(&jittered(8, 3000), |_| (12, 14)));
    assert!(f.iter().all(|f| f.severity < Severity::Medium), "{f:?}");
}

#[test]
fn config_refuses_an_empty_jitter_band() {
    let bad = "[c2]\njitter_beacon_min_jitter = 0.5\njitter_beacon_max_jitter = 0.2\n";
    assert!(DetectConfig::from_toml_str(bad).is_err());
    let ok = "[c2]\njitter_beacon_min_jitter = 0.05\n[scan]\nicmp_min_destinations = 20\n";
    assert!(DetectConfig::from_toml_str(ok).is_ok());
}
