//! Bulk (factory) issuance: a directory of CSRs in and a directory of certificates out, or
//! one file of request lines in and one file of result lines out ([`issue_lines`]).
//!
//! [`pipeline`] is the engine, also used by `rampart ca bulk --count`: worker threads verify
//! and sign chunks of [`BATCH`] requests on every core ([`Authority::sign_request`]) while
//! one committer records the chunks in order, each with one index sync ([`Authority::commit`]),
//! and only then hands the chunk's certificates to the caller to write out. Signing the next
//! chunks overlaps the sync of the current one; at most a few chunks are in flight, so memory
//! stays bounded whatever the number of requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use rampart_core::{DeviceId, TenantId};

use crate::fsutil::{self, PUBLIC_FILE};
use crate::{Authority, IdentityError, Issued, Signed, csr};

mod lines;

pub use lines::{
    LineRefusal, LinesOutput, LinesReport, MAX_LINE, RequestLine, issue_lines, parse_line,
};

/// Requests per chunk, and per index sync: large enough that the sync is amortised, small
/// enough that a crash loses little work.
pub const BATCH: usize = 256;

/// One prepared chunk: its items, each with its signed certificate or why it was refused.
pub type Prepared<T> = Vec<(T, Result<Signed, IdentityError>)>;

/// Chunks a worker may be ahead of the committer, per worker.
const AHEAD_PER_WORKER: usize = 2;

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

/// Committed chunks so far, and whether the run stopped early; workers wait on it so they
/// never get more than a few chunks ahead.
struct Progress {
    committed: Mutex<usize>,
    moved: Condvar,
    stop: AtomicBool,
}

