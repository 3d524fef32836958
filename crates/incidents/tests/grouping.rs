//! Grouping findings: per subject, repeats, reopening, campaigns, bounds and restore.

#![allow(clippy::unwrap_used)]

mod common;

use common::{HOUR, MINUTE, Sink, at, device, finding, host_finding, tenant};
use rampart_incidents::{
    Grouper, GrouperConfig, Incident, Outcome, Scope, Severity, Status, TimelineEvent,
};
use time::Duration;

const C2: &str = "c2:203.0.113.7:443";

fn grouper() -> Grouper {
    Grouper::new(GrouperConfig::default(), 1)
}

fn kinds_of(entries: &[rampart_incidents::TimelineEntry]) -> Vec<&'static str> {
    entries.iter().map(|e| e.event.type_name()).collect()
}

#[test]
fn findings_group_per_device_tenant_and_host() {
    let mut g = grouper();
    let mut sink = Sink::default();
    let a = g
        .ingest(
            &finding("acme", "meter-1", "beaconing", Severity::Medium, 0, &[]),
            at(0),
        )
        .unwrap();
    sink.apply(&a);
    assert_eq!(a.outcome, Outcome::Created);
    assert_eq!(a.changes.len(), 1);
    assert!(a.changes[0].created);
    assert_eq!(kinds_of(&a.changes[0].entries), ["finding"]);
    let inc = sink.get(&a.incident);
    assert_eq!(inc.scope, Scope::Device(device("meter-1")));
    assert_eq!(inc.tenant, Some(tenant("acme")));
    assert_eq!(inc.status, Status::Open);
    assert_eq!(inc.opened_at, at(0));

    // Same device, same tenant: attached.
    let b = g
        .ingest(
            &finding("acme", "meter-1", "irc", Severity::Medium, MINUTE, &[]),
            at(MINUTE),
        )
        .unwrap();
    assert_eq!(
        (b.incident.clone(), b.outcome),
        (a.incident.clone(), Outcome::Updated)
    );
    // Same device id in another tenant: its own incident.
    let c = g
        .ingest(
            &finding("other", "meter-1", "irc", Severity::Medium, MINUTE, &[]),
            at(MINUTE),
        )
        .unwrap();
    assert_eq!(c.outcome, Outcome::Created);
    assert_ne!(c.incident, a.incident);
    // An unattributed address: a platform-level host incident.
    let h = g
        .ingest(
            &host_finding("198.51.100.4", "horizontal_scan", Severity::Low, 0),
            at(0),
        )
        .unwrap();
    assert_eq!(h.outcome, Outcome::Created);
    let hi = &h.changes[0].incident;
    assert_eq!(hi.tenant, None);
    assert_eq!(hi.scope_kind(), "host");
    assert_eq!(hi.subject(), "198.51.100.4");
    let h2 = g
        .ingest(
            &host_finding("198.51.100.4", "vertical_scan", Severity::Low, 5),
            at(5),
        )
        .unwrap();
    assert_eq!(h2.incident, h.incident);
    assert_eq!(g.stats().incidents, 3);
}

#[test]
fn repeats_count_new_kinds_and_severities_add_entries() {
    let mut g = grouper();
    let f = finding("acme", "cam-1", "beaconing", Severity::Medium, 0, &[]);
    let first = g.ingest(&f, at(0)).unwrap();

    let dup = g.ingest(&f, at(1)).unwrap();
    assert_eq!(dup.outcome, Outcome::Duplicate);
    assert!(dup.changes.is_empty());

    let repeat = g
        .ingest(
            &finding("acme", "cam-1", "beaconing", Severity::Low, 10, &[]),
            at(10),
        )
        .unwrap();
    assert_eq!(repeat.outcome, Outcome::Counted);
    assert_eq!(repeat.changes.len(), 1);
    assert!(repeat.changes[0].entries.is_empty());
    let inc = &repeat.changes[0].incident;
    assert_eq!(inc.counts.findings, 2);
    assert_eq!(inc.updated_at, at(0), "counts only");
    assert_eq!(inc.counts.last_finding_at, Some(at(10)));

    let worse = g
        .ingest(
            &finding("acme", "cam-1", "beaconing", Severity::Critical, 20, &[]),
            at(20),
        )
        .unwrap();
    assert_eq!(worse.outcome, Outcome::Updated);
    let inc = &worse.changes[0].incident;
    assert_eq!(inc.severity, Severity::Critical);
    assert_eq!(inc.updated_at, at(20));
    assert_eq!(inc.id, first.incident);
    assert!(matches!(
        &worse.changes[0].entries[..],
        [e] if matches!(e.event, TimelineEvent::Finding { severity: Severity::Critical, .. })
    ));
}

