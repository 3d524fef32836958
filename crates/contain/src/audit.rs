//! A tamper-evident audit log: append-only JSON lines, each carrying the SHA-256 of the
//! previous entry, written with `fsync`.
//!
//! A line is `{"seq":N,"time":"…","prev":"<hex>","record":…,"hash":"<hex>"}` where `hash` is
//! the SHA-256 of the line's text up to (not including) `,"hash"`, and `prev` is the previous
//! line's `hash` (64 zeros for the first). Hashing the text as written, rather than a
//! re-serialisation, means no canonical JSON is needed. [`verify`] finds any edited, removed,
//! inserted or reordered line and names the first bad one. Removing lines at the end leaves a
//! valid shorter chain: compare [`Head`]s recorded elsewhere (the SIEM, an incident) with
//! [`verify_against`] to catch that.
//!
//! Several processes may append to one log (the server, and CLI commands run beside it): each
//! append holds an exclusive advisory lock on the file and first takes in, verifying them, the
//! entries others appended since, so the chain never forks.
//!
//! In a server, appends go through an [`AuditWriter`]: one thread commits whatever was
//! submitted meanwhile with one `fsync` (group commit), each caller still waiting for its line
//! to be on disk.

mod writer;

pub use writer::AuditWriter;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::telemetry::{self, count};

const HASH_SUFFIX_LEN: usize = r#","hash":""}"#.len() + 64;

/// The end of a chain: how many entries and the last hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Entries so far (the last `seq`).
    pub seq: u64,
    /// Hex SHA-256 of the last entry (zeros when empty).
    pub hash: String,
}

impl Head {
    fn empty() -> Self {
        Self {
            seq: 0,
            hash: hex::encode([0u8; 32]),
        }
    }
}

/// What is wrong with a log, and where.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The line is not an entry of this format.
    #[error("line {line}: not an audit entry")]
    Malformed {
        /// 1-based line number.
        line: u64,
    },
    /// The line's text does not match its hash: edited.
    #[error("line {line}: content does not match its hash")]
    Modified {
        /// 1-based line number.
        line: u64,
    },
    /// The sequence number is not the next one: a line removed, inserted or moved.
    #[error("line {line}: sequence {found} where {expected} was expected")]
    Sequence {
        /// 1-based line number.
        line: u64,
        /// Expected seq.
        expected: u64,
        /// Found seq.
        found: u64,
    },
    /// `prev` is not the previous line's hash.
    #[error("line {line}: does not chain to the previous entry")]
    Chain {
        /// 1-based line number.
        line: u64,
    },
    /// The last line has no newline: an interrupted write, or a cut.
    #[error("line {line}: incomplete final line")]
    Incomplete {
        /// 1-based line number.
        line: u64,
    },
    /// Fewer entries, or another last hash, than a head recorded earlier.
    #[error("log ends at entry {found}, but entry {expected} was recorded with another hash")]
    Truncated {
        /// The recorded head's seq.
        expected: u64,
        /// The log's last seq.
        found: u64,
    },
    /// Reading failed.
    #[error("cannot read the audit log: {0}")]
    Io(String),
}

impl VerifyError {
    /// The first bad line, if the error is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Malformed { line }
            | Self::Modified { line }
            | Self::Sequence { line, .. }
            | Self::Chain { line }
            | Self::Incomplete { line } => Some(*line),
            Self::Truncated { .. } | Self::Io(_) => None,
        }
    }
}

