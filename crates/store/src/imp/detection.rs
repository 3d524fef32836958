//! [`DetectionStore`](crate::DetectionStore) for both backends, from one macro body.

use crate::Result;

pub(super) fn check_rule(row: &crate::RuleRow) -> Result<()> {
    super::incidents::check_text("name", &row.name, true)?;
    super::incidents::check_text("updated_by", &row.updated_by, false)?;
    super::incidents::check_json("body", &row.body)
}

pub(super) fn check_suppression(row: &crate::SuppressionRow) -> Result<()> {
    super::incidents::check_text("id", &row.id, true)?;
    super::incidents::check_json("body", &row.body)
}

/// Generates `DetectionStore` for a backend.
macro_rules! store_detection {
    ($store:ident, $db:ty) => {
        impl $store {
            fn rule_from_row(row: &<$db as sqlx::Database>::Row) -> Result<crate::RuleRow> {
                Ok(crate::RuleRow {
                    name: row.try_get("name")?,
                    updated_at: Timestamp(row.try_get("updated_at")?),
                    updated_by: row.try_get("updated_by")?,
                    body: row
                        .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
                        .0,
                })
            }

            fn suppression_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> Result<crate::SuppressionRow> {
                Ok(crate::SuppressionRow {
                    id: row.try_get("id")?,
                    tenant: row
                        .try_get::<Option<String>, _>("tenant_id")?
                        .map(|t| TenantId::parse(&t))
                        .transpose()?,
                    starts_at: Timestamp(row.try_get("starts_at")?),
                    ends_at: Timestamp(row.try_get("ends_at")?),
                    created_at: Timestamp(row.try_get("created_at")?),
                    body: row
                        .try_get::<sqlx::types::Json<serde_json::Value>, _>("body")?
                        .0,
                })
            }
        }

        #[async_trait]
        impl crate::DetectionStore for $store {
            async fn put_rule(&self, row: &crate::RuleRow) -> Result<bool> {
                crate::imp::detection::check_rule(row)?;
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                let existed = sqlx::query("SELECT 1 FROM detection_rules WHERE name = $1")
                    .bind(row.name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                sqlx::query(
                    "INSERT INTO detection_rules (name, updated_at, updated_by, body) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by, \
                     body = excluded.body",
                )
                .bind(row.name.as_str())
                .bind(row.updated_at.0)
                .bind(row.updated_by.as_str())
                .bind(sqlx::types::Json(&row.body))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(!existed)
            }

            async fn get_rule(&self, name: &str) -> Result<Option<crate::RuleRow>> {
                let row = sqlx::query(
                    "SELECT name, updated_at, updated_by, body FROM detection_rules \
                     WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::rule_from_row).transpose()
            }

            async fn list_rules(&self) -> Result<Vec<crate::RuleRow>> {
                let rows = sqlx::query(
                    "SELECT name, updated_at, updated_by, body FROM detection_rules \
                     ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::rule_from_row).collect()
            }

            async fn delete_rule(&self, name: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM detection_rules WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn insert_suppression(&self, row: &crate::SuppressionRow) -> Result<()> {
                crate::imp::detection::check_suppression(row)?;
                let inserted = sqlx::query(
                    "INSERT INTO suppressions (id, tenant_id, starts_at, ends_at, created_at, \
                     body) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(row.id.as_str())
                .bind(row.tenant.as_ref().map(TenantId::as_str))
                .bind(row.starts_at.0)
                .bind(row.ends_at.0)
                .bind(row.created_at.0)
                .bind(sqlx::types::Json(&row.body))
                .execute(&self.pool)
                .await;
                match inserted {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                        "suppression {} exists",
                        row.id
                    ))),
                    Err(e) => Err(e.into()),
                }
            }

            async fn get_suppression(&self, id: &str) -> Result<Option<crate::SuppressionRow>> {
                let row = sqlx::query(
                    "SELECT id, tenant_id, starts_at, ends_at, created_at, body \
                     FROM suppressions WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::suppression_from_row).transpose()
            }

            async fn list_suppressions(
                &self,
                f: &crate::SuppressionFilter,
            ) -> Result<Vec<crate::SuppressionRow>> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT id, tenant_id, starts_at, ends_at, created_at, body \
                     FROM suppressions WHERE 1 = 1",
                );
                if let Some(t) = &f.tenant {
                    qb.push(" AND (tenant_id = ")
                        .push_bind(t.as_str().to_owned());
                    if f.include_platform {
                        qb.push(" OR tenant_id IS NULL");
                    }
                    qb.push(")");
                }
                if let Some(after) = f.ending_after {
                    qb.push(" AND ends_at > ").push_bind(after.0);
                }
                qb.push(" ORDER BY starts_at, id LIMIT ")
                    .push_bind(i64::from(f.limit.clamp(1, 10_000)));
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(Self::suppression_from_row).collect()
            }

            async fn delete_suppression(&self, id: &str) -> Result<bool> {
                let r = sqlx::query("DELETE FROM suppressions WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn purge_suppressions(&self, ended_before: Timestamp) -> Result<u64> {
                let r = sqlx::query("DELETE FROM suppressions WHERE ends_at < $1")
                    .bind(ended_before.0)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected())
            }
        }
    };
}
pub(super) use store_detection;
