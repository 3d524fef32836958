//! The `AccountingStore` part of the conformance suite (included by `conformance.rs`, run
//! against both backends).

use std::sync::Arc;

use rampart_core::{AccountingRecord, Location, RadiusSession, SimSighting, Timestamp};
use rampart_store::{AccountingOp, SessionFilter, Store};

use super::{device, imsi, sim, tenant};

fn session(nas: &str, id: &str, imsi: &str, ip: [u8; 4], at: i64) -> RadiusSession {
    RadiusSession {
        nas: nas.to_owned(),
        session_id: id.to_owned(),
        multi_session_id: None,
        imsi: Some(imsi.to_owned()),
        imeisv: Some("3548990123456701".to_owned()),
        msisdn: None,
        ipv4: Some(ip.into()),
        ipv6_prefix: Some("2001:db8:7::/64".parse().unwrap()),
        apn: Some("iot".to_owned()),
        rat: Some("EUTRAN".to_owned()),
        location: Some(Location {
            kind: "ECGI".to_owned(),
            mcc_mnc: Some("262-01".to_owned()),
            eci: Some(0x0123_4567),
            ..Location::default()
        }),
        started_at: Timestamp(at),
        updated_at: Timestamp(at),
        input_octets: 10,
        output_octets: 20,
        input_packets: 0,
        output_packets: 0,
        tenant: Some(tenant("acme")),
        device_id: None,
    }
}

fn record(status: &str, s: &RadiusSession) -> AccountingOp {
    AccountingOp::Record(Box::new(AccountingRecord {
        status: status.to_owned(),
        event_time: s.updated_at,
        received_at: s.updated_at,
        client: "lab".to_owned(),
        session: s.clone(),
        session_time: None,
        terminate_cause: None,
    }))
}

async fn list(s: &Arc<dyn Store>, f: SessionFilter) -> Vec<RadiusSession> {
    s.list_sessions(&SessionFilter { limit: 10, ..f })
        .await
        .unwrap()
}

