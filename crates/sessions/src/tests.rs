#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use proptest::prelude::*;
use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_radius::uli::{Ecgi, Tai};
use rampart_radius::{
    AcctStatusType, Attribute, AttributeType, Code, PacketBuilder, Plmn, RatType, TgppValue,
    UserLocationInfo,
};

use super::*;

fn ev(status: Status, id: &str, at: i64, up: u64, down: u64) -> AcctEvent {
    AcctEvent {
        status,
        client: "pgw".into(),
        nas: "pgw-1".into(),
        session_id: id.into(),
        multi_session_id: None,
        imsi: Some(format!("26201000000{id:0>4}")),
        imeisv: Some("3548990123456701".into()),
        msisdn: None,
        ipv4: Some([10, 0, 0, id.len() as u8].into()),
        ipv6_prefix: Some("2001:db8:1::/64".parse().unwrap()),
        apn: Some("iot".into()),
        rat: Some("EUTRAN".into()),
        location: None,
        input_octets: Some(up),
        output_octets: Some(down),
        input_packets: None,
        output_packets: None,
        session_time: None,
        terminate_cause: None,
        event_time: Timestamp(at),
        received_at: Timestamp(at),
    }
}

#[test]
fn packet_fields_are_read() {
    let plmn = Plmn::new(262, 1, false).unwrap();
    let p = PacketBuilder::new(Code::AccountingRequest, 1)
        .attr(Attribute::acct_status_type(AcctStatusType::Start))
        .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, "s1"))
        .attr(Attribute::text(AttributeType::NAS_IDENTIFIER, "pgw-lab-1"))
        .attr(Attribute::ipv4(
            AttributeType::FRAMED_IP_ADDRESS,
            [10, 45, 0, 7].into(),
        ))
        .attr(Attribute::u32(
            AttributeType::EVENT_TIMESTAMP,
            1_700_000_000,
        ))
        .attrs(Attribute::input_octets64(5 << 32 | 7))
        .tgpp(TgppValue::Imsi("262011234567890".into()))
        .tgpp(TgppValue::RatType(RatType::Eutran))
        .tgpp(TgppValue::UserLocationInfo(UserLocationInfo::TaiEcgi(
            Tai { plmn, tac: 0x1a2b },
            Ecgi {
                plmn,
                eci: 0x0123_4567,
            },
        )))
        .into_packet()
        .unwrap();
    let e = AcctEvent::from_packet(&p, "client", Timestamp(5)).unwrap();
    assert_eq!(e.status, Status::Start);
    assert_eq!(e.nas, "pgw-lab-1");
    assert_eq!(e.imsi.as_deref(), Some("262011234567890"));
    assert_eq!(e.rat.as_deref(), Some("EUTRAN"));
    assert_eq!(e.input_octets, Some(5 << 32 | 7));
    assert_eq!(e.event_time, Timestamp(1_700_000_000_000));
    let loc = e.location.unwrap();
    assert_eq!(loc.kind, "TAI+ECGI");
    assert_eq!(loc.mcc_mnc.as_deref(), Some("262-01"));
    assert_eq!((loc.tac, loc.eci), (Some(0x1a2b), Some(0x0123_4567)));

    let bad = PacketBuilder::new(Code::AccountingRequest, 1)
        .attr(Attribute::acct_status_type(AcctStatusType::Start))
        .into_packet()
        .unwrap();
    assert_eq!(
        AcctEvent::from_packet(&bad, "c", Timestamp(0)),
        Err(EventError::SessionId)
    );
}

#[test]
fn lifecycle_usage_and_indexes() {
    let mut t = SessionTable::new(10);
    let a = t.apply(&ev(Status::Start, "1", 1000, 0, 0), |_| {});
    assert!(matches!(a.change, SessionChange::Upsert(_)));
    assert_eq!(a.usage, None);
    let a = t.apply(&ev(Status::Interim, "1", 2000, 100, 50), |_| {});
    assert_eq!(a.usage.as_ref().map(|u| (u.up, u.down)), Some((100, 50)));
    let a = t.apply(&ev(Status::Interim, "1", 3000, 250, 50), |_| {});
    assert_eq!(a.usage.as_ref().map(|u| (u.up, u.down)), Some((150, 0)));
    // Counter reset: the new reading is all new.
    let a = t.apply(&ev(Status::Interim, "1", 4000, 20, 60), |_| {});
    assert_eq!(a.usage.as_ref().map(|u| (u.up, u.down)), Some((20, 10)));
    assert!(t.by_ip("10.0.0.1".parse().unwrap()).is_some());
    assert!(t.by_ip("2001:db8:1::77".parse().unwrap()).is_some());
    assert!(t.by_ip("2001:db8:2::77".parse().unwrap()).is_none());
    assert!(t.by_imsi("262010000000001").is_some());
    let a = t.apply(&ev(Status::Stop, "1", 5000, 30, 60), |_| {});
    assert!(matches!(a.change, SessionChange::End { .. }));
    assert!(t.is_empty());
    assert!(t.by_ip("10.0.0.1".parse().unwrap()).is_none());
}

