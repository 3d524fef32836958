//! The responder over a real SQLite store with the real action executor (registry actions):
//! a finding opens an incident, the matching playbook waits for an approval, the approved
//! action quarantines the device, the incident becomes contained, undo restores the device;
//! a denied approval acts on nothing; a run waiting for an approval carries on after a restart
//! with the same approval id; an invalid playbook upload is refused with its position and the
//! running set is kept; a device's facts come from what the registry said a moment ago
//! ([`RecentDevices`]) when that is known, from the store otherwise.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_contain::Context;
use rampart_core::{Device, DeviceId, DeviceState, RadiusSession, TenantId, Timestamp};
use rampart_incidents::GrouperConfig;
use rampart_playbook::Validator;
use rampart_respond::{
    ContainActions, FindingInput, NoAudit, RecentDevice, RecentDevices, RespondError, Responder,
    SessionLookup,
};
use rampart_store::Store;
use serde_json::json;

struct NoSessions;
impl SessionLookup for NoSessions {
    fn session_of_imsi(&self, _imsi: &str) -> Option<RadiusSession> {
        None
    }
}

const PLAYBOOK: &str = r#"
name = "ddos-quarantine"
description = "DDoS participation: quarantine after approval"
[match]
kinds = ["ddos"]
min_severity = "high"
[[steps]]
approval = { timeout = "1h", on_timeout = "abort" }
[[steps]]
action = "registry_quarantine"
"#;

async fn setup(dir: &std::path::Path) -> (Arc<dyn Store>, Arc<Responder>) {
    setup_with(dir, ("ddos.toml", PLAYBOOK), None).await
}

/// A store with `meter-1` and `meter-2` (profile `meter`), one playbook file, and a responder
/// over them taking devices from `recent` too when given.
async fn setup_with(
    dir: &std::path::Path,
    (file, playbook): (&str, &str),
    recent: Option<Arc<dyn RecentDevices>>,
) -> (Arc<dyn Store>, Arc<Responder>) {
    let store = rampart_store::open(None, dir).await.unwrap();
    let tenant = TenantId::default_tenant();
    for id in ["meter-1", "meter-2"] {
        let d: Device = serde_json::from_value(json!({
            "tenant": tenant.as_str(), "id": id, "profile": "meter",
        }))
        .unwrap();
        store.insert_device(&d).await.unwrap();
    }
    let playbooks = dir.join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join(file), playbook).unwrap();
    let responder = responder_with(store.clone(), dir, recent).await;
    (store, responder)
}

/// A responder over `store` with the playbooks of `dir`, as a (re)started server builds it.
async fn responder(store: Arc<dyn Store>, dir: &std::path::Path) -> Arc<Responder> {
    responder_with(store, dir, None).await
}

/// [`responder`], taking devices from `recent` too when given.
async fn responder_with(
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    recent: Option<Arc<dyn RecentDevices>>,
) -> Arc<Responder> {
    let playbooks = dir.join("playbooks");
    let mut actions = ContainActions::new(
        store.clone(),
        Context::new(),
        Vec::new(),
        Arc::new(NoSessions),
        None,
        None,
        None,
    );
    if let Some(r) = &recent {
        actions = actions.with_recent(r.clone());
    }
    let responder = Responder::open(
        store.clone(),
        Arc::new(actions),
        Arc::new(NoAudit),
        playbooks,
        Validator::default(),
        GrouperConfig::default(),
    )
    .await
    .unwrap();
    match recent {
        Some(r) => responder.with_recent(r),
        None => responder,
    }
}

fn finding(id: &str, device: &str) -> FindingInput {
    FindingInput {
        id: id.into(),
        kind: "ddos".into(),
        severity: "high".into(),
        tenant: Some(TenantId::default_tenant()),
        device: Some(DeviceId::parse(device).unwrap()),
        host: None,
        summary: format!("{device} floods 203.0.113.9"),
        raised_at: Timestamp::now(),
        campaign_keys: vec!["ddos:203.0.113.9".into()],
    }
}