pub(super) async fn accounting_roundtrip(s: Arc<dyn Store>) {
    let t = tenant("acme");
    let mut dev = device(&t, "meter-1");
    dev.ips = vec!["198.51.100.0/24".parse().unwrap()];
    s.insert_device(&dev).await.unwrap();
    s.insert_sim(&sim(&t, 1, Some("meter-1"))).await.unwrap();
    let imsi1 = imsi(1).to_string();

    let a = session("pgw-1", "s-1", &imsi1, [10, 0, 0, 1], 3_600_000);
    let b = session("pgw-1", "s-2", "001010000000099", [10, 0, 0, 2], 3_600_500);
    s.apply_accounting(&[
        record("Start", &a),
        AccountingOp::UpsertSession(Box::new(a.clone())),
        record("Start", &b),
        AccountingOp::UpsertSession(Box::new(b.clone())),
        AccountingOp::Usage {
            imsi: imsi1.clone(),
            hour: Timestamp(3_600_000),
            up: 100,
            down: 5,
        },
        AccountingOp::Usage {
            imsi: imsi1.clone(),
            hour: Timestamp(3_600_000),
            up: 1 << 40,
            down: 5,
        },
        AccountingOp::Usage {
            imsi: imsi1.clone(),
            hour: Timestamp(7_200_000),
            up: 1,
            down: 1,
        },
        AccountingOp::Sighting(Box::new(SimSighting {
            imsi: imsi1.clone(),
            imeisv: Some("3548990123456701".to_owned()),
            location: a.location.clone(),
            seen_at: Timestamp(3_600_000),
        })),
        // An older sighting does not replace a newer one.
        AccountingOp::Sighting(Box::new(SimSighting {
            imsi: imsi1.clone(),
            imeisv: Some("0000000000000000".to_owned()),
            location: None,
            seen_at: Timestamp(1),
        })),
        AccountingOp::UnknownImsi {
            imsi: "001010000000099".to_owned(),
            at: Timestamp(5),
            nas: "pgw-1".to_owned(),
            imeisv: None,
        },
        AccountingOp::UnknownImsi {
            imsi: "001010000000099".to_owned(),
            at: Timestamp(2),
            nas: "pgw-2".to_owned(),
            imeisv: Some("35".to_owned()),
        },
    ])
    .await
    .unwrap();

    assert_eq!(s.all_sessions().await.unwrap().len(), 2);
    let by_ip = list(
        &s,
        SessionFilter {
            ip: Some("10.0.0.1".parse().unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_ip, vec![a.clone()]);
    let by_v6 = list(
        &s,
        SessionFilter {
            ip: Some("2001:db8:7::1234".parse().unwrap()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_v6.len(), 2);
    let by_imsi = list(
        &s,
        SessionFilter {
            imsi: Some(imsi1.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_imsi.len(), 1);
    let other = list(
        &s,
        SessionFilter {
            tenant: Some(tenant("other")),
            ..Default::default()
        },
    )
    .await;
    assert!(other.is_empty());

    let usage = s
        .usage_since(&[imsi1.as_str()], Timestamp(0))
        .await
        .unwrap();
    assert_eq!(usage.len(), 2);
    assert_eq!(
        (usage[0].bytes_up, usage[0].bytes_down),
        ((1 << 40) + 100, 10)
    );
    let later = s
        .usage_since(&[imsi1.as_str()], Timestamp(7_200_000))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);

    let seen = s.sightings(&[imsi1.as_str()]).await.unwrap();
    assert_eq!(seen[0].imeisv.as_deref(), Some("3548990123456701"));
    assert_eq!(seen[0].location, a.location);

    let unknown = s.unknown_imsis(10).await.unwrap();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (
            unknown[0].count,
            unknown[0].first_seen,
            unknown[0].last_seen
        ),
        (2, Timestamp(2), Timestamp(5))
    );
    assert_eq!(unknown[0].last_imeisv.as_deref(), Some("35"));

    // Stop of one session, Accounting-On of the NAS for the rest; records stay.
    s.apply_accounting(&[
        record("Stop", &a),
        AccountingOp::EndSession {
            nas: "pgw-1".to_owned(),
            session_id: "s-1".to_owned(),
        },
    ])
    .await
    .unwrap();
    assert_eq!(s.all_sessions().await.unwrap(), vec![b.clone()]);
    s.apply_accounting(&[AccountingOp::EndNas {
        nas: "pgw-1".to_owned(),
    }])
    .await
    .unwrap();
    assert!(s.all_sessions().await.unwrap().is_empty());
    let recs = s.records_for_session("s-1").await.unwrap();
    assert_eq!(
        recs.iter()
            .map(|r| r.record.status.as_str())
            .collect::<Vec<_>>(),
        ["Start", "Stop"]
    );
    assert!(recs[0].id < recs[1].id);
    assert_eq!(s.count_accounting_records().await.unwrap(), 3);

    // The attribution index readers see every tenant.
    let sims = s.sim_bindings_page(None, 10).await.unwrap();
    assert_eq!(sims.len(), 1);
    assert_eq!(
        sims[0].device_id.as_ref().map(|d| d.as_str()),
        Some("meter-1")
    );
    assert!(
        s.sim_bindings_page(Some(&sims[0].iccid), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let statics = s.static_ips_page(None, 10).await.unwrap();
    assert_eq!(statics.len(), 1);
    assert_eq!(statics[0].ips, dev.ips);
}

/// Folding journal entries: the rows and the folded position commit together, and positions
/// are per journal.
pub(super) async fn accounting_folding(s: Arc<dyn Store>) {
    assert_eq!(s.folded_position("j-1").await.unwrap(), None);
    let a = session("pgw-f", "f-1", "001010000000123", [10, 1, 0, 1], 3_600_000);
    s.fold_accounting(
        "j-1",
        4096,
        &[
            record("Start", &a),
            AccountingOp::UpsertSession(Box::new(a.clone())),
            AccountingOp::Usage {
                imsi: "001010000000123".to_owned(),
                hour: Timestamp(3_600_000),
                up: 7,
                down: 3,
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(s.folded_position("j-1").await.unwrap(), Some(4096));
    assert_eq!(s.folded_position("j-2").await.unwrap(), None);
    assert_eq!(s.all_sessions().await.unwrap(), vec![a.clone()]);

    // An empty fold moves only the position; journals do not share positions.
    s.fold_accounting("j-1", 8192, &[]).await.unwrap();
    assert_eq!(s.folded_position("j-1").await.unwrap(), Some(8192));
    s.fold_accounting("j-2", 1 << 40, &[]).await.unwrap();
    assert_eq!(s.folded_position("j-2").await.unwrap(), Some(1 << 40));
    assert_eq!(s.folded_position("j-1").await.unwrap(), Some(8192));

    // Usage folds add up across folds (each entry folded once by position).
    s.fold_accounting(
        "j-1",
        9000,
        &[
            record("Stop", &a),
            AccountingOp::EndSession {
                nas: "pgw-f".to_owned(),
                session_id: "f-1".to_owned(),
            },
            AccountingOp::Usage {
                imsi: "001010000000123".to_owned(),
                hour: Timestamp(3_600_000),
                up: 1,
                down: 1,
            },
        ],
    )
    .await
    .unwrap();
    let usage = s
        .usage_since(&["001010000000123"], Timestamp(0))
        .await
        .unwrap();
    assert_eq!((usage[0].bytes_up, usage[0].bytes_down), (8, 4));
    assert!(s.all_sessions().await.unwrap().is_empty());
    assert_eq!(s.records_for_session("f-1").await.unwrap().len(), 2);
    assert_eq!(s.folded_position("j-1").await.unwrap(), Some(9000));
}

/// A fold of many records goes in as several multi-row statements: every record arrives,
/// unchanged and in log order, whatever the chunk it fell into.
pub(super) async fn accounting_many_records(s: Arc<dyn Store>) {
    let mut ops = Vec::new();
    let mut want: Vec<Vec<AccountingRecord>> = vec![Vec::new(); 3];
    for i in 0..301i64 {
        let k = usize::try_from(i % 3).unwrap();
        let mut sess = session(
            "pgw-m",
            &format!("m-{k}"),
            "001010000000777",
            [10, 2, 0, 1],
            i,
        );
        sess.input_octets = u64::try_from(i).unwrap() * 1000;
        if k == 2 {
            // Accounting-On/Off records carry no IMSI.
            sess.imsi = None;
        }
        let AccountingOp::Record(r) = record(if i % 2 == 0 { "Start" } else { "Stop" }, &sess)
        else {
            unreachable!()
        };
        want[k].push((*r).clone());
        ops.push(AccountingOp::Record(r));
    }
    s.fold_accounting("j-m", 301, &ops).await.unwrap();
    assert_eq!(s.count_accounting_records().await.unwrap(), 301);
    for (k, want) in want.iter().enumerate() {
        let got = s.records_for_session(&format!("m-{k}")).await.unwrap();
        assert!(got.windows(2).all(|w| w[0].id < w[1].id));
        let got: Vec<_> = got.into_iter().map(|r| r.record).collect();
        assert_eq!(&got, want, "session m-{k}");
    }
}
