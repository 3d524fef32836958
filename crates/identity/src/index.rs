//! The issuance index: every certificate the authority signed, and its revocation.
//!
//! [`FileIndex`] keeps an append-only JSON-lines file (`index.jsonl` in the CA directory),
//! replayed into memory on open. Appends are group-committed: concurrent inserts and
//! revocations share one write and one fdatasync, and none returns before its lines are
//! durable; a record becomes visible to lookups only then. [`CertIndex`] is the seam for a
//! database backed index.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::grouplog::GroupLog;
use crate::profile::{KeyType, Usage};
use crate::{IndexError, Serial};

/// Why a certificate was revoked (RFC 5280 section 5.3.1 reason codes we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// No reason given.
    #[default]
    Unspecified,
    /// The device key is known or suspected to be compromised.
    KeyCompromise,
    /// The certificate was replaced (re-enrolment, rekey).
    Superseded,
    /// The device was decommissioned.
    CessationOfOperation,
}

impl RevocationReason {
    pub(crate) fn rcgen(self) -> rcgen::RevocationReason {
        match self {
            Self::Unspecified => rcgen::RevocationReason::Unspecified,
            Self::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
            Self::Superseded => rcgen::RevocationReason::Superseded,
            Self::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
        }
    }
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// When it was revoked (Unix seconds).
    pub at: i64,
    /// Why.
    pub reason: RevocationReason,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Serial number.
    pub serial: Serial,
    /// Tenant of the device (or of the service).
    pub tenant: String,
    /// Device id, or service name for server certificates.
    pub subject: String,
    /// Profile the certificate was issued under.
    pub profile: String,
    /// Client (device) or server certificate.
    #[serde(default)]
    pub usage: Usage,
    /// Id of the issuing CA that signed it.
    pub issuer: String,
    /// Start of validity (Unix seconds).
    pub not_before: i64,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// SHA-256 of the certificate DER, hex.
    pub fingerprint: String,
    /// SHA-256 of the SubjectPublicKeyInfo DER, hex (finds keys shared between devices).
    pub spki_sha256: String,
    /// Type and size of the certified public key; absent in records written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyType>,
    /// Set once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

impl CertRecord {
    /// An empty record, standing in for one lent out for a moment; never stored.
    pub(crate) fn placeholder() -> Self {
        Self {
            serial: Serial::placeholder(),
            tenant: String::new(),
            subject: String::new(),
            profile: String::new(),
            usage: Usage::Client,
            issuer: String::new(),
            not_before: 0,
            not_after: 0,
            fingerprint: String::new(),
            spki_sha256: String::new(),
            key: None,
            revoked: None,
        }
    }
}

/// A CRL entry: a revoked certificate's serial and its revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSerial {
    /// The serial number's octets (big-endian, as in the certificate).
    pub serial: Vec<u8>,
    /// When and why.
    pub revocation: Revocation,
}

/// Outcome of a revocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Newly revoked.
    Revoked,
    /// It was revoked before; nothing changed.
    AlreadyRevoked,
    /// No such serial.
    NotFound,
}

/// Storage of issued certificates and revocations.
pub trait CertIndex: Send + Sync {
    /// Records newly issued certificates durably (one sync for the whole batch).
    fn insert(&self, records: &[CertRecord]) -> Result<(), IndexError>;
    /// Marks a certificate revoked.
    fn revoke(&self, serial: &Serial, rev: Revocation) -> Result<RevokeOutcome, IndexError>;
    /// Looks a certificate up by serial.
    fn get(&self, serial: &Serial) -> Option<CertRecord>;
    /// All certificates of a device, oldest first.
    fn by_subject(&self, tenant: &str, subject: &str) -> Vec<CertRecord>;
    /// All certificates carrying this public key (SPKI SHA-256, hex).
    fn by_spki(&self, spki_sha256: &str) -> Vec<CertRecord>;
    /// Revoked certificates signed by the issuing CA `issuer`.
    fn revoked_by_issuer(&self, issuer: &str) -> Vec<CertRecord>;
    /// What a CRL lists for the issuing CA `issuer`: the serial (as bytes) and revocation of
    /// each revoked certificate still valid after `valid_after` (Unix seconds), ordered by
    /// serial. Copies only that, not whole records: a CRL may list millions.
    fn revocations_by_issuer(&self, issuer: &str, valid_after: i64) -> Vec<RevokedSerial>;
    /// Calls `f` on every record, in no particular order, without copying them: audits walk
    /// millions of records this way. Issuance and revocation wait while it runs, so `f` should
    /// only look (and must not call back into the index).
    fn for_each(&self, f: &mut dyn FnMut(&CertRecord));
    /// Number of certificates recorded.
    fn len(&self) -> usize;
    /// Whether nothing was recorded yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Line {
    Issued(CertRecord),
    Revoked {
        serial: Serial,
        at: i64,
        reason: RevocationReason,
    },
}