#[test]
fn malformed_facts_are_refused() {
    let mut g = grouper();
    let mut f = finding("acme", "cam-1", "beaconing", Severity::Medium, 0, &[]);
    f.tenant = None;
    assert!(g.ingest(&f, at(0)).is_err(), "a device needs its tenant");
    f.device = None;
    assert!(g.ingest(&f, at(0)).is_err(), "neither device nor host");
    let mut f = finding("acme", "cam-1", "beaconing", Severity::Medium, 0, &[]);
    f.finding_id = " \u{0} ".into();
    assert!(g.ingest(&f, at(0)).is_err());
    let mut f = finding("acme", "cam-1", "", Severity::Medium, 0, &[]);
    f.kind = String::new();
    assert!(g.ingest(&f, at(0)).is_err());
    assert_eq!(g.stats().incidents, 0);
}

/// Closes the held copy the way an API handler would: change the stored incident, then tell
/// the grouper.
fn close(
    g: &mut Grouper,
    sink: &mut Sink,
    id: &rampart_incidents::IncidentId,
    to: Status,
    now: i64,
) {
    let mut inc: Incident = sink.get(id).clone();
    inc.transition(to, Some("alice"), at(now)).unwrap();
    sink.incidents.insert(id.clone(), inc.clone());
    g.update(inc, at(now));
}

#[test]
fn reopen_window() {
    let mut g = Grouper::new(
        GrouperConfig {
            reopen_window: Duration::hours(2),
            ..GrouperConfig::default()
        },
        3,
    );
    let mut sink = Sink::default();
    let d = g
        .ingest(
            &finding("acme", "m-1", "ddos", Severity::High, 0, &[]),
            at(0),
        )
        .unwrap();
    sink.apply(&d);
    let id = d.incident;
    close(&mut g, &mut sink, &id, Status::Resolved, HOUR);

    // Within the window: the same incident, reopened.
    let r = g
        .ingest(
            &finding("acme", "m-1", "ddos", Severity::High, 2 * HOUR, &[]),
            at(2 * HOUR),
        )
        .unwrap();
    sink.apply(&r);
    assert_eq!(
        (r.incident.clone(), r.outcome),
        (id.clone(), Outcome::Reopened)
    );
    assert_eq!(
        kinds_of(&r.changes[0].entries),
        ["status"],
        "a repeat adds no finding entry"
    );
    let inc = sink.get(&id);
    assert_eq!(
        (inc.status, inc.closed_at, inc.counts.reopened),
        (Status::Open, None, 1)
    );

    // Beyond the window: a new incident; the old one is left alone.
    close(&mut g, &mut sink, &id, Status::Resolved, 3 * HOUR);
    let n = g
        .ingest(
            &finding("acme", "m-1", "ddos", Severity::High, 5 * HOUR + 1, &[]),
            at(5 * HOUR + 1),
        )
        .unwrap();
    assert_eq!(n.outcome, Outcome::Created);
    assert_ne!(n.incident, id);
    assert_eq!(n.changes.len(), 1);
    assert!(
        g.get(&id).is_none(),
        "the expired closed incident is forgotten"
    );
}

