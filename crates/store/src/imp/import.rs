//! Bulk import: one batch of fleet-file rows, checked against itself and the stored state,
//! then written in one transaction.

/// Generates `import_rows` for a backend.
macro_rules! store_import {
    ($store:ident, $db:ty) => {
        impl $store {
            pub(super) async fn import_rows(
                &self,
                t: &TenantId,
                rows: &[(u64, DeviceRecord)],
                dry_run: bool,
            ) -> Result<BatchOutcome> {
                let mut outcome = BatchOutcome::default();
                let mut reject = |line: u64, reason: String| {
                    outcome.rejected.push(RejectedRow { line, reason });
                };
                // Rules inside the batch.
                let mut seen_ids: HashMap<&str, u64> = HashMap::new();
                let mut seen_iccid: HashMap<&str, u64> = HashMap::new();
                let mut seen_imsi: HashMap<&str, u64> = HashMap::new();
                let mut accepted: Vec<&(u64, DeviceRecord)> = Vec::with_capacity(rows.len());
                for row in rows {
                    let (line, rec) = (row.0, &row.1);
                    if &rec.device.tenant != t || rec.sim.as_ref().is_some_and(|s| &s.tenant != t) {
                        reject(line, "record belongs to another tenant".to_owned());
                        continue;
                    }
                    if let Some(prev) = seen_ids.get(rec.device.id.as_str()) {
                        reject(
                            line,
                            format!("device_id {} repeats line {prev}", rec.device.id),
                        );
                        continue;
                    }
                    if let Some(sim) = &rec.sim {
                        if let Some(prev) = seen_iccid.get(sim.iccid.as_str()) {
                            reject(line, format!("duplicate iccid {} (line {prev})", sim.iccid));
                            continue;
                        }
                        if let Some(prev) = seen_imsi.get(sim.imsi.as_str()) {
                            reject(line, format!("duplicate imsi {} (line {prev})", sim.imsi));
                            continue;
                        }
                        seen_iccid.insert(sim.iccid.as_str(), line);
                        seen_imsi.insert(sim.imsi.as_str(), line);
                    }
                    seen_ids.insert(rec.device.id.as_str(), line);
                    accepted.push(row);
                }

                // One connection (and one write transaction) for the whole batch: look-ups and
                // writes see the same state, and a single warm page cache serves both.
                let mut tx = self.pool.begin_with(Self::BEGIN).await?;
                // Rules against what is stored.
                let iccids: Vec<&str> = accepted
                    .iter()
                    .filter_map(|r| r.1.sim.as_ref().map(|s| s.iccid.as_str()))
                    .collect();
                let imsis: Vec<&str> = accepted
                    .iter()
                    .filter_map(|r| r.1.sim.as_ref().map(|s| s.imsi.as_str()))
                    .collect();
                let existing = Self::existing_sims(&mut tx, &iccids, &imsis).await?;
                let by_iccid: HashMap<&str, &ExistingSim> =
                    existing.iter().map(|e| (e.iccid.as_str(), e)).collect();
                let by_imsi: HashMap<&str, &ExistingSim> =
                    existing.iter().map(|e| (e.imsi.as_str(), e)).collect();
                let mut kept: Vec<&(u64, DeviceRecord)> = Vec::with_capacity(accepted.len());
                for row in accepted {
                    let (line, rec) = (row.0, &row.1);
                    let id = rec.device.id.as_str();
                    if let Some(sim) = &rec.sim {
                        if let Some(e) = by_iccid.get(sim.iccid.as_str()) {
                            if e.tenant != t.as_str() {
                                reject(
                                    line,
                                    format!(
                                        "duplicate iccid {}: registered in another tenant",
                                        sim.iccid
                                    ),
                                );
                                continue;
                            }
                            if let Some(other) = e.device.as_deref().filter(|d| *d != id) {
                                reject(
                                    line,
                                    format!(
                                        "duplicate iccid {}: bound to device {other}",
                                        sim.iccid
                                    ),
                                );
                                continue;
                            }
                        }
                        if let Some(e) = by_imsi.get(sim.imsi.as_str()) {
                            if e.iccid != sim.iccid.as_str() {
                                let owner = e.device.as_deref().unwrap_or("no device");
                                reject(
                                    line,
                                    format!(
                                        "duplicate imsi {}: belongs to sim {} ({owner})",
                                        sim.imsi, e.iccid
                                    ),
                                );
                                continue;
                            }
                        }
                    }
                    kept.push(row);
                }
                let ids: Vec<&str> = kept.iter().map(|r| r.1.device.id.as_str()).collect();
                let old = Self::fetch_devices_by_id(&mut tx, t, &ids).await?;
                for id in &ids {
                    if old.contains_key(*id) {
                        outcome.updated += 1;
                    } else {
                        outcome.inserted += 1;
                    }
                }
                if dry_run || kept.is_empty() {
                    tx.rollback().await?;
                    return Ok(outcome);
                }
                let bound = Self::sims_bound_to(&mut tx, t, &ids).await?;

                let now = Timestamp::now();
                let devices: Vec<Device> = kept
                    .iter()
                    .map(|r| {
                        let mut d = r.1.device.clone();
                        d.created_at = old.get(d.id.as_str()).map_or(now, |o| o.created_at);
                        d.updated_at = now;
                        d
                    })
                    .collect();
                let sims: Vec<Sim> = kept
                    .iter()
                    .filter_map(|r| {
                        r.1.sim.as_ref().map(|s| {
                            let mut s = s.clone();
                            s.device_id = Some(r.1.device.id.clone());
                            s.created_at = now;
                            s.updated_at = now;
                            s
                        })
                    })
                    .collect();
                let new_sim_of: HashMap<&str, &str> = sims
                    .iter()
                    .filter_map(|s| s.device_id.as_ref().map(|d| (d.as_str(), s.iccid.as_str())))
                    .collect();

                Self::ensure_tenant(&mut tx, t).await?;
                let device_refs: Vec<&Device> = devices.iter().collect();
                Self::upsert_device_rows(&mut tx, &device_refs).await?;
                let changes: Vec<(Option<&Device>, Option<&Device>)> = devices
                    .iter()
                    .map(|d| (old.get(d.id.as_str()), Some(d)))
                    .collect();
                Self::sync_index_rows(&mut tx, &changes).await?;
                // The file is the truth for a device's binding: unbind SIMs it no longer names.
                for s in &bound {
                    let Some(dev) = s.device_id.as_ref() else {
                        continue;
                    };
                    if new_sim_of.get(dev.as_str()) != Some(&s.iccid.as_str()) {
                        sqlx::query(
                            "UPDATE sims SET device_id = NULL, updated_at = $2 WHERE iccid = $1",
                        )
                        .bind(s.iccid.as_str())
                        .bind(now.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let sim_refs: Vec<&Sim> = sims.iter().collect();
                Self::upsert_sim_rows(&mut tx, &sim_refs).await?;
                tx.commit().await?;
                tracing::debug!(rows = kept.len(), "import batch committed");
                Ok(outcome)
            }
        }
    };
}
pub(super) use store_import;
