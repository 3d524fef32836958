//! The entry formats: binary round trips, strictness, the JSON of earlier journals.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::Ipv4Addr;

use ipnet::Ipv6Net;
use proptest::prelude::*;
use rampart_core::{AccountingRecord, DeviceId, Location, RadiusSession, SimSighting, TenantId};

use super::*;

fn text() -> impl Strategy<Value = String> {
    // Mostly short ASCII, sometimes any Unicode (the format stores UTF-8 as it is).
    prop_oneof![4 => "[a-zA-Z0-9 ._:-]{0,24}", 1 => "\\PC{0,12}"]
}

fn location() -> BoxedStrategy<Location> {
    (
        text(),
        proptest::option::of(text()),
        any::<Option<u16>>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<Option<u64>>(),
    )
        .prop_map(|(kind, mcc_mnc, lac, ci, tac, eci, nci)| Location {
            kind,
            mcc_mnc,
            lac,
            ci,
            tac,
            eci,
            nci,
        })
        .boxed()
}

fn session() -> BoxedStrategy<RadiusSession> {
    let ids = (
        text(),
        text(),
        proptest::option::of(text()),
        proptest::option::of("[0-9]{6,15}"),
        proptest::option::of(text()),
        proptest::option::of(text()),
    );
    let net = (
        any::<Option<[u8; 4]>>(),
        proptest::option::of((any::<[u8; 16]>(), 0u8..=128)),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(location()),
    );
    let counters = (
        any::<i64>(),
        any::<i64>(),
        any::<[u64; 4]>(),
        proptest::option::of("[a-z0-9_.-]{1,20}"),
        proptest::option::of("[a-zA-Z0-9_.:/=@-]{1,40}"),
    );
    (ids, net, counters)
        .prop_map(
            |(
                (nas, session_id, multi_session_id, imsi, imeisv, msisdn),
                (ipv4, v6, apn, rat, location),
                (started, updated, [i_o, o_o, i_p, o_p], tenant, device),
            )| RadiusSession {
                nas,
                session_id,
                multi_session_id,
                imsi,
                imeisv,
                msisdn,
                ipv4: ipv4.map(Ipv4Addr::from),
                ipv6_prefix: v6.map(|(a, l)| Ipv6Net::new(a.into(), l).unwrap()),
                apn,
                rat,
                location,
                started_at: Timestamp(started),
                updated_at: Timestamp(updated),
                input_octets: i_o,
                output_octets: o_o,
                input_packets: i_p,
                output_packets: o_p,
                tenant: tenant.map(|t| TenantId::parse(&t).unwrap()),
                device_id: device.map(|d| DeviceId::parse(&d).unwrap()),
            },
        )
        .boxed()
}

fn record() -> BoxedStrategy<AccountingRecord> {
    (
        text(),
        any::<i64>(),
        any::<i64>(),
        text(),
        session(),
        any::<Option<u32>>(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(status, event, received, client, session, session_time, terminate_cause)| {
                AccountingRecord {
                    status,
                    event_time: Timestamp(event),
                    received_at: Timestamp(received),
                    client,
                    session,
                    session_time,
                    terminate_cause,
                }
            },
        )
        .boxed()
}

fn entry() -> BoxedStrategy<Entry> {
    let change = prop_oneof![
        Just(Change::None),
        Just(Change::Record),
        session().prop_map(|s| Change::Upsert(Box::new(s))),
        (text(), text()).prop_map(|(nas, session_id)| Change::End { nas, session_id }),
        text().prop_map(|nas| Change::EndNas { nas }),
    ];
    let usage = proptest::option::of((text(), any::<i64>(), any::<u64>(), any::<u64>()).prop_map(
        |(imsi, hour, up, down)| Usage {
            imsi,
            hour: Timestamp(hour),
            up,
            down,
        },
    ));
    let sighting = proptest::option::of(
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(location()),
            any::<i64>(),
        )
            .prop_map(|(imsi, imeisv, location, seen)| SimSighting {
                imsi,
                imeisv,
                location,
                seen_at: Timestamp(seen),
            }),
    );
    (
        proptest::option::of(record()),
        change,
        usage,
        sighting,
        any::<bool>(),
    )
        .prop_map(|(record, change, usage, sighting, unknown)| {
            // The record's own session can only be the change when there is a record.
            let change = match (&record, change) {
                (None, Change::Record) => Change::None,
                (_, c) => c,
            };
            Entry {
                record,
                change,
                usage,
                sighting,
                unknown,
            }
        })
        .boxed()
}