/// Why an append failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The existing log does not verify; nothing is appended to a broken chain.
    #[error("existing audit log is damaged")]
    Damaged(#[from] VerifyError),
    /// Writing or syncing failed.
    #[error("audit log i/o failed")]
    Io(#[from] std::io::Error),
    /// The record does not serialise.
    #[error("audit record does not serialise")]
    Serialize(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct EntryHead {
    seq: u64,
    prev: String,
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: Head,
    /// Bytes of the file the head covers.
    len: u64,
    /// Tests: the next batch's write stops after this many bytes and fails.
    #[cfg(test)]
    fail_write_after: Option<usize>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is there.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_owned();
        let created = !path.is_file();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        if created {
            sync_parent(&path)?;
        }
        file.lock()?;
        let opened = (|| {
            let mut reader = BufReader::new(File::open(&path)?);
            let head = verify_reader(&mut reader).inspect_err(|_| {
                count(telemetry::AUDIT_VERIFY_FAILURES_TOTAL, &[]);
            })?;
            let len = reader.stream_position()?;
            Ok::<_, AuditError>((head, len))
        })();
        file.unlock()?;
        let (head, len) = opened?;
        Ok(Self {
            path,
            file,
            head,
            len,
            #[cfg(test)]
            fail_write_after: None,
        })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current end of the chain.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Appends `record` and syncs it to disk before returning the new head.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<Head, AuditError> {
        self.append_at(record, OffsetDateTime::now_utc())
    }

    /// [`AuditLog::append`] with an explicit time.
    pub fn append_at<T: Serialize>(
        &mut self,
        record: &T,
        at: OffsetDateTime,
    ) -> Result<Head, AuditError> {
        let record = serde_json::to_string(record)?;
        let mut heads = self.append_batch(&[record.as_str()], at)?;
        heads
            .pop()
            .ok_or_else(|| std::io::Error::other("nothing appended").into())
    }

    /// Takes in what other writers appended since this handle last wrote or read, verifying it
    /// chains on; a log that shrank or does not chain is damaged.
    fn catch_up(&mut self) -> Result<(), AuditError> {
        let len = self.file.metadata()?.len();
        if len == self.len {
            return Ok(());
        }
        let damaged = |e: VerifyError| {
            count(telemetry::AUDIT_VERIFY_FAILURES_TOTAL, &[]);
            AuditError::Damaged(e)
        };
        if len < self.len {
            return Err(damaged(VerifyError::Truncated {
                expected: self.head.seq,
                found: 0,
            }));
        }
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.len))?;
        let mut reader = BufReader::new(file.take(len - self.len));
        let mut buf = Vec::new();
        let mut head = self.head.clone();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            let line = head.seq + 1;
            let text = buf
                .strip_suffix(b"\n")
                .ok_or(VerifyError::Incomplete { line })
                .map_err(damaged)?;
            let text =
                std::str::from_utf8(text).map_err(|_| damaged(VerifyError::Malformed { line }))?;
            head = check_line(text, line, &head).map_err(damaged)?;
        }
        self.head = head;
        self.len = len;
        Ok(())
    }

    /// Appends `records` (JSON texts as `serde_json::to_string` writes them) under one lock
    /// and one `fsync`: a group commit. Returns the head after each record, in order.
    pub(crate) fn append_batch(
        &mut self,
        records: &[&str],
        at: OffsetDateTime,
    ) -> Result<Vec<Head>, AuditError> {
        self.file.lock()?;
        let appended = self
            .catch_up()
            .and_then(|()| self.write_synced(records, at));
        let unlocked = self.file.unlock();
        let heads = appended?;
        unlocked?;
        Ok(heads)
    }

    /// Chains `records` on the head, writes them in one `write` and syncs. The caller holds the
    /// file lock and has caught up.
    fn write_synced(
        &mut self,
        records: &[&str],
        at: OffsetDateTime,
    ) -> Result<Vec<Head>, AuditError> {
        let time = at.format(&Rfc3339).map_err(std::io::Error::other)?;
        let mut head = self.head.clone();
        let mut text = String::new();
        let mut heads = Vec::with_capacity(records.len());
        for record in records {
            let seq = head.seq + 1;
            let body = format!(
                r#"{{"seq":{seq},"time":"{time}","prev":"{}","record":{record}"#,
                head.hash
            );
            let hash = hex::encode(Sha256::digest(body.as_bytes()));
            text.push_str(&body);
            text.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
            head = Head { seq, hash };
            heads.push(head.clone());
        }
        if let Err(e) = self.write_and_sync(text.as_bytes()) {
            self.roll_back();
            return Err(e.into());
        }
        metrics::counter!(telemetry::AUDIT_APPENDS_TOTAL).increment(records.len() as u64);
        self.len += text.len() as u64;
        self.head = head;
        Ok(heads)
    }
}

impl AuditLog {
    fn write_and_sync(&mut self, text: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(cut) = self.fail_write_after.take() {
            // A disk that fills up part way through the batch.
            self.file.write_all(text.get(..cut).unwrap_or(text))?;
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        self.file.write_all(text)?;
        self.file.sync_data()
    }

    /// After a failed write or sync, cuts off whatever part of the batch reached the file, so
    /// the chain ends where its callers were last told it does: the batch is refused as a
    /// whole, and the next append (by this or another process) does not find a torn line and
    /// call the log damaged. The file lock is still held, so nobody read the cut part. If the
    /// cut fails too, the torn tail stays and is reported as damage, as it should be.
    fn roll_back(&mut self) {
        count(telemetry::AUDIT_ROLLBACKS_TOTAL, &[]);
        if let Err(e) = self
            .file
            .set_len(self.len)
            .and_then(|()| self.file.sync_data())
        {
            tracing::error!(path = %self.path.display(), error = %e, "cannot cut a failed batch off the audit log");
        }
    }
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Verifies the log at `path`; returns its head.
pub fn verify(path: impl AsRef<Path>) -> Result<Head, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError::Io(e.to_string()))?;
    let result = verify_reader(BufReader::new(file));
    if result.is_err() {
        count(telemetry::AUDIT_VERIFY_FAILURES_TOTAL, &[]);
    }
    result
}

