//! The accounting journal: an append-only log of segment files, the only thing written before
//! an Accounting-Response goes out.
//!
//! A segment is named by the journal position (byte offset over all segments) of its first
//! byte, so positions are contiguous across segments. Each entry is framed as
//! `len: u32 LE | crc: u32 LE | payload`, the CRC-32C covering the length and the payload.
//! The writer appends a whole group of entries with one `write` and one `fdatasync`, and only
//! then are their requests answered. A crash can leave a torn last entry: its CRC (or its
//! length running past the end of the file) gives it away, and since it was never synced it
//! was never acknowledged, so recovery cuts it off. A segment is deleted once the store has
//! folded everything in it.
//!
//! Segments are zero-filled to their full size and synced before the first entry goes in
//! (the next one is prepared in the background while the current one fills up): a group then
//! overwrites blocks that are already allocated without changing the file's size, so its
//! `fdatasync` flushes data only, not a file-system journal commit — about ten times faster
//! on ext4. A zero length ends the valid frames, like the end of the file does; when a segment
//! is closed its unused zeros are cut off.
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

mod crc;
#[cfg(test)]
mod tests;

#[cfg(test)]
use crc::crc32c;

/// Header bytes before each payload.
const HEADER: usize = 8;
/// Largest payload accepted: an entry is one accounting record (a few hundred bytes), so a
/// larger length can only be damage.
pub(crate) const MAX_ENTRY: usize = 1 << 20;
const SUFFIX: &str = ".seg";
const ID_FILE: &str = "journal.id";
/// The next segment while it is being zero-filled (not a segment: no `.seg` suffix).
const SPARE_FILE: &str = "spare.tmp";
/// Zeros written per call when filling a segment.
const FILL_CHUNK: usize = 1 << 20;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation failed.
    #[error("accounting journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry is larger than [`MAX_ENTRY`].
    #[error("accounting journal entry of {0} bytes is too large")]
    TooLarge(usize),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Appends one framed entry to `buf`.
#[cfg(test)]
pub(crate) fn frame(buf: &mut Vec<u8>, payload: &[u8]) -> Result<(), JournalError> {
    if payload.len() > MAX_ENTRY {
        return Err(JournalError::TooLarge(payload.len()));
    }
    let len = u32::try_from(payload.len()).map_err(|_| JournalError::TooLarge(payload.len()))?;
    let len = len.to_le_bytes();
    let crc = crc::update(crc::update(!0, &len), payload) ^ !0;
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(payload);
    Ok(())
}

/// Starts a frame at the end of `buf`: the payload is appended next, then [`end_frame`]
/// fills in the header. Saves copying each payload once more.
pub(crate) fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    at
}

/// Completes the frame begun at `at`; on error the frame is removed again.
pub(crate) fn end_frame(buf: &mut Vec<u8>, at: usize) -> Result<(), JournalError> {
    let n = buf.len().saturating_sub(at + HEADER);
    let len = u32::try_from(n)
        .ok()
        .filter(|_| n > 0 && n <= MAX_ENTRY)
        .map(u32::to_le_bytes);
    let (Some(len), Some(payload)) = (len, buf.get(at + HEADER..)) else {
        buf.truncate(at);
        return Err(JournalError::TooLarge(n));
    };
    let crc = crc::update(crc::update(!0, &len), payload) ^ !0;
    if let Some(header) = buf.get_mut(at..at + HEADER) {
        header[..4].copy_from_slice(&len);
        header[4..].copy_from_slice(&crc.to_le_bytes());
    }
    Ok(())
}

/// What the bytes at one place of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A valid entry and the size of its frame.
    Entry(&'a [u8], usize),
    /// Nothing more (clean end).
    End,
    /// A frame that is cut short or does not match its CRC.
    Bad,
}