#[derive(Default)]
struct Mem {
    certs: HashMap<Serial, CertRecord>,
    by_subject: HashMap<(String, String), Vec<Serial>>,
    by_spki: HashMap<String, Vec<Serial>>,
}

impl Mem {
    fn add(&mut self, r: CertRecord) {
        self.by_subject
            .entry((r.tenant.clone(), r.subject.clone()))
            .or_default()
            .push(r.serial.clone());
        self.by_spki
            .entry(r.spki_sha256.clone())
            .or_default()
            .push(r.serial.clone());
        self.certs.insert(r.serial.clone(), r);
    }

    fn collect(&self, serials: Option<&Vec<Serial>>) -> Vec<CertRecord> {
        serials
            .map(|v| {
                v.iter()
                    .filter_map(|s| self.certs.get(s).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

struct Inner {
    mem: Mem,
    /// Serials being appended (issued, not yet durable): no second record may take them.
    issuing: HashSet<Serial>,
    /// Serials whose revocation is being appended.
    revoking: HashSet<Serial>,
}

/// Append-only JSON-lines index file.
pub struct FileIndex {
    path: PathBuf,
    log: GroupLog,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for FileIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileIndex")
            .field("path", &self.path)
            .finish()
    }
}

impl FileIndex {
    /// Opens (creating if needed) and replays the index. A torn last line, left by a crash in
    /// the middle of an append, is cut off; a bad line anywhere else is reported as corruption.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let io = |e| IndexError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut mem = Mem::default();
        let mut good_len: u64 = 0;
        let mut torn = false;
        if path.exists() {
            let reader = BufReader::new(File::open(path).map_err(io)?);
            let lines: Vec<String> = reader.lines().collect::<Result<_, _>>().map_err(io)?;
            let count = lines.len();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    good_len += line.len() as u64 + 1;
                    continue;
                }
                match serde_json::from_str::<Line>(line) {
                    Ok(Line::Issued(r)) => mem.add(r),
                    Ok(Line::Revoked { serial, at, reason }) => {
                        if let Some(r) = mem.certs.get_mut(&serial) {
                            r.revoked.get_or_insert(Revocation { at, reason });
                        }
                    }
                    Err(_) if i + 1 == count => {
                        torn = true;
                        break;
                    }
                    Err(_) => {
                        return Err(IndexError::Corrupt {
                            path: path.to_path_buf(),
                            line: i + 1,
                        });
                    }
                }
                good_len += line.len() as u64 + 1;
            }
        }
        if torn {
            tracing::warn!(path = %path.display(), "dropping torn last line of the certificate index");
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f: File| f.set_len(good_len))
                .map_err(io)?;
        }
        let log = GroupLog::open(path, 0o600).map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            log,
            inner: Mutex::new(Inner {
                mem,
                issuing: HashSet::new(),
                revoking: HashSet::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the in-memory maps half-updated in a way
        // that matters: the file is the source of truth, so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends lines durably (group-committed with concurrent appends); called without the
    /// lock held.
    fn append<'a>(&self, lines: impl Iterator<Item = LineRef<'a>>) -> Result<(), IndexError> {
        let io = |e| IndexError::Io {
            path: self.path.clone(),
            source: e,
        };
        let mut buf = Vec::with_capacity(512);
        for l in lines {
            serde_json::to_writer(&mut buf, &l).map_err(|e| io(std::io::Error::other(e)))?;
            buf.push(b'\n');
        }
        self.log.append(&buf).map_err(io)
    }
}

/// A [`Line`] to write, borrowing its record.
#[derive(Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum LineRef<'a> {
    Issued(&'a CertRecord),
    Revoked {
        serial: &'a Serial,
        at: i64,
        reason: RevocationReason,
    },
}

impl CertIndex for FileIndex {
    fn insert(&self, records: &[CertRecord]) -> Result<(), IndexError> {
        if records.is_empty() {
            return Ok(());
        }
        {
            let mut inner = self.lock();
            let mut batch = HashSet::with_capacity(records.len());
            for r in records {
                if inner.mem.certs.contains_key(&r.serial)
                    || inner.issuing.contains(&r.serial)
                    || !batch.insert(&r.serial)
                {
                    return Err(IndexError::DuplicateSerial(r.serial.to_string()));
                }
            }
            inner
                .issuing
                .extend(records.iter().map(|r| r.serial.clone()));
        }
        let appended = self.append(records.iter().map(LineRef::Issued));
        let mut inner = self.lock();
        for r in records {
            inner.issuing.remove(&r.serial);
        }
        appended?;
        for r in records {
            inner.mem.add(r.clone());
        }
        Ok(())
    }

    fn revoke(&self, serial: &Serial, rev: Revocation) -> Result<RevokeOutcome, IndexError> {
        {
            let mut inner = self.lock();
            match inner.mem.certs.get(serial) {
                None => return Ok(RevokeOutcome::NotFound),
                Some(r) if r.revoked.is_some() => return Ok(RevokeOutcome::AlreadyRevoked),
                Some(_) => {}
            }
            if !inner.revoking.insert(serial.clone()) {
                return Ok(RevokeOutcome::AlreadyRevoked);
            }
        }
        let line = LineRef::Revoked {
            serial,
            at: rev.at,
            reason: rev.reason,
        };
        let appended = self.append(std::iter::once(line));
        let mut inner = self.lock();
        inner.revoking.remove(serial);
        appended?;
        if let Some(r) = inner.mem.certs.get_mut(serial) {
            r.revoked = Some(rev);
        }
        Ok(RevokeOutcome::Revoked)
    }

    fn get(&self, serial: &Serial) -> Option<CertRecord> {
        self.lock().mem.certs.get(serial).cloned()
    }

    fn by_subject(&self, tenant: &str, subject: &str) -> Vec<CertRecord> {
        let inner = self.lock();
        inner.mem.collect(
            inner
                .mem
                .by_subject
                .get(&(tenant.to_owned(), subject.to_owned())),
        )
    }

    fn by_spki(&self, spki_sha256: &str) -> Vec<CertRecord> {
        let inner = self.lock();
        inner.mem.collect(inner.mem.by_spki.get(spki_sha256))
    }

    fn revoked_by_issuer(&self, issuer: &str) -> Vec<CertRecord> {
        let inner = self.lock();
        let mut v: Vec<CertRecord> = inner
            .mem
            .certs
            .values()
            .filter(|r| r.issuer == issuer && r.revoked.is_some())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.serial.cmp(&b.serial));
        v
    }

    fn revocations_by_issuer(&self, issuer: &str, valid_after: i64) -> Vec<RevokedSerial> {
        let mut v: Vec<RevokedSerial> = {
            let inner = self.lock();
            inner
                .mem
                .certs
                .values()
                .filter(|r| r.issuer == issuer && r.not_after > valid_after)
                .filter_map(|r| {
                    Some(RevokedSerial {
                        serial: r.serial.to_bytes(),
                        revocation: r.revoked.clone()?,
                    })
                })
                .collect()
        };
        // Byte order is the order of the lowercase hex serials `revoked_by_issuer` sorts by.
        v.sort_unstable_by(|a, b| a.serial.cmp(&b.serial));
        v
    }

    fn for_each(&self, f: &mut dyn FnMut(&CertRecord)) {
        let inner = self.lock();
        for r in inner.mem.certs.values() {
            f(r);
        }
    }

    fn len(&self) -> usize {
        self.lock().mem.certs.len()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn rec(device: &str) -> CertRecord {
        CertRecord {
            serial: Serial::random().unwrap(),
            tenant: "acme".into(),
            subject: device.into(),
            profile: "device".into(),
            usage: Usage::Client,
            issuer: "issuing-1".into(),
            not_before: 0,
            not_after: 10,
            fingerprint: "00".into(),
            spki_sha256: format!("spki-{device}"),
            key: Some(KeyType::EcdsaP256),
            revoked: None,
        }
    }

    /// `revocations_by_issuer` lists what whole revoked records sorted by hex serial give, in
    /// the same order: serials of several lengths; expired, unrevoked and other issuers'
    /// certificates left out.
    #[test]
    fn revocations_by_issuer_match_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let idx = FileIndex::open(&dir.path().join("index.jsonl")).unwrap();
        let mut records = Vec::new();
        for i in 0..60u32 {
            let mut r = rec(&format!("d{i}"));
            r.serial = match i % 4 {
                0 => Serial::from_bytes(&[0x0a, u8::try_from(i).unwrap()]),
                1 => Serial::from_bytes(&[0x0a]),
                _ => r.serial,
            };
            if i % 4 == 1 && i > 1 {
                continue; // one one-byte serial is enough
            }
            r.not_after = if i % 5 == 0 { 10 } else { 1000 };
            if i % 7 == 0 {
                r.issuer = "issuing-2".into();
            }
            records.push(r);
        }
        idx.insert(&records).unwrap();
        for (n, r) in records.iter().enumerate() {
            if n % 3 != 2 {
                let rev = Revocation {
                    at: i64::try_from(n).unwrap(),
                    reason: RevocationReason::KeyCompromise,
                };
                idx.revoke(&r.serial, rev).unwrap();
            }
        }
        // What a CRL listed before: whole revoked records, sorted by hex serial.
        let from_records = |issuer: &str| -> Vec<RevokedSerial> {
            idx.revoked_by_issuer(issuer)
                .into_iter()
                .filter(|r| r.not_after > 100)
                .filter_map(|r| {
                    Some(RevokedSerial {
                        serial: r.serial.to_bytes(),
                        revocation: r.revoked?,
                    })
                })
                .collect()
        };
        for issuer in ["issuing-1", "issuing-2", "none"] {
            let listed = idx.revocations_by_issuer(issuer, 100);
            assert_eq!(listed, from_records(issuer));
            assert!(listed.iter().all(|r| r.revocation.at % 3 != 2));
        }
        let listed = idx.revocations_by_issuer("issuing-1", 100);
        assert!(listed.len() > 20, "{}", listed.len());
        assert!(listed.iter().any(|r| r.serial == [0x0a]));
        assert!(listed.windows(2).all(|w| w[0].serial < w[1].serial));
    }

    #[test]
    fn replay_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        let (a, b) = (rec("d1"), rec("d2"));
        {
            let idx = FileIndex::open(&path).unwrap();
            idx.insert(&[a.clone(), b]).unwrap();
            let rev = Revocation {
                at: 5,
                reason: RevocationReason::KeyCompromise,
            };
            assert_eq!(
                idx.revoke(&a.serial, rev.clone()).unwrap(),
                RevokeOutcome::Revoked
            );
            assert_eq!(
                idx.revoke(&a.serial, rev).unwrap(),
                RevokeOutcome::AlreadyRevoked
            );
            assert!(idx.insert(std::slice::from_ref(&a)).is_err());
        }
        // Simulate a crash mid-append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"op\":\"issued\",\"ser").unwrap();
        drop(f);
        let idx = FileIndex::open(&path).unwrap();
        assert_eq!(idx.len(), 2);
        assert!(idx.get(&a.serial).unwrap().revoked.is_some());
        assert_eq!(idx.by_subject("acme", "d2").len(), 1);
        assert_eq!(idx.revoked_by_issuer("issuing-1").len(), 1);
        idx.insert(&[rec("d3")]).unwrap();
        drop(idx);
        assert_eq!(FileIndex::open(&path).unwrap().len(), 3);
    }

