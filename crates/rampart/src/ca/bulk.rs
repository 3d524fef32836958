//! `rampart ca bulk`: factory issuance. With `--count`, keys are generated here (P-256), a
//! CSR is built and verified like any other, and the certificates are signed in batches of
//! [`bulk::BATCH`] with one index sync each, on every core; with `--csr-dir`, a directory of
//! CSRs is signed by `rampart_identity::bulk::issue_dir`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::{Authority, bulk};
use rcgen::{CertificateParams, DnType, KeyPair};

use super::BulkArgs;

pub(super) async fn run(a: BulkArgs) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::parse(&a.tenant).context("--tenant")?;
    let service = a.common.service(false).await?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let threads = a
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1);
    let (profile, out) = (a.profile.clone(), a.out.clone());
    if let Some(dir) = a.csr_dir.clone() {
        let report = service
            .with_authority(move |auth| Ok(bulk::issue_dir(auth, &tenant, &profile, &dir, &out)?))
            .await?;
        for (path, reason) in report.failed.iter().take(20) {
            eprintln!("refused {}: {reason}", path.display());
        }
        if report.failed.len() > 20 {
            eprintln!("... and {} more refused", report.failed.len() - 20);
        }
        throughput(report.issued, report.elapsed.as_secs_f64(), 1);
        println!("certificates written to {}", a.out.display());
        return Ok(if report.failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let count = a.count.unwrap_or(0);
    let prefix = a.prefix.clone();
    if prefix.contains('/') {
        bail!("--prefix must not contain '/'");
    }
    let width = count.saturating_sub(1).to_string().len().max(1);
    DeviceId::parse(&format!("{prefix}{:0width$}", 0)).context("--prefix")?;
    let (issued, secs) = service
        .with_authority(move |auth| {
            let start = Instant::now();
            let n = generate(
                auth, &tenant, &profile, &prefix, width, count, &out, threads,
            )?;
            Ok((n, start.elapsed().as_secs_f64()))
        })
        .await?;
    throughput(issued, secs, threads);
    println!(
        "keys (<device>.key.pem, mode 0600) and certificates (<device>.pem) in {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn throughput(issued: usize, secs: f64, threads: usize) {
    let rate = issued as f64 / secs.max(1e-9);
    println!(
        "issued {issued} certificates in {secs:.2} s: {rate:.0} certificates/s, {:.0} \
         certificates/s/core ({threads} thread{}), index synced every {} certificates",
        rate / threads as f64,
        if threads == 1 { "" } else { "s" },
        bulk::BATCH
    );
}

/// Issues `count` devices with keys generated here; batches are shared out over `threads`.
#[allow(clippy::too_many_arguments)]
fn generate(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    prefix: &str,
    width: usize,
    count: usize,
    out: &Path,
    threads: usize,
) -> anyhow::Result<usize> {
    auth.profile(profile)?;
    let next = AtomicUsize::new(0);
    let issued = AtomicUsize::new(0);
    let worker = || -> anyhow::Result<()> {
        loop {
            let start = next.fetch_add(bulk::BATCH, Ordering::Relaxed);
            if start >= count {
                return Ok(());
            }
            let end = (start + bulk::BATCH).min(count);
            let mut requests = Vec::with_capacity(end - start);
            let mut keys = Vec::with_capacity(end - start);
            for i in start..end {
                let device = DeviceId::parse(&format!("{prefix}{i:0width$}"))?;
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                let mut params = CertificateParams::default();
                params
                    .distinguished_name
                    .push(DnType::CommonName, device.as_str());
                let csr = params.serialize_request(&key)?;
                requests.push((tenant.clone(), device, csr.der().to_vec()));
                keys.push(key);
            }
            let results = auth.issue_batch(profile, &requests)?;
            for (((_, device, _), key), result) in requests.iter().zip(&keys).zip(results) {
                let issued_cert =
                    result.with_context(|| format!("issuing for {}", device.as_str()))?;
                let key_path = out.join(format!("{}.key.pem", device.as_str()));
                write_nosync(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
                let cert_path = out.join(format!("{}.pem", device.as_str()));
                write_nosync(&cert_path, issued_cert.cert_pem.as_bytes(), 0o644)?;
            }
            // The index is durable already; one directory sync per batch for the files.
            std::fs::File::open(out)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing {}", out.display()))?;
            issued.fetch_add(end - start, Ordering::Relaxed);
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("bulk worker panicked")))
            })
            .collect::<anyhow::Result<Vec<()>>>()
    })?;
    Ok(issued.load(Ordering::Relaxed))
}

/// Writes a file with `mode`, unsynced: the batch syncs its directory.
fn write_nosync(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}