/// Decodes the frame at the start of `buf`.
pub(crate) fn unframe(buf: &[u8]) -> Frame<'_> {
    if buf.is_empty() {
        return Frame::End;
    }
    let (Some(len), Some(crc)) = (buf.get(0..4), buf.get(4..8)) else {
        return Frame::Bad;
    };
    let mut l = [0u8; 4];
    l.copy_from_slice(len);
    let n = u32::from_le_bytes(l) as usize;
    let mut c = [0u8; 4];
    c.copy_from_slice(crc);
    if n == 0 || n > MAX_ENTRY {
        return Frame::Bad;
    }
    let Some(payload) = buf.get(HEADER..HEADER + n) else {
        return Frame::Bad;
    };
    if crc::update(crc::update(!0, len), payload) ^ !0 != u32::from_le_bytes(c) {
        return Frame::Bad;
    }
    Frame::Entry(payload, HEADER + n)
}

/// Segment start positions in `dir`, ascending.
pub(crate) fn segments(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut starts = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let name = e.file_name();
        let Some(start) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        starts.push(start);
    }
    starts.sort_unstable();
    Ok(starts)
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}{SUFFIX}"))
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The journal's identity, created with it: the store records fold positions per journal,
/// so a new (emptied) journal directory never inherits another's position.
fn identity(dir: &Path) -> Result<String, JournalError> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path)(e)),
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("{nanos:x}-{:x}", std::process::id());
    let tmp = dir.join(format!("{ID_FILE}.tmp"));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(id.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)?;
    Ok(id)
}

/// The writing end. Owned by one thread; every method blocks on the file system.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    id: String,
    file: File,
    /// Start position of the open segment.
    start: u64,
    /// Position after the last durable entry.
    end: u64,
    /// Bytes of the open segment that are allocated (zero-filled or written) and synced.
    filled: u64,
    segment_bytes: u64,
    /// The next segment, being zero-filled in the background.
    spare: Option<JoinHandle<Result<File, JournalError>>>,
}

/// What recovery found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Bytes cut off the end of the last segment (a torn or damaged tail).
    pub(crate) truncated: u64,
}