#[test]
fn false_positives_reopen_only_for_something_new() {
    let mut g = grouper();
    let mut sink = Sink::default();
    let d = g
        .ingest(
            &finding("acme", "m-1", "beaconing", Severity::Medium, 0, &[]),
            at(0),
        )
        .unwrap();
    sink.apply(&d);
    close(
        &mut g,
        &mut sink,
        &d.incident,
        Status::FalsePositive,
        MINUTE,
    );

    let again = g
        .ingest(
            &finding(
                "acme",
                "m-1",
                "beaconing",
                Severity::Medium,
                2 * MINUTE,
                &[],
            ),
            at(2 * MINUTE),
        )
        .unwrap();
    assert_eq!(again.outcome, Outcome::Counted);
    assert_eq!(again.changes[0].incident.status, Status::FalsePositive);
    assert_eq!(again.changes[0].incident.counts.findings, 2);

    let new_kind = g
        .ingest(
            &finding("acme", "m-1", "ddos", Severity::Medium, 3 * MINUTE, &[]),
            at(3 * MINUTE),
        )
        .unwrap();
    assert_eq!(new_kind.outcome, Outcome::Reopened);
    assert_eq!(new_kind.incident, d.incident);
    assert_eq!(
        kinds_of(&new_kind.changes[0].entries),
        ["status", "finding"]
    );
}

#[test]
fn operator_changes_stick() {
    let mut g = grouper();
    let mut sink = Sink::default();
    let d = g
        .ingest(
            &finding("acme", "m-1", "beaconing", Severity::Medium, 0, &[]),
            at(0),
        )
        .unwrap();
    sink.apply(&d);
    close(&mut g, &mut sink, &d.incident, Status::Acknowledged, 5);
    let next = g
        .ingest(
            &finding("acme", "m-1", "irc", Severity::Medium, 10, &[]),
            at(10),
        )
        .unwrap();
    assert_eq!(next.incident, d.incident);
    assert_eq!(next.changes[0].incident.status, Status::Acknowledged);
    assert_eq!(g.get(&d.incident).unwrap().status, Status::Acknowledged);
}

/// `n` devices of `tenant` carrying `key`, one finding each, a minute apart from `start`.
fn hit(
    g: &mut Grouper,
    sink: &mut Sink,
    tenant: &str,
    devices: std::ops::Range<u32>,
    key: &str,
    start: i64,
) -> Vec<rampart_incidents::GroupDecision> {
    devices
        .map(|n| {
            let t = start + i64::from(n) * MINUTE;
            let d = g
                .ingest(
                    &finding(
                        tenant,
                        &format!("m-{n}"),
                        "command_and_control",
                        Severity::High,
                        t,
                        &[key],
                    ),
                    at(t),
                )
                .unwrap();
            sink.apply(&d);
            d
        })
        .collect()
}

#[test]
fn campaign_forms_at_exactly_n_devices_and_then_extends() {
    let mut g = grouper();
    let mut sink = Sink::default();
    let before = hit(&mut g, &mut sink, "acme", 0..4, C2, 0);
    assert!(
        before.iter().all(|d| d.campaigns.is_empty()),
        "4 devices: no campaign yet"
    );

    let fifth = hit(&mut g, &mut sink, "acme", 4..5, C2, 0).remove(0);
    assert_eq!(fifth.campaigns.len(), 1);
    let link = &fifth.campaigns[0];
    assert!(link.created);
    assert_eq!(link.key, C2);
    let campaign = sink.get(&link.campaign).clone();
    assert_eq!(campaign.tenant, Some(tenant("acme")));
    assert_eq!(campaign.severity, Severity::High);
    assert_eq!(campaign.title, format!("campaign {C2}"));
    let Scope::Campaign {
        key,
        devices,
        device_count,
    } = &campaign.scope
    else {
        panic!("campaign scope");
    };
    assert_eq!(key, C2);
    assert_eq!(*device_count, 5);
    let names: Vec<&str> = devices.iter().map(|d| d.as_str()).collect();
    assert_eq!(names, ["m-0", "m-1", "m-2", "m-3", "m-4"]);
    // Every member's incident is linked, with an entry saying so.
    assert_eq!(
        fifth.changes.len(),
        6,
        "the finding's incident, the campaign, 4 other members"
    );
    assert_eq!(fifth.changes[0].incident.id, fifth.incident);
    assert_eq!(kinds_of(&fifth.changes[0].entries), ["finding", "linked"]);
    for d in &before {
        let inc = sink.get(&d.incident);
        assert_eq!(inc.campaign.as_ref(), Some(&link.campaign));
        assert_eq!(
            sink.timeline(&d.incident)
                .last()
                .map(|e| e.event.type_name()),
            Some("linked")
        );
    }

    // A sixth device extends it; no second campaign.
    let sixth = hit(&mut g, &mut sink, "acme", 5..6, C2, 0).remove(0);
    assert_eq!(sixth.campaigns.len(), 1);
    assert!(!sixth.campaigns[0].created);
    assert_eq!(sixth.campaigns[0].campaign, link.campaign);
    let campaign = sink.get(&link.campaign);
    assert!(
        matches!(&campaign.scope, Scope::Campaign { device_count: 6, devices, .. } if devices.len() == 6)
    );
    assert_eq!(
        sink.get(&sixth.incident).campaign.as_ref(),
        Some(&link.campaign)
    );
    let campaign_entries = sink.timeline(&link.campaign).len();

    // A member repeating itself only counts.
    let repeat = hit(&mut g, &mut sink, "acme", 2..3, C2, 30 * MINUTE).remove(0);
    assert!(!repeat.campaigns[0].created);
    assert_eq!(sink.timeline(&link.campaign).len(), campaign_entries);
    let campaigns = sink
        .incidents
        .values()
        .filter(|i| i.scope_kind() == "campaign")
        .count();
    assert_eq!(campaigns, 1);

    // Another tenant's devices with the same key are not part of it.
    let other = hit(&mut g, &mut sink, "other", 0..4, C2, 0);
    assert!(other.iter().all(|d| d.campaigns.is_empty()));
}

