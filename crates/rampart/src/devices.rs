//! `rampart devices`: bulk import and export, synthetic fleets, one device's view.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use rampart_core::{DeviceId, DeviceRecord, TenantId};
use rampart_fleetfile::{CsvWriter, FleetReader, Format, JsonlWriter, RejectWriter, RowError};
use rampart_store::{PageRequest, SimFilter, Store};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::settings::StoreArgs;

/// Rows per store transaction: large enough to amortise a commit, small enough to keep memory
/// flat and a failure's blast radius small.
const DEFAULT_BATCH: usize = 2000;

#[derive(Debug, Subcommand)]
pub(crate) enum DevicesCommand {
    /// Import (upsert by device id) a fleet file: CSV or JSON Lines.
    ///
    /// Exit status: 0 when every row landed, 2 when some rows were rejected (the valid rows
    /// still landed; see the reject file), 1 on a fatal error.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// The fleet file (`-` for standard input).
        file: PathBuf,
        /// csv or jsonl [default: from the file extension, else sniffed].
        #[arg(long)]
        format: Option<Format>,
        /// Tenant to import into.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Validate and count, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where rejected rows go (CSV: line,reason,raw) [default: FILE.rejects.csv].
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = DEFAULT_BATCH)]
        batch_size: usize,
    },
    /// Export the registry as a fleet file.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Output file [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: Format,
        /// Tenant to export.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Write a realistic synthetic fleet (valid IMSIs, ICCIDs, IMEIs, profiles, IPs).
    Generate {
        /// Number of devices.
        #[arg(long)]
        count: u64,
        /// Seed; the same seed gives the same fleet.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// csv or jsonl.
        #[arg(long, default_value = "csv")]
        format: Format,
    },
    /// Show one device with its SIMs, as JSON.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Device id.
        id: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

