//! The `IncidentStore` part of the conformance suite (included by `conformance.rs`, run
//! against both backends).

use std::collections::BTreeSet;
use std::sync::Arc;

use rampart_core::{TenantId, Timestamp};
use rampart_store::{
    IncidentCursor, IncidentFilter, IncidentRow, OpRow, Store, StoreError, TimelineRow,
};
use serde_json::json;

use super::tenant;

fn incident(
    id: &str,
    t: Option<&TenantId>,
    subject: &str,
    status: &str,
    updated: i64,
) -> IncidentRow {
    IncidentRow {
        id: id.to_owned(),
        tenant: t.cloned(),
        scope_kind: "device".to_owned(),
        subject: subject.to_owned(),
        status: status.to_owned(),
        severity: "high".to_owned(),
        opened_at: Timestamp(1_000),
        updated_at: Timestamp(updated),
        body: json!({"id": id, "subject": subject, "status": status}),
    }
}

fn entry(n: i64) -> TimelineRow {
    TimelineRow {
        at: Timestamp(n),
        body: json!({"at": n, "event": {"type": "note", "text": format!("note {n}")}}),
    }
}

fn ids(rows: &[IncidentRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

async fn list(s: &Arc<dyn Store>, f: IncidentFilter) -> Vec<IncidentRow> {
    s.list_incidents(&f).await.unwrap()
}

pub(super) async fn incident_rows(s: Arc<dyn Store>) {
    let t = tenant("acme");
    assert!(s.get_incident("inc-missing").await.unwrap().is_none());
    let mut row = incident("inc-1", Some(&t), "meter-1", "open", 2_000);
    row.body = json!({
        "title": "C2 on meter-1 — ünïcödé ✓",
        "nested": {"list": [1, -2, 3.5, null, true, "x"], "empty": {}, "deep": [[{"a": []}]]},
        "big": u64::MAX,
        "negative": i64::MIN,
        "escapes": "quote \" backslash \\ newline \n tab \t",
    });
    s.put_incident(&row).await.unwrap();
    assert_eq!(s.get_incident("inc-1").await.unwrap().unwrap(), row);

    // Upsert: every column and the body are replaced.
    row.status = "resolved".to_owned();
    row.severity = "critical".to_owned();
    row.updated_at = Timestamp(3_000);
    row.body = json!({"status": "resolved"});
    row.tenant = None;
    s.put_incident(&row).await.unwrap();
    assert_eq!(s.get_incident("inc-1").await.unwrap().unwrap(), row);

    // NUL is refused alike on both backends, in columns and anywhere in the body.
    let mut bad = incident("inc-2", Some(&t), "meter-1", "open", 1);
    bad.body = json!({"k": ["ok", "n\u{0}ul"]});
    assert!(matches!(
        s.put_incident(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad.body = json!({"n\u{0}ul": 1});
    assert!(matches!(
        s.put_incident(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad = incident("inc-2", Some(&t), "met\u{0}er", "open", 1);
    assert!(matches!(
        s.put_incident(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad.id = String::new();
    assert!(matches!(
        s.put_incident(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(s.get_incident("inc-2").await.unwrap().is_none());
}

pub(super) async fn incident_listing(s: Arc<dyn Store>) {
    let (acme, other) = (tenant("acme"), tenant("other"));
    let mut rows = Vec::new();
    for i in 0..9i64 {
        let status = ["open", "acknowledged", "resolved"][(i % 3) as usize];
        // Pairs share updated_at: ties are ordered by id.
        rows.push(incident(
            &format!("inc-a{i}"),
            Some(&acme),
            &format!("m-{}", i % 2),
            status,
            10_000 + i / 2,
        ));
    }
    for i in 0..3i64 {
        rows.push(incident(
            &format!("inc-o{i}"),
            Some(&other),
            "m-0",
            "open",
            20_000 + i,
        ));
    }
    for i in 0..2i64 {
        let mut r = incident(
            &format!("inc-p{i}"),
            None,
            "198.51.100.4",
            "open",
            30_000 + i,
        );
        r.scope_kind = "host".to_owned();
        rows.push(r);
    }
    for r in &rows {
        s.put_incident(r).await.unwrap();
    }

    let all = list(
        &s,
        IncidentFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all.len(), 14);
    let mut expected: Vec<&IncidentRow> = rows.iter().collect();
    expected.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
    assert_eq!(
        ids(&all),
        expected.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()
    );

    // A tenant filter never returns another tenant's rows, nor the platform's.
    let acme_rows = list(
        &s,
        IncidentFilter {
            tenant: Some(acme.clone()),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(acme_rows.len(), 9);
    assert!(acme_rows.iter().all(|r| r.tenant.as_ref() == Some(&acme)));
    let other_m0 = list(
        &s,
        IncidentFilter {
            tenant: Some(other.clone()),
            subject: Some("m-0".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&other_m0), ["inc-o2", "inc-o1", "inc-o0"]);
    let other_m1 = list(
        &s,
        IncidentFilter {
            tenant: Some(other.clone()),
            subject: Some("m-1".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert!(other_m1.is_empty(), "m-1 exists only in acme");
    let nobody = list(
        &s,
        IncidentFilter {
            tenant: Some(tenant("nobody")),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert!(nobody.is_empty());

    // Status filters.
    let active = list(
        &s,
        IncidentFilter {
            tenant: Some(acme.clone()),
            status: Some(vec!["open".into(), "acknowledged".into()]),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(active.len(), 6);
    assert!(
        active
            .iter()
            .all(|r| r.status != "resolved" && r.tenant.as_ref() == Some(&acme))
    );
    let none = list(
        &s,
        IncidentFilter {
            status: Some(vec![]),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_empty());
    let open_everywhere = list(
        &s,
        IncidentFilter {
            status: Some(vec!["open".into()]),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(open_everywhere.len(), 3 + 3 + 2);

    // Pages: newest first, through ties, each row once, within the tenant.
    let mut seen = Vec::new();
    let mut before: Option<IncidentCursor> = None;
    loop {
        let page = list(
            &s,
            IncidentFilter {
                tenant: Some(acme.clone()),
                limit: 2,
                before: before.clone(),
                ..Default::default()
            },
        )
        .await;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        assert!(page.iter().all(|r| r.tenant.as_ref() == Some(&acme)));
        // The cursor survives its text form (APIs hand it out as a token).
        let last = page.last().unwrap().cursor();
        let text = last.to_string();
        assert_eq!(text.parse::<IncidentCursor>().unwrap(), last);
        before = Some(last);
        seen.extend(page);
    }
    assert_eq!(ids(&seen), ids(&acme_rows));
    assert!("nonsense".parse::<IncidentCursor>().is_err());
    assert!("12:".parse::<IncidentCursor>().is_err());
}

pub(super) async fn incident_timeline(s: Arc<dyn Store>) {
    let t = tenant("acme");
    assert!(matches!(
        s.append_timeline("inc-none", &[entry(1)]).await,
        Err(StoreError::NotFound(_))
    ));
    s.put_incident(&incident("inc-1", Some(&t), "m-1", "open", 1))
        .await
        .unwrap();
    assert_eq!(
        s.append_timeline("inc-1", &[]).await.unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        s.append_timeline("inc-1", &[entry(1), entry(2), entry(3)])
            .await
            .unwrap(),
        [1, 2, 3]
    );
    assert_eq!(
        s.append_timeline("inc-1", &[entry(4), entry(5)])
            .await
            .unwrap(),
        [4, 5]
    );
    // Replacing the incident keeps its timeline and numbering.
    s.put_incident(&incident("inc-1", Some(&t), "m-1", "acknowledged", 2))
        .await
        .unwrap();
    assert_eq!(s.append_timeline("inc-1", &[entry(6)]).await.unwrap(), [6]);

    let all = s.timeline("inc-1", 0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[2].at, Timestamp(3));
    assert_eq!(all[2].body, entry(3).body);
    let page = s.timeline("inc-1", 2, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(s.timeline("inc-1", 6, 10).await.unwrap().is_empty());
    assert!(s.timeline("inc-none", 0, 10).await.unwrap().is_empty());

    // Incident and entries together; a bad entry keeps both out.
    let seqs = s
        .put_incident_with_timeline(
            &incident("inc-2", Some(&t), "m-2", "open", 5),
            &[entry(1), entry(2)],
        )
        .await
        .unwrap();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(
        s.get_incident("inc-2").await.unwrap().unwrap().status,
        "open"
    );
    let bad = TimelineRow {
        at: Timestamp(9),
        body: json!({"text": "\u{0}"}),
    };
    let r = s
        .put_incident_with_timeline(
            &incident("inc-3", Some(&t), "m-3", "open", 5),
            &[entry(1), bad.clone()],
        )
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))));
    assert!(
        s.get_incident("inc-3").await.unwrap().is_none(),
        "all or nothing"
    );
    let r = s
        .put_incident_with_timeline(&incident("inc-2", Some(&t), "m-2", "resolved", 6), &[bad])
        .await;
    assert!(r.is_err());
    assert_eq!(
        s.get_incident("inc-2").await.unwrap().unwrap().status,
        "open",
        "all or nothing"
    );
    assert_eq!(
        s.put_incident_with_timeline(&incident("inc-2", Some(&t), "m-2", "open", 7), &[entry(3)])
            .await
            .unwrap(),
        [3]
    );

    // Concurrent appends to one incident: every number once, no gaps.
    let tasks: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..10 {
                    let n = w * 100 + i;
                    got.extend(
                        s.append_timeline("inc-1", &[entry(n), entry(n + 50)])
                            .await
                            .unwrap(),
                    );
                }
                got
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        for seq in t.await.unwrap() {
            assert!(numbers.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(numbers, (7..=86).collect::<BTreeSet<u64>>());
    let stored = s.timeline("inc-1", 0, 1000).await.unwrap();
    assert_eq!(stored.len(), 86);
    assert!(stored.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

pub(super) async fn containment_ops(s: Arc<dyn Store>) {
    let (acme, other) = (tenant("acme"), tenant("other"));
    let op = |id: &str, kind: &str, t: Option<&TenantId>, status: &str, at: i64| OpRow {
        id: id.to_owned(),
        kind: kind.to_owned(),
        tenant: t.cloned(),
        status: status.to_owned(),
        updated_at: Timestamp(at),
        body: json!({"id": id, "targets": ["m-1", "m-2"], "progress": {"done": 1, "total": 2}}),
    };
    assert!(s.get_op("op-missing").await.unwrap().is_none());
    let rows = [
        op("op-1", "mass_action", Some(&acme), "running", 10),
        op("op-2", "mass_action", Some(&acme), "done", 20),
        op("op-3", "mass_action", Some(&other), "running", 30),
        op("op-4", "approval", Some(&acme), "pending", 40),
        op("op-5", "playbook_run", None, "running", 50),
        op("op-6", "mass_action", None, "running", 60),
    ];
    for r in &rows {
        s.put_op(r).await.unwrap();
    }
    assert_eq!(s.get_op("op-4").await.unwrap().unwrap(), rows[3]);

    let names = |v: Vec<OpRow>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let mass = s.list_ops("mass_action", None, None, 100).await.unwrap();
    assert_eq!(names(mass), ["op-6", "op-3", "op-2", "op-1"]);
    let acme_mass = s
        .list_ops("mass_action", Some(&acme), None, 100)
        .await
        .unwrap();
    assert!(acme_mass.iter().all(|o| o.tenant.as_ref() == Some(&acme)));
    assert_eq!(names(acme_mass), ["op-2", "op-1"]);
    let running = s
        .list_ops("mass_action", Some(&acme), Some("running"), 100)
        .await
        .unwrap();
    assert_eq!(names(running), ["op-1"]);
    let other_approvals = s
        .list_ops("approval", Some(&other), None, 100)
        .await
        .unwrap();
    assert!(other_approvals.is_empty(), "acme's approval is not other's");
    assert_eq!(
        names(
            s.list_ops("mass_action", None, Some("running"), 2)
                .await
                .unwrap()
        ),
        ["op-6", "op-3"]
    );

    // Upsert: status, tenant and body replaced.
    let mut changed = rows[0].clone();
    changed.status = "done".to_owned();
    changed.updated_at = Timestamp(70);
    changed.body = json!({"id": "op-1", "result": "ok"});
    s.put_op(&changed).await.unwrap();
    assert_eq!(s.get_op("op-1").await.unwrap().unwrap(), changed);
    assert_eq!(
        names(
            s.list_ops("mass_action", Some(&acme), None, 1)
                .await
                .unwrap()
        ),
        ["op-1"]
    );
    let mut bad = changed.clone();
    bad.kind = String::new();
    assert!(matches!(s.put_op(&bad).await, Err(StoreError::Invalid(_))));
}

pub(super) async fn incident_batches(s: Arc<dyn Store>) {
    let t = tenant("acme");
    let op = |id: &str, status: &str, at: i64| OpRow {
        id: id.to_owned(),
        kind: "playbook_run".to_owned(),
        tenant: Some(t.clone()),
        status: status.to_owned(),
        updated_at: Timestamp(at),
        body: json!({"id": id, "step": at}),
    };
    s.put_incident_with_timeline(&incident("inc-1", Some(&t), "m-1", "open", 5), &[entry(1)])
        .await
        .unwrap();
    // Two incidents (one new, one with more entries), two operations: one transaction.
    s.put_incident_batch(
        &[
            (
                incident("inc-1", Some(&t), "m-1", "contained", 7),
                vec![entry(2), entry(3)],
            ),
            (
                incident("inc-2", Some(&t), "m-2", "open", 8),
                vec![entry(4)],
            ),
        ],
        &[op("run-1", "running", 7), op("run-2", "finished", 8)],
    )
    .await
    .unwrap();
    let inc1 = s.get_incident("inc-1").await.unwrap().unwrap();
    assert_eq!(inc1.status, "contained");
    let seqs = |id: &'static str| {
        let s = s.clone();
        async move {
            s.timeline(id, 0, 100)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.seq, r.at.0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(seqs("inc-1").await, [(1, 1), (2, 2), (3, 3)]);
    assert_eq!(seqs("inc-2").await, [(1, 4)]);
    assert_eq!(s.get_op("run-2").await.unwrap().unwrap().status, "finished");
    // A bad entry anywhere keeps the whole batch out, operations included.
    let bad = TimelineRow {
        at: Timestamp(9),
        body: json!({"text": "\u{0}"}),
    };
    let r = s
        .put_incident_batch(
            &[
                (
                    incident("inc-2", Some(&t), "m-2", "resolved", 9),
                    vec![entry(5)],
                ),
                (incident("inc-3", Some(&t), "m-3", "open", 9), vec![bad]),
            ],
            &[op("run-1", "finished", 9)],
        )
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))));
    assert_eq!(
        s.get_incident("inc-2").await.unwrap().unwrap().status,
        "open"
    );
    assert!(s.get_incident("inc-3").await.unwrap().is_none());
    assert_eq!(seqs("inc-2").await, [(1, 4)]);
    assert_eq!(s.get_op("run-1").await.unwrap().unwrap().status, "running");
    // An empty batch is a no-op.
    s.put_incident_batch(&[], &[]).await.unwrap();
}