#[test]
fn campaign_devices_must_be_close_in_time() {
    let mut g = grouper();
    let mut sink = Sink::default();
    // Five devices, but 20 minutes apart: never five within the hour.
    for n in 0..5u32 {
        let t = i64::from(n) * 20 * MINUTE;
        let d = g
            .ingest(
                &finding(
                    "acme",
                    &format!("m-{n}"),
                    "ddos",
                    Severity::High,
                    t,
                    &["profile:meter/kind:ddos"],
                ),
                at(t),
            )
            .unwrap();
        sink.apply(&d);
        assert!(d.campaigns.is_empty(), "device {n}");
    }
    // At 85 min the hour holds m-2..m-5 (four); at 86 min m-6 makes five.
    let more = hit(
        &mut g,
        &mut sink,
        "acme",
        5..7,
        "profile:meter/kind:ddos",
        80 * MINUTE,
    );
    assert!(more[0].campaigns.is_empty());
    assert!(more[1].campaigns.first().is_some_and(|c| c.created));
}

#[test]
fn resolved_campaigns_reopen_for_new_devices() {
    let mut g = grouper();
    let mut sink = Sink::default();
    let ds = hit(&mut g, &mut sink, "acme", 0..5, C2, 0);
    let cid = ds[4].campaigns[0].campaign.clone();
    close(&mut g, &mut sink, &cid, Status::Resolved, 10 * MINUTE);
    let later = hit(&mut g, &mut sink, "acme", 7..8, C2, 20 * MINUTE).remove(0);
    assert_eq!(later.campaigns[0].campaign, cid);
    let c = sink.get(&cid);
    assert_eq!(c.status, Status::Open);
    assert!(matches!(
        &c.scope,
        Scope::Campaign {
            device_count: 6,
            ..
        }
    ));
}

#[test]
fn hard_caps_evict_least_recently_active() {
    let mut g = Grouper::new(
        GrouperConfig {
            max_incidents: 3,
            max_campaign_keys: 2,
            ..GrouperConfig::default()
        },
        5,
    );
    let ids: Vec<_> = (0..3)
        .map(|n| {
            g.ingest(
                &finding("acme", &format!("m-{n}"), "ddos", Severity::Low, n, &[]),
                at(n),
            )
            .unwrap()
            .incident
        })
        .collect();
    // m-0 becomes the most recently active, so m-1 goes first.
    g.ingest(
        &finding("acme", "m-0", "irc", Severity::Low, 10, &[]),
        at(10),
    )
    .unwrap();
    g.ingest(
        &finding("acme", "m-9", "ddos", Severity::Low, 11, &[]),
        at(11),
    )
    .unwrap();
    let s = g.stats();
    assert_eq!((s.incidents, s.evicted_incidents), (3, 1));
    assert!(g.get(&ids[1]).is_none());
    assert!(g.get(&ids[0]).is_some() && g.get(&ids[2]).is_some());
    // The evicted subject's next finding opens a new incident.
    let again = g
        .ingest(
            &finding("acme", "m-1", "ddos", Severity::Low, 12, &[]),
            at(12),
        )
        .unwrap();
    assert_eq!(again.outcome, Outcome::Created);
    assert_ne!(again.incident, ids[1]);

    for (n, key) in ["k:a", "k:b", "k:c"].iter().enumerate() {
        let t = 20 + i64::try_from(n).unwrap();
        g.ingest(
            &finding("acme", "m-0", "ddos", Severity::Low, t, &[key]),
            at(t),
        )
        .unwrap();
    }
    let s = g.stats();
    assert_eq!((s.campaign_keys, s.evicted_keys), (2, 1));
}