/// Verifies the log and that it still contains `recorded`, a head taken earlier.
pub fn verify_against(path: impl AsRef<Path>, recorded: &Head) -> Result<Head, VerifyError> {
    let path = path.as_ref();
    let head = verify(path)?;
    if head.seq < recorded.seq {
        count(telemetry::AUDIT_VERIFY_FAILURES_TOTAL, &[]);
        return Err(VerifyError::Truncated {
            expected: recorded.seq,
            found: head.seq,
        });
    }
    // The recorded entry must still be there with the same hash.
    let file = File::open(path).map_err(|e| VerifyError::Io(e.to_string()))?;
    let mut lines = BufReader::new(file).lines();
    let line = usize::try_from(recorded.seq)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| lines.nth(n))
        .transpose()
        .map_err(|e| VerifyError::Io(e.to_string()))?;
    let found_hash = line.as_deref().and_then(split_hash).map(|(_, h)| h);
    if recorded.seq > 0 && found_hash != Some(recorded.hash.as_str()) {
        count(telemetry::AUDIT_VERIFY_FAILURES_TOTAL, &[]);
        return Err(VerifyError::Truncated {
            expected: recorded.seq,
            found: head.seq,
        });
    }
    Ok(head)
}

/// Verifies a log read from `reader`.
pub fn verify_reader(mut reader: impl BufRead) -> Result<Head, VerifyError> {
    let mut head = Head::empty();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .by_ref()
            .take(1 << 24)
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(head);
        }
        line_no += 1;
        let Some(text) = buf.strip_suffix(b"\n") else {
            return Err(VerifyError::Incomplete { line: line_no });
        };
        let text =
            std::str::from_utf8(text).map_err(|_| VerifyError::Malformed { line: line_no })?;
        head = check_line(text, line_no, &head)?;
    }
}

