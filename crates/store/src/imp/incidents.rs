//! [`IncidentStore`](crate::IncidentStore) for both backends, from one macro body. Bodies are
//! bound and read as `sqlx::types::Json`, which is JSONB on PostgreSQL and text on SQLite.

use rampart_core::ValidationError;

use crate::{Result, StoreError};

/// Rows per multi-row timeline insert (4 parameters each).
pub(super) const TIMELINE_CHUNK: usize = 1000;

/// PostgreSQL refuses NUL in text and JSONB values; SQLite would keep it. Refusing it up
/// front keeps the backends alike and the error a caller's error, not a database failure.
pub(super) fn check_text(field: &'static str, s: &str, required: bool) -> Result<()> {
    if required && s.is_empty() {
        return Err(StoreError::Invalid(ValidationError::Missing { field }));
    }
    if s.contains('\0') {
        return Err(nul(field, s));
    }
    Ok(())
}

/// [`check_text`] for every string and key in a JSON body.
pub(super) fn check_json(field: &'static str, v: &serde_json::Value) -> Result<()> {
    match v {
        serde_json::Value::String(s) => check_text(field, s, false),
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| check_json(field, i)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            check_text(field, k, false)?;
            check_json(field, v)
        }),
        _ => Ok(()),
    }
}

fn nul(field: &'static str, s: &str) -> StoreError {
    StoreError::Invalid(ValidationError::Invalid {
        field,
        value: s.replace('\0', "\\0").chars().take(64).collect(),
        reason: "must not contain NUL characters",
    })
}

pub(super) fn check_incident(row: &crate::IncidentRow) -> Result<()> {
    check_text("id", &row.id, true)?;
    check_text("scope_kind", &row.scope_kind, true)?;
    check_text("subject", &row.subject, false)?;
    check_text("status", &row.status, true)?;
    check_text("severity", &row.severity, true)?;
    check_json("body", &row.body)
}

pub(super) fn check_op(op: &crate::OpRow) -> Result<()> {
    check_text("id", &op.id, true)?;
    check_text("kind", &op.kind, true)?;
    check_text("status", &op.status, true)?;
    check_json("body", &op.body)
}

