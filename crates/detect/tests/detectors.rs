//! Each detector, positive and negative.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use common::flow;
use rampart_bus::{AccountingObservation, Attributed, Observation, Subject};
use rampart_core::{
    AccountingRecord, AlertRecord, ConnState, DeviceId, DeviceMetrics, DnsRecord, GeoPoint, Iccid,
    Imei, ImeiPolicy, Imsi, Location, RadiusSession, SignalSource, Sim, TenantId, Timestamp, proto,
};
use rampart_detect::{
    ContextProvider, DetectConfig, DeviceContext, Engine, Finding, FindingEvent, FindingKind,
    IntelHit, NoContext, NoIntel, Severity, ThreatIntel,
};

const T0: i64 = 1_700_000_000_000;

fn run_with(
    cfg: DetectConfig,
    intel: Arc<dyn ThreatIntel>,
    ctx: Arc<dyn ContextProvider>,
    obs: Vec<Observation>,
) -> Vec<Finding> {
    let mut e = Engine::new(cfg, 1, intel, ctx).unwrap();
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

fn run(obs: Vec<Observation>) -> Vec<Finding> {
    run_with(
        DetectConfig::default(),
        Arc::new(NoIntel),
        Arc::new(NoContext),
        obs,
    )
}

fn kinds(f: &[Finding]) -> Vec<FindingKind> {
    f.iter().map(|f| f.kind).collect()
}

#[test]
fn c2_retries_to_one_endpoint() {
    let obs = (0..3)
        .map(|i| {
            flow(
                &format!("c{i}"),
                T0 + i * 8000,
                "10.0.0.1",
                "198.51.100.7",
                50,
                proto::TCP,
                ConnState::S0,
                1,
                0,
            )
        })
        .collect();
    let f = run(obs);
    assert_eq!(kinds(&f), [FindingKind::CommandAndControl]);
    assert_eq!(f[0].severity, Severity::High);
    assert_eq!(f[0].evidence.len(), 3);
    assert_eq!(f[0].evidence[0].uid(), Some("c0"));
}

#[test]
fn c2_needs_the_same_external_endpoint_and_tcp_syns() {
    // Three endpoints once each; UDP without answer; internal; a burst within a second.
    let mut obs = Vec::new();
    for i in 0..3 {
        obs.push(flow(
            &format!("a{i}"),
            T0 + i * 8000,
            "10.0.0.1",
            &format!("198.51.100.{i}"),
            50,
            proto::TCP,
            ConnState::S0,
            1,
            0,
        ));
        obs.push(flow(
            &format!("u{i}"),
            T0 + i * 8000,
            "10.0.0.2",
            "198.51.100.9",
            123,
            proto::UDP,
            ConnState::S0,
            1,
            0,
        ));
        obs.push(flow(
            &format!("i{i}"),
            T0 + i * 8000,
            "10.0.0.3",
            "10.0.0.9",
            80,
            proto::TCP,
            ConnState::S0,
            1,
            0,
        ));
        obs.push(flow(
            &format!("b{i}"),
            T0 + i * 100,
            "10.0.0.4",
            "198.51.100.8",
            80,
            proto::TCP,
            ConnState::S0,
            1,
            0,
        ));
    }
    assert!(run(obs).is_empty());
}

#[test]
fn horizontal_scan_on_telnet_but_not_a_few_web_hosts() {
    let scan = (0..12)
        .map(|i| {
            flow(
                &format!("s{i}"),
                T0 + i * 300,
                "10.0.0.2",
                &format!("198.18.0.{}", i + 1),
                23,
                proto::TCP,
                ConnState::S0,
                1,
                0,
            )
        })
        .collect();
    assert!(kinds(&run(scan)).contains(&FindingKind::HorizontalScan));
    let web = (0..6)
        .map(|i| {
            flow(
                &format!("w{i}"),
                T0 + i * 300,
                "10.0.0.2",
                &format!("198.18.0.{}", i + 1),
                443,
                proto::TCP,
                ConnState::S0,
                1,
                0,
            )
        })
        .collect();
    assert!(!kinds(&run(web)).contains(&FindingKind::HorizontalScan));
}

#[test]
fn vertical_scan() {
    let obs = (0..40)
        .map(|i| {
            flow(
                &format!("v{i}"),
                T0 + i * 10,
                "10.0.0.2",
                "10.0.0.50",
                1000 + i as u16,
                proto::TCP,
                ConnState::REJ,
                1,
                1,
            )
        })
        .collect();
    assert!(kinds(&run(obs)).contains(&FindingKind::VerticalScan));
}

#[test]
fn flood_is_one_sided_and_answered_traffic_is_not() {
    let flood = (0..150)
        .map(|i| {
            flow(
                &format!("f{i}"),
                T0 + i * 20,
                "10.0.0.3",
                "192.0.2.80",
                80,
                proto::UDP,
                ConnState::S0,
                5,
                0,
            )
        })
        .collect();
    let f = run(flood);
    assert_eq!(kinds(&f), [FindingKind::Ddos]);
    assert!(f[0].summary.contains("UDP flood"));
    let talk = (0..150)
        .map(|i| {
            flow(
                &format!("t{i}"),
                T0 + i * 20,
                "10.0.0.3",
                "10.0.0.254",
                53,
                proto::UDP,
                ConnState::SF,
                1,
                1,
            )
        })
        .collect();
    assert!(run(talk).is_empty());
}

#[test]
fn irc_is_flagged() {
    let f = run(vec![flow(
        "i",
        T0,
        "10.0.0.5",
        "198.51.100.66",
        6667,
        proto::TCP,
        ConnState::SF,
        10,
        10,
    )]);
    assert_eq!(kinds(&f), [FindingKind::Irc]);
}

struct Feed;
impl ThreatIntel for Feed {
    fn match_ip(&self, ip: IpAddr) -> Option<IntelHit> {
        (ip.to_string() == "203.0.113.66").then(|| IntelHit {
            feed: "test".into(),
            indicator: ip.to_string(),
            category: Some("c2".into()),
            severity: None,
        })
    }
    fn match_domain(&self, name: &str) -> Option<IntelHit> {
        (name == "evil.example").then(|| IntelHit {
            feed: "test".into(),
            indicator: name.into(),
            category: None,
            severity: Some(Severity::Critical),
        })
    }
}

fn subject(ip: &str) -> Subject {
    Subject {
        tenant: None,
        device_id: None,
        host: Some(ip.parse().unwrap()),
    }
}

#[test]
fn intel_by_address_and_by_resolved_name() {
    let dns = Observation::Dns(Box::new(Attributed {
        record: DnsRecord {
            source: SignalSource::Zeek,
            time: Timestamp(T0),
            client: "10.0.0.7".parse().unwrap(),
            server: "10.0.0.254".parse().unwrap(),
            query: "evil.example".into(),
            qtype: Some(1),
            rcode: Some(0),
            answers: vec!["198.51.100.200".parse().unwrap()],
            ttl: Some(60),
        },
        subject: subject("10.0.0.7"),
        subject_is_responder: false,
    }));
    let obs = vec![
        dns,
        flow(
            "n",
            T0 + 1000,
            "10.0.0.7",
            "198.51.100.200",
            443,
            proto::TCP,
            ConnState::SF,
            5,
            5,
        ),
        flow(
            "d",
            T0 + 2000,
            "10.0.0.8",
            "203.0.113.66",
            443,
            proto::TCP,
            ConnState::SF,
            5,
            5,
        ),
    ];
    let f = run_with(
        DetectConfig::default(),
        Arc::new(Feed),
        Arc::new(NoContext),
        obs,
    );
    assert_eq!(kinds(&f), [FindingKind::ThreatIntel; 3]);
    assert_eq!(f[0].severity, Severity::Critical);
    assert!(
        run(vec![flow(
            "d",
            T0,
            "10.0.0.8",
            "203.0.113.66",
            443,
            proto::TCP,
            ConnState::SF,
            5,
            5
        )])
        .is_empty()
    );
}

#[test]
fn alerts_map_severity() {
    let alert = |sev: u8, sid: u64| {
        Observation::Alert(Box::new(Attributed {
            record: AlertRecord {
                source: SignalSource::Suricata,
                time: Timestamp(T0),
                src: "10.0.0.9".parse().unwrap(),
                dst: "198.51.100.1".parse().unwrap(),
                src_port: 5000,
                dst_port: 80,
                protocol: proto::TCP,
                signature: "ET TROJAN test".into(),
                signature_id: sid,
                category: None,
                severity: sev,
            },
            subject: subject("10.0.0.9"),
            subject_is_responder: false,
        }))
    };
    let f = run(vec![alert(1, 1), alert(2, 2), alert(3, 3), alert(1, 1)]);
    let sev: Vec<Severity> = f.iter().map(|f| f.severity).collect();
    assert_eq!(sev, [Severity::High, Severity::Medium, Severity::Low]);
}

fn device() -> Subject {
    Subject {
        tenant: Some(TenantId::default()),
        device_id: Some(DeviceId::parse("meter-1").unwrap()),
        host: None,
    }
}

fn acct(
    t: i64,
    status: &str,
    session: &str,
    imsi: &str,
    imeisv: &str,
    mcc_mnc: &str,
    octets: u64,
) -> Observation {
    let s = device();
    Observation::Accounting(Box::new(AccountingObservation {
        record: AccountingRecord {
            status: status.into(),
            event_time: Timestamp(t),
            received_at: Timestamp(t),
            client: "pgw".into(),
            session: RadiusSession {
                nas: "pgw1".into(),
                session_id: session.into(),
                multi_session_id: None,
                imsi: Some(imsi.into()),
                imeisv: Some(imeisv.into()),
                msisdn: None,
                ipv4: None,
                ipv6_prefix: None,
                apn: None,
                rat: None,
                location: Some(Location {
                    kind: "TAI+ECGI".into(),
                    mcc_mnc: Some(mcc_mnc.into()),
                    tac: Some(100),
                    ..Location::default()
                }),
                started_at: Timestamp(t),
                updated_at: Timestamp(t),
                input_octets: octets,
                output_octets: 0,
                input_packets: 0,
                output_packets: 0,
                tenant: s.tenant.clone(),
                device_id: s.device_id.clone(),
            },
            session_time: None,
            terminate_cause: None,
        },
        tenant: s.tenant,
        device_id: s.device_id,
        unknown_imsi: false,
    }))
}

struct Registry(Option<Sim>, Option<String>);
impl ContextProvider for Registry {
    fn context(&self, _s: &Subject) -> Option<DeviceContext> {
        Some(DeviceContext {
            profile: self.1.clone(),
            sim: self.0.clone(),
            ..DeviceContext::default()
        })
    }
}

const IMSI: &str = "214070123456789";
const IMEI_A: &str = "4901542032375101";
const IMEI_B: &str = "3569380356438091";

#[test]
fn sim_in_equipment_outside_its_policy() {
    let sim = Sim {
        tenant: TenantId::default(),
        iccid: Iccid::parse("8934071234567890128").unwrap_or_else(|_| {
            let base = "893407123456789012";
            Iccid::parse(&format!(
                "{base}{}",
                rampart_core::luhn_check_digit(base).unwrap()
            ))
            .unwrap()
        }),
        imsi: Imsi::parse(IMSI).unwrap(),
        msisdn: None,
        imei_policy: ImeiPolicy::Fixed,
        allowed_imeis: vec![Imei::parse(IMEI_A).unwrap()],
        learned_imei: None,
        device_id: None,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
    };
    let ctx = Arc::new(Registry(Some(sim), None));
    // Same equipment, other software version: fine. Other equipment: finding.
    let ok = vec![acct(
        T0,
        "Start",
        "s1",
        IMSI,
        "4901542032375199",
        "214-07",
        0,
    )];
    assert!(run_with(DetectConfig::default(), Arc::new(NoIntel), ctx.clone(), ok).is_empty());
    let bad = vec![acct(T0, "Start", "s1", IMSI, IMEI_B, "214-07", 0)];
    let f = run_with(DetectConfig::default(), Arc::new(NoIntel), ctx, bad);
    assert_eq!(kinds(&f), [FindingKind::SimImeiMismatch]);
}

#[test]
fn learned_equipment_change_and_imei_with_two_sims() {
    let obs = vec![
        acct(T0, "Start", "s1", IMSI, IMEI_A, "214-07", 0),
        acct(T0 + 1000, "Stop", "s1", IMSI, IMEI_A, "214-07", 0),
        acct(T0 + 2000, "Start", "s2", IMSI, IMEI_B, "214-07", 0),
        acct(T0 + 3000, "Stop", "s2", IMSI, IMEI_B, "214-07", 0),
        acct(
            T0 + 4000,
            "Start",
            "s3",
            "214070123456780",
            IMEI_B,
            "214-07",
            0,
        ),
    ];
    let k = kinds(&run(obs));
    assert!(k.contains(&FindingKind::SimImeiMismatch), "{k:?}");
    assert!(k.contains(&FindingKind::ImeiSharedBySims), "{k:?}");
}

#[test]
fn zones_and_new_country() {
    let mut cfg = DetectConfig::default();
    cfg.location.zones.insert(
        "meter".into(),
        rampart_detect::Zone {
            countries: vec!["ES".into()],
            ..Default::default()
        },
    );
    let ctx = Arc::new(Registry(None, Some("meter".into())));
    let obs = vec![
        acct(T0, "Start", "s1", IMSI, IMEI_A, "214-07", 0),
        acct(T0 + 1000, "Interim-Update", "s1", IMSI, IMEI_A, "214-07", 0),
        acct(T0 + 2000, "Interim-Update", "s1", IMSI, IMEI_A, "262-01", 0),
    ];
    let k = kinds(&run_with(cfg, Arc::new(NoIntel), ctx, obs));
    assert_eq!(
        k,
        [FindingKind::LocationOutsideZone, FindingKind::NewCountry]
    );
}

fn gps(t: i64, lat: f64, lon: f64) -> Observation {
    Observation::Metrics(Box::new(Attributed {
        record: DeviceMetrics {
            time: Timestamp(t),
            position: Some(GeoPoint {
                lat,
                lon,
                accuracy_m: None,
            }),
            ..Default::default()
        },
        subject: device(),
        subject_is_responder: false,
    }))
}

#[test]
fn geofence_and_impossible_travel() {
    let mut cfg = DetectConfig::default();
    cfg.location.zones.insert(
        "meter".into(),
        rampart_detect::Zone {
            geofence: Some(rampart_detect::Geofence {
                lat: 40.4168,
                lon: -3.7038,
                radius_km: 50.0,
            }),
            ..Default::default()
        },
    );
    let ctx = Arc::new(Registry(None, Some("meter".into())));
    // Madrid, then Paris ten minutes later.
    let obs = vec![gps(T0, 40.42, -3.70), gps(T0 + 600_000, 48.8566, 2.3522)];
    let k = kinds(&run_with(cfg.clone(), Arc::new(NoIntel), ctx.clone(), obs));
    assert_eq!(k, [FindingKind::Geofence, FindingKind::ImpossibleTravel]);
    let slow = vec![gps(T0, 40.42, -3.70), gps(T0 + 600_000, 40.43, -3.71)];
    assert!(run_with(cfg, Arc::new(NoIntel), ctx, slow).is_empty());
}

#[test]
fn cap_storm_and_concurrency() {
    let mut cfg = DetectConfig::default();
    cfg.usage.default_cap = Some(rampart_detect::Cap {
        period_s: 86_400,
        bytes: 1_000_000,
    });
    let mut obs = vec![acct(T0, "Start", "s0", IMSI, IMEI_A, "214-07", 0)];
    obs.push(acct(
        T0 + 1000,
        "Interim-Update",
        "s0",
        IMSI,
        IMEI_A,
        "214-07",
        2_000_000,
    ));
    for i in 1..12 {
        obs.push(acct(
            T0 + 2000 + i * 1000,
            "Start",
            &format!("s{i}"),
            IMSI,
            IMEI_A,
            "214-07",
            0,
        ));
    }
    let k = kinds(&run_with(cfg, Arc::new(NoIntel), Arc::new(NoContext), obs));
    for want in [
        FindingKind::DataCap,
        FindingKind::ReconnectStorm,
        FindingKind::ConcurrentSessions,
    ] {
        assert!(k.contains(&want), "{want:?} not in {k:?}");
    }
}

#[test]
fn usage_above_learned_baseline() {
    let mut obs = Vec::new();
    let mut total: u64 = 0;
    obs.push(acct(T0, "Start", "s", IMSI, IMEI_A, "214-07", 0));
    for h in 1..40 {
        total += if h == 35 {
            500_000_000
        } else {
            1_000_000 + (h as u64 % 3) * 100_000
        };
        obs.push(acct(
            T0 + h * 3_600_000,
            "Interim-Update",
            "s",
            IMSI,
            IMEI_A,
            "214-07",
            total,
        ));
    }
    let f = run(obs);
    let anomalies: Vec<&Finding> = f
        .iter()
        .filter(|f| f.kind == FindingKind::DataAnomaly)
        .collect();
    assert_eq!(anomalies.len(), 1, "{:?}", kinds(&f));
}

#[test]
fn registered_device_gone_silent() {
    let obs = vec![
        acct(T0, "Start", "s", IMSI, IMEI_A, "214-07", 0),
        // Another device keeps event time moving.
        flow(
            "x",
            T0 + 8 * 3_600_000,
            "10.0.0.1",
            "10.0.0.254",
            53,
            proto::UDP,
            ConnState::SF,
            1,
            1,
        ),
    ];
    assert_eq!(kinds(&run(obs)), [FindingKind::Silent]);
}

fn report(t: i64, bytes_out: u64) -> Observation {
    Observation::Metrics(Box::new(Attributed {
        record: DeviceMetrics {
            time: Timestamp(t),
            bytes_out: Some(bytes_out),
            ..Default::default()
        },
        subject: device(),
        subject_is_responder: false,
    }))
}

#[test]
fn rule_alarm_dedup_and_clear() {
    let cfg = DetectConfig::from_toml_str(
        r#"
        [[rules.rules]]
        name = "exfil"
        metric = "bytes_out"
        comparison = "gt"
        threshold = { value = 1000.0 }
        datapoints_to_alarm = 2
        datapoints_to_clear = 2
        severity = "medium"
        "#,
    )
    .unwrap();
    let obs: Vec<Observation> = [10, 5000, 6000, 7000, 10, 10, 5000]
        .iter()
        .enumerate()
        .map(|(i, &b)| report(T0 + i as i64 * 60_000, b))
        .collect();
    let mut e = Engine::new(cfg, 1, Arc::new(NoIntel), Arc::new(NoContext)).unwrap();
    let mut out = Vec::new();
    for o in obs {
        e.process(o, &mut out);
    }
    e.flush(&mut out);
    let tags: Vec<&str> = out
        .iter()
        .map(|e| match e {
            FindingEvent::Raised(_) => "raised",
            FindingEvent::Updated { .. } => "updated",
            FindingEvent::Cleared { .. } => "cleared",
        })
        .collect();
    assert_eq!(tags, ["raised", "updated", "cleared"]);
}

#[test]
fn rule_statistical_threshold_uses_the_population() {
    let cfg = DetectConfig::from_toml_str(
        r#"
        [[rules.rules]]
        name = "p99"
        metric = "bytes_out"
        comparison = "gt"
        threshold = { statistic = "p99" }
        min_samples = 50
        "#,
    )
    .unwrap();
    let mut obs: Vec<Observation> = (0..200)
        .map(|i| report(T0 + i * 1000, 1000 + (i as u64 % 10)))
        .collect();
    obs.push(report(T0 + 300_000, 1_000_000));
    let f = run_with(cfg, Arc::new(NoIntel), Arc::new(NoContext), obs);
    assert_eq!(kinds(&f), [FindingKind::Rule]);
}

#[test]
fn config_refuses_unknown_keys_and_bad_values() {
    assert!(DetectConfig::from_toml_str("[scan]\nwindow = 3\n").is_err());
    assert!(DetectConfig::from_toml_str("[c2]\nfailed_attempts = 1\n").is_err());
    assert!(DetectConfig::from_toml_str("[ddos]\nmax_reply_ratio = 2.0\n").is_err());
    assert!(DetectConfig::from_toml_str("[scan]\nwindow_s = 60\n").is_ok());
    let e = DetectConfig::from_toml_str("[[rules.rules]]\nname='x'\nmetric='bytes_out'\ncomparison='gt'\nthreshold={value=1.0}\ndatapoints_to_alarm=0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("datapoints"), "{e}");
}

const MUD: &str = r#"{
  "ietf-mud:mud": {
    "mud-version": 1,
    "mud-url": "https://example.com/meter.json",
    "from-device-policy": {"access-lists": {"access-list": [{"name": "from"}]}},
    "to-device-policy": {"access-lists": {"access-list": [{"name": "to"}]}}
  },
  "ietf-access-control-list:acls": {"acl": [
    {"name": "from", "type": "ipv4-acl-type", "aces": {"ace": [
      {"name": "cloud", "matches": {"ipv4": {"ietf-acldns:dst-dnsname": "cloud.example.com", "protocol": 6},
        "tcp": {"destination-port": {"operator": "eq", "port": 443}}}, "actions": {"forwarding": "accept"}},
      {"name": "net", "matches": {"ipv4": {"destination-ipv4-network": "192.0.2.0/24", "protocol": 17}},
        "actions": {"forwarding": "accept"}}
    ]}},
    {"name": "to", "type": "ipv4-acl-type", "aces": {"ace": []}}
  ]}
}"#;

#[test]
fn mud_policy_allows_listed_and_flags_the_rest() {
    let allow = rampart_detect::parse_mud(MUD).unwrap();
    assert_eq!(allow.len(), 2);
    assert_eq!(allow[0].names, ["cloud.example.com"]);
    assert_eq!(allow[0].ports, [443]);
    assert!(rampart_detect::parse_mud("{}").is_err());
    let mut cfg = DetectConfig::default();
    cfg.policy.profiles.insert(
        "meter".into(),
        rampart_detect::ProfilePolicy {
            allow: vec![],
            mud: Some(MUD.into()),
        },
    );
    let ctx = Arc::new(Registry(None, Some("meter".into())));
    let dns = Observation::Dns(Box::new(Attributed {
        record: DnsRecord {
            source: SignalSource::Zeek,
            time: Timestamp(T0),
            client: "10.0.0.7".parse().unwrap(),
            server: "10.0.0.254".parse().unwrap(),
            query: "cloud.example.com".into(),
            qtype: Some(1),
            rcode: Some(0),
            answers: vec!["198.51.100.10".parse().unwrap()],
            ttl: Some(60),
        },
        subject: subject("10.0.0.7"),
        subject_is_responder: false,
    }));
    let obs = vec![
        dns,
        flow(
            "ok1",
            T0 + 1000,
            "10.0.0.7",
            "198.51.100.10",
            443,
            proto::TCP,
            ConnState::SF,
            5,
            5,
        ),
        flow(
            "ok2",
            T0 + 2000,
            "10.0.0.7",
            "192.0.2.5",
            9999,
            proto::UDP,
            ConnState::SF,
            1,
            1,
        ),
        flow(
            "ok3",
            T0 + 3000,
            "10.0.0.7",
            "10.0.0.254",
            53,
            proto::UDP,
            ConnState::SF,
            1,
            1,
        ),
        flow(
            "bad",
            T0 + 4000,
            "10.0.0.7",
            "198.51.100.99",
            443,
            proto::TCP,
            ConnState::SF,
            5,
            5,
        ),
    ];
    let f = run_with(cfg, Arc::new(NoIntel), ctx, obs);
    assert_eq!(kinds(&f), [FindingKind::UnexpectedTraffic]);
    assert_eq!(f[0].evidence[0].uid(), Some("bad"));
}
