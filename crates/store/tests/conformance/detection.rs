//! The `DetectionStore` part of the conformance suite (included by `conformance.rs`, run
//! against both backends).

use std::sync::Arc;

use rampart_core::{TenantId, Timestamp};
use rampart_store::{RuleRow, Store, StoreError, SuppressionFilter, SuppressionRow};
use serde_json::json;

use super::tenant;

fn rule(name: &str, at: i64, threshold: f64) -> RuleRow {
    RuleRow {
        name: name.to_owned(),
        updated_at: Timestamp(at),
        updated_by: "ops".to_owned(),
        body: json!({"name": name, "metric": "bytes_out", "comparison": "gt",
                     "threshold": {"value": threshold}, "profiles": ["méter ✓"]}),
    }
}

pub(super) async fn detection_rules(s: Arc<dyn Store>) {
    assert!(s.list_rules().await.unwrap().is_empty());
    assert!(s.get_rule("exfil").await.unwrap().is_none());
    assert!(
        s.put_rule(&rule("exfil", 1_000, 1e9)).await.unwrap(),
        "created"
    );
    assert!(s.put_rule(&rule("burst", 2_000, 5.5)).await.unwrap());
    assert_eq!(
        s.get_rule("exfil").await.unwrap().unwrap(),
        rule("exfil", 1_000, 1e9)
    );
    // Replacing reports it, and keeps one row.
    let mut changed = rule("exfil", 3_000, 2e9);
    changed.updated_by = "admin".into();
    assert!(!s.put_rule(&changed).await.unwrap(), "replaced");
    let all = s.list_rules().await.unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["burst", "exfil"], "by name");
    assert_eq!(all[1], changed);
    // Names are exact: no case folding, spaces kept.
    assert!(s.put_rule(&rule("Exfil", 4_000, 1.0)).await.unwrap());
    assert!(s.put_rule(&rule("with space", 4_000, 1.0)).await.unwrap());
    assert_eq!(s.list_rules().await.unwrap().len(), 4);
    assert!(s.delete_rule("exfil").await.unwrap());
    assert!(!s.delete_rule("exfil").await.unwrap());
    assert!(s.get_rule("exfil").await.unwrap().is_none());
    assert!(s.get_rule("Exfil").await.unwrap().is_some());
    // NUL is refused alike on both backends, as the caller's error.
    for bad in [rule("nul\0name", 1, 1.0), rule("", 1, 1.0)] {
        assert!(matches!(
            s.put_rule(&bad).await,
            Err(StoreError::Invalid(_))
        ));
    }
    let mut bad = rule("body", 1, 1.0);
    bad.body = json!({"name": "a\0b"});
    assert!(matches!(
        s.put_rule(&bad).await,
        Err(StoreError::Invalid(_))
    ));
}

fn window(id: &str, t: Option<&TenantId>, starts: i64, ends: i64) -> SuppressionRow {
    SuppressionRow {
        id: id.to_owned(),
        tenant: t.cloned(),
        starts_at: Timestamp(starts),
        ends_at: Timestamp(ends),
        created_at: Timestamp(starts - 1),
        body: json!({"id": id, "reason": "maintenance — ünïcödé", "selector": {"rule": "exfil"}}),
    }
}

fn ids(rows: &[SuppressionRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

async fn list(s: &Arc<dyn Store>, f: SuppressionFilter) -> Vec<SuppressionRow> {
    s.list_suppressions(&SuppressionFilter {
        limit: if f.limit == 0 { 100 } else { f.limit },
        ..f
    })
    .await
    .unwrap()
}

pub(super) async fn suppression_windows(s: Arc<dyn Store>) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    assert!(s.get_suppression("sup-1").await.unwrap().is_none());
    for w in [
        window("sup-3", Some(&acme), 3_000, 10_000),
        window("sup-1", Some(&acme), 1_000, 2_000),
        window("sup-2", Some(&globex), 2_000, 9_000),
        window("sup-4", None, 2_000, 20_000),
    ] {
        s.insert_suppression(&w).await.unwrap();
    }
    assert_eq!(
        s.get_suppression("sup-3").await.unwrap().unwrap(),
        window("sup-3", Some(&acme), 3_000, 10_000)
    );
    assert_eq!(
        s.get_suppression("sup-4").await.unwrap().unwrap().tenant,
        None
    );
    // An id is used once.
    assert!(matches!(
        s.insert_suppression(&window("sup-1", Some(&globex), 1, 2))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.get_suppression("sup-1").await.unwrap().unwrap().tenant,
        Some(acme.clone())
    );

    // Every window, by start then id.
    let all = list(&s, SuppressionFilter::default()).await;
    assert_eq!(ids(&all), ["sup-1", "sup-2", "sup-4", "sup-3"]);
    // One tenant's; with the windows over every tenant; only those not over yet.
    let f = |tenant: Option<&TenantId>, include_platform, ending_after: Option<i64>| {
        SuppressionFilter {
            tenant: tenant.cloned(),
            include_platform,
            ending_after: ending_after.map(Timestamp),
            limit: 0,
        }
    };
    assert_eq!(
        ids(&list(&s, f(Some(&acme), false, None)).await),
        ["sup-1", "sup-3"]
    );
    assert_eq!(
        ids(&list(&s, f(Some(&acme), true, None)).await),
        ["sup-1", "sup-4", "sup-3"]
    );
    assert_eq!(
        ids(&list(&s, f(Some(&acme), true, Some(2_000))).await),
        ["sup-4", "sup-3"],
        "a window ending at the instant is over"
    );
    assert_eq!(
        ids(&list(&s, f(None, false, Some(9_500))).await),
        ["sup-4", "sup-3"]
    );
    assert_eq!(
        ids(&list(&s, f(Some(&tenant("initech")), false, None)).await),
        Vec::<&str>::new()
    );
    let one = SuppressionFilter {
        limit: 1,
        ..SuppressionFilter::default()
    };
    assert_eq!(ids(&s.list_suppressions(&one).await.unwrap()), ["sup-1"]);

    // Deleting one; purging those over.
    assert!(s.delete_suppression("sup-2").await.unwrap());
    assert!(!s.delete_suppression("sup-2").await.unwrap());
    assert_eq!(s.purge_suppressions(Timestamp(10_000)).await.unwrap(), 1);
    assert_eq!(
        ids(&list(&s, SuppressionFilter::default()).await),
        ["sup-4", "sup-3"]
    );
    assert_eq!(s.purge_suppressions(Timestamp(10_001)).await.unwrap(), 1);
    assert_eq!(
        ids(&list(&s, SuppressionFilter::default()).await),
        ["sup-4"]
    );
    let mut bad = window("nul\0", None, 1, 2);
    assert!(matches!(
        s.insert_suppression(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad.id = "fine".into();
    bad.body = json!({"reason": "\0"});
    assert!(matches!(
        s.insert_suppression(&bad).await,
        Err(StoreError::Invalid(_))
    ));
}