pub(crate) async fn run(cmd: DevicesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DevicesCommand::Import {
            store,
            file,
            format,
            tenant,
            dry_run,
            rejects,
            batch_size,
        } => {
            let tenant = TenantId::parse(&tenant)?;
            let (_, store) = store.open().await?;
            let opts = ImportOptions {
                format,
                tenant,
                dry_run,
                rejects,
                batch_size: batch_size.clamp(1, 20_000),
            };
            let summary = import(store, &file, &opts).await?;
            summary.print(&file, opts.dry_run);
            Ok(if summary.rejected > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        DevicesCommand::Export {
            store,
            output,
            format,
            tenant,
        } => {
            let tenant = TenantId::parse(&tenant)?;
            let (_, store) = store.open().await?;
            let n = export(store.as_ref(), &tenant, output.as_deref(), format).await?;
            eprintln!("exported {n} devices");
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Generate {
            count,
            seed,
            output,
            format,
        } => {
            let out = output_writer(output.as_deref())?;
            let records = rampart_fleetfile::generate(count, seed);
            tokio::task::spawn_blocking(move || write_records(out, format, records))
                .await
                .context("generator task failed")??;
            Ok(ExitCode::SUCCESS)
        }
        DevicesCommand::Show { store, id, tenant } => {
            let tenant = TenantId::parse(&tenant)?;
            let id = DeviceId::parse(&id)?;
            let (_, store) = store.open().await?;
            let Some(device) = store.get_device(&tenant, &id).await? else {
                bail!("no device {id} in tenant {tenant}");
            };
            let sims = store
                .list_sims(
                    &tenant,
                    &SimFilter {
                        device_id: Some(id),
                        ..Default::default()
                    },
                    &PageRequest::default(),
                )
                .await?;
            let connectivity =
                crate::radius::device_connectivity(store.as_ref(), &sims.items).await?;
            let view = serde_json::json!({
                "device": device,
                "sims": sims.items,
                "session": connectivity.session,
                "usage_24h": connectivity.usage,
                "last_imei": connectivity.last_imei,
                "last_location": connectivity.last_location,
            });
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

struct ImportOptions {
    format: Option<Format>,
    tenant: TenantId,
    dry_run: bool,
    rejects: Option<PathBuf>,
    batch_size: usize,
}

/// What an import did.
#[derive(Debug, Default)]
struct ImportSummary {
    inserted: u64,
    updated: u64,
    rejected: u64,
    rejects_path: Option<PathBuf>,
    seconds: f64,
}

impl ImportSummary {
    fn print(&self, file: &Path, dry_run: bool) {
        let verb = if dry_run { "would import" } else { "imported" };
        let total = self.inserted + self.updated;
        let rate = if self.seconds > 0.0 {
            total as f64 / self.seconds
        } else {
            0.0
        };
        eprintln!(
            "{}: {verb} {} new, {} updated, {} rejected in {:.1} s ({rate:.0} rows/s)",
            file.display(),
            self.inserted,
            self.updated,
            self.rejected,
            self.seconds
        );
        if let Some(p) = &self.rejects_path {
            eprintln!(
                "rejected rows (line, reason, raw) written to {}",
                p.display()
            );
        }
    }
}

/// A unit of work from the parser thread to the store.
enum Work {
    Batch(Vec<(u64, DeviceRecord)>),
    Reject(RowError),
}

/// Streams the file through a parser thread into store batches: memory stays bounded by a few
/// batches whatever the file size, and parsing overlaps with the store's writes.
async fn import(
    store: Arc<dyn Store>,
    file: &Path,
    opts: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    let (input, len): (Box<dyn std::io::Read + Send>, u64) = if file == Path::new("-") {
        (Box::new(std::io::stdin()), 0)
    } else {
        let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(f), len)
    };
    let bar = progress_bar(len);
    let reader = BufReader::with_capacity(256 * 1024, bar.wrap_read(input));
    let format = opts
        .format
        .or_else(|| Format::from_path(file))
        .unwrap_or(Format::Csv);
    let mut rows = FleetReader::new(reader, format, opts.tenant.clone())
        .with_context(|| format!("reading {}", file.display()))?;

    let (tx, mut rx) = mpsc::channel::<Work>(8);
    let batch_size = opts.batch_size;
    let parser = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut batch = Vec::with_capacity(batch_size);
        let mut ids: HashSet<DeviceId> = HashSet::with_capacity(batch_size);
        for item in rows.by_ref() {
            match item {
                Ok((line, record)) => {
                    // A device repeated in the file updates the earlier row: flush first so
                    // both land, in file order.
                    if batch.len() >= batch_size || ids.contains(&record.device.id) {
                        ids.clear();
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                        if tx.blocking_send(Work::Batch(full)).is_err() {
                            return Ok(());
                        }
                    }
                    ids.insert(record.device.id.clone());
                    batch.push((line, record));
                }
                Err(e) => {
                    if tx.blocking_send(Work::Reject(e)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        if !batch.is_empty() {
            let _sent = tx.blocking_send(Work::Batch(batch)).is_ok();
        }
        rows.finish().context("reading the fleet file")?;
        Ok(())
    });

    let rejects_path = opts.rejects.clone().unwrap_or_else(|| {
        let mut p = file.as_os_str().to_owned();
        p.push(".rejects.csv");
        PathBuf::from(p)
    });
    let mut rejects: Option<RejectWriter<BufWriter<File>>> = None;
    let mut summary = ImportSummary::default();
    let mut reject = |e: &RowError, summary: &mut ImportSummary| -> anyhow::Result<()> {
        summary.rejected += 1;
        if summary.rejected <= 20 {
            bar.suspend(|| eprintln!("line {}: {}", e.line, e.reason));
        } else if summary.rejected == 21 {
            bar.suspend(|| eprintln!("(further rejected rows only in the reject file)"));
        }
        if rejects.is_none() {
            let f = File::create(&rejects_path)
                .with_context(|| format!("creating {}", rejects_path.display()))?;
            rejects = Some(RejectWriter::new(BufWriter::new(f))?);
            summary.rejects_path = Some(rejects_path.clone());
        }
        if let Some(w) = rejects.as_mut() {
            w.write(e)?;
        }
        Ok(())
    };

    let mut batches: u64 = 0;
    while let Some(work) = rx.recv().await {
        match work {
            Work::Reject(e) => reject(&e, &mut summary)?,
            Work::Batch(batch) => {
                let outcome = store
                    .import_batch(&opts.tenant, &batch, opts.dry_run)
                    .await
                    .with_context(|| {
                        let first = batch.first().map_or(0, |r| r.0);
                        format!("storing the batch starting at line {first}")
                    })?;
                batches += 1;
                // Planner statistics after 1, 4, 16, 64... batches: cheap, and keeps look-ups
                // on indexes while the tables grow from empty.
                if !opts.dry_run
                    && batches.is_power_of_two()
                    && batches.trailing_zeros().is_multiple_of(2)
                {
                    store.refresh_statistics().await?;
                }
                summary.inserted += outcome.inserted;
                summary.updated += outcome.updated;
                for r in outcome.rejected {
                    let e = RowError {
                        line: r.line,
                        reason: r.reason,
                        raw: String::new(),
                    };
                    reject(&e, &mut summary)?;
                }
            }
        }
    }
    parser.await.context("parser task failed")??;
    if !opts.dry_run {
        store.refresh_statistics().await?;
    }
    if let Some(w) = rejects {
        w.into_inner()?.flush()?;
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || len == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

fn output_writer(path: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::with_capacity(
            256 * 1024,
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(256 * 1024, std::io::stdout())),
    })
}

fn write_records(
    out: Box<dyn Write + Send>,
    format: Format,
    records: impl Iterator<Item = DeviceRecord>,
) -> anyhow::Result<u64> {
    let mut n = 0;
    match format {
        Format::Csv => {
            let mut w = CsvWriter::new(out)?;
            for r in records {
                w.write(&r)?;
                n += 1;
            }
            w.into_inner()?.flush()?;
        }
        Format::Jsonl => {
            let mut w = JsonlWriter::new(out);
            for r in records {
                w.write(&r)?;
                n += 1;
            }
            w.into_inner()?.flush()?;
        }
    }
    Ok(n)
}

async fn export(
    store: &dyn Store,
    tenant: &TenantId,
    output: Option<&Path>,
    format: Format,
) -> anyhow::Result<u64> {
    let out = output_writer(output)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<DeviceRecord>(4096);
    let writer = tokio::task::spawn_blocking(move || write_records(out, format, rx.into_iter()));
    let mut after: Option<DeviceId> = None;
    loop {
        let page = store.export_page(tenant, after.as_ref(), 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.device.id.clone());
        let full = page.len() == 1000;
        for r in page {
            if tx.send(r).is_err() {
                break;
            }
        }
        if !full {
            break;
        }
    }
    drop(tx);
    writer.await.context("export writer failed")?
}