/// Splits a line into the hashed body and the hex hash.
fn split_hash(line: &str) -> Option<(&str, &str)> {
    let cut = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let body = line.get(..cut)?;
    let hash = line
        .get(cut..)?
        .strip_prefix(r#","hash":""#)?
        .strip_suffix(r#""}"#)?;
    (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some((body, hash))
}

fn check_line(line: &str, line_no: u64, prev: &Head) -> Result<Head, VerifyError> {
    let malformed = VerifyError::Malformed { line: line_no };
    let (body, hash) = split_hash(line).ok_or(malformed.clone())?;
    if hex::encode(Sha256::digest(body.as_bytes())) != hash {
        return Err(VerifyError::Modified { line: line_no });
    }
    let entry: EntryHead =
        serde_json::from_str(&format!("{body}}}")).map_err(|_| malformed.clone())?;
    let expected = prev.seq + 1;
    if entry.seq != expected {
        return Err(VerifyError::Sequence {
            line: line_no,
            expected,
            found: entry.seq,
        });
    }
    if entry.prev != prev.hash {
        return Err(VerifyError::Chain { line: line_no });
    }
    Ok(Head {
        seq: entry.seq,
        hash: hash.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn write_log(n: usize) -> (tempfile::TempDir, PathBuf, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append(&serde_json::json!({"i": i, "s": format!("entry \"{i}\"\n")}))
                .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().map(str::to_owned).collect();
        (dir, path, lines)
    }

    fn check(lines: &[String]) -> Result<Head, VerifyError> {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        verify_reader(text.as_bytes())
    }

    #[test]
    fn appends_verify_and_reopen_continues() {
        let (_dir, path, lines) = write_log(3);
        let head = verify(&path).unwrap();
        assert_eq!(head.seq, 3);
        let mut log = AuditLog::open(&path).unwrap();
        assert_eq!(log.head(), &head);
        let next = log.append(&"four").unwrap();
        assert_eq!(next.seq, 4);
        assert_eq!(verify_against(&path, &head).unwrap(), next);
        assert!(lines[1].contains(&format!(r#""prev":"{}""#, split_hash(&lines[0]).unwrap().1)));
    }

    #[test]
    fn detects_edits_deletions_reordering_and_cuts() {
        let (_dir, path, lines) = write_log(5);
        let mut edited = lines.clone();
        edited[2] = edited[2].replace(r#""i":2"#, r#""i":9"#);
        assert_eq!(check(&edited), Err(VerifyError::Modified { line: 3 }));
        let mut deleted = lines.clone();
        deleted.remove(1);
        assert_eq!(check(&deleted).unwrap_err().line(), Some(2));
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        assert_eq!(check(&swapped).unwrap_err().line(), Some(4));
        let text = lines.join("\n");
        assert_eq!(
            verify_reader(text.as_bytes()),
            Err(VerifyError::Incomplete { line: 5 })
        );
        let head = verify(&path).unwrap();
        std::fs::write(&path, format!("{}\n", lines[..3].join("\n"))).unwrap();
        assert!(matches!(
            verify_against(&path, &head),
            Err(VerifyError::Truncated {
                expected: 5,
                found: 3
            })
        ));
        assert!(AuditLog::open(&path).is_ok());
        std::fs::write(&path, format!("{}\n", deleted.join("\n"))).unwrap();
        assert!(matches!(AuditLog::open(&path), Err(AuditError::Damaged(_))));
    }

    #[test]
    fn a_batch_that_fails_part_way_is_cut_off_and_the_chain_goes_on() {
        let (_dir, path, _lines) = write_log(3);
        let mut a = AuditLog::open(&path).unwrap();
        let mut b = AuditLog::open(&path).unwrap();
        let records = [r#"{"action":"disconnect","n":1}"#; 3];
        let mut expected = 3;
        // Cut inside the first line, on its end, and inside a later line.
        for cut in [1, 40, 190, 260, 400] {
            let before = std::fs::metadata(&path).unwrap().len();
            a.fail_write_after = Some(cut);
            let err = a
                .append_batch(&records, OffsetDateTime::now_utc())
                .unwrap_err();
            assert!(matches!(err, AuditError::Io(_)), "{err:?}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), before, "cut {cut}");
            assert_eq!(verify(&path).unwrap().seq, expected);
            // Both the failed handle and another one go on appending to one chain.
            a.append(&serde_json::json!({"after": cut})).unwrap();
            b.append(&serde_json::json!({"other": cut})).unwrap();
            expected += 2;
            assert_eq!(verify(&path).unwrap(), *b.head());
        }
        assert_eq!(AuditLog::open(&path).unwrap().head().seq, expected);
    }

    #[test]
    fn two_writers_on_one_file_keep_one_chain() {
        let (_dir, path, _lines) = write_log(2);
        let mut a = AuditLog::open(&path).unwrap();
        let mut b = AuditLog::open(&path).unwrap();
        for i in 0..5 {
            a.append(&serde_json::json!({"from": "a", "i": i})).unwrap();
            b.append(&serde_json::json!({"from": "b", "i": i})).unwrap();
        }
        let head = verify(&path).unwrap();
        assert_eq!(head.seq, 12);
        assert_eq!(b.head(), &head);
        // Threads appending at once, each through its own handle, as processes would.
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut log = AuditLog::open(&path).unwrap();
                    for i in 0..25 {
                        log.append(&serde_json::json!({"t": t, "i": i})).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(verify(&path).unwrap().seq, 112);
        assert_eq!(a.append(&"last").unwrap().seq, 113);
    }

    #[test]
    fn a_writer_refuses_a_log_damaged_behind_its_back() {
        let (_dir, path, lines) = write_log(3);
        let mut log = AuditLog::open(&path).unwrap();
        let mut other = AuditLog::open(&path).unwrap();
        other.append(&"four").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("four", "f0ur")).unwrap();
        assert!(matches!(log.append(&"five"), Err(AuditError::Damaged(_))));
        std::fs::write(&path, format!("{}\n", lines[..2].join("\n"))).unwrap();
        assert!(matches!(other.append(&"five"), Err(AuditError::Damaged(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any single-byte change to any line is caught at that line or earlier.
        #[test]
        fn any_byte_flip_is_detected(line in 0usize..6, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let (_dir, _path, lines) = write_log(6);
            let mut bytes = lines[line].clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte && byte != b'\n');
            bytes[i] = byte;
            let mut tampered = lines;
            tampered[line] = String::from_utf8_lossy(&bytes).into_owned();
            let err = check(&tampered).unwrap_err();
            prop_assert!(err.line().unwrap() <= line as u64 + 1);
        }
    }
}
