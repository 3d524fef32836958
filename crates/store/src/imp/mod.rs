//! The two backends. They run the same statements (both SQLite and PostgreSQL accept `$n`
//! parameters, `ON CONFLICT ... DO UPDATE` and row-value comparisons), so one macro generates
//! both implementations; only connection set-up and migrations differ.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::str::FromStr;

use async_trait::async_trait;
use ipnet::IpNet;
use rampart_core::{
    ApiToken, Device, DeviceId, DeviceRecord, Group, Iccid, Imei, Imsi, Label, MacAddr, Msisdn,
    Profile, Role, Sim, Tenant, TenantId, Timestamp,
};
use rampart_core::{RadiusSession, SimSighting, UnknownImsi, UsageHour};
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use crate::accounting::{
    AccountingOp, AccountingStore, SessionFilter, SimBinding, StaticIps, StoredRecord,
};
use crate::codec::{
    imeis_json, ip_key, ips_json, labels_json, net_keys, parse_imeis, parse_ips, parse_labels,
};
use crate::{
    Backend, BatchOutcome, DeviceFilter, Page, PageRequest, RejectedRow, Result, SimFilter, Store,
    StoreError,
};

mod accounting;
mod backends;
mod detection;
mod helpers;
mod import;
mod incidents;

use accounting::store_accounting;
use accounting::{self as acct, CHUNK_ROWS};
pub use backends::{PostgresStore, SqliteStore};
use detection::store_detection;
use helpers::store_helpers;
use import::store_import;
use incidents::store_incidents;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows per multi-row statement: keeps every statement under SQLite's 32,766 and PostgreSQL's
/// 65,535 bound-parameter limits with the widest table (12 columns).
const CHUNK: usize = 1000;

const DEVICE_COLS: &str = "tenant_id, id, name, profile, state, mac, firmware, tags, groups_, ips, created_at, updated_at";
const SIM_COLS: &str = "iccid, tenant_id, imsi, msisdn, imei_policy, allowed_imeis, learned_imei, \
     device_id, created_at, updated_at";

