//! The status lifecycle, assignment, notes, recorded actions and the SIEM export.

#![allow(clippy::unwrap_used)]

mod common;

use common::{at, device, tenant};
use rampart_core::Timestamp;
use rampart_incidents::{
    Counts, Incident, IncidentId, Recorded, Scope, Severity, Status, TimelineEvent,
    TransitionError, incident_cef_fields,
};

fn incident() -> Incident {
    Incident::new(
        IncidentId::new(at(0), 7),
        Some(tenant("acme")),
        Scope::Device(device("meter-1")),
        "command_and_control on device meter-1",
        at(0),
    )
}

fn in_status(s: Status) -> Incident {
    let mut i = incident();
    let path: &[Status] = match s {
        Status::Open => &[],
        Status::Acknowledged => &[Status::Acknowledged],
        Status::Contained => &[Status::Contained],
        Status::Resolved => &[Status::Resolved],
        Status::FalsePositive => &[Status::FalsePositive],
    };
    for to in path {
        i.transition(*to, Some("alice"), at(1)).unwrap();
    }
    assert_eq!(i.status, s);
    i
}

#[test]
fn transition_table() {
    use Status::*;
    let allowed: &[(Status, &[Status])] = &[
        (Open, &[Acknowledged, Contained, Resolved, FalsePositive]),
        (Acknowledged, &[Contained, Resolved, FalsePositive]),
        (Contained, &[Resolved, FalsePositive, Open]),
        (Resolved, &[Open]),
        (FalsePositive, &[Open]),
    ];
    for (from, tos) in allowed {
        for to in Status::ALL {
            let mut i = in_status(*from);
            let before = i.clone();
            let r = i.transition(to, Some("bob"), at(10));
            if tos.contains(&to) {
                let e = r.unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
                assert_eq!(e.at, at(10));
                assert_eq!(e.actor.as_deref(), Some("bob"));
                assert_eq!(e.event, TimelineEvent::Status { from: *from, to });
                assert_eq!(i.status, to);
                assert_eq!(i.updated_at, at(10));
                assert_eq!(i.closed_at.is_some(), to.is_closed(), "{from} -> {to}");
                let reopened = u32::from(from.is_closed() && to == Open);
                assert_eq!(i.counts.reopened, reopened, "{from} -> {to}");
            } else {
                assert_eq!(
                    r,
                    Err(TransitionError { from: *from, to }),
                    "{from} -> {to}"
                );
                assert_eq!(i, before, "a refused transition changes nothing");
            }
        }
    }
    assert_eq!(
        TransitionError {
            from: Resolved,
            to: Contained
        }
        .to_string(),
        "an incident cannot go from resolved to contained"
    );
}

#[test]
fn names_parse_and_order() {
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.as_str())
        );
    }
    assert!("closed".parse::<Status>().is_err());
    for s in Severity::ALL {
        assert_eq!(s.as_str().to_uppercase().parse::<Severity>().unwrap(), s);
    }
    assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
    let cef: Vec<u8> = Severity::ALL.iter().map(|s| s.cef()).collect();
    assert_eq!(cef, [1, 3, 5, 8, 10]);
    assert!(Status::Contained.is_active() && Status::FalsePositive.is_closed());
}

#[test]
fn assign_note_and_record() {
    let mut i = incident();
    let e = i.assign(Some(" carol "), Some("alice"), at(5)).unwrap();
    assert_eq!(
        e.event,
        TimelineEvent::Assigned {
            to: Some("carol".into())
        }
    );
    assert_eq!(i.assignee.as_deref(), Some("carol"));
    assert!(i.assign(Some("a\u{7}b"), None, at(6)).is_err());
    assert_eq!(
        i.assignee.as_deref(),
        Some("carol"),
        "refused input changes nothing"
    );
    i.assign(None, None, at(6)).unwrap();
    assert_eq!(i.assignee, None);

    let e = i
        .note("first line\nsecond line", Some("alice"), at(7))
        .unwrap();
    assert_eq!(
        e.event,
        TimelineEvent::Note {
            text: "first line\nsecond line".into()
        }
    );
    assert!(i.note("   ", None, at(8)).is_err());
    assert!(i.note(&"x".repeat(9000), None, at(8)).is_err());
    assert_eq!(i.updated_at, at(7));

    let e = i
        .record(
            TimelineEvent::Action {
                name: "disconnect".into(),
                status: "succeeded".into(),
                target: "meter-1\nextra".into(),
                detail: serde_json::json!({"nas": "pgw-1", "acked": true}),
            },
            None,
            at(9),
        )
        .unwrap();
    assert!(matches!(&e.event, TimelineEvent::Action { target, .. } if target == "meter-1 extra"));
    assert_eq!(e.actor, None);
    assert_eq!(i.updated_at, at(9));
    assert!(
        i.record(
            TimelineEvent::Status {
                from: Status::Open,
                to: Status::Resolved
            },
            None,
            at(10)
        )
        .is_err()
    );
    assert_eq!(i.status, Status::Open);
}

