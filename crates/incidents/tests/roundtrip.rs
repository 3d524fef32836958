//! Incidents and timeline entries survive JSON (the stored body and the export) unchanged.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;
use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_incidents::{
    Counts, Incident, IncidentId, Scope, Severity, Status, TimelineEntry, TimelineEvent,
};

/// Times RFC 3339 can carry: 1970 to 9999.
fn ts() -> impl Strategy<Value = Timestamp> {
    (0i64..253_402_300_799_999).prop_map(Timestamp)
}

fn id() -> impl Strategy<Value = IncidentId> {
    (ts(), any::<u128>()).prop_map(|(t, e)| IncidentId::new(t, e))
}

fn tenant() -> impl Strategy<Value = TenantId> {
    "[a-z0-9][a-z0-9._-]{0,15}".prop_map(|s| TenantId::parse(&s).unwrap())
}

fn device() -> impl Strategy<Value = DeviceId> {
    "[A-Za-z0-9][A-Za-z0-9:/=@._-]{0,30}".prop_map(|s| DeviceId::parse(&s).unwrap())
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        device().prop_map(Scope::Device),
        any::<IpAddr>().prop_map(Scope::Host),
        (
            "\\PC{0,40}",
            prop::collection::vec(device(), 0..5),
            any::<u64>()
        )
            .prop_map(|(key, devices, device_count)| Scope::Campaign {
                key,
                devices,
                device_count
            }),
    ]
}

/// JSON without floats (which need not round-trip bit for bit).
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = TimelineEvent> {
    let s = || "\\PC{0,30}";
    prop_oneof![
        (s(), s(), severity(), s(), ts()).prop_map(|(id, kind, severity, summary, raised_at)| {
            TimelineEvent::Finding {
                id,
                kind,
                severity,
                summary,
                raised_at,
            }
        }),
        (s(), s(), s(), json()).prop_map(|(name, status, target, detail)| TimelineEvent::Action {
            name,
            status,
            target,
            detail
        }),
        (s(), s(), s()).prop_map(|(id, decision, by)| TimelineEvent::Approval { id, decision, by }),
        s().prop_map(|text| TimelineEvent::Note { text }),
        (status(), status()).prop_map(|(from, to)| TimelineEvent::Status { from, to }),
        proptest::option::of(s()).prop_map(|to| TimelineEvent::Assigned { to }),
        (s(), s()).prop_map(|(playbook, state)| TimelineEvent::PlaybookRun { playbook, state }),
        (id(), s()).prop_map(|(campaign, key)| TimelineEvent::Linked { campaign, key }),
    ]
}

fn entry() -> impl Strategy<Value = TimelineEntry> {
    (ts(), proptest::option::of("\\PC{0,20}"), event())
        .prop_map(|(at, actor, event)| TimelineEntry { at, actor, event })
}

fn counts() -> impl Strategy<Value = Counts> {
    (
        any::<u64>(),
        proptest::option::of(ts()),
        proptest::option::of(ts()),
        any::<u32>(),
    )
        .prop_map(
            |(findings, first_finding_at, last_finding_at, reopened)| Counts {
                findings,
                first_finding_at,
                last_finding_at,
                reopened,
            },
        )
}

prop_compose! {
    fn incident()(
        head in (id(), proptest::option::of(tenant()), scope(), status(), severity(), "\\PC{0,40}"),
        lists in (
            prop::collection::vec("\\PC{0,12}", 0..4),
            proptest::option::of("\\PC{0,12}"),
            prop::collection::vec("\\PC{0,12}", 0..4),
            proptest::option::of(id()),
            prop::collection::vec("\\PC{0,12}", 0..3),
        ),
        times in (ts(), ts(), proptest::option::of(ts())),
        counts in counts(),
    ) -> Incident {
        let (id, tenant, scope, status, severity, title) = head;
        let (kinds, assignee, finding_ids, campaign, campaign_keys) = lists;
        let (opened_at, updated_at, closed_at) = times;
        Incident {
            id, tenant, scope, status, severity, title, kinds, assignee, opened_at, updated_at,
            closed_at, finding_ids, campaign, campaign_keys, counts,
        }
    }
}

proptest! {
    #[test]
    fn incident_round_trips(i in incident()) {
        let json = serde_json::to_string(&i).unwrap();
        prop_assert_eq!(&serde_json::from_str::<Incident>(&json).unwrap(), &i);
        let line = i.to_json_line();
        prop_assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        prop_assert_eq!(&serde_json::from_str::<Incident>(&line).unwrap(), &i);
        // Through a serde_json::Value too: the store keeps bodies as values.
        let v = serde_json::to_value(&i).unwrap();
        prop_assert_eq!(serde_json::from_value::<Incident>(v).unwrap(), i);
    }

    #[test]
    fn timeline_entry_round_trips(e in entry()) {
        let v = serde_json::to_value(&e).unwrap();
        prop_assert_eq!(v["event"]["type"].as_str(), Some(e.event.type_name()));
        let json = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(serde_json::from_str::<TimelineEntry>(&json).unwrap(), e);
    }

    #[test]
    fn incident_ids_parse_what_they_print(t in ts(), e in any::<u128>()) {
        let id = IncidentId::new(t, e);
        prop_assert_eq!(&IncidentId::parse(id.as_str()).unwrap(), &id);
        prop_assert_eq!(id.timestamp(), t);
    }

    #[test]
    fn incident_id_parser_never_panics(s in "\\PC{0,40}") {
        if let Ok(id) = IncidentId::parse(&s) {
            prop_assert_eq!(IncidentId::parse(id.as_str()).unwrap(), id);
        }
    }
}