/// A key list as a JSON array, for [`SqliteStore::in_json_list`].
fn json_list(keys: &[&str]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn opt_label(s: Option<String>) -> Result<Option<Label>> {
    s.map(|s| Label::parse(&s)).transpose().map_err(Into::into)
}

fn parse_enum<T: FromStr<Err = rampart_core::ValidationError>>(s: &str) -> Result<T> {
    s.parse::<T>().map_err(Into::into)
}

/// Index rows (labels and addresses) a device should have.
fn label_rows(d: &Device) -> BTreeSet<(&'static str, String)> {
    let tags = d.tags.iter().map(|t| ("tag", t.as_str().to_owned()));
    let groups = d.groups.iter().map(|g| ("group", g.as_str().to_owned()));
    tags.chain(groups).collect()
}

fn ip_rows(d: &Device) -> BTreeSet<(Vec<u8>, Vec<u8>)> {
    d.ips.iter().map(net_keys).collect()
}

/// Keys under which a network containing `ip` can have been stored: the address masked to
/// every prefix length of its family.
fn containing_net_starts(ip: IpAddr) -> Vec<Vec<u8>> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (0..=max)
        .filter_map(|len| IpNet::new(ip, len).ok())
        .map(|n| ip_key(n.network()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

struct ExistingSim {
    iccid: String,
    imsi: String,
    tenant: String,
    device: Option<String>,
}

macro_rules! store_impl {
    ($store:ident, $db:ty, $backend:expr) => {
        store_helpers!($store, $db);
        store_import!($store, $db);
        store_accounting!($store, $db);
        store_incidents!($store, $db);
        store_detection!($store, $db);

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn put_tenant(&self, tenant: &Tenant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                )
                .bind(tenant.id.as_str())
                .bind(tenant.name.as_str())
                .bind(tenant.created_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
                let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(Tenant {
                        id: TenantId::parse(&r.try_get::<String, _>("id")?)?,
                        name: r.try_get("name")?,
                        created_at: Timestamp(r.try_get("created_at")?),
                    })
                })
                .transpose()
            }

            async fn list_tenants(&self) -> Result<Vec<Tenant>> {
                let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Tenant {
                            id: TenantId::parse(&r.try_get::<String, _>("id")?)?,
                            name: r.try_get("name")?,
                            created_at: Timestamp(r.try_get("created_at")?),
                        })
                    })
                    .collect()
            }

            async fn put_profile(&self, p: &Profile) -> Result<()> {
                sqlx::query(
                    "INSERT INTO profiles (tenant_id, name, description) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant_id, name) DO UPDATE SET description = excluded.description",
                )
                .bind(p.tenant.as_str())
                .bind(p.name.as_str())
                .bind(p.description.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_profile(&self, t: &TenantId, name: &Label) -> Result<Option<Profile>> {
                let row = sqlx::query(
                    "SELECT description FROM profiles WHERE tenant_id = $1 AND name = $2",
                )
                .bind(t.as_str())
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(Profile {
                        tenant: t.clone(),
                        name: name.clone(),
                        description: r.try_get("description")?,
                    })
                })
                .transpose()
            }

            async fn list_profiles(&self, t: &TenantId) -> Result<Vec<Profile>> {
                let rows = sqlx::query(
                    "SELECT name, description FROM profiles WHERE tenant_id = $1 ORDER BY name",
                )
                .bind(t.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Profile {
                            tenant: t.clone(),
                            name: Label::parse(&r.try_get::<String, _>("name")?)?,
                            description: r.try_get("description")?,
                        })
                    })
                    .collect()
            }

            async fn delete_profile(&self, t: &TenantId, name: &Label) -> Result<bool> {
                let r = sqlx::query("DELETE FROM profiles WHERE tenant_id = $1 AND name = $2")
                    .bind(t.as_str())
                    .bind(name.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn put_group(&self, g: &Group) -> Result<()> {
                sqlx::query(
                    "INSERT INTO fleet_groups (tenant_id, name, description) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant_id, name) DO UPDATE SET description = excluded.description",
                )
                .bind(g.tenant.as_str())
                .bind(g.name.as_str())
                .bind(g.description.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_group(&self, t: &TenantId, name: &Label) -> Result<Option<Group>> {
                let row = sqlx::query(
                    "SELECT description FROM fleet_groups WHERE tenant_id = $1 AND name = $2",
                )
                .bind(t.as_str())
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(Group {
                        tenant: t.clone(),
                        name: name.clone(),
                        description: r.try_get("description")?,
                    })
                })
                .transpose()
            }

            async fn list_groups(&self, t: &TenantId) -> Result<Vec<Group>> {
                let rows = sqlx::query(
                    "SELECT name, description FROM fleet_groups WHERE tenant_id = $1 ORDER BY name",
                )
                .bind(t.as_str())
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(Group {
                            tenant: t.clone(),
                            name: Label::parse(&r.try_get::<String, _>("name")?)?,
                            description: r.try_get("description")?,
                        })
                    })
                    .collect()
            }

            async fn delete_group(&self, t: &TenantId, name: &Label) -> Result<bool> {
                let r = sqlx::query("DELETE FROM fleet_groups WHERE tenant_id = $1 AND name = $2")
                    .bind(t.as_str())
                    .bind(name.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn insert_device(&self, device: &Device) -> Result<Device> {
                let mut d = device.clone();
                d.normalize()?;
                let now = Timestamp::now();
                d.created_at = now;
                d.updated_at = now;
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                Self::ensure_tenant(&mut tx, &d.tenant).await?;
                let r = sqlx::query(
                    "INSERT INTO devices (tenant_id, id, name, profile, state, mac, firmware, \
                     tags, groups_, ips, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     ON CONFLICT (tenant_id, id) DO NOTHING",
                )
                .bind(d.tenant.as_str())
                .bind(d.id.as_str())
                .bind(d.name.as_str())
                .bind(d.profile.as_ref().map(Label::as_str))
                .bind(d.state.as_str())
                .bind(d.mac.as_ref().map(MacAddr::as_str))
                .bind(d.firmware.as_deref())
                .bind(labels_json(&d.tags))
                .bind(labels_json(&d.groups))
                .bind(ips_json(&d.ips))
                .bind(d.created_at.0)
                .bind(d.updated_at.0)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("device {} exists", d.id)));
                }
                Self::sync_index_rows(&mut tx, &[(None, Some(&d))]).await?;
                tx.commit().await?;
                Ok(d)
            }

            async fn get_device(&self, t: &TenantId, id: &DeviceId) -> Result<Option<Device>> {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = $1 AND id = $2"
                )))
                .bind(t.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::device_from_row).transpose()
            }

            async fn update_device(&self, device: &Device) -> Result<Device> {
                let mut d = device.clone();
                d.normalize()?;
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let old = Self::fetch_devices_by_id(&mut tx, &d.tenant, &[d.id.as_str()])
                    .await?
                    .remove(d.id.as_str())
                    .ok_or_else(|| StoreError::NotFound(format!("device {}", d.id)))?;
                d.created_at = old.created_at;
                d.updated_at = Timestamp::now();
                Self::upsert_device_rows(&mut tx, &[&d]).await?;
                Self::sync_index_rows(&mut tx, &[(Some(&old), Some(&d))]).await?;
                tx.commit().await?;
                Ok(d)
            }

            async fn delete_device(&self, t: &TenantId, id: &DeviceId) -> Result<bool> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let Some(old) = Self::fetch_devices_by_id(&mut tx, t, &[id.as_str()])
                    .await?
                    .remove(id.as_str())
                else {
                    return Ok(false);
                };
                sqlx::query("DELETE FROM devices WHERE tenant_id = $1 AND id = $2")
                    .bind(t.as_str())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                Self::sync_index_rows(&mut tx, &[(Some(&old), None)]).await?;
                sqlx::query(
                    "UPDATE sims SET device_id = NULL, updated_at = $3 \
                     WHERE tenant_id = $1 AND device_id = $2",
                )
                .bind(t.as_str())
                .bind(id.as_str())
                .bind(Timestamp::now().0)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn list_devices(
                &self,
                t: &TenantId,
                filter: &DeviceFilter,
                page: &PageRequest,
            ) -> Result<Page<Device>> {
                let limit = page.limit.clamp(1, 1000);
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = "));
                qb.push_bind(t.as_str().to_owned());
                if let Some(p) = &filter.profile {
                    qb.push(" AND profile = ").push_bind(p.as_str().to_owned());
                }
                if let Some(s) = filter.state {
                    qb.push(" AND state = ").push_bind(s.as_str());
                }
                if let Some(f) = &filter.firmware {
                    qb.push(" AND firmware = ").push_bind(f.clone());
                }
                for (kind, label) in [("tag", &filter.tag), ("group", &filter.group)] {
                    if let Some(l) = label {
                        qb.push(
                            " AND id IN (SELECT device_id FROM device_labels WHERE tenant_id = ",
                        )
                        .push_bind(t.as_str().to_owned())
                        .push(" AND kind = ")
                        .push_bind(kind)
                        .push(" AND value = ")
                        .push_bind(l.as_str().to_owned())
                        .push(")");
                    }
                }
                // SIM and address conditions are index look-ups inside the same statement: one
                // round trip per search.
                for (col, key) in [
                    ("imsi", filter.imsi.as_ref().map(Imsi::as_str)),
                    ("iccid", filter.iccid.as_ref().map(Iccid::as_str)),
                ] {
                    if let Some(key) = key {
                        qb.push(" AND id IN (SELECT device_id FROM sims WHERE tenant_id = ")
                            .push_bind(t.as_str().to_owned())
                            .push(format!(" AND {col} = "))
                            .push_bind(key.to_owned())
                            .push(")");
                    }
                }
                if let Some(ip) = filter.ip {
                    qb.push(" AND id IN (SELECT device_id FROM device_ips WHERE tenant_id = ")
                        .push_bind(t.as_str().to_owned())
                        .push(" AND net_end >= ")
                        .push_bind(ip_key(ip))
                        .push(" AND net_start IN (");
                    let mut sep = qb.separated(", ");
                    for start in containing_net_starts(ip) {
                        sep.push_bind(start);
                    }
                    qb.push("))");
                }
                if let Some(after) = &page.after {
                    qb.push(" AND id > ").push_bind(after.clone());
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit) + 1);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let mut items = rows
                    .iter()
                    .map(Self::device_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let next = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items.last().map(|d| d.id.as_str().to_owned())
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            async fn devices_by_ip(&self, t: &TenantId, ip: IpAddr) -> Result<Vec<DeviceId>> {
                let key = ip_key(ip);
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT device_id, net_start, net_end FROM device_ips WHERE tenant_id = ",
                );
                qb.push_bind(t.as_str().to_owned()).push(" AND net_start IN (");
                let mut sep = qb.separated(", ");
                for start in containing_net_starts(ip) {
                    sep.push_bind(start);
                }
                qb.push(")");
                let rows = qb.build().fetch_all(&self.pool).await?;
                let mut hits: Vec<(Vec<u8>, Vec<u8>, String)> = Vec::new();
                for r in rows {
                    let end: Vec<u8> = r.try_get("net_end")?;
                    if end >= key {
                        hits.push((r.try_get("net_start")?, end, r.try_get("device_id")?));
                    }
                }
                // Most specific network first: the latest start, then the earliest end.
                hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                let mut out: Vec<DeviceId> = Vec::with_capacity(hits.len());
                for (_, _, id) in hits {
                    let id = DeviceId::parse(&id)?;
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
                Ok(out)
            }

            async fn insert_sim(&self, sim: &Sim) -> Result<Sim> {
                let mut s = sim.clone();
                s.normalize()?;
                let now = Timestamp::now();
                s.created_at = now;
                s.updated_at = now;
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                Self::ensure_tenant(&mut tx, &s.tenant).await?;
                if let Some(dev) = &s.device_id {
                    Self::check_device_exists(&mut tx, &s.tenant, dev).await?;
                }
                match Self::upsert_sim_rows_insert_only(&mut tx, &s).await {
                    Ok(()) => {}
                    Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!(
                            "a sim with iccid {} or imsi {} exists",
                            s.iccid, s.imsi
                        )));
                    }
                    Err(e) => return Err(e),
                }
                tx.commit().await?;
                Ok(s)
            }

            async fn get_sim(&self, t: &TenantId, iccid: &Iccid) -> Result<Option<Sim>> {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {SIM_COLS} FROM sims WHERE iccid = $1 AND tenant_id = $2"
                )))
                .bind(iccid.as_str())
                .bind(t.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::sim_from_row).transpose()
            }

            async fn get_sim_by_imsi(&self, t: &TenantId, imsi: &Imsi) -> Result<Option<Sim>> {
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {SIM_COLS} FROM sims WHERE imsi = $1 AND tenant_id = $2"
                )))
                .bind(imsi.as_str())
                .bind(t.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::sim_from_row).transpose()
            }

            async fn update_sim(&self, sim: &Sim) -> Result<Sim> {
                let mut s = sim.clone();
                s.normalize()?;
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let old = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {SIM_COLS} FROM sims WHERE iccid = $1 AND tenant_id = $2"
                )))
                .bind(s.iccid.as_str())
                .bind(s.tenant.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("sim {}", s.iccid)))?;
                let old = Self::sim_from_row(&old)?;
                if let Some(dev) = &s.device_id {
                    Self::check_device_exists(&mut tx, &s.tenant, dev).await?;
                }
                s.created_at = old.created_at;
                s.updated_at = Timestamp::now();
                let r = sqlx::query(
                    "UPDATE sims SET imsi = $3, msisdn = $4, imei_policy = $5, \
                     allowed_imeis = $6, learned_imei = $7, device_id = $8, updated_at = $9 \
                     WHERE iccid = $1 AND tenant_id = $2",
                )
                .bind(s.iccid.as_str())
                .bind(s.tenant.as_str())
                .bind(s.imsi.as_str())
                .bind(s.msisdn.as_ref().map(Msisdn::as_str))
                .bind(s.imei_policy.as_str())
                .bind(imeis_json(&s.allowed_imeis))
                .bind(s.learned_imei.as_ref().map(Imei::as_str))
                .bind(s.device_id.as_ref().map(DeviceId::as_str))
                .bind(s.updated_at.0)
                .execute(&mut *tx)
                .await;
                match r {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict(format!(
                            "imsi {} belongs to another sim",
                            s.imsi
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
                tx.commit().await?;
                Ok(s)
            }

            async fn delete_sim(&self, t: &TenantId, iccid: &Iccid) -> Result<bool> {
                let r = sqlx::query("DELETE FROM sims WHERE iccid = $1 AND tenant_id = $2")
                    .bind(iccid.as_str())
                    .bind(t.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn list_sims(
                &self,
                t: &TenantId,
                filter: &SimFilter,
                page: &PageRequest,
            ) -> Result<Page<Sim>> {
                let limit = page.limit.clamp(1, 1000);
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {SIM_COLS} FROM sims WHERE tenant_id = "));
                qb.push_bind(t.as_str().to_owned());
                if let Some(d) = &filter.device_id {
                    qb.push(" AND device_id = ").push_bind(d.as_str().to_owned());
                }
                if let Some(i) = &filter.imsi {
                    qb.push(" AND imsi = ").push_bind(i.as_str().to_owned());
                }
                if filter.unbound {
                    qb.push(" AND device_id IS NULL");
                }
                if let Some(after) = &page.after {
                    qb.push(" AND iccid > ").push_bind(after.clone());
                }
                qb.push(" ORDER BY iccid LIMIT ").push_bind(i64::from(limit) + 1);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let mut items = rows
                    .iter()
                    .map(Self::sim_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let next = if items.len() > limit as usize {
                    items.truncate(limit as usize);
                    items.last().map(|s| s.iccid.as_str().to_owned())
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            async fn import_batch(
                &self,
                t: &TenantId,
                rows: &[(u64, DeviceRecord)],
                dry_run: bool,
            ) -> Result<BatchOutcome> {
                self.import_rows(t, rows, dry_run).await
            }

            async fn export_page(
                &self,
                t: &TenantId,
                after: Option<&DeviceId>,
                limit: u32,
            ) -> Result<Vec<DeviceRecord>> {
                let page = self
                    .list_devices(
                        t,
                        &DeviceFilter::default(),
                        &PageRequest {
                            after: after.map(|a| a.as_str().to_owned()),
                            limit,
                        },
                    )
                    .await?;
                let ids: Vec<&str> = page.items.iter().map(|d| d.id.as_str()).collect();
                let mut conn = self.pool.acquire().await?;
                let sims = Self::sims_bound_to(&mut conn, t, &ids).await?;
                let mut first: HashMap<String, Sim> = HashMap::new();
                for s in sims {
                    if let Some(d) = s.device_id.clone() {
                        first.entry(String::from(d)).or_insert(s);
                    }
                }
                Ok(page
                    .items
                    .into_iter()
                    .map(|d| {
                        let sim = first.remove(d.id.as_str());
                        DeviceRecord { device: d, sim }
                    })
                    .collect())
            }

            async fn refresh_statistics(&self) -> Result<()> {
                sqlx::query(Self::ANALYZE).execute(&self.pool).await?;
                Ok(())
            }

            async fn count_devices(&self, t: &TenantId) -> Result<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE tenant_id = $1")
                    .bind(t.as_str())
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn put_token(&self, token: &ApiToken, hash: &[u8; 32]) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, name, role, tenant_id, hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, role = excluded.role, tenant_id = excluded.tenant_id, \
                     hash = excluded.hash",
                )
                .bind(token.id.as_str())
                .bind(token.name.as_str())
                .bind(token.role.as_str())
                .bind(token.tenant.as_ref().map(TenantId::as_str))
                .bind(hash.as_slice())
                .bind(token.created_at.0)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiToken>> {
                let row = sqlx::query(
                    "SELECT id, name, role, tenant_id, created_at FROM api_tokens WHERE hash = $1",
                )
                .bind(hash.as_slice())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::token_from_row).transpose()
            }

            async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
                let rows = sqlx::query(
                    "SELECT id, name, role, tenant_id, created_at FROM api_tokens ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::token_from_row).collect()
            }

            async fn delete_token(&self, id: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }
        }

    };
}

store_impl!(SqliteStore, sqlx::Sqlite, Backend::Sqlite);
store_impl!(PostgresStore, sqlx::Postgres, Backend::Postgres);
