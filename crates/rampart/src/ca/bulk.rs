//! `rampart ca bulk`: factory issuance, through `rampart_identity::bulk`'s pipeline. With
//! `--count`, keys are generated here (P-256) and their CSRs built; with `--csr-dir`, a
//! directory of CSRs is read; with `--csr-file`, a file (or standard input) of JSON request
//! lines, answered by a file (or standard output) of result lines. Whatever the source, each
//! CSR is verified and signed on every core, and the certificates are recorded in order,
//! [`bulk::BATCH`] per index sync, before they are written out.

use std::io::BufReader;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use rampart_core::{DeviceId, TenantId};
use rampart_identity::{Authority, IdentityError, bulk};
use rcgen::{CertificateParams, DnType, KeyPair};

use super::BulkArgs;

pub(super) async fn run(a: BulkArgs) -> anyhow::Result<ExitCode> {
    let tenant = TenantId::parse(&a.tenant).context("--tenant")?;
    let service = a.common.service(false).await?;
    let threads = a
        .threads
        .unwrap_or_else(rampart_identity::default_threads)
        .max(1);
    let (profile, out) = (a.profile.clone(), a.out.clone());
    if let Some(input) = a.csr_file.clone() {
        let force = a.force;
        let (report, cpu) = service
            .with_authority(move |auth| {
                issue_file(auth, &tenant, &profile, &input, &out, force, threads)
            })
            .await?;
        // Standard output may be carrying the results: the summary goes to standard error.
        eprintln!(
            "{}",
            throughput(report.issued, report.elapsed.as_secs_f64(), cpu, threads)
        );
        if report.refused > 0 {
            eprintln!(
                "refused {} of {} request lines (an error line for each in the output)",
                report.refused, report.requests
            );
        }
        return Ok(if report.refused == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if let Some(dir) = a.csr_dir.clone() {
        let (report, cpu) = service
            .with_authority(move |auth| {
                let cpu0 = cpu_seconds();
                let report = bulk::issue_dir_threads(auth, &tenant, &profile, &dir, &out, threads)?;
                Ok((report, cpu_seconds() - cpu0))
            })
            .await?;
        for (path, reason) in report.failed.iter().take(20) {
            eprintln!("refused {}: {reason}", path.display());
        }
        if report.failed.len() > 20 {
            eprintln!("... and {} more refused", report.failed.len() - 20);
        }
        println!(
            "{}",
            throughput(report.issued, report.elapsed.as_secs_f64(), cpu, threads)
        );
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
    let (issued, secs, cpu) = service
        .with_authority(move |auth| {
            let (start, cpu0) = (Instant::now(), cpu_seconds());
            let n = generate(
                auth, &tenant, &profile, &prefix, width, count, &out, threads,
            )?;
            Ok((n, start.elapsed().as_secs_f64(), cpu_seconds() - cpu0))
        })
        .await?;
    println!("{}", throughput(issued, secs, cpu, threads));
    println!(
        "keys (<device>.key.pem, mode 0600) and certificates (<device>.pem) in {}",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// CPU time (user + system) this process has used, in seconds, from `/proc/self/stat`
/// (clock ticks of 1/100 s); 0 where it cannot be read.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces;
    // utime and stime are the 12th and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse::<f64>().unwrap_or(0.0) / 100.0)
        .sum()
}

/// The summary line: certificates/s and certificates per CPU-second.
fn throughput(issued: usize, secs: f64, cpu: f64, threads: usize) -> String {
    let rate = issued as f64 / secs.max(1e-9);
    let per_cpu = if cpu > 0.0 {
        format!("{:.0}", issued as f64 / cpu)
    } else {
        "-".to_owned()
    };
    format!(
        "issued {issued} certificates in {secs:.2} s: {rate:.0} certificates/s with {threads} \
         signing thread{}, {:.2} CPU-s = {per_cpu} certificates per CPU-second (user+sys); \
         index synced every {} certificates",
        if threads == 1 { "" } else { "s" },
        cpu,
        bulk::BATCH
    )
}

/// Signs the request lines of `input` (`-`: standard input) into `out` (`-`: standard
/// output); the report and the CPU seconds it took.
fn issue_file(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    input: &Path,
    out: &Path,
    force: bool,
    threads: usize,
) -> anyhow::Result<(bulk::LinesReport, f64)> {
    let stdio = |p: &Path| p.as_os_str() == "-";
    let mut output = if stdio(out) {
        bulk::LinesOutput::stream(std::io::stdout())
    } else {
        bulk::LinesOutput::create(out, force).with_context(|| {
            format!(
                "creating {} (an existing file is replaced only with --force)",
                out.display()
            )
        })?
    };
    let cpu0 = cpu_seconds();
    let report = if stdio(input) {
        let reader = BufReader::with_capacity(1 << 16, std::io::stdin());
        bulk::issue_lines(auth, tenant, profile, reader, &mut output, threads)?
    } else {
        let file =
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        let reader = BufReader::with_capacity(1 << 16, file);
        bulk::issue_lines(auth, tenant, profile, reader, &mut output, threads)?
    };
    Ok((report, cpu_seconds() - cpu0))
}

/// Issues `count` devices with keys generated here.
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
    let chunks = count.div_ceil(bulk::BATCH);
    let prepare = |c: usize| {
        let (start, end) = (c * bulk::BATCH, ((c + 1) * bulk::BATCH).min(count));
        (start..end)
            .map(
                |i| match new_device(auth, tenant, profile, prefix, width, i) {
                    Ok((key, signed)) => (Some(key), Ok(signed)),
                    Err(e) => (None, Err(e)),
                },
            )
            .collect::<Vec<_>>()
    };
    let mut issued = 0;
    bulk::pipeline(auth, chunks, threads, prepare, |done| {
        for (key, result) in done {
            let cert = result?;
            let device = &cert.record.subject;
            if let Some(key) = key {
                write_nosync(
                    &out.join(format!("{device}.key.pem")),
                    key.as_bytes(),
                    0o600,
                )?;
            }
            write_nosync(
                &out.join(format!("{device}.pem")),
                cert.cert_pem.as_bytes(),
                0o644,
            )?;
            issued += 1;
        }
        // The index is durable already; one directory sync per batch for the files.
        std::fs::File::open(out)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(out, e))
    })?;
    Ok(issued)
}

/// A fresh P-256 key (PEM) and its certificate, signed but not yet recorded.
fn new_device(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    prefix: &str,
    width: usize,
    i: usize,
) -> Result<(String, rampart_identity::Signed), IdentityError> {
    let device = DeviceId::parse(&format!("{prefix}{i:0width$}"))
        .map_err(|e| IdentityError::BadId(e.to_string()))?;
    let gen_err = |e: rcgen::Error| IdentityError::Generate(e.to_string());
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, device.as_str());
    let csr = params.serialize_request(&key).map_err(gen_err)?;
    let signed = auth.sign_request(tenant, &device, profile, csr.der())?;
    Ok((key.serialize_pem(), signed))
}

fn io(path: &Path, e: std::io::Error) -> IdentityError {
    IdentityError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes a file with `mode`, unsynced: the batch syncs its directory.
fn write_nosync(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| f.write_all(bytes))
        .map_err(|e| io(path, e))
}