impl Progress {
    /// Waits until chunk `i` is near enough to the committer; false when the run stopped.
    fn wait_turn(&self, i: usize, ahead: usize) -> bool {
        let mut done = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while i >= *done + ahead && !self.stop.load(Ordering::Acquire) {
            done = self
                .moved
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !self.stop.load(Ordering::Acquire)
    }

    fn advance(&self) {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.moved.notify_all();
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Release);
        // Taking the lock orders the flag before any waiter's next check.
        drop(
            self.committed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.moved.notify_all();
    }
}

/// Runs `chunks` chunks through sign-in-parallel, commit-in-order. `prepare(i)` (on a worker
/// thread) turns chunk `i` into items, each with its signed certificate or the reason it was
/// refused; `deliver` (on the calling thread) gets each chunk after its commit, in chunk order,
/// with the issued certificates. The first error from the index or from `deliver` stops the
/// run and is returned; chunks delivered before it stay issued.
pub fn pipeline<T, P, D>(
    auth: &Authority,
    chunks: usize,
    threads: usize,
    prepare: P,
    deliver: D,
) -> Result<(), IdentityError>
where
    T: Send,
    P: Fn(usize) -> Prepared<T> + Sync,
    D: FnMut(Vec<(T, Result<Issued, IdentityError>)>) -> Result<(), IdentityError>,
{
    let mut i = 0;
    let next = move || {
        let chunk = (i < chunks).then_some(i);
        i += 1;
        Ok(chunk)
    };
    let threads = threads.clamp(1, chunks.max(1));
    pipeline_from(auth, threads, next, prepare, deliver).map(|_| ())
}

/// [`pipeline`] over chunks that come from a source, one at a time, as the workers ask for
/// them: `next` (called by one worker at a time, in chunk order, and only when the chunk it
/// returns may be worked on without getting more than a few chunks ahead of the committer)
/// gives the next chunk's input, `None` at the end; `prepare` turns it into items on the
/// worker. The same threads run from the first chunk to the last, and at most a few chunks
/// are in memory at once however long the source. An error from `next` ends the run after the
/// chunks before it are delivered, and is returned. Returns the number of chunks delivered.
pub fn pipeline_from<W, T, N, P, D>(
    auth: &Authority,
    threads: usize,
    next: N,
    prepare: P,
    mut deliver: D,
) -> Result<usize, IdentityError>
where
    W: Send,
    T: Send,
    N: FnMut() -> Result<Option<W>, IdentityError> + Send,
    P: Fn(W) -> Prepared<T> + Sync,
    D: FnMut(Vec<(T, Result<Issued, IdentityError>)>) -> Result<(), IdentityError>,
{
    let threads = threads.max(1);
    let ahead = threads * AHEAD_PER_WORKER;
    let feed = Mutex::new(Feed {
        next,
        handed: 0,
        ended: false,
        error: None,
    });
    let progress = Progress {
        committed: Mutex::new(0),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let (tx, rx) = mpsc::channel::<(usize, Prepared<T>)>();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (feed, progress, prepare) = (&feed, &progress, &prepare);
            s.spawn(move || {
                let _halt = HaltOnPanic(progress);
                while let Some((i, work)) = take(feed, progress, ahead) {
                    if tx.send((i, prepare(work))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let result = commit_in_order(auth, &rx, &progress, &mut deliver);
        if result.is_err() {
            progress.halt();
        }
        drop(rx);
        let delivered = result?;
        // Every worker has ended: the feed is free.
        let mut feed = feed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = feed.error.take() {
            return Err(e);
        }
        if !feed.ended || delivered < feed.handed {
            return Err(IdentityError::generate("issuance workers stopped"));
        }
        Ok(delivered)
    })
}

/// The source of chunks, taken by one worker at a time.
struct Feed<N> {
    next: N,
    /// Chunks handed out so far; the next one gets this number.
    handed: usize,
    /// The source is exhausted (or failed).
    ended: bool,
    /// Why the source failed.
    error: Option<IdentityError>,
}

/// The next chunk and its number, once the committer is near enough; `None` when the source
/// is exhausted or failed, or the run stopped.
fn take<W, N>(feed: &Mutex<Feed<N>>, progress: &Progress, ahead: usize) -> Option<(usize, W)>
where
    N: FnMut() -> Result<Option<W>, IdentityError>,
{
    let mut feed = feed.lock().unwrap_or_else(PoisonError::into_inner);
    let i = feed.handed;
    // Waiting with the feed held keeps the others out too: they would wait for a later turn.
    if feed.ended || !progress.wait_turn(i, ahead) {
        return None;
    }
    match (feed.next)() {
        Ok(Some(work)) => {
            feed.handed += 1;
            Some((i, work))
        }
        Ok(None) => {
            feed.ended = true;
            None
        }
        Err(e) => {
            feed.ended = true;
            feed.error = Some(e);
            None
        }
    }
}

/// Stops the run when a worker unwinds, so the committer and the other workers do not wait
/// for a chunk that will never come.
struct HaltOnPanic<'a>(&'a Progress);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

/// Commits and delivers chunks in their order until every worker has ended; the number
/// delivered.
fn commit_in_order<T, D>(
    auth: &Authority,
    rx: &mpsc::Receiver<(usize, Prepared<T>)>,
    progress: &Progress,
    deliver: &mut D,
) -> Result<usize, IdentityError>
where
    D: FnMut(Vec<(T, Result<Issued, IdentityError>)>) -> Result<(), IdentityError>,
{
    let mut waiting = BTreeMap::new();
    let mut want = 0;
    loop {
        let Some(chunk) = waiting.remove(&want) else {
            match rx.recv() {
                Ok((i, c)) => {
                    waiting.insert(i, c);
                    continue;
                }
                // Every worker has ended; a chunk still missing is checked for by the caller.
                Err(_) => return Ok(want),
            }
        };
        let (items, signed): (Vec<T>, Vec<_>) = chunk.into_iter().unzip();
        let issued = auth.commit(signed)?;
        progress.advance();
        deliver(items.into_iter().zip(issued).collect())?;
        want += 1;
    }
}

/// Issues a certificate for every `<device>.csr` (PEM, base64 or DER) in `in_dir`, writing
/// `<device>.pem` into `out_dir`, on every core. See [`issue_dir_threads`].
pub fn issue_dir(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    in_dir: &Path,
    out_dir: &Path,
) -> Result<BulkReport, IdentityError> {
    issue_dir_threads(
        auth,
        tenant,
        profile,
        in_dir,
        out_dir,
        crate::default_threads(),
    )
}

/// [`issue_dir`] on `threads` signing threads. The device id is the file stem. Each chunk of
/// [`BATCH`] is recorded in the index with one sync before any of its certificates is
/// written; the certificate files are then written (a file already there is replaced
/// atomically) and their directory synced once per chunk. File contents are not synced one by one, so after a
/// power loss the files of the last chunks may be missing or empty: run again (re-issuing for
/// the same device and key is allowed).
pub fn issue_dir_threads(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    in_dir: &Path,
    out_dir: &Path,
    threads: usize,
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
    let chunks: Vec<&[PathBuf]> = files.chunks(BATCH).collect();
    let mut report = BulkReport::default();
    let prepare = |i: usize| {
        let chunk = chunks.get(i).copied().unwrap_or_default();
        chunk
            .iter()
            .map(|path| {
                let signed = sign_file(auth, tenant, profile, path);
                (path.clone(), signed)
            })
            .collect::<Vec<_>>()
    };
    pipeline(auth, chunks.len(), threads, prepare, |done| {
        for (path, result) in done {
            match result {
                Ok(issued) => {
                    let device = issued.record.subject.replace('/', "_");
                    fsutil::write_new_nosync(
                        &out_dir.join(format!("{device}.pem")),
                        issued.cert_pem.as_bytes(),
                        PUBLIC_FILE,
                    )?;
                    report.issued += 1;
                }
                Err(e) => report.failed.push((path, e.to_string())),
            }
        }
        fsutil::sync_dir(out_dir)
    })?;
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Reads, decodes, verifies and signs one CSR file; refusals carry the reason.
fn sign_file(
    auth: &Authority,
    tenant: &TenantId,
    profile: &str,
    path: &Path,
) -> Result<Signed, IdentityError> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let device = DeviceId::parse(&stem).map_err(|e| IdentityError::BadId(e.to_string()))?;
    let body = fsutil::read(path)?;
    let der = csr::decode_body(&body)?;
    auth.sign_request(tenant, &device, profile, &der)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;
    use crate::{AuthorityConfig, Ca, InitOptions};

    fn authority(dir: &Path) -> Authority {
        Ca::init(dir, &InitOptions::default()).unwrap();
        Authority::open(dir, None, AuthorityConfig::default()).unwrap()
    }

    fn write_csr(dir: &Path, device: &str) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, device);
        let pem = p.serialize_request(&key).unwrap().pem().unwrap();
        std::fs::write(dir.join(format!("{device}.csr")), pem).unwrap();
    }

    /// More than two chunks on more threads than chunks need, with refusals among them: every
    /// good CSR becomes a file and an index record, refusals are reported by file.
    #[test]
    fn directory_of_csrs_in_chunks_on_several_threads() {
        let tmp = tempfile::tempdir().unwrap();
        let auth = authority(&tmp.path().join("ca"));
        let (csrs, out) = (tmp.path().join("csrs"), tmp.path().join("out"));
        std::fs::create_dir(&csrs).unwrap();
        let n = 2 * BATCH + 10;
        for i in 0..n {
            write_csr(&csrs, &format!("dev-{i:04}"));
        }
        std::fs::write(csrs.join("garbage.csr"), "not a csr").unwrap();
        std::fs::write(csrs.join("bad id!.csr"), "x").unwrap();
        std::fs::write(csrs.join("notes.txt"), "ignored").unwrap();
        let tenant = TenantId::parse("acme").unwrap();
        let report = issue_dir_threads(&auth, &tenant, "device", &csrs, &out, 3).unwrap();
        assert_eq!(report.issued, n);
        let mut failed: Vec<String> = report
            .failed
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        failed.sort();
        assert_eq!(failed, ["bad id!.csr", "garbage.csr"]);
        assert_eq!(auth.index().len(), n);
        for i in [0, BATCH, n - 1] {
            let device = format!("dev-{i:04}");
            let pem = std::fs::read_to_string(out.join(format!("{device}.pem"))).unwrap();
            let der = crate::ca::pem_to_der(&pem).unwrap();
            let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
            let serial = crate::Serial::from_bytes(x.raw_serial());
            let rec = auth.index().get(&serial).unwrap();
            assert_eq!(rec.subject, device);
        }
        // Again into the same directory: the files are replaced, new serials recorded.
        let again = issue_dir_threads(&auth, &tenant, "device", &csrs, &out, 1).unwrap();
        assert_eq!(again.issued, n);
        assert_eq!(auth.index().len(), 2 * n);
    }

    /// Chunks are delivered in order whatever order the workers finish them in, and an error
    /// from the caller stops the run with the chunks before it delivered.
    #[test]
    fn pipeline_delivers_in_order_and_stops_at_the_first_error() {
        let tmp = tempfile::tempdir().unwrap();
        let auth = authority(&tmp.path().join("ca"));
        let seen = Mutex::new(Vec::new());
        let prepare = |i: usize| {
            // Workers finish in whatever order the scheduler lets them.
            std::thread::yield_now();
            vec![(i, Err(IdentityError::BadId(format!("chunk {i}"))))]
        };
        pipeline(&auth, 9, 4, prepare, |done| {
            seen.lock()
                .unwrap()
                .extend(done.into_iter().map(|(i, _)| i));
            Ok(())
        })
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), (0..9).collect::<Vec<_>>());

        let mut delivered = Vec::new();
        let stopped = pipeline(&auth, 50, 3, prepare, |done| {
            let i = done.first().map_or(0, |(i, _)| *i);
            if i == 5 {
                return Err(IdentityError::generate("disk full"));
            }
            delivered.push(i);
            Ok(())
        });
        assert!(matches!(stopped, Err(IdentityError::Generate(_))));
        assert_eq!(delivered, (0..5).collect::<Vec<_>>());
        assert!(auth.index().is_empty());
    }
}