#[test]
fn findings_raise_severity_and_record_new_kinds_only() {
    let mut i = incident();
    let mut f = common::finding("acme", "meter-1", "beaconing", Severity::Medium, 0, &[]);
    let Recorded::Entry(e) = i.record_finding(&f, at(1)) else {
        panic!("first finding is news");
    };
    assert!(matches!(
        e.event,
        TimelineEvent::Finding {
            severity: Severity::Medium,
            ..
        }
    ));
    assert_eq!(i.title, "beaconing on device meter-1");
    assert_eq!(i.record_finding(&f, at(2)), Recorded::Duplicate);

    f.finding_id = "again".into();
    f.raised_at = at(50);
    assert_eq!(i.record_finding(&f, at(2)), Recorded::Counted);
    assert_eq!(i.updated_at, at(1), "repeats do not move updated_at");
    assert_eq!(
        i.counts,
        Counts {
            findings: 2,
            first_finding_at: Some(at(0)),
            last_finding_at: Some(at(50)),
            reopened: 0
        }
    );

    let low = common::finding("acme", "meter-1", "new_country", Severity::Low, 60, &[]);
    assert!(matches!(i.record_finding(&low, at(3)), Recorded::Entry(_)));
    assert_eq!(i.severity, Severity::Medium);
    assert_eq!(
        i.title, "beaconing on device meter-1",
        "a milder kind keeps the title"
    );

    let high = common::finding(
        "acme",
        "meter-1",
        "command_and_control",
        Severity::High,
        70,
        &[],
    );
    assert!(matches!(i.record_finding(&high, at(4)), Recorded::Entry(_)));
    assert_eq!(i.severity, Severity::High);
    assert_eq!(i.title, "command_and_control on device meter-1");
    assert_eq!(i.kinds, ["beaconing", "new_country", "command_and_control"]);
    assert_eq!(i.updated_at, at(4));

    for n in 0..100 {
        let mut r = high.clone();
        r.finding_id = format!("r-{n}");
        i.record_finding(&r, at(5));
    }
    assert_eq!(i.finding_ids.len(), rampart_incidents::MAX_FINDING_IDS);
    assert_eq!(i.finding_ids.last().map(String::as_str), Some("r-99"));
    assert_eq!(i.counts.findings, 104);
}

#[test]
fn json_line_and_cef() {
    let mut i = incident();
    let f = common::finding("acme", "meter-1", "ddos", Severity::Critical, 0, &[]);
    i.record_finding(&f, at(1));
    i.assign(Some("carol"), None, at(2)).unwrap();
    i.transition(Status::Resolved, None, at(3)).unwrap();
    let line = i.to_json_line();
    assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
    let back: Incident = serde_json::from_str(&line).unwrap();
    assert_eq!(back, i);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["scope"], serde_json::json!({"device": "meter-1"}));
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["severity"], "critical");

    let cef = incident_cef_fields(&i);
    assert_eq!(cef.signature_id, "incident:device");
    assert_eq!(cef.name, "ddos on device meter-1");
    assert_eq!(cef.severity, 10);
    let get = |k: &str| {
        cef.extensions
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("externalId"), Some(i.id.as_str()));
    assert_eq!(get("act"), Some("resolved"));
    assert_eq!(get("cat"), Some("ddos"));
    assert_eq!(get("cs1"), Some("acme"));
    assert_eq!(get("cs3"), Some("meter-1"));
    assert_eq!(get("cs4"), Some("carol"));
    assert_eq!(get("end"), Some(at(3).0.to_string().as_str()));
    assert_eq!(get("src"), None);

    let host = Incident::new(
        IncidentId::new(Timestamp(0), 1),
        None,
        Scope::Host("2001:db8::7".parse().unwrap()),
        "scan",
        Timestamp(0),
    );
    let cef = incident_cef_fields(&host);
    assert!(
        cef.extensions
            .contains(&("c6a2".into(), "2001:db8::7".into()))
    );
    assert!(!cef.extensions.iter().any(|(k, _)| k == "cs1"));
    let v4 = Incident {
        scope: Scope::Host("203.0.113.9".parse().unwrap()),
        ..host
    };
    assert!(
        incident_cef_fields(&v4)
            .extensions
            .contains(&("src".into(), "203.0.113.9".into()))
    );
}

#[test]
fn wild_event_times_still_store() {
    let mut i = incident();
    let mut f = common::finding("acme", "meter-1", "ddos", Severity::Low, 0, &[]);
    f.raised_at = Timestamp(i64::MAX);
    i.record_finding(&f, at(1));
    f.finding_id = "early".into();
    f.raised_at = Timestamp(i64::MIN);
    i.record_finding(&f, at(2));
    let back: Incident = serde_json::from_str(&i.to_json_line()).unwrap();
    assert_eq!(back, i);
}