impl Journal {
    /// Opens (creating) the journal in `dir`: finds the end of the last segment, cuts off a
    /// torn tail, and appends after it. Segments hold about `segment_bytes` each.
    pub(crate) fn open(dir: &Path, segment_bytes: u64) -> Result<(Self, Recovered), JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let id = identity(dir)?;
        let segment_bytes = segment_bytes.max(1);
        // A spare left by a stopped process may be incomplete.
        let spare = dir.join(SPARE_FILE);
        match std::fs::remove_file(&spare) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&spare)(e)),
        }
        let mut recovered = Recovered::default();
        let start = segments(dir)?.last().copied();
        let (start, valid, file) = match start {
            Some(start) => {
                let path = segment_path(dir, start);
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io(&path))?;
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(io(&path))?;
                let valid = valid_prefix(&bytes);
                // The zeros of a filled segment are not a tail; anything else after the
                // valid frames is.
                let tail = bytes
                    .get(usize::try_from(valid).unwrap_or(usize::MAX)..)
                    .unwrap_or_default();
                recovered.truncated =
                    tail.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1) as u64;
                if valid < bytes.len() as u64 {
                    file.set_len(valid).map_err(io(&path))?;
                }
                (start, valid, file)
            }
            None => {
                let path = segment_path(dir, 0);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(io(&path))?;
                sync_dir(dir)?;
                (0, 0, file)
            }
        };
        // Fill the rest of the open segment (this also replaces a cut tail by zeros).
        let path = segment_path(dir, start);
        let filled = segment_bytes.max(valid);
        fill_zeros(&file, valid, filled).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        let mut journal = Self {
            dir: dir.to_owned(),
            id,
            file,
            start,
            end: start + valid,
            filled,
            segment_bytes,
            spare: None,
        };
        journal.prepare_spare();
        Ok((journal, recovered))
    }

    /// The journal's identity.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Position after the last durable entry.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `framed` (entries made with [`frame`]) with one write and one `fdatasync`;
    /// returns the new end. On failure the bytes written are zeroed again, so the next
    /// append does not follow a half-written group.
    pub(crate) fn append(&mut self, framed: &[u8]) -> Result<u64, JournalError> {
        if framed.is_empty() {
            return Ok(self.end);
        }
        let used = self.end - self.start;
        if used > 0 && used + framed.len() as u64 > self.filled {
            self.rotate(self.end)?;
        }
        let at = self.end - self.start;
        let path = segment_path(&self.dir, self.start);
        let written = self
            .file
            .write_all_at(framed, at)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ignored = fill_zeros(&self.file, at, at + framed.len() as u64);
            return Err(io(&path)(e));
        }
        self.end += framed.len() as u64;
        self.filled = self.filled.max(self.end - self.start);
        Ok(self.end)
    }

    /// Continues at `position` in a new segment: used when the store has folded further than
    /// this journal reaches (its files were lost), so that new entries never take positions
    /// the store already counts as folded.
    pub(crate) fn skip_to(&mut self, position: u64) -> Result<(), JournalError> {
        if position > self.end {
            self.rotate(position)?;
        }
        Ok(())
    }

    /// Closes the open segment (its unused zeros cut off) and continues in a new one that
    /// starts at `at`, taking the spare when it is ready.
    fn rotate(&mut self, at: u64) -> Result<(), JournalError> {
        let path = segment_path(&self.dir, at);
        let spare = self.dir.join(SPARE_FILE);
        let file = match self.spare.take().map(JoinHandle::join) {
            Some(Ok(Ok(file))) => {
                std::fs::rename(&spare, &path).map_err(io(&path))?;
                file
            }
            failed => {
                if let Some(Ok(Err(e))) = failed {
                    tracing::warn!(error = %e, "journal spare segment not prepared; filling one now");
                }
                let file = prepare(&self.dir, SPARE_FILE, self.segment_bytes)?;
                std::fs::rename(&spare, &path).map_err(io(&path))?;
                file
            }
        };
        sync_dir(&self.dir)?;
        // Reading never goes past the next segment's start, so the cut needs no sync.
        let used = self.end - self.start;
        if let Err(e) = self.file.set_len(used) {
            tracing::warn!(error = %e, "cannot cut the unused end of a journal segment");
        }
        self.file = file;
        self.start = at;
        self.end = at;
        self.filled = self.segment_bytes;
        self.prepare_spare();
        Ok(())
    }

    /// Starts zero-filling the next segment in the background.
    fn prepare_spare(&mut self) {
        let (dir, bytes) = (self.dir.clone(), self.segment_bytes);
        let spawned = std::thread::Builder::new()
            .name("radius-journal-spare".to_owned())
            .spawn(move || prepare(&dir, SPARE_FILE, bytes));
        match spawned {
            Ok(handle) => self.spare = Some(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start preparing a journal segment"),
        }
    }
}

impl Drop for Journal {
    /// Waits for the spare: a journal reopened on the same directory must not find a file
    /// still being zero-filled under its name.
    fn drop(&mut self) {
        if let Some(spare) = self.spare.take() {
            let _ignored = spare.join();
        }
    }
}

/// Creates `dir/name` zero-filled to `bytes` and synced. Synced a chunk at a time: one sync
/// of the whole segment would queue megabytes ahead of the open segment's next sync.
fn prepare(dir: &Path, name: &str, bytes: u64) -> Result<File, JournalError> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io(&path))?;
    let mut at = 0;
    while at < bytes {
        let to = bytes.min(at + FILL_CHUNK as u64);
        fill_zeros(&file, at, to)
            .and_then(|()| file.sync_data())
            .map_err(io(&path))?;
        at = to;
    }
    file.sync_all().map_err(io(&path))?;
    Ok(file)
}

/// Writes zeros over `[from, to)` of `file`, so that those blocks are allocated.
fn fill_zeros(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros =
        vec![0u8; FILL_CHUNK.min(usize::try_from(to.saturating_sub(from)).unwrap_or(FILL_CHUNK))];
    let mut at = from;
    while at < to {
        let n = zeros
            .len()
            .min(usize::try_from(to - at).unwrap_or(usize::MAX));
        file.write_all_at(zeros.get(..n).unwrap_or_default(), at)?;
        at += n as u64;
    }
    Ok(())
}

