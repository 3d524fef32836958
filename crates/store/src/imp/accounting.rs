//! [`AccountingStore`] for both backends, from one macro body like the registry.

use std::collections::BTreeMap;

use ipnet::IpNet;
use rampart_core::{AccountingRecord, Location, RadiusSession, SimSighting, Timestamp};

use crate::{AccountingOp, Result, StoreError};

/// Octet counters are `u64` on the wire; both databases store signed 64-bit integers. A
/// counter above `i64::MAX` (8 EiB) is clamped rather than wrapped negative.
pub(super) fn db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn from_db_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("accounting json: {e}")))
}

pub(super) fn opt_location(s: Option<String>) -> Result<Option<Location>> {
    s.map(|s| from_json(&s)).transpose()
}

pub(super) fn session_key_cols(s: &RadiusSession) -> (Option<String>, Option<String>) {
    (
        s.ipv4.map(|ip| ip.to_string()),
        s.ipv6_prefix.map(|p| p.trunc().to_string()),
    )
}

/// The stored form of every IPv6 network that can contain `ip`.
pub(super) fn containing_v6_nets(ip: std::net::Ipv6Addr) -> Vec<String> {
    (0..=128u8)
        .filter_map(|len| IpNet::new(ip.into(), len).ok())
        .map(|n| n.trunc().to_string())
        .collect()
}

pub(super) fn loc_json(l: Option<&Location>) -> Option<String> {
    l.and_then(|l| serde_json::to_string(l).ok())
}

/// Rows per statement (one JSON array parameter each): bounds the size of one parameter.
pub(super) const CHUNK_ROWS: usize = 2000;

/// `rows` as one JSON array of arrays (tuples serialize as arrays), the parameter of a
/// `json_rows` statement.
pub(super) fn rows_json<T: serde::Serialize>(rows: &[T]) -> Result<String> {
    json(&rows)
}

/// Rows per `accounting_records` insert, largest first: a batch goes in as chunks of these
/// sizes (7 parameters a row, far below both databases' limits).
pub(super) const RECORD_CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