#[test]
fn tallies_expire_with_the_window() {
    let mut g = grouper();
    g.ingest(
        &finding("acme", "m-0", "ddos", Severity::Low, 0, &["k:old"]),
        at(0),
    )
    .unwrap();
    assert_eq!(g.stats().campaign_keys, 1);
    g.ingest(
        &finding("acme", "m-1", "ddos", Severity::Low, 3 * HOUR, &["k:new"]),
        at(3 * HOUR),
    )
    .unwrap();
    let s = g.stats();
    assert_eq!(
        (s.campaign_keys, s.evicted_keys),
        (1, 0),
        "aged out, not evicted"
    );
}

#[test]
fn restore_continues_where_the_last_process_stopped() {
    let mut g = grouper();
    let mut sink = Sink::default();
    hit(&mut g, &mut sink, "acme", 0..4, C2, 0);
    let d = g
        .ingest(
            &host_finding("198.51.100.4", "horizontal_scan", Severity::Low, 0),
            at(0),
        )
        .unwrap();
    sink.apply(&d);
    let resolved = g
        .ingest(
            &finding("acme", "gone", "ddos", Severity::Low, 0, &[]),
            at(0),
        )
        .unwrap();
    sink.apply(&resolved);
    close(
        &mut g,
        &mut sink,
        &resolved.incident,
        Status::Resolved,
        MINUTE,
    );

    // A new process, fed the stored active incidents newest first (as the store lists them).
    let mut stored: Vec<Incident> = sink
        .incidents
        .values()
        .filter(|i| i.status.is_active())
        .cloned()
        .collect();
    stored.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
    let mut g = Grouper::restore(GrouperConfig::default(), 99, stored);
    assert_eq!(g.stats().incidents, 5);
    assert_eq!(g.stats().campaign_keys, 1);

    let again = g
        .ingest(
            &finding(
                "acme",
                "m-2",
                "command_and_control",
                Severity::High,
                9 * MINUTE,
                &[C2],
            ),
            at(9 * MINUTE),
        )
        .unwrap();
    assert_eq!(again.outcome, Outcome::Counted);
    let host = g
        .ingest(
            &host_finding("198.51.100.4", "horizontal_scan", Severity::Low, 10),
            at(10),
        )
        .unwrap();
    assert_eq!(host.incident, d.incident);
    // The fifth device forms the campaign with the four from before the restart.
    let fifth = hit(&mut g, &mut sink, "acme", 4..5, C2, 0).remove(0);
    assert!(fifth.campaigns.first().is_some_and(|c| c.created));
    assert!(matches!(
        &sink.get(&fifth.campaigns[0].campaign).scope,
        Scope::Campaign {
            device_count: 5,
            ..
        }
    ));
    // The resolved incident was not restored: a new one opens.
    let gone = g
        .ingest(
            &finding("acme", "gone", "ddos", Severity::Low, 20, &[]),
            at(20),
        )
        .unwrap();
    assert_eq!(gone.outcome, Outcome::Created);
}

#[test]
fn ids_are_time_ordered_and_unique() {
    let mut g = grouper();
    let mut last = None;
    for n in 0..200u32 {
        let d = g
            .ingest(
                &finding("acme", &format!("d-{n}"), "ddos", Severity::Low, 0, &[]),
                at(0),
            )
            .unwrap();
        if let Some(prev) = &last {
            assert!(&d.incident > prev);
        }
        assert_eq!(d.incident.timestamp(), at(0));
        last = Some(d.incident);
    }
}