#[test]
fn accounting_on_ends_all_sessions_of_the_nas() {
    let mut t = SessionTable::new(10);
    t.apply(&ev(Status::Start, "1", 1, 0, 0), |_| {});
    t.apply(&ev(Status::Start, "22", 1, 0, 0), |_| {});
    let mut other = ev(Status::Start, "333", 1, 0, 0);
    other.nas = "pgw-2".into();
    t.apply(&other, |_| {});
    let a = t.apply(&ev(Status::AccountingOn, "", 2, 0, 0), |_| {});
    assert_eq!(
        a.change,
        SessionChange::EndNas {
            nas: "pgw-1".into()
        }
    );
    assert_eq!(t.len(), 1);
}

#[test]
fn the_table_is_bounded_and_says_so() {
    let mut t = SessionTable::new(2);
    t.apply(&ev(Status::Start, "1", 1, 0, 0), |_| {});
    t.apply(&ev(Status::Start, "22", 1, 0, 0), |_| {});
    let a = t.apply(&ev(Status::Start, "333", 1, 0, 0), |_| {});
    assert!(a.refused);
    assert_eq!(a.change, SessionChange::None);
    assert_eq!((t.len(), t.refused()), (2, 1));
    // Known sessions still update when full.
    let a = t.apply(&ev(Status::Interim, "1", 2, 5, 5), |_| {});
    assert!(!a.refused);
}

#[test]
fn timeout_is_event_time() {
    let mut t = SessionTable::new(10);
    t.apply(&ev(Status::Start, "1", 1_000, 0, 0), |_| {});
    t.apply(&ev(Status::Start, "22", 9_000, 0, 0), |_| {});
    let gone = t.expire(Timestamp(5_000));
    assert_eq!(gone.len(), 1);
    assert_eq!(t.len(), 1);
}

#[test]
fn attribution_order() {
    let tenant = TenantId::parse("acme").unwrap();
    let dev = DeviceId::parse("meter-1").unwrap();
    let cam = DeviceId::parse("cam-9").unwrap();
    let mut index = RegistryIndex::new();
    index.add_sim("262010000000001", &tenant, Some(&dev));
    index.add_static("10.0.0.0/8".parse().unwrap(), &tenant, &cam);
    index.add_static("192.168.1.0/24".parse().unwrap(), &tenant, &cam);
    index.add_static(
        "192.168.1.0/24".parse().unwrap(),
        &TenantId::parse("other").unwrap(),
        &cam,
    );
    let table = Arc::new(RwLock::new(SessionTable::new(10)));
    let attributor = Attributor::new(table.clone(), Arc::new(RwLock::new(Arc::new(index))));
    table
        .write()
        .unwrap()
        .apply(&ev(Status::Start, "1", 1000, 0, 0), |_| {});
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    assert_eq!(
        attributor.attribute(ip, Timestamp(2000)),
        Attribution::Device {
            tenant: tenant.clone(),
            device_id: dev,
            via: Via::Session
        }
    );
    // Before the session started, the static network is what names it.
    assert_eq!(
        attributor.attribute(ip, Timestamp(500)),
        Attribution::Device {
            tenant,
            device_id: cam,
            via: Via::StaticIp
        }
    );
    table
        .write()
        .unwrap()
        .apply(&ev(Status::Start, "99", 1000, 0, 0), |_| {});
    assert_eq!(
        attributor.attribute("10.0.0.2".parse().unwrap(), Timestamp(2000)),
        Attribution::UnknownImsi("262010000000099".into())
    );
    assert_eq!(
        attributor.attribute("192.168.1.5".parse().unwrap(), Timestamp(2000)),
        Attribution::Unattributed,
        "two tenants claim it"
    );
    assert_eq!(
        attributor.attribute("172.16.0.1".parse().unwrap(), Timestamp(2000)),
        Attribution::Unattributed
    );
}

proptest! {
    #[test]
    fn usage_never_exceeds_the_readings(readings in proptest::collection::vec(0u64..1 << 40, 1..20)) {
        let mut t = SessionTable::new(4);
        let mut total = 0u64;
        for (i, r) in readings.iter().enumerate() {
            let status = if i == 0 { Status::Start } else { Status::Interim };
            let a = t.apply(&ev(status, "1", i as i64, *r, 0), |_| {});
            total += a.usage.map_or(0, |u| u.up);
        }
        // Monotonic readings: the sum of deltas is the last reading.
        let monotonic = readings.windows(2).all(|w| w[0] <= w[1]);
        if monotonic {
            prop_assert_eq!(total, *readings.last().unwrap());
        }
        prop_assert!(total <= readings.iter().sum::<u64>());
    }
}