/// `INSERT INTO accounting_records ... VALUES (...), ...` for `rows` rows: nas, session_id,
/// status, imsi, event_time, received_at, detail. `anonymous` numbers the parameters by
/// position (`?`) rather than by name (`$n`): SQLite finds a named parameter by walking the
/// statement's list of names, which makes binding many of them quadratic.
pub(super) fn record_insert_sql(rows: usize, anonymous: bool) -> String {
    let mut sql = String::with_capacity(120 + rows * 40);
    sql.push_str(
        "INSERT INTO accounting_records (nas, session_id, status, imsi, event_time, \
         received_at, detail) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row > 0 { ", (" } else { "(" });
        for col in 1..=7 {
            if col > 1 {
                sql.push_str(", ");
            }
            if anonymous {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", row * 7 + col));
            }
        }
        sql.push(')');
    }
    sql
}

/// Sessions as `radius_sessions` rows: nas, session_id, tenant_id, device_id, imsi, ipv4,
/// ipv6_net, updated_at, detail.
pub(super) fn session_rows(sessions: &[&RadiusSession]) -> Result<String> {
    let rows = sessions
        .iter()
        .map(|s| {
            let (v4, v6) = session_key_cols(s);
            Ok((
                s.nas.as_str(),
                s.session_id.as_str(),
                s.tenant.as_ref().map(|t| t.as_str()),
                s.device_id.as_ref().map(|d| d.as_str()),
                s.imsi.as_deref(),
                v4,
                v6,
                s.updated_at.0,
                json(s)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    rows_json(&rows)
}

/// An unknown IMSI's records in one batch.
#[derive(Debug)]
pub(super) struct UnknownAgg<'a> {
    pub(super) first: Timestamp,
    pub(super) last: Timestamp,
    pub(super) count: u64,
    pub(super) nas: &'a str,
    pub(super) imeisv: Option<&'a str>,
}

/// Session writes between two Accounting-On/Off of a NAS, coalesced per session.
#[derive(Debug)]
pub(super) enum Step<'a> {
    Sessions {
        upserts: Vec<&'a RadiusSession>,
        ends: Vec<(&'a str, &'a str)>,
    },
    EndNas(&'a str),
}

/// A batch of operations reduced to one multi-row statement per table (and per EndNas):
/// the final state of each session, usage summed per (IMSI, hour), the newest sighting per
/// IMSI (older non-empty fields kept), unknown IMSIs counted.
#[derive(Debug, Default)]
pub(super) struct Plan<'a> {
    pub(super) records: Vec<&'a AccountingRecord>,
    pub(super) steps: Vec<Step<'a>>,
    pub(super) usage: BTreeMap<(&'a str, i64), (u64, u64)>,
    pub(super) sightings: BTreeMap<&'a str, SimSighting>,
    pub(super) unknown: BTreeMap<&'a str, UnknownAgg<'a>>,
}

enum Last<'a> {
    Upsert(&'a RadiusSession),
    End,
}

impl<'a> Plan<'a> {
    pub(super) fn new(ops: &'a [AccountingOp]) -> Self {
        let mut plan = Self::default();
        let mut pending: BTreeMap<(&'a str, &'a str), Last<'a>> = BTreeMap::new();
        let flush = |pending: &mut BTreeMap<(&'a str, &'a str), Last<'a>>,
                     steps: &mut Vec<Step<'a>>| {
            if pending.is_empty() {
                return;
            }
            let mut upserts = Vec::new();
            let mut ends = Vec::new();
            for (key, last) in std::mem::take(pending) {
                match last {
                    Last::Upsert(s) => upserts.push(s),
                    Last::End => ends.push(key),
                }
            }
            steps.push(Step::Sessions { upserts, ends });
        };
        for op in ops {
            match op {
                AccountingOp::Record(r) => plan.records.push(r),
                AccountingOp::UpsertSession(s) => {
                    pending.insert((&s.nas, &s.session_id), Last::Upsert(s));
                }
                AccountingOp::EndSession { nas, session_id } => {
                    pending.insert((nas, session_id), Last::End);
                }
                AccountingOp::EndNas { nas } => {
                    flush(&mut pending, &mut plan.steps);
                    plan.steps.push(Step::EndNas(nas));
                }
                AccountingOp::Usage {
                    imsi,
                    hour,
                    up,
                    down,
                } => {
                    let e = plan.usage.entry((imsi, hour.0)).or_default();
                    e.0 = e.0.saturating_add(*up);
                    e.1 = e.1.saturating_add(*down);
                }
                AccountingOp::Sighting(s) => match plan.sightings.get_mut(s.imsi.as_str()) {
                    Some(cur) if s.seen_at >= cur.seen_at => {
                        let older = std::mem::replace(cur, (**s).clone());
                        if cur.imeisv.is_none() {
                            cur.imeisv = older.imeisv;
                        }
                        if cur.location.is_none() {
                            cur.location = older.location;
                        }
                    }
                    Some(cur) => {
                        if cur.imeisv.is_none() {
                            cur.imeisv.clone_from(&s.imeisv);
                        }
                        if cur.location.is_none() {
                            cur.location.clone_from(&s.location);
                        }
                    }
                    None => {
                        plan.sightings.insert(&s.imsi, (**s).clone());
                    }
                },
                AccountingOp::UnknownImsi {
                    imsi,
                    at,
                    nas,
                    imeisv,
                } => {
                    let e = plan.unknown.entry(imsi).or_insert(UnknownAgg {
                        first: *at,
                        last: *at,
                        count: 0,
                        nas,
                        imeisv: None,
                    });
                    e.count += 1;
                    e.first = e.first.min(*at);
                    e.last = e.last.max(*at);
                    e.nas = nas;
                    if imeisv.is_some() {
                        e.imeisv = imeisv.as_deref();
                    }
                }
            }
        }
        flush(&mut pending, &mut plan.steps);
        plan
    }
}

/// Generates `AccountingStore` for a backend.
macro_rules! store_accounting {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Writes `ops` inside `tx`: the shared body of [`AccountingStore::apply_accounting`]
            /// and [`AccountingStore::fold_accounting`].
            async fn write_accounting(
                tx: &mut sqlx::Transaction<'static, $db>,
                ops: &[AccountingOp],
            ) -> Result<()> {
                // A constant number of statements per batch, whatever its size, and constant
                // statement texts: each table's rows go in as one JSON array parameter, so the
                // prepared statements are reused from the connection's cache instead of a
                // multi-row VALUES list being parsed and planned for every batch.
                let plan = acct::Plan::new(ops);
                let (c, i, rows) = (Self::jcol, Self::jint, Self::json_rows(1));
                // Records, the one table that gets a row per request, bind their columns
                // directly: wrapping each record's JSON detail in a JSON array parameter cost
                // an escape and a parse of every detail. Chunks of a few fixed sizes keep the
                // statement texts (and so the prepared statements) few.
                let mut records = plan.records.as_slice();
                while !records.is_empty() {
                    let n = acct::RECORD_CHUNKS
                        .iter()
                        .copied()
                        .find(|n| *n <= records.len())
                        .unwrap_or(1);
                    let (chunk, rest) = records.split_at(n.min(records.len()));
                    records = rest;
                    let sql = acct::record_insert_sql(
                        chunk.len(),
                        <$db as sqlx::Database>::NAME == "SQLite",
                    );
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for r in chunk {
                        q = q
                            .bind(r.session.nas.as_str())
                            .bind(r.session.session_id.as_str())
                            .bind(r.status.as_str())
                            .bind(r.session.imsi.as_deref())
                            .bind(r.event_time.0)
                            .bind(r.received_at.0)
                            .bind(acct::json(*r)?);
                    }
                    q.execute(&mut **tx).await?;
                }
                for step in &plan.steps {
                    match step {
                        acct::Step::EndNas(nas) => {
                            sqlx::query("DELETE FROM radius_sessions WHERE nas = $1")
                                .bind(*nas)
                                .execute(&mut **tx)
                                .await?;
                        }
                        acct::Step::Sessions { upserts, ends } => {
                            let sql = format!(
                                "INSERT INTO radius_sessions (nas, session_id, tenant_id, \
                                 device_id, imsi, ipv4, ipv6_net, updated_at, detail) \
                                 SELECT {}, {}, {}, {}, {}, {}, {}, {}, {} FROM {rows} WHERE true \
                                 ON CONFLICT (nas, session_id) DO UPDATE SET \
                                 tenant_id = excluded.tenant_id, device_id = excluded.device_id, \
                                 imsi = excluded.imsi, ipv4 = excluded.ipv4, \
                                 ipv6_net = excluded.ipv6_net, updated_at = excluded.updated_at, \
                                 detail = excluded.detail",
                                c(0), c(1), c(2), c(3), c(4), c(5), c(6), i(7), c(8)
                            );
                            for chunk in upserts.chunks(CHUNK_ROWS) {
                                sqlx::query(AssertSqlSafe(sql.clone()))
                                    .bind(acct::session_rows(chunk)?)
                                    .execute(&mut **tx)
                                    .await?;
                            }
                            let sql = format!(
                                "DELETE FROM radius_sessions WHERE (nas, session_id) IN \
                                 (SELECT {}, {} FROM {rows})",
                                c(0), c(1)
                            );
                            for chunk in ends.chunks(CHUNK_ROWS) {
                                sqlx::query(AssertSqlSafe(sql.clone()))
                                    .bind(acct::rows_json(chunk)?)
                                    .execute(&mut **tx)
                                    .await?;
                            }
                        }
                    }
                }
                if !plan.usage.is_empty() {
                    let sql = format!(
                        "INSERT INTO usage_hourly (imsi, hour, bytes_up, bytes_down) \
                         SELECT {}, {}, {}, {} FROM {rows} WHERE true \
                         ON CONFLICT (imsi, hour) DO UPDATE SET \
                         bytes_up = usage_hourly.bytes_up + excluded.bytes_up, \
                         bytes_down = usage_hourly.bytes_down + excluded.bytes_down",
                        c(0), i(1), i(2), i(3)
                    );
                    let usage: Vec<_> = plan
                        .usage
                        .iter()
                        .map(|((imsi, hour), (up, down))| {
                            (*imsi, *hour, acct::db_u64(*up), acct::db_u64(*down))
                        })
                        .collect();
                    for chunk in usage.chunks(CHUNK_ROWS) {
                        sqlx::query(AssertSqlSafe(sql.clone()))
                            .bind(acct::rows_json(chunk)?)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                if !plan.sightings.is_empty() {
                    let sql = format!(
                        "INSERT INTO sim_sightings (imsi, imeisv, location, seen_at) \
                         SELECT {}, {}, {}, {} FROM {rows} WHERE true \
                         ON CONFLICT (imsi) DO UPDATE SET \
                         imeisv = COALESCE(excluded.imeisv, sim_sightings.imeisv), \
                         location = COALESCE(excluded.location, sim_sightings.location), \
                         seen_at = excluded.seen_at \
                         WHERE excluded.seen_at >= sim_sightings.seen_at",
                        c(0), c(1), c(2), i(3)
                    );
                    let sightings: Vec<_> = plan
                        .sightings
                        .values()
                        .map(|s| {
                            (
                                s.imsi.as_str(),
                                s.imeisv.as_deref(),
                                acct::loc_json(s.location.as_ref()),
                                s.seen_at.0,
                            )
                        })
                        .collect();
                    for chunk in sightings.chunks(CHUNK_ROWS) {
                        sqlx::query(AssertSqlSafe(sql.clone()))
                            .bind(acct::rows_json(chunk)?)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                if !plan.unknown.is_empty() {
                    let sql = format!(
                        "INSERT INTO unknown_imsis (imsi, first_seen, last_seen, count, last_nas, \
                         last_imeisv) SELECT {}, {}, {}, {}, {}, {} FROM {rows} WHERE true \
                         ON CONFLICT (imsi) DO UPDATE SET \
                         count = unknown_imsis.count + excluded.count, \
                         first_seen = CASE WHEN excluded.first_seen < unknown_imsis.first_seen \
                           THEN excluded.first_seen ELSE unknown_imsis.first_seen END, \
                         last_seen = CASE WHEN excluded.last_seen > unknown_imsis.last_seen \
                           THEN excluded.last_seen ELSE unknown_imsis.last_seen END, \
                         last_nas = excluded.last_nas, \
                         last_imeisv = COALESCE(excluded.last_imeisv, unknown_imsis.last_imeisv)",
                        c(0), i(1), i(2), i(3), c(4), c(5)
                    );
                    let unknown: Vec<_> = plan
                        .unknown
                        .iter()
                        .map(|(imsi, u)| {
                            (*imsi, u.first.0, u.last.0, acct::db_u64(u.count), u.nas, u.imeisv)
                        })
                        .collect();
                    for chunk in unknown.chunks(CHUNK_ROWS) {
                        sqlx::query(AssertSqlSafe(sql.clone()))
                            .bind(acct::rows_json(chunk)?)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                Ok(())
            }
        }

        #[async_trait]
        impl AccountingStore for $store {
            async fn apply_accounting(&self, ops: &[AccountingOp]) -> Result<()> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                Self::write_accounting(&mut tx, ops).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn fold_accounting(
                &self,
                journal: &str,
                position: u64,
                ops: &[AccountingOp],
            ) -> Result<()> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                Self::write_accounting(&mut tx, ops).await?;
                sqlx::query(
                    "INSERT INTO accounting_journal (journal, folded) VALUES ($1, $2) \
                     ON CONFLICT (journal) DO UPDATE SET folded = excluded.folded",
                )
                .bind(journal)
                .bind(acct::db_u64(position))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn folded_position(&self, journal: &str) -> Result<Option<u64>> {
                let row = sqlx::query("SELECT folded FROM accounting_journal WHERE journal = $1")
                    .bind(journal)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| Ok(acct::from_db_u64(r.try_get("folded")?)))
                    .transpose()
            }

            async fn all_sessions(&self) -> Result<Vec<RadiusSession>> {
                let rows = sqlx::query("SELECT detail FROM radius_sessions ORDER BY nas, session_id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| acct::from_json(&r.try_get::<String, _>("detail")?))
                    .collect()
            }

            async fn list_sessions(&self, f: &SessionFilter) -> Result<Vec<RadiusSession>> {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("SELECT detail FROM radius_sessions WHERE 1 = 1");
                if let Some(t) = &f.tenant {
                    qb.push(" AND tenant_id = ").push_bind(t.as_str().to_owned());
                }
                if let Some(d) = &f.device_id {
                    qb.push(" AND device_id = ").push_bind(d.as_str().to_owned());
                }
                if let Some(imsi) = &f.imsi {
                    qb.push(" AND imsi = ").push_bind(imsi.clone());
                }
                match f.ip {
                    Some(IpAddr::V4(ip)) => {
                        qb.push(" AND ipv4 = ").push_bind(ip.to_string());
                    }
                    Some(IpAddr::V6(ip)) => {
                        qb.push(" AND ipv6_net IN (");
                        let mut sep = qb.separated(", ");
                        for n in acct::containing_v6_nets(ip) {
                            sep.push_bind(n);
                        }
                        qb.push(")");
                    }
                    None => {}
                }
                qb.push(" ORDER BY updated_at DESC, nas, session_id LIMIT ");
                qb.push_bind(i64::from(f.limit.clamp(1, 1000)));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| acct::from_json(&r.try_get::<String, _>("detail")?))
                    .collect()
            }

            async fn usage_since(&self, imsis: &[&str], since: Timestamp) -> Result<Vec<UsageHour>> {
                if imsis.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT hour, CAST(SUM(bytes_up) AS BIGINT) AS up, \
                     CAST(SUM(bytes_down) AS BIGINT) AS down FROM usage_hourly WHERE hour >= ",
                );
                qb.push_bind(since.0).push(" AND imsi IN (");
                let mut sep = qb.separated(", ");
                for i in imsis.iter().take(CHUNK) {
                    sep.push_bind((*i).to_owned());
                }
                qb.push(") GROUP BY hour ORDER BY hour");
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(UsageHour {
                            hour: Timestamp(r.try_get("hour")?),
                            bytes_up: acct::from_db_u64(r.try_get("up")?),
                            bytes_down: acct::from_db_u64(r.try_get("down")?),
                        })
                    })
                    .collect()
            }

            async fn sightings(&self, imsis: &[&str]) -> Result<Vec<SimSighting>> {
                if imsis.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT imsi, imeisv, location, seen_at FROM sim_sightings WHERE imsi IN (",
                );
                let mut sep = qb.separated(", ");
                for i in imsis.iter().take(CHUNK) {
                    sep.push_bind((*i).to_owned());
                }
                qb.push(") ORDER BY seen_at DESC, imsi");
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(SimSighting {
                            imsi: r.try_get("imsi")?,
                            imeisv: r.try_get("imeisv")?,
                            location: acct::opt_location(r.try_get("location")?)?,
                            seen_at: Timestamp(r.try_get("seen_at")?),
                        })
                    })
                    .collect()
            }

            async fn unknown_imsis(&self, limit: u32) -> Result<Vec<UnknownImsi>> {
                let rows = sqlx::query(
                    "SELECT imsi, first_seen, last_seen, count, last_nas, last_imeisv \
                     FROM unknown_imsis ORDER BY last_seen DESC, imsi LIMIT $1",
                )
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(UnknownImsi {
                            imsi: r.try_get("imsi")?,
                            first_seen: Timestamp(r.try_get("first_seen")?),
                            last_seen: Timestamp(r.try_get("last_seen")?),
                            count: acct::from_db_u64(r.try_get("count")?),
                            last_nas: r.try_get("last_nas")?,
                            last_imeisv: r.try_get("last_imeisv")?,
                        })
                    })
                    .collect()
            }

            async fn records_for_session(&self, session_id: &str) -> Result<Vec<StoredRecord>> {
                let rows = sqlx::query(
                    "SELECT id, detail FROM accounting_records WHERE session_id = $1 ORDER BY id",
                )
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(StoredRecord {
                            id: r.try_get("id")?,
                            record: acct::from_json(&r.try_get::<String, _>("detail")?)?,
                        })
                    })
                    .collect()
            }

            async fn count_accounting_records(&self) -> Result<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM accounting_records")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get("n")?;
                Ok(acct::from_db_u64(n))
            }

            async fn sim_bindings_page(
                &self,
                after: Option<&Iccid>,
                limit: u32,
            ) -> Result<Vec<SimBinding>> {
                let rows = sqlx::query(
                    "SELECT iccid, imsi, tenant_id, device_id FROM sims WHERE iccid > $1 \
                     ORDER BY iccid LIMIT $2",
                )
                .bind(after.map_or("", Iccid::as_str))
                .bind(i64::from(limit.clamp(1, 100_000)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(SimBinding {
                            iccid: Iccid::parse(&r.try_get::<String, _>("iccid")?)?,
                            imsi: Imsi::parse(&r.try_get::<String, _>("imsi")?)?,
                            tenant: TenantId::parse(&r.try_get::<String, _>("tenant_id")?)?,
                            device_id: r
                                .try_get::<Option<String>, _>("device_id")?
                                .map(|d| DeviceId::parse(&d))
                                .transpose()?,
                        })
                    })
                    .collect()
            }

            async fn static_ips_page(
                &self,
                after: Option<(&TenantId, &DeviceId)>,
                limit: u32,
            ) -> Result<Vec<StaticIps>> {
                let (t, d) = after.map_or(("", ""), |(t, d)| (t.as_str(), d.as_str()));
                let rows = sqlx::query(
                    "SELECT tenant_id, id, ips FROM devices WHERE (tenant_id, id) > ($1, $2) \
                     AND ips <> '[]' ORDER BY tenant_id, id LIMIT $3",
                )
                .bind(t)
                .bind(d)
                .bind(i64::from(limit.clamp(1, 100_000)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(StaticIps {
                            tenant: TenantId::parse(&r.try_get::<String, _>("tenant_id")?)?,
                            device_id: DeviceId::parse(&r.try_get::<String, _>("id")?)?,
                            ips: parse_ips(&r.try_get::<String, _>("ips")?)?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(super) use store_accounting;
