//! One behaviour suite, run against every backend: SQLite always, PostgreSQL when
//! `RAMPART_TEST_POSTGRES_URL` names a server (each test gets a private schema).

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use rampart_core::{
    ApiToken, Device, DeviceId, DeviceRecord, DeviceState, Group, Iccid, Imei, ImeiPolicy, Imsi,
    Label, Profile, Role, Sim, Tenant, TenantId, Timestamp, luhn_check_digit,
};
use rampart_store::{
    DeviceFilter, PageRequest, PostgresStore, SimFilter, SqliteStore, Store, StoreError,
};

/// Keeps a backend's scratch space alive for one test and removes it afterwards.
enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { url: String, schema: String },
}

impl Guard {
    async fn cleanup(self) {
        if let Guard::Schema { url, schema } = self {
            use sqlx::Connection;
            if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut c).await {
                    eprintln!("could not drop test schema {schema}: {e}");
                }
            }
        }
    }
}

async fn sqlite() -> Option<(Arc<dyn Store>, Guard)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open_dir(dir.path())
        .await
        .expect("open sqlite");
    Some((Arc::new(store), Guard::Dir(dir)))
}

async fn postgres() -> Option<(Arc<dyn Store>, Guard)> {
    let Ok(url) = std::env::var("RAMPART_TEST_POSTGRES_URL") else {
        eprintln!("skipping postgres conformance test: RAMPART_TEST_POSTGRES_URL is not set");
        return None;
    };
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to postgres");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let schema = format!("conf_{}_{}", std::process::id(), nanos);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut c)
        .await
        .expect("create schema");
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let store = PostgresStore::connect_with(options)
        .await
        .expect("open postgres");
    Some((Arc::new(store), Guard::Schema { url, schema }))
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn iccid(n: u64) -> Iccid {
    let base = format!("8934071{n:011}");
    Iccid::parse(&format!("{base}{}", luhn_check_digit(&base).unwrap())).unwrap()
}

fn imsi(n: u64) -> Imsi {
    Imsi::parse(&format!("21407{n:010}")).unwrap()
}

fn imei(n: u64) -> Imei {
    let base = format!("35693803{n:06}");
    Imei::parse(&format!("{base}{}", luhn_check_digit(&base).unwrap())).unwrap()
}

fn device(t: &TenantId, id: &str) -> Device {
    let mut d = Device::new(t.clone(), DeviceId::parse(id).unwrap());
    d.name = format!("device {id}");
    d
}

fn sim(t: &TenantId, n: u64, dev: Option<&str>) -> Sim {
    Sim {
        tenant: t.clone(),
        iccid: iccid(n),
        imsi: imsi(n),
        msisdn: None,
        imei_policy: ImeiPolicy::Fixed,
        allowed_imeis: vec![imei(n)],
        learned_imei: None,
        device_id: dev.map(|d| DeviceId::parse(d).unwrap()),
        created_at: Timestamp::default(),
        updated_at: Timestamp::default(),
    }
}

fn record(t: &TenantId, id: &str, n: Option<u64>) -> DeviceRecord {
    DeviceRecord {
        device: device(t, id),
        sim: n.map(|n| sim(t, n, Some(id))),
    }
}

fn ids(page: &[Device]) -> Vec<&str> {
    page.iter().map(|d| d.id.as_str()).collect()
}

async fn device_crud(s: Arc<dyn Store>) {
    let t = tenant("acme");
    let mut d = device(&t, "dev-1");
    d.tags = vec![Label::parse("site:madrid").unwrap()];
    d.ips = vec!["10.1.2.3/32".parse().unwrap()];
    let created = s.insert_device(&d).await.unwrap();
    assert!(created.created_at.0 > 0);
    let got = s.get_device(&t, &d.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert!(matches!(
        s.insert_device(&d).await,
        Err(StoreError::Conflict(_))
    ));

    let mut changed = got.clone();
    changed.name = "renamed".into();
    changed.state = DeviceState::Quarantined;
    changed.firmware = Some("2.0.1".into());
    let updated = s.update_device(&changed).await.unwrap();
    assert_eq!(updated.created_at, created.created_at);
    let got = s.get_device(&t, &d.id).await.unwrap().unwrap();
    assert_eq!(got.name, "renamed");
    assert_eq!(got.state, DeviceState::Quarantined);

    let missing = device(&t, "nope");
    assert!(matches!(
        s.update_device(&missing).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(s.delete_device(&t, &d.id).await.unwrap());
    assert!(s.get_device(&t, &d.id).await.unwrap().is_none());
    assert!(!s.delete_device(&t, &d.id).await.unwrap());
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    assert!(
        s.devices_by_ip(&t, ip).await.unwrap().is_empty(),
        "index rows removed"
    );
}

async fn device_search_and_pages(s: Arc<dyn Store>) {
    let t = tenant("acme");
    for i in 0..25 {
        let mut d = device(&t, &format!("dev-{i:02}"));
        d.profile = Some(Label::parse(if i % 2 == 0 { "meter" } else { "camera" }).unwrap());
        if i % 5 == 0 {
            d.tags.push(Label::parse("site:north").unwrap());
            d.groups.push(Label::parse("wave-1").unwrap());
        }
        if i == 7 {
            d.state = DeviceState::Disabled;
        }
        s.insert_device(&d).await.unwrap();
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_devices(
                &t,
                &DeviceFilter::default(),
                &PageRequest { after, limit: 10 },
            )
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));

    let by_tag = DeviceFilter {
        tag: Some(Label::parse("site:north").unwrap()),
        ..Default::default()
    };
    let page = s
        .list_devices(&t, &by_tag, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        ids(&page.items),
        ["dev-00", "dev-05", "dev-10", "dev-15", "dev-20"]
    );

    let by_group_and_profile = DeviceFilter {
        group: Some(Label::parse("wave-1").unwrap()),
        profile: Some(Label::parse("camera").unwrap()),
        ..Default::default()
    };
    let page = s
        .list_devices(&t, &by_group_and_profile, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["dev-05", "dev-15"]);

    let by_state = DeviceFilter {
        state: Some(DeviceState::Disabled),
        ..Default::default()
    };
    let page = s
        .list_devices(&t, &by_state, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["dev-07"]);
    assert_eq!(s.count_devices(&t).await.unwrap(), 25);
}

async fn lookup_by_ip(s: Arc<dyn Store>) {
    let t = tenant("acme");
    let mut host = device(&t, "host");
    host.ips = vec![
        "192.0.2.10/32".parse().unwrap(),
        "2001:db8::5/128".parse().unwrap(),
    ];
    let mut site = device(&t, "site-router");
    site.ips = vec!["192.0.2.0/24".parse().unwrap()];
    let mut v6 = device(&t, "v6-gw");
    v6.ips = vec!["2001:db8::/48".parse().unwrap()];
    for d in [&host, &site, &v6] {
        s.insert_device(d).await.unwrap();
    }
    let ip = |x: &str| x.parse::<IpAddr>().unwrap();
    let hits = s.devices_by_ip(&t, ip("192.0.2.10")).await.unwrap();
    assert_eq!(
        hits.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
        ["host", "site-router"]
    );
    let hits = s.devices_by_ip(&t, ip("192.0.2.99")).await.unwrap();
    assert_eq!(
        hits.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
        ["site-router"]
    );
    let hits = s.devices_by_ip(&t, ip("2001:db8::5")).await.unwrap();
    assert_eq!(
        hits.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
        ["host", "v6-gw"]
    );
    assert!(
        s.devices_by_ip(&t, ip("198.51.100.1"))
            .await
            .unwrap()
            .is_empty()
    );
    // The filter form of the same lookup, and a change of address.
    let f = DeviceFilter {
        ip: Some(ip("192.0.2.10")),
        ..Default::default()
    };
    let page = s
        .list_devices(&t, &f, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["host", "site-router"]);
    host.ips = vec!["192.0.2.11/32".parse().unwrap()];
    s.update_device(&host).await.unwrap();
    let hits = s.devices_by_ip(&t, ip("192.0.2.10")).await.unwrap();
    assert_eq!(
        hits.iter().map(DeviceId::as_str).collect::<Vec<_>>(),
        ["site-router"]
    );
    // Other tenants see nothing.
    assert!(
        s.devices_by_ip(&tenant("other"), ip("192.0.2.11"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sims_and_bindings(s: Arc<dyn Store>) {
    let t = tenant("acme");
    s.insert_device(&device(&t, "dev-1")).await.unwrap();
    let created = s.insert_sim(&sim(&t, 1, Some("dev-1"))).await.unwrap();
    assert_eq!(s.get_sim(&t, &iccid(1)).await.unwrap().unwrap(), created);
    assert_eq!(
        s.get_sim_by_imsi(&t, &imsi(1)).await.unwrap().unwrap(),
        created
    );

    // Same ICCID, or same IMSI on another card: conflict.
    assert!(matches!(
        s.insert_sim(&sim(&t, 1, None)).await,
        Err(StoreError::Conflict(_))
    ));
    let mut same_imsi = sim(&t, 2, None);
    same_imsi.imsi = imsi(1);
    assert!(matches!(
        s.insert_sim(&same_imsi).await,
        Err(StoreError::Conflict(_))
    ));
    // Binding to a device that does not exist.
    assert!(matches!(
        s.insert_sim(&sim(&t, 3, Some("ghost"))).await,
        Err(StoreError::NotFound(_))
    ));

    let f = DeviceFilter {
        imsi: Some(imsi(1)),
        ..Default::default()
    };
    let page = s
        .list_devices(&t, &f, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["dev-1"]);
    let f = DeviceFilter {
        iccid: Some(iccid(1)),
        ..Default::default()
    };
    assert_eq!(
        s.list_devices(&t, &f, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let mut changed = created.clone();
    changed.imei_policy = ImeiPolicy::Learn;
    changed.learned_imei = Some(imei(9));
    s.update_sim(&changed).await.unwrap();
    let got = s.get_sim(&t, &iccid(1)).await.unwrap().unwrap();
    assert_eq!(got.imei_policy, ImeiPolicy::Learn);
    assert_eq!(got.learned_imei, Some(imei(9)));

    let by_dev = SimFilter {
        device_id: Some(DeviceId::parse("dev-1").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        s.list_sims(&t, &by_dev, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Deleting the device unbinds, not deletes, its SIM.
    s.delete_device(&t, &DeviceId::parse("dev-1").unwrap())
        .await
        .unwrap();
    let got = s.get_sim(&t, &iccid(1)).await.unwrap().unwrap();
    assert_eq!(got.device_id, None);
    let unbound = SimFilter {
        unbound: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_sims(&t, &unbound, &PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(s.delete_sim(&t, &iccid(1)).await.unwrap());
    assert!(s.get_sim(&t, &iccid(1)).await.unwrap().is_none());
}

async fn tenant_isolation(s: Arc<dyn Store>) {
    let (a, b) = (tenant("alpha"), tenant("beta"));
    s.insert_device(&device(&a, "shared-name")).await.unwrap();
    s.insert_device(&device(&b, "shared-name")).await.unwrap();
    s.insert_device(&device(&a, "only-a")).await.unwrap();
    s.insert_sim(&sim(&a, 1, Some("only-a"))).await.unwrap();
    let only_a = DeviceId::parse("only-a").unwrap();
    assert!(s.get_device(&b, &only_a).await.unwrap().is_none());
    assert!(!s.delete_device(&b, &only_a).await.unwrap());
    assert!(s.get_sim_by_imsi(&b, &imsi(1)).await.unwrap().is_none());
    assert!(s.get_sim(&b, &iccid(1)).await.unwrap().is_none());
    let page = s
        .list_devices(&b, &DeviceFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["shared-name"]);
    // The card is global: tenant b cannot register the same ICCID.
    assert!(matches!(
        s.insert_sim(&sim(&b, 1, None)).await,
        Err(StoreError::Conflict(_))
    ));
    let tenants: Vec<String> = s
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    assert_eq!(tenants, ["alpha", "beta"]);
}

async fn import_batches(s: Arc<dyn Store>) {
    let t = tenant("acme");
    let rows: Vec<(u64, DeviceRecord)> = vec![
        (2, record(&t, "d1", Some(1))),
        (3, record(&t, "d2", Some(2))),
        (4, record(&t, "d3", Some(1))), // same ICCID as line 2
        (5, record(&t, "d1", Some(5))), // repeated device id
        (6, record(&t, "d4", None)),
    ];
    let dry = s.import_batch(&t, &rows, true).await.unwrap();
    assert_eq!((dry.inserted, dry.updated), (3, 0));
    assert_eq!(
        s.count_devices(&t).await.unwrap(),
        0,
        "dry run writes nothing"
    );

    let out = s.import_batch(&t, &rows, false).await.unwrap();
    assert_eq!((out.inserted, out.updated), (3, 0));
    let lines: Vec<u64> = out.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 5]);
    assert!(
        out.rejected[0].reason.contains("duplicate iccid"),
        "{:?}",
        out.rejected
    );
    assert_eq!(s.count_devices(&t).await.unwrap(), 3);

    // Against stored state: an IMSI or ICCID owned by another device is refused.
    let mut steal_imsi = record(&t, "d9", Some(9));
    steal_imsi.sim.as_mut().unwrap().imsi = imsi(2);
    let steal_iccid = record(&t, "d8", Some(1));
    let out = s
        .import_batch(&t, &[(10, steal_imsi), (11, steal_iccid)], false)
        .await
        .unwrap();
    assert_eq!(
        out.rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        [10, 11]
    );
    assert!(out.rejected[0].reason.contains("duplicate imsi"));

    // Idempotent: the same rows again are updates, and nothing changes.
    let before = s
        .get_device(&t, &DeviceId::parse("d1").unwrap())
        .await
        .unwrap()
        .unwrap();
    let out = s.import_batch(&t, &rows[..2], false).await.unwrap();
    assert_eq!((out.inserted, out.updated, out.rejected.len()), (0, 2, 0));
    let after = s
        .get_device(&t, &DeviceId::parse("d1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.created_at, after.created_at);

    // A SIM swap: d1 now carries card 7, card 1 is unbound.
    let mut swapped = record(&t, "d1", Some(7));
    swapped.device.tags = vec![Label::parse("swapped").unwrap()];
    s.import_batch(&t, &[(20, swapped)], false).await.unwrap();
    assert_eq!(
        s.get_sim(&t, &iccid(1)).await.unwrap().unwrap().device_id,
        None
    );
    let f = DeviceFilter {
        imsi: Some(imsi(7)),
        ..Default::default()
    };
    assert_eq!(
        ids(&s
            .list_devices(&t, &f, &PageRequest::default())
            .await
            .unwrap()
            .items),
        ["d1"]
    );
    let f = DeviceFilter {
        tag: Some(Label::parse("swapped").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        ids(&s
            .list_devices(&t, &f, &PageRequest::default())
            .await
            .unwrap()
            .items),
        ["d1"]
    );

    let exported = s.export_page(&t, None, 10).await.unwrap();
    assert_eq!(exported.len(), 3);
    assert_eq!(exported[0].sim.as_ref().unwrap().iccid, iccid(7));
    assert!(exported[2].sim.is_none());
}

async fn profiles_groups_tokens(s: Arc<dyn Store>) {
    let t = tenant("acme");
    s.put_tenant(&Tenant {
        id: t.clone(),
        name: "Acme Utilities".into(),
        created_at: Timestamp(1),
    })
    .await
    .unwrap();
    assert_eq!(
        s.get_tenant(&t).await.unwrap().unwrap().name,
        "Acme Utilities"
    );
    let p = Profile {
        tenant: t.clone(),
        name: Label::parse("meter").unwrap(),
        description: "x".into(),
    };
    s.put_profile(&p).await.unwrap();
    assert_eq!(s.get_profile(&t, &p.name).await.unwrap().unwrap(), p);
    assert_eq!(s.list_profiles(&t).await.unwrap().len(), 1);
    assert!(s.list_profiles(&tenant("other")).await.unwrap().is_empty());
    assert!(s.delete_profile(&t, &p.name).await.unwrap());
    let g = Group {
        tenant: t.clone(),
        name: Label::parse("wave-1").unwrap(),
        description: String::new(),
    };
    s.put_group(&g).await.unwrap();
    assert_eq!(s.list_groups(&t).await.unwrap(), vec![g.clone()]);
    assert!(s.delete_group(&t, &g.name).await.unwrap());
    assert!(s.get_group(&t, &g.name).await.unwrap().is_none());

    let tok = ApiToken {
        id: "tok-1".into(),
        name: "ci".into(),
        role: Role::Viewer,
        tenant: Some(t.clone()),
        created_at: Timestamp(5),
    };
    s.put_token(&tok, &[7; 32]).await.unwrap();
    assert_eq!(s.token_by_hash(&[7; 32]).await.unwrap().unwrap(), tok);
    assert!(s.token_by_hash(&[8; 32]).await.unwrap().is_none());
    assert_eq!(s.list_tokens().await.unwrap().len(), 1);
    assert!(s.delete_token("tok-1").await.unwrap());
    assert!(s.token_by_hash(&[7; 32]).await.unwrap().is_none());
}

#[path = "conformance/accounting.rs"]
mod accounting;
use accounting::{accounting_folding, accounting_many_records, accounting_roundtrip};
#[path = "conformance/incidents.rs"]
mod incidents;
use incidents::{
    containment_ops, incident_batches, incident_listing, incident_rows, incident_timeline,
};
#[path = "conformance/detection.rs"]
mod detection;
use detection::{detection_rules, suppression_windows};

macro_rules! store_test_suite {
    ($backend:ident: $($test:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some((store, guard)) = super::$backend().await else { return };
                    super::$test(store).await;
                    guard.cleanup().await;
                }
            )+
        }
    };
}

store_test_suite!(sqlite: device_crud, device_search_and_pages, lookup_by_ip, sims_and_bindings,
    tenant_isolation, import_batches, profiles_groups_tokens, accounting_roundtrip,
    accounting_folding, accounting_many_records, incident_rows, incident_listing,
    incident_timeline, incident_batches, containment_ops, detection_rules, suppression_windows);
store_test_suite!(postgres: device_crud, device_search_and_pages, lookup_by_ip, sims_and_bindings,
    tenant_isolation, import_batches, profiles_groups_tokens, accounting_roundtrip,
    accounting_folding, accounting_many_records, incident_rows, incident_listing,
    incident_timeline, incident_batches, containment_ops, detection_rules, suppression_windows);

/// The embedded store's files hold token hashes (and later key material): owner only.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _store = SqliteStore::open_dir(&data).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("rampart.db")), 0o600);
    let wal = data.join("rampart.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600);
    }
}