async fn until<F: Fn() -> Fut, Fut: Future<Output = bool>>(what: &str, f: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn state(store: &Arc<dyn Store>, id: &str) -> DeviceState {
    store
        .get_device(&TenantId::default_tenant(), &DeviceId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_playbook_quarantines_and_undo_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, r) = setup(tmp.path()).await;
    r.finding(finding("f-1", "meter-1")).await;

    until("an approval", || async {
        !r.approvals(None)["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let pending = r.approvals(None);
    let apr = pending["approvals"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["approvals"][0]["device"], "meter-1");
    // Nothing happens before the decision.
    assert_eq!(state(&store, "meter-1").await, DeviceState::Active);
    // Another tenant cannot see or decide it.
    let other = TenantId::parse("other").unwrap();
    assert!(
        r.approvals(Some(&other))["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        r.decide(Some(&other), &apr, true, "mallory"),
        Err(RespondError::NotFound(_))
    ));
    r.decide(None, &apr, true, "alice").unwrap();
    assert!(matches!(
        r.decide(None, &apr, true, "alice"),
        Err(RespondError::NotFound(_)) | Err(RespondError::Conflict(_))
    ));

    until("the quarantine", || async {
        state(&store, "meter-1").await == DeviceState::Quarantined
    })
    .await;
    let list = r
        .list(None, vec![], Some("meter-1".into()), 10, None)
        .await
        .unwrap();
    let id = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    until("a contained incident", || async {
        r.get(None, &id).await.unwrap()["incident"]["status"] == "contained"
    })
    .await;
    let full = r.get(None, &id).await.unwrap();
    let types: Vec<String> = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    for t in ["finding", "playbook_run", "approval", "action", "status"] {
        assert!(types.iter().any(|x| x == t), "no {t} in {types:?}");
    }

    let undone = r.undo(None, &id, "alice").await.unwrap();
    assert_eq!(undone["undone"].as_array().unwrap().len(), 1, "{undone}");
    assert_eq!(state(&store, "meter-1").await, DeviceState::Active);
    // A second undo has nothing left to undo.
    let again = r.undo(None, &id, "alice").await.unwrap();
    assert!(again["undone"].as_array().unwrap().is_empty(), "{again}");

    // Operator lifecycle: resolve, and an illegal transition is refused.
    r.update(
        None,
        &id,
        Some("resolved".into()),
        Some("bob".into()),
        Some("cleaned".into()),
        "bob",
    )
    .await
    .unwrap();
    let bad = r
        .update(None, &id, Some("contained".into()), None, None, "bob")
        .await;
    assert!(matches!(bad, Err(RespondError::Conflict(_))), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_approval_acts_on_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, r) = setup(tmp.path()).await;
    r.finding(finding("f-2", "meter-2")).await;
    until("an approval", || async {
        !r.approvals(None)["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let apr = r.approvals(None)["approvals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    r.decide(None, &apr, false, "alice").unwrap();
    let list = r
        .list(None, vec![], Some("meter-2".into()), 10, None)
        .await
        .unwrap();
    let id = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    until("the run to end", || async {
        r.get(None, &id).await.unwrap()["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["type"] == "playbook_run" && e["event"]["state"] != "started")
    })
    .await;
    assert_eq!(state(&store, "meter-2").await, DeviceState::Active);
    let full = r.get(None, &id).await.unwrap();
    assert_ne!(full["incident"]["status"], "contained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_approval_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, before) = setup(tmp.path()).await;
    before.finding(finding("f-3", "meter-2")).await;
    until("the run's checkpoint", || async {
        !store
            .list_ops("playbook_run", None, Some("awaiting_approval"), 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let apr = before.approvals(None)["approvals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The server stops (its tasks are gone with it) and a new one starts on the same store.
    drop(before);
    let after = responder(store.clone(), tmp.path()).await;
    assert_eq!(after.resume_runs().await.unwrap(), 1);
    until("the approval again", || async {
        !after.approvals(None)["approvals"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let pending = after.approvals(None);
    assert_eq!(pending["approvals"][0]["id"], apr.as_str(), "{pending}");
    assert_eq!(pending["approvals"][0]["device"], "meter-2");
    assert_eq!(state(&store, "meter-2").await, DeviceState::Active);
    after.decide(None, &apr, true, "alice").unwrap();
    until("the quarantine", || async {
        state(&store, "meter-2").await == DeviceState::Quarantined
    })
    .await;
    until("the run to be finished in the store", || async {
        let ops = store
            .list_ops("playbook_run", None, None, 10)
            .await
            .unwrap();
        ops.len() == 1 && ops[0].status == "finished"
    })
    .await;
    // Nothing is left to resume: a third start runs nothing again.
    let third = responder(store.clone(), tmp.path()).await;
    assert_eq!(third.resume_runs().await.unwrap(), 0);
    let list = third
        .list(None, vec![], Some("meter-2".into()), 10, None)
        .await
        .unwrap();
    let id = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    let full = third.get(None, &id).await.unwrap();
    let runs: Vec<&str> = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "playbook_run")
        .filter_map(|e| e["event"]["state"].as_str())
        .collect();
    assert!(runs.contains(&"resumed"), "{runs:?}");
    let approvals = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "approval" && e["event"]["decision"] == "requested")
        .count();
    assert_eq!(approvals, 1, "one request, kept across the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_playbook_upload_is_refused_with_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    let (_store, r) = setup(tmp.path()).await;
    let bad = "name = \"bad\"\n[match]\nkinds = [\"ddos\"]\n[[steps]]\nwait = \"3x\"\n";
    match r.put_playbook("bad", bad, "alice") {
        Err(RespondError::Invalid { details, .. }) => {
            assert!(
                details.iter().any(|d| d.contains("bad.toml:5:")),
                "{details:?}"
            );
        }
        other => panic!("accepted: {other:?}"),
    }
    let loaded = r.playbooks();
    let names: Vec<&str> = loaded["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ddos-quarantine"]);
    // A good one is loaded and kept as a file.
    let good = PLAYBOOK.replace("ddos-quarantine", "second");
    r.put_playbook("second", &good, "alice").unwrap();
    assert!(tmp.path().join("playbooks/second.toml").is_file());
    r.delete_playbook("second", "alice").unwrap();
    assert!(!tmp.path().join("playbooks/second.toml").exists());
}

/// Describes `meter-1` as a gateway; knows nothing of other devices.
struct Recent;
impl RecentDevices for Recent {
    fn recent(&self, _tenant: &TenantId, device: &DeviceId) -> Option<RecentDevice> {
        (device.as_str() == "meter-1").then(|| RecentDevice {
            profile: Some("gateway".into()),
            groups: vec!["north".into()],
            tags: Vec::new(),
            state: DeviceState::Active,
            imsis: vec!["001010000000001".into()],
        })
    }
}

const GATEWAY_PLAYBOOK: &str = r#"
name = "gateway-quarantine"
[match]
kinds = ["ddos"]
min_severity = "high"
profiles = ["gateway"]
groups = ["north"]
[[steps]]
action = "registry_quarantine"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_description_is_used_and_the_store_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, r) = setup_with(
        tmp.path(),
        ("gw.toml", GATEWAY_PLAYBOOK),
        Some(Arc::new(Recent)),
    )
    .await;

    // meter-2 is read from the store (profile meter): no playbook answers.
    r.finding(FindingInput {
        campaign_keys: Vec::new(),
        ..finding("f-2", "meter-2")
    })
    .await;
    // meter-1 was described a moment ago as a gateway in group north: the playbook runs.
    r.finding(FindingInput {
        campaign_keys: Vec::new(),
        ..finding("f-1", "meter-1")
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while state(&store, "meter-1").await != DeviceState::Quarantined {
        assert!(Instant::now() < deadline, "meter-1 never quarantined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state(&store, "meter-2").await, DeviceState::Active);
    // Both findings still made incidents.
    let list = r.list(None, vec![], None, 10, None).await.unwrap();
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2, "{list}");
}
