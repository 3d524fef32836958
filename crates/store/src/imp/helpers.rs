//! Row decoding and multi-row statements shared by both backends' `Store` methods.

/// Generates the inherent helper methods of a backend.
macro_rules! store_helpers {
    ($store:ident, $db:ty) => {
        impl $store {
            fn device_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Device> {
                Ok(Device {
                    tenant: TenantId::parse(&row.try_get::<String, _>("tenant_id")?)?,
                    id: DeviceId::parse(&row.try_get::<String, _>("id")?)?,
                    name: row.try_get("name")?,
                    profile: opt_label(row.try_get("profile")?)?,
                    state: parse_enum(&row.try_get::<String, _>("state")?)?,
                    mac: row
                        .try_get::<Option<String>, _>("mac")?
                        .map(|m| MacAddr::parse(&m))
                        .transpose()?,
                    firmware: row.try_get("firmware")?,
                    tags: parse_labels(&row.try_get::<String, _>("tags")?)?,
                    groups: parse_labels(&row.try_get::<String, _>("groups_")?)?,
                    ips: parse_ips(&row.try_get::<String, _>("ips")?)?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    updated_at: Timestamp(row.try_get("updated_at")?),
                })
            }

            fn sim_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Sim> {
                Ok(Sim {
                    iccid: Iccid::parse(&row.try_get::<String, _>("iccid")?)?,
                    tenant: TenantId::parse(&row.try_get::<String, _>("tenant_id")?)?,
                    imsi: Imsi::parse(&row.try_get::<String, _>("imsi")?)?,
                    msisdn: row
                        .try_get::<Option<String>, _>("msisdn")?
                        .map(|m| Msisdn::parse(&m))
                        .transpose()?,
                    imei_policy: parse_enum(&row.try_get::<String, _>("imei_policy")?)?,
                    allowed_imeis: parse_imeis(&row.try_get::<String, _>("allowed_imeis")?)?,
                    learned_imei: row
                        .try_get::<Option<String>, _>("learned_imei")?
                        .map(|m| Imei::parse(&m))
                        .transpose()?,
                    device_id: row
                        .try_get::<Option<String>, _>("device_id")?
                        .map(|m| DeviceId::parse(&m))
                        .transpose()?,
                    created_at: Timestamp(row.try_get("created_at")?),
                    updated_at: Timestamp(row.try_get("updated_at")?),
                })
            }

            fn token_from_row(row: &<$db as sqlx::Database>::Row) -> Result<ApiToken> {
                Ok(ApiToken {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    role: parse_enum::<Role>(&row.try_get::<String, _>("role")?)?,
                    tenant: row
                        .try_get::<Option<String>, _>("tenant_id")?
                        .map(|t| TenantId::parse(&t))
                        .transpose()?,
                    created_at: Timestamp(row.try_get("created_at")?),
                })
            }

            /// Writes device rows (insert, or replace all but `created_at`).
            async fn upsert_device_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                devices: &[&Device],
            ) -> Result<()> {
                for chunk in devices.chunks(CHUNK) {
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new(format!("INSERT INTO devices ({DEVICE_COLS}) "));
                    qb.push_values(chunk, |mut b, d| {
                        b.push_bind(d.tenant.as_str().to_owned())
                            .push_bind(d.id.as_str().to_owned())
                            .push_bind(d.name.clone())
                            .push_bind(d.profile.as_ref().map(|p| p.as_str().to_owned()))
                            .push_bind(d.state.as_str())
                            .push_bind(d.mac.as_ref().map(|m| m.as_str().to_owned()))
                            .push_bind(d.firmware.clone())
                            .push_bind(labels_json(&d.tags))
                            .push_bind(labels_json(&d.groups))
                            .push_bind(ips_json(&d.ips))
                            .push_bind(d.created_at.0)
                            .push_bind(d.updated_at.0);
                    });
                    qb.push(
                        " ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, \
                         profile = excluded.profile, state = excluded.state, mac = excluded.mac, \
                         firmware = excluded.firmware, tags = excluded.tags, \
                         groups_ = excluded.groups_, ips = excluded.ips, \
                         updated_at = excluded.updated_at",
                    );
                    qb.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Brings the label and address index rows of each device from `old` to `new`.
            async fn sync_index_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                changes: &[(Option<&Device>, Option<&Device>)],
            ) -> Result<()> {
                let mut add_labels: Vec<(String, &'static str, String, String)> = Vec::new();
                let mut add_ips: Vec<(String, Vec<u8>, Vec<u8>, String)> = Vec::new();
                for (old, new) in changes {
                    let dev = match new.or(*old) {
                        Some(d) => d,
                        None => continue,
                    };
                    let (t, id) = (dev.tenant.as_str(), dev.id.as_str());
                    let old_l = old.map(label_rows).unwrap_or_default();
                    let new_l = new.map(label_rows).unwrap_or_default();
                    let old_i = old.map(ip_rows).unwrap_or_default();
                    let new_i = new.map(ip_rows).unwrap_or_default();
                    for (kind, value) in old_l.difference(&new_l) {
                        sqlx::query(
                            "DELETE FROM device_labels WHERE tenant_id = $1 AND kind = $2 \
                             AND value = $3 AND device_id = $4",
                        )
                        .bind(t)
                        .bind(*kind)
                        .bind(value.as_str())
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    }
                    for (start, end) in old_i.difference(&new_i) {
                        sqlx::query(
                            "DELETE FROM device_ips WHERE tenant_id = $1 AND net_start = $2 \
                             AND net_end = $3 AND device_id = $4",
                        )
                        .bind(t)
                        .bind(start.as_slice())
                        .bind(end.as_slice())
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    }
                    for (kind, value) in new_l.difference(&old_l) {
                        add_labels.push((t.to_owned(), *kind, value.clone(), id.to_owned()));
                    }
                    for (start, end) in new_i.difference(&old_i) {
                        add_ips.push((t.to_owned(), start.clone(), end.clone(), id.to_owned()));
                    }
                }
                if !add_labels.is_empty() {
                    let c = Self::jcol;
                    let sql = format!(
                        "INSERT INTO device_labels (tenant_id, kind, value, device_id) \
                         SELECT {}, {}, {}, {} FROM {} WHERE true ON CONFLICT DO NOTHING",
                        c(0), c(1), c(2), c(3), Self::json_rows(1)
                    );
                    for chunk in add_labels.chunks(CHUNK * 8) {
                        let rows: Vec<serde_json::Value> = chunk
                            .iter()
                            .map(|r| serde_json::json!([r.0, r.1, r.2, r.3]))
                            .collect();
                        sqlx::query(AssertSqlSafe(sql.clone()))
                            .bind(serde_json::Value::Array(rows).to_string())
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                for chunk in add_ips.chunks(CHUNK * 2) {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO device_ips (tenant_id, net_start, net_end, device_id) ",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.0.clone())
                            .push_bind(r.1.clone())
                            .push_bind(r.2.clone())
                            .push_bind(r.3.clone());
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn upsert_sim_rows(
                conn: &mut <$db as sqlx::Database>::Connection,
                sims: &[&Sim],
            ) -> Result<()> {
                let (c, i) = (Self::jcol, Self::jint);
                let sql = format!(
                    "INSERT INTO sims ({SIM_COLS}) SELECT {}, {}, {}, {}, {}, {}, {}, {}, {}, {} \
                     FROM {} WHERE true ON CONFLICT (iccid) DO UPDATE SET imsi = excluded.imsi, \
                     msisdn = excluded.msisdn, imei_policy = excluded.imei_policy, \
                     allowed_imeis = excluded.allowed_imeis, device_id = excluded.device_id, \
                     updated_at = excluded.updated_at",
                    c(0), c(1), c(2), c(3), c(4), c(5), c(6), c(7), i(8), i(9),
                    Self::json_rows(1)
                );
                for chunk in sims.chunks(CHUNK * 4) {
                    let rows: Vec<serde_json::Value> = chunk
                        .iter()
                        .map(|s| {
                            serde_json::json!([
                                s.iccid.as_str(),
                                s.tenant.as_str(),
                                s.imsi.as_str(),
                                s.msisdn.as_ref().map(Msisdn::as_str),
                                s.imei_policy.as_str(),
                                imeis_json(&s.allowed_imeis),
                                s.learned_imei.as_ref().map(Imei::as_str),
                                s.device_id.as_ref().map(DeviceId::as_str),
                                s.created_at.0,
                                s.updated_at.0
                            ])
                        })
                        .collect();
                    sqlx::query(AssertSqlSafe(sql.clone()))
                        .bind(serde_json::Value::Array(rows).to_string())
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }

            async fn fetch_devices_by_id(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &TenantId,
                ids: &[&str],
            ) -> Result<HashMap<String, Device>> {
                let mut out = HashMap::with_capacity(ids.len());
                if ids.is_empty() {
                    return Ok(out);
                }
                let sql = format!(
                    "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id = $1 AND id IN {}",
                    Self::in_json_list(2)
                );
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(tenant.as_str())
                    .bind(json_list(ids))
                    .fetch_all(&mut *conn)
                    .await?;
                for row in rows {
                    let d = Self::device_from_row(&row)?;
                    out.insert(d.id.as_str().to_owned(), d);
                }
                Ok(out)
            }

            async fn sims_bound_to(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &TenantId,
                ids: &[&str],
            ) -> Result<Vec<Sim>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    "SELECT {SIM_COLS} FROM sims WHERE tenant_id = $1 AND device_id IN {} \
                     ORDER BY iccid",
                    Self::in_json_list(2)
                );
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(tenant.as_str())
                    .bind(json_list(ids))
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter().map(Self::sim_from_row).collect()
            }

            async fn existing_sims(
                conn: &mut <$db as sqlx::Database>::Connection,
                iccids: &[&str],
                imsis: &[&str],
            ) -> Result<Vec<ExistingSim>> {
                if iccids.is_empty() && imsis.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!(
                    // Two index look-ups; an OR of the two would make PostgreSQL scan.
                    "SELECT iccid, imsi, tenant_id, device_id FROM sims WHERE iccid IN {} \
                     UNION SELECT iccid, imsi, tenant_id, device_id FROM sims WHERE imsi IN {}",
                    Self::in_json_list(1),
                    Self::in_json_list(2)
                );
                let rows = sqlx::query(AssertSqlSafe(sql))
                    .bind(json_list(iccids))
                    .bind(json_list(imsis))
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(ExistingSim {
                            iccid: row.try_get("iccid")?,
                            imsi: row.try_get("imsi")?,
                            tenant: row.try_get("tenant_id")?,
                            device: row.try_get("device_id")?,
                        })
                    })
                    .collect()
            }

            async fn ensure_tenant(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &TenantId,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(Timestamp::now().0)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn check_device_exists(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &TenantId,
                id: &DeviceId,
            ) -> Result<()> {
                let found = sqlx::query("SELECT 1 FROM devices WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                match found {
                    Some(_) => Ok(()),
                    None => Err(StoreError::NotFound(format!("device {id}"))),
                }
            }
        }
        impl $store {
            async fn upsert_sim_rows_insert_only(
                conn: &mut <$db as sqlx::Database>::Connection,
                s: &Sim,
            ) -> Result<()> {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO sims ({SIM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                )))
                .bind(s.iccid.as_str())
                .bind(s.tenant.as_str())
                .bind(s.imsi.as_str())
                .bind(s.msisdn.as_ref().map(Msisdn::as_str))
                .bind(s.imei_policy.as_str())
                .bind(imeis_json(&s.allowed_imeis))
                .bind(s.learned_imei.as_ref().map(Imei::as_str))
                .bind(s.device_id.as_ref().map(DeviceId::as_str))
                .bind(s.created_at.0)
                .bind(s.updated_at.0)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }
    };
}
pub(super) use store_helpers;