    #[test]
    fn for_each_visits_every_record_once_with_its_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let idx = FileIndex::open(&dir.path().join("index.jsonl")).unwrap();
        let recs: Vec<CertRecord> = (0..5).map(|i| rec(&format!("d{i}"))).collect();
        idx.insert(&recs).unwrap();
        let rev = Revocation {
            at: 3,
            reason: RevocationReason::Superseded,
        };
        idx.revoke(&recs[2].serial, rev).unwrap();
        let mut seen = Vec::new();
        idx.for_each(&mut |r| seen.push((r.serial.clone(), r.revoked.is_some())));
        seen.sort();
        let mut want: Vec<(Serial, bool)> = recs
            .iter()
            .map(|r| (r.serial.clone(), r.serial == recs[2].serial))
            .collect();
        want.sort();
        assert_eq!(seen, want);
    }

    /// Index lines written before the key type was recorded still load, with no key type.
    #[test]
    fn records_without_a_key_type_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        std::fs::write(
            &path,
            "{\"op\":\"issued\",\"serial\":\"4a01\",\"tenant\":\"acme\",\"subject\":\"d1\",\
             \"profile\":\"device\",\"usage\":\"client\",\"issuer\":\"issuing-1\",\
             \"not_before\":0,\"not_after\":10,\"fingerprint\":\"00\",\"spki_sha256\":\"ab\"}\n",
        )
        .unwrap();
        let idx = FileIndex::open(&path).unwrap();
        let r = idx.get(&Serial::parse("4a01").unwrap()).unwrap();
        assert_eq!(r.key, None);
        let line = serde_json::to_string(&Line::Issued(rec("d2"))).unwrap();
        assert!(line.contains("\"key\":\"ecdsa-p256\""), "{line}");
        let back: Line = serde_json::from_str(&line).unwrap();
        assert!(matches!(back, Line::Issued(r) if r.key == Some(KeyType::EcdsaP256)));
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.jsonl");
        std::fs::write(&path, "garbage\n{}\n").unwrap();
        assert!(matches!(
            FileIndex::open(&path),
            Err(IndexError::Corrupt { line: 1, .. })
        ));
    }
}