/// The JSON form writes times as RFC 3339, which only covers years 0 to 9999: brings every
/// time of `e` into 1970-2100.
fn in_json_range(mut e: Entry) -> Entry {
    fn t(x: &mut Timestamp) {
        x.0 = x.0.rem_euclid(4_102_444_800_000);
    }
    fn session(s: &mut RadiusSession) {
        t(&mut s.started_at);
        t(&mut s.updated_at);
    }
    if let Some(r) = e.record.as_mut() {
        t(&mut r.event_time);
        t(&mut r.received_at);
        session(&mut r.session);
    }
    if let Change::Upsert(s) = &mut e.change {
        session(s);
    }
    if let Some(u) = e.usage.as_mut() {
        t(&mut u.hour);
    }
    if let Some(s) = e.sighting.as_mut() {
        t(&mut s.seen_at);
    }
    e
}

fn encoded(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    e.as_ref().encode(&mut out).unwrap();
    out
}

/// A request as the load generator sends it, after the session table.
fn typical() -> Entry {
    let session = RadiusSession {
        nas: "pgw-frankfurt-1".to_owned(),
        session_id: "load-12-3456".to_owned(),
        multi_session_id: None,
        imsi: Some("001010000001234".to_owned()),
        imeisv: Some("3500000000012340".to_owned()),
        msisdn: None,
        ipv4: Some(Ipv4Addr::new(10, 0, 4, 210)),
        ipv6_prefix: None,
        apn: Some("iot.load".to_owned()),
        rat: Some("EUTRAN".to_owned()),
        location: Some(Location {
            kind: "TAI+ECGI".to_owned(),
            mcc_mnc: Some("001-01".to_owned()),
            lac: None,
            ci: None,
            tac: Some(0x1a2b),
            eci: Some(0x0123_4567),
            nci: None,
        }),
        started_at: Timestamp(1_790_000_000_000),
        updated_at: Timestamp(1_790_000_020_000),
        input_octets: 2_000_000,
        output_octets: 1_000_000,
        input_packets: 0,
        output_packets: 0,
        tenant: Some(TenantId::parse("acme").unwrap()),
        device_id: Some(DeviceId::parse("meter-000123").unwrap()),
    };
    Entry {
        record: Some(AccountingRecord {
            status: "Interim-Update".to_owned(),
            event_time: Timestamp(1_790_000_020_000),
            received_at: Timestamp(1_790_000_020_004),
            client: "bench".to_owned(),
            session: session.clone(),
            session_time: None,
            terminate_cause: None,
        }),
        change: Change::Record,
        usage: Some(Usage {
            imsi: "001010000001234".to_owned(),
            hour: Timestamp(1_789_999_200_000),
            up: 1_000_000,
            down: 500_000,
        }),
        sighting: Some(SimSighting {
            imsi: "001010000001234".to_owned(),
            imeisv: session.imeisv.clone(),
            location: session.location,
            seen_at: Timestamp(1_790_000_020_000),
        }),
        unknown: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn binary_round_trip(e in entry()) {
        let bytes = encoded(&e);
        prop_assert_eq!(bytes.first(), Some(&VERSION));
        prop_assert_eq!(Entry::decode(&bytes), Ok(e));
    }

    #[test]
    fn every_cut_is_refused(e in entry()) {
        let bytes = encoded(&e);
        for n in 0..bytes.len() {
            prop_assert!(Entry::decode(&bytes[..n]).is_err(), "prefix of {} bytes decoded", n);
        }
        let mut longer = bytes;
        longer.push(0);
        prop_assert_eq!(Entry::decode(&longer), Err(EntryError::Trailing(1)));
    }

    #[test]
    fn arbitrary_bytes_decode_only_to_their_own_encoding(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        if let Some(b) = bytes.first_mut() {
            *b = VERSION;
        }
        if let Ok(e) = Entry::decode(&bytes) {
            prop_assert_eq!(encoded(&e), bytes);
        }
    }

    #[test]
    fn flipped_bytes_never_panic(e in entry(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encoded(&e);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(d) = Entry::decode(&bytes) {
            prop_assert_eq!(encoded(&d), bytes);
        }
    }

    #[test]
    fn json_of_earlier_journals_still_decodes(e in entry().prop_map(in_json_range)) {
        let json = serde_json::to_vec(&e).unwrap();
        prop_assert_eq!(Entry::decode(&json), Ok(e));
    }
}

#[test]
fn typical_entry_is_compact() {
    let e = typical();
    let binary = encoded(&e);
    let json = serde_json::to_vec(&e).unwrap();
    assert_eq!(Entry::decode(&binary), Ok(e));
    assert!(
        binary.len() * 2 < json.len(),
        "binary {} bytes, JSON {} bytes",
        binary.len(),
        json.len()
    );
}

#[test]
fn unknown_versions_and_junk_are_refused() {
    let mut bytes = encoded(&typical());
    bytes[0] = 2;
    assert_eq!(Entry::decode(&bytes), Err(EntryError::Version(2)));
    assert_eq!(Entry::decode(&[]), Err(EntryError::Truncated));
    assert!(matches!(
        Entry::decode(b"{not json"),
        Err(EntryError::Json(_))
    ));
    // Flag bits the encoder never sets.
    let mut bytes = encoded(&typical());
    bytes[1] |= 0x80;
    assert_eq!(
        Entry::decode(&bytes),
        Err(EntryError::Invalid("entry flags"))
    );
    // A tenant id that does not parse.
    let mut e = typical();
    let mut bytes = encoded(&e);
    let tenant = bytes.windows(4).position(|w| w == b"acme").unwrap();
    bytes[tenant] = b' ';
    assert_eq!(Entry::decode(&bytes), Err(EntryError::Invalid("tenant")));
    // A string too long for the format is refused when writing, leaving the buffer as it was.
    e.record.as_mut().unwrap().client = "x".repeat(70_000);
    let mut out = vec![7u8];
    assert_eq!(
        e.as_ref().encode(&mut out),
        Err(EntryError::TooLong(70_000))
    );
    assert_eq!(out, vec![7u8]);
}

#[test]
fn applied_requests_encode_like_their_owned_entry() {
    use rampart_sessions::{AcctEvent, SessionTable, Status};
    let ev = AcctEvent {
        status: Status::Start,
        client: "lab".to_owned(),
        nas: "pgw".to_owned(),
        session_id: "s-1".to_owned(),
        multi_session_id: None,
        imsi: Some("001010000000001".to_owned()),
        imeisv: Some("3500000000000101".to_owned()),
        msisdn: None,
        ipv4: Some(Ipv4Addr::new(10, 1, 2, 3)),
        ipv6_prefix: None,
        apn: Some("iot".to_owned()),
        rat: None,
        location: None,
        input_octets: Some(10),
        output_octets: Some(20),
        input_packets: None,
        output_packets: None,
        session_time: None,
        terminate_cause: None,
        event_time: Timestamp(3_600_000),
        received_at: Timestamp(3_600_001),
    };
    let mut table = SessionTable::new(10);
    let a = table.apply(&ev, |_| {});
    let mut bytes = Vec::new();
    EntryRef::applied(&a, true).encode(&mut bytes).unwrap();
    let e = Entry::decode(&bytes).unwrap();
    assert_eq!(e.record.as_ref(), Some(&a.record));
    assert_eq!(
        e.change,
        Change::Record,
        "the record's session is not stored twice"
    );
    assert!(e.unknown);
    assert_eq!(e.usage.as_ref().map(|u| (u.up, u.down)), Some((10, 20)));
    let mut again = Vec::new();
    e.as_ref().encode(&mut again).unwrap();
    assert_eq!(again, bytes);
}