pub(super) fn seq_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn seq_from_db(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Generates `IncidentStore` for a backend.
macro_rules! store_incidents {
    ($store:ident, $db:ty) => {
        impl $store {
            fn incident_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<crate::incidents::IncidentRow> {
                Ok(crate::incidents::IncidentRow {
                    id: row.try_get("id")?,
                    tenant: row
                        .try_get::<Option<String>, _>("tenant_id")?
                        .map(|t| TenantId::parse(&t))
                        .transpose()?,
                    scope_kind: row.try_get("scope_kind")?,
                    subject: row.try_get("subject")?,
                    status: row.try_get("status")?,
                    severity: row.try_get("severity")?,
                    opened_at: Timestamp(row.try_get("opened_at")?),
                    updated_at: Timestamp(row.try_get("updated_at")?),
                    body: row
                        .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
                        .0,
                })
            }

            fn op_from_row(row: &<$db as sqlx::Database>::Row) -> Result<crate::incidents::OpRow> {
                Ok(crate::incidents::OpRow {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    tenant: row
                        .try_get::<Option<String>, _>("tenant_id")?
                        .map(|t| TenantId::parse(&t))
                        .transpose()?,
                    status: row.try_get("status")?,
                    updated_at: Timestamp(row.try_get("updated_at")?),
                    body: row
                        .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
                        .0,
                })
            }

            async fn upsert_incident(
                conn: &mut <$db as sqlx::Database>::Connection,
                row: &crate::incidents::IncidentRow,
            ) -> Result<()> {
                crate::imp::incidents::check_incident(row)?;
                sqlx::query(
                    "INSERT INTO incidents (id, tenant_id, scope_kind, subject, status, severity, \
                     opened_at, updated_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, \
                     scope_kind = excluded.scope_kind, subject = excluded.subject, \
                     status = excluded.status, severity = excluded.severity, \
                     opened_at = excluded.opened_at, updated_at = excluded.updated_at, \
                     body = excluded.body",
                )
                .bind(row.id.as_str())
                .bind(row.tenant.as_ref().map(TenantId::as_str))
                .bind(row.scope_kind.as_str())
                .bind(row.subject.as_str())
                .bind(row.status.as_str())
                .bind(row.severity.as_str())
                .bind(row.opened_at.0)
                .bind(row.updated_at.0)
                .bind(sqlx::types::Json(&row.body))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Numbers and inserts timeline entries. Bumping the incident's counter first
            /// takes its row lock (PostgreSQL) inside the caller's transaction, so concurrent
            /// appends to one incident queue there instead of racing for numbers.
            async fn insert_timeline(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: &str,
                entries: &[crate::incidents::TimelineRow],
            ) -> Result<Vec<u64>> {
                if entries.is_empty() {
                    return Ok(Vec::new());
                }
                for e in entries {
                    crate::imp::incidents::check_json("body", &e.body)?;
                }
                let n = i64::try_from(entries.len()).unwrap_or(i64::MAX);
                let last: i64 = sqlx::query(
                    "UPDATE incidents SET timeline_seq = timeline_seq + $2 WHERE id = $1 \
                     RETURNING timeline_seq",
                )
                .bind(id)
                .bind(n)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?
                .try_get("timeline_seq")?;
                let first = last - n + 1;
                let seqs: Vec<i64> = (first..=last).collect();
                let rows: Vec<(i64, &crate::incidents::TimelineRow)> =
                    seqs.iter().copied().zip(entries).collect();
                for chunk in rows.chunks(crate::imp::incidents::TIMELINE_CHUNK) {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO incident_timeline (incident_id, seq, at, body) ",
                    );
                    qb.push_values(chunk, |mut b, (seq, e)| {
                        b.push_bind(id.to_owned())
                            .push_bind(*seq)
                            .push_bind(e.at.0)
                            .push_bind(sqlx::types::Json(e.body.clone()));
                    });
                    qb.build().execute(&mut *conn).await?;
                }
                Ok(seqs
                    .into_iter()
                    .map(crate::imp::incidents::seq_from_db)
                    .collect())
            }

            /// Creates or replaces a containment operation (checked by the caller).
            async fn upsert_op(
                conn: &mut <$db as sqlx::Database>::Connection,
                op: &crate::incidents::OpRow,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO containment_ops (id, kind, tenant_id, status, updated_at, body) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET \
                     kind = excluded.kind, tenant_id = excluded.tenant_id, \
                     status = excluded.status, updated_at = excluded.updated_at, \
                     body = excluded.body",
                )
                .bind(op.id.as_str())
                .bind(op.kind.as_str())
                .bind(op.tenant.as_ref().map(TenantId::as_str))
                .bind(op.status.as_str())
                .bind(op.updated_at.0)
                .bind(sqlx::types::Json(&op.body)).execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl crate::incidents::IncidentStore for $store {
            async fn put_incident(&self, row: &crate::incidents::IncidentRow) -> Result<()> {
                let mut conn = self.pool.acquire().await?;
                Self::upsert_incident(&mut conn, row).await
            }

            async fn put_incident_with_timeline(
                &self,
                row: &crate::incidents::IncidentRow,
                entries: &[crate::incidents::TimelineRow],
            ) -> Result<Vec<u64>> {
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                Self::upsert_incident(&mut tx, row).await?;
                let seqs = Self::insert_timeline(&mut tx, &row.id, entries).await?;
                tx.commit().await?;
                Ok(seqs)
            }

            async fn put_incident_batch(
                &self,
                incidents: &[(crate::incidents::IncidentRow, Vec<crate::incidents::TimelineRow>)],
                ops: &[crate::incidents::OpRow],
            ) -> Result<()> {
                for op in ops {
                    crate::imp::incidents::check_op(op)?;
                }
                if incidents.is_empty() && ops.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                for (row, entries) in incidents {
                    Self::upsert_incident(&mut tx, row).await?;
                    Self::insert_timeline(&mut tx, &row.id, entries).await?;
                }
                for op in ops {
                    Self::upsert_op(&mut tx, op).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_incident(&self, id: &str) -> Result<Option<crate::incidents::IncidentRow>> {
                let row = sqlx::query(
                    "SELECT id, tenant_id, scope_kind, subject, status, severity, opened_at, \
                     updated_at, body FROM incidents WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::incident_from_row).transpose()
            }

            async fn list_incidents(
                &self,
                f: &crate::incidents::IncidentFilter,
            ) -> Result<Vec<crate::incidents::IncidentRow>> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT id, tenant_id, scope_kind, subject, status, severity, opened_at, \
                     updated_at, body FROM incidents WHERE 1 = 1",
                );
                if let Some(t) = &f.tenant {
                    qb.push(" AND tenant_id = ").push_bind(t.as_str().to_owned());
                }
                if let Some(statuses) = &f.status {
                    if statuses.is_empty() {
                        return Ok(Vec::new());
                    }
                    qb.push(" AND status IN (");
                    let mut sep = qb.separated(", ");
                    for s in statuses.iter().take(CHUNK) {
                        sep.push_bind(s.clone());
                    }
                    qb.push(")");
                }
                if let Some(s) = &f.subject {
                    qb.push(" AND subject = ").push_bind(s.clone());
                }
                if let Some(c) = &f.before {
                    qb.push(" AND (updated_at, id) < (")
                        .push_bind(c.updated_at.0)
                        .push(", ")
                        .push_bind(c.id.clone())
                        .push(")");
                }
                qb.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
                    .push_bind(i64::from(f.limit.clamp(1, 1000)));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(Self::incident_from_row).collect()
            }

            async fn append_timeline(
                &self,
                id: &str,
                entries: &[crate::incidents::TimelineRow],
            ) -> Result<Vec<u64>> {
                if entries.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let seqs = Self::insert_timeline(&mut tx, id, entries).await?;
                tx.commit().await?;
                Ok(seqs)
            }

            async fn timeline(
                &self,
                id: &str,
                after_seq: u64,
                limit: u32,
            ) -> Result<Vec<crate::incidents::StoredTimelineRow>> {
                let rows = sqlx::query(
                    "SELECT seq, at, body FROM incident_timeline \
                     WHERE incident_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(id)
                .bind(crate::imp::incidents::seq_db(after_seq))
                .bind(i64::from(limit.clamp(1, 1000)))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::incidents::StoredTimelineRow {
                            seq: crate::imp::incidents::seq_from_db(r.try_get("seq")?),
                            at: Timestamp(r.try_get("at")?),
                            body: r
                                .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
                                .0,
                        })
                    })
                    .collect()
            }

            async fn put_op(&self, op: &crate::incidents::OpRow) -> Result<()> {
                crate::imp::incidents::check_op(op)?;
                let mut conn = self.pool.acquire().await?;
                Self::upsert_op(&mut conn, op).await
            }

            async fn get_op(&self, id: &str) -> Result<Option<crate::incidents::OpRow>> {
                let row = sqlx::query(
                    "SELECT id, kind, tenant_id, status, updated_at, body \
                     FROM containment_ops WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::op_from_row).transpose()
            }

            async fn list_ops(
                &self,
                kind: &str,
                tenant: Option<&TenantId>,
                status: Option<&str>,
                limit: u32,
            ) -> Result<Vec<crate::incidents::OpRow>> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT id, kind, tenant_id, status, updated_at, body \
                     FROM containment_ops WHERE kind = ",
                );
                qb.push_bind(kind.to_owned());
                if let Some(t) = tenant {
                    qb.push(" AND tenant_id = ").push_bind(t.as_str().to_owned());
                }
                if let Some(s) = status {
                    qb.push(" AND status = ").push_bind(s.to_owned());
                }
                qb.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
                    .push_bind(i64::from(limit.clamp(1, 1000)));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(Self::op_from_row).collect()
            }
        }
    };
}
pub(super) use store_incidents;
