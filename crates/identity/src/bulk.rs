//! Bulk (factory) issuance: a directory of CSRs in, a directory of certificates out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rampart_core::{DeviceId, TenantId};

use crate::fsutil::{self, PUBLIC_FILE};
use crate::{Authority, IdentityError, csr};

/// CSRs signed per index sync: large enough that the fsync is amortised, small enough that a
/// crash loses little work.
pub const BATCH: usize = 256;

/// Result of [`issue_dir`].
#[derive(Debug, Default)]
pub struct BulkReport {
    /// Certificates issued and written.
    pub issued: usize,
    /// Files refused, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Wall-clock time spent.
    pub elapsed: std::time::Duration,
}

/// Issues a certificate for every `<device>.csr` (PEM, base64 or DER) in `in_dir`, writing
/// `<device>.pem` into `out_dir`. The device id is the file stem. The index is synced once per
/// [`BATCH`]; certificate files are synced with their directory once per batch, so after a crash
/// the last batch's files may be missing: run again (re-issuing for the same device and key is
/// allowed).
pub fn issue_dir(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    in_dir: &Path,
    out_dir: &Path,
) -> Result<BulkReport, IdentityError> {
    let start = Instant::now();
    auth.profile(profile)?;
    std::fs::create_dir_all(out_dir).map_err(|e| IdentityError::io(out_dir, e))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(in_dir)
        .map_err(|e| IdentityError::io(in_dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csr"))
        .collect();
    files.sort();
    let mut report = BulkReport::default();
    for chunk in files.chunks(BATCH) {
        let mut reqs = Vec::with_capacity(chunk.len());
        let mut paths = Vec::with_capacity(chunk.len());
        for path in chunk {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parsed = DeviceId::parse(&stem)
                .map_err(|e| e.to_string())
                .and_then(|d| {
                    let body = fsutil::read(path).map_err(|e| e.to_string())?;
                    let der = csr::decode_body(&body).map_err(|e| e.to_string())?;
                    Ok((d, der))
                });
            match parsed {
                Ok((device, der)) => {
                    reqs.push((tenant.clone(), device, der));
                    paths.push(path.clone());
                }
                Err(e) => report.failed.push((path.clone(), e)),
            }
        }
        for ((path, (_, device, _)), result) in paths
            .iter()
            .zip(&reqs)
            .zip(auth.issue_batch(profile, &reqs)?)
        {
            match result {
                Ok(issued) => {
                    let out = out_dir.join(format!("{}.pem", device.as_str().replace('/', "_")));
                    fsutil::write_replace_nosync(&out, issued.cert_pem.as_bytes(), PUBLIC_FILE)?;
                    report.issued += 1;
                }
                Err(e) => report.failed.push((path.clone(), e.to_string())),
            }
        }
        // The index is already durable; the certificates can be re-derived by re-running, so
        // one directory sync per batch is enough.
        fsutil::sync_dir(out_dir)?;
    }
    report.elapsed = start.elapsed();
    Ok(report)
}