/// Length of the run of valid frames at the start of `bytes`.
fn valid_prefix(bytes: &[u8]) -> u64 {
    let mut at = 0usize;
    while let Frame::Entry(_, n) = unframe(bytes.get(at..).unwrap_or_default()) {
        at += n;
    }
    at as u64
}

/// Entries read from the journal.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Payloads in journal order.
    pub(crate) entries: Vec<Vec<u8>>,
    /// Position after the last entry read (or skipped).
    pub(crate) end: u64,
    /// Bytes skipped over because they were damaged (never at a clean tail).
    pub(crate) damaged: u64,
}

/// Reads entries from `from` up to `until` (a durable end), about `max_bytes` of them (at
/// least one entry when there is one). Everything before `until` was synced, so a frame that
/// does not decode there is damage, not a tail being written: the rest of its segment is
/// skipped (counted in `damaged`) and reading goes on at the next segment, whose start is
/// known from its name.
pub(crate) fn read(
    dir: &Path,
    from: u64,
    until: u64,
    max_bytes: usize,
) -> Result<Batch, JournalError> {
    let mut batch = Batch {
        end: from,
        ..Batch::default()
    };
    let starts = segments(dir)?;
    let mut budget = max_bytes.max(1);
    while batch.end < until && budget > 0 {
        let Some(idx) = starts.iter().rposition(|s| *s <= batch.end) else {
            // Before the oldest segment: those bytes are gone.
            match starts.first() {
                Some(first) if *first < until => {
                    batch.damaged += first - batch.end;
                    batch.end = *first;
                    continue;
                }
                _ => break,
            }
        };
        let Some(&start) = starts.get(idx) else { break };
        let next = starts.get(idx + 1).copied();
        let limit_pos = next.map_or(until, |n| n.min(until));
        let limit = limit_pos.saturating_sub(batch.end);
        let want = limit.min((budget.max(MAX_ENTRY + HEADER)) as u64);
        let path = segment_path(dir, start);
        let mut file = File::open(&path).map_err(io(&path))?;
        file.seek(SeekFrom::Start(batch.end - start))
            .map_err(io(&path))?;
        let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        (&mut file)
            .take(want)
            .read_to_end(&mut bytes)
            .map_err(io(&path))?;
        // Fewer bytes than asked: the file ends here, nothing more will come.
        let exhausted = (bytes.len() as u64) < want || want == limit;
        let mut at = 0usize;
        let damaged = loop {
            match unframe(bytes.get(at..).unwrap_or_default()) {
                Frame::Entry(p, n) => {
                    batch.entries.push(p.to_vec());
                    at += n;
                }
                // The file ends before the durable end: bytes are missing.
                Frame::End => break exhausted && (bytes.len() as u64) < limit,
                // Cut short only by the read size when neither holds: read on next round.
                Frame::Bad => break exhausted || bytes.len() - at >= MAX_ENTRY + HEADER,
            }
        };
        batch.end += at as u64;
        budget = budget.saturating_sub(at);
        if damaged {
            tracing::error!(
                segment = %path.display(),
                offset = batch.end - start,
                bytes = limit_pos - batch.end,
                "damaged accounting journal; the rest of the segment is skipped"
            );
            batch.damaged += limit_pos - batch.end;
            batch.end = limit_pos;
        } else if at == 0 {
            break;
        }
    }
    Ok(batch)
}

/// Deletes the segments wholly before `folded` (never the one being written, which holds the
/// end). Returns how many were deleted.
pub(crate) fn delete_folded(dir: &Path, folded: u64) -> Result<usize, JournalError> {
    let starts = segments(dir)?;
    let mut deleted = 0;
    for pair in starts.windows(2) {
        if let [start, next] = pair
            && *next <= folded
        {
            let path = segment_path(dir, *start);
            std::fs::remove_file(&path).map_err(io(&path))?;
            deleted += 1;
        }
    }
    if deleted > 0 {
        sync_dir(dir)?;
    }
    Ok(deleted)
}
