#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::sync::RwLock;

use rampart_core::{ConnState, PacketFacts, SignalSource};
use rampart_sessions::{RegistryIndex, SessionTable};

use super::*;

fn flow(src: &str, dst: &str, bytes: u64, rev_bytes: u64) -> FlowRecord {
    FlowRecord {
        source: SignalSource::NetflowV9,
        exporter: None,
        uid: None,
        start: Timestamp(1_000),
        end: Timestamp(2_000),
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        src_port: 40_000,
        dst_port: 443,
        protocol: 6,
        packets: 3,
        bytes,
        rev_packets: 2,
        rev_bytes,
        tcp_flags: 0x1b,
        rev_tcp_flags: 0x1b,
        state: ConnState::SF,
        service: None,
        facts: PacketFacts::default(),
    }
}

fn observer() -> Observer {
    let mut index = RegistryIndex::new();
    let tenant: TenantId = "acme".parse().unwrap();
    let dev: DeviceId = "meter-1".parse().unwrap();
    index.add_static("203.0.113.7/32".parse().unwrap(), &tenant, &dev);
    let attributor = Attributor::new(
        Arc::new(RwLock::new(SessionTable::new(16))),
        Arc::new(RwLock::new(Arc::new(index))),
    );
    Observer::new(
        Some(attributor),
        HomeNets::private(),
        Arc::new(TrafficCounters::new(1_000)),
    )
}

#[test]
fn registered_originator_is_the_subject() {
    let o = observer();
    let Observation::Flow(f) = o.flow(flow("203.0.113.7", "198.51.100.1", 100, 900)) else {
        panic!("not a flow")
    };
    assert_eq!(f.subject.key(), "acme/meter-1");
    assert!(!f.subject_is_responder);
    let c = o
        .traffic()
        .device(&"acme".parse().unwrap(), &"meter-1".parse().unwrap())
        .unwrap();
    assert_eq!((c.bytes_out, c.bytes_in, c.flows_originated), (100, 900, 1));
}

#[test]
fn registered_responder_is_the_subject_and_directions_swap() {
    let o = observer();
    let Observation::Flow(f) = o.flow(flow("198.51.100.1", "203.0.113.7", 100, 900)) else {
        panic!("not a flow")
    };
    assert_eq!(f.subject.key(), "acme/meter-1");
    assert!(f.subject_is_responder);
    let c = o
        .traffic()
        .device(&"acme".parse().unwrap(), &"meter-1".parse().unwrap())
        .unwrap();
    assert_eq!((c.bytes_out, c.bytes_in, c.flows_received), (900, 100, 1));
}

#[test]
fn unregistered_side_in_home_networks_is_the_host() {
    let o = observer();
    let Observation::Flow(f) = o.flow(flow("198.51.100.1", "10.1.2.3", 1, 1)) else {
        panic!("not a flow")
    };
    assert_eq!(f.subject.key(), "host:10.1.2.3");
    assert!(f.subject_is_responder);
    let Observation::Flow(f) = o.flow(flow("192.168.1.5", "198.51.100.1", 1, 1)) else {
        panic!("not a flow")
    };
    assert_eq!(f.subject.key(), "host:192.168.1.5");
    assert!(!f.subject_is_responder);
    // Neither side home: the originator.
    let Observation::Flow(f) = o.flow(flow("198.51.100.2", "198.51.100.1", 1, 1)) else {
        panic!("not a flow")
    };
    assert_eq!(f.subject.key(), "host:198.51.100.2");
}

#[test]
fn flows_are_counted_per_source_and_shown_as_a_map() {
    let o = observer();
    for source in [
        SignalSource::NetflowV9,
        SignalSource::Ipfix,
        SignalSource::NetflowV9,
    ] {
        let mut f = flow("203.0.113.7", "198.51.100.1", 1, 1);
        f.source = source;
        o.flow(f);
    }
    let c = o
        .traffic()
        .device(&"acme".parse().unwrap(), &"meter-1".parse().unwrap())
        .unwrap();
    assert_eq!(c.flows_by_source.get(SignalSource::NetflowV9), 2);
    assert_eq!(c.flows_by_source.get(SignalSource::Ipfix), 1);
    assert_eq!(c.flows_by_source.get(SignalSource::Pcap), 0);
    assert_eq!(
        serde_json::to_value(&c.flows_by_source).unwrap(),
        serde_json::json!({"netflow_v9": 2, "ipfix": 1})
    );
}

#[test]
fn counters_are_capped() {
    let o = Observer::new(
        None,
        HomeNets::private(),
        Arc::new(TrafficCounters::new(16)),
    );
    for i in 0..1_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        o.flow(flow(&ip, "198.51.100.1", 1, 1));
    }
    assert!(o.traffic().len() <= 16, "{}", o.traffic().len());
}

#[test]
fn ipv4_mapped_addresses_are_home() {
    let h = HomeNets::private();
    assert!(h.contains("::ffff:10.0.0.1".parse().unwrap()));
    assert!(!h.contains("::ffff:8.8.8.8".parse().unwrap()));
    assert!(h.contains("fd00::1".parse().unwrap()));
}

/// Many registered devices and unregistered hosts: each is counted under its own key, found
/// again by `device` and `host`, and listed once by `all`.
#[test]
fn counters_are_kept_per_device_and_per_host() {
    let mut index = RegistryIndex::new();
    let tenant: TenantId = "acme".parse().unwrap();
    for i in 0..500u32 {
        let dev: DeviceId = format!("meter-{i}").parse().unwrap();
        let net = format!("{}/32", std::net::Ipv4Addr::from(0xcb00_7100 + i));
        index.add_static(net.parse().unwrap(), &tenant, &dev);
    }
    let attributor = Attributor::new(
        Arc::new(RwLock::new(SessionTable::new(16))),
        Arc::new(RwLock::new(Arc::new(index))),
    );
    let o = Observer::new(
        Some(attributor),
        HomeNets::private(),
        Arc::new(TrafficCounters::new(10_000)),
    );
    for round in 1..=3u64 {
        for i in 0..500u32 {
            let registered = std::net::Ipv4Addr::from(0xcb00_7100 + i).to_string();
            o.flow(flow(&registered, "198.51.100.1", 100 * u64::from(i), 1));
            let host = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            o.flow(flow(&host, "198.51.100.1", round, 1));
        }
    }
    for i in [0u32, 7, 499] {
        let dev: DeviceId = format!("meter-{i}").parse().unwrap();
        let t = o.traffic().device(&tenant, &dev).unwrap();
        assert_eq!((t.flows, t.bytes_out), (3, 300 * u64::from(i)));
        let h = o
            .traffic()
            .host(std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
            .unwrap();
        assert_eq!((h.flows, h.bytes_out), (3, 1 + 2 + 3));
    }
    let other: DeviceId = "meter-500".parse().unwrap();
    assert!(o.traffic().device(&tenant, &other).is_none());
    let all = o.traffic().all();
    assert_eq!(all.len(), 1000);
    assert_eq!(o.traffic().len(), 1000);
    assert!(all.iter().any(|(k, _)| k == "acme/meter-7"));
    assert!(all.iter().any(|(k, _)| k == "host:10.0.0.7"));
}
