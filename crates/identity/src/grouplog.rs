//! An append-only file with group commit: concurrent appenders share one write and one
//! fdatasync. The first appender to find no sync in progress becomes the leader: it takes
//! everything queued so far, writes and syncs it outside the lock, and wakes the others;
//! appends queued meanwhile form the next group. Nobody's append returns before its bytes are
//! durable, and a failed group is cut off the file again so the next one does not land after
//! a partial write.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// How one group's write ended (the error as text: io errors are not `Clone`).
type Outcome = Arc<OnceLock<Result<(), String>>>;

struct State {
    /// Bytes queued for the next group.
    pending: Vec<u8>,
    /// The appenders waiting on the next group.
    waiting: Vec<Outcome>,
    /// A leader is writing.
    syncing: bool,
    /// File length after the last durable group.
    durable_len: u64,
}

/// An append-only, group-committed file.
pub(crate) struct GroupLog {
    path: PathBuf,
    file: File,
    state: Mutex<State>,
    turn: Condvar,
}

impl std::fmt::Debug for GroupLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl GroupLog {
    /// Opens (creating with `mode`) `path` for appending; its current length counts as durable.
    pub(crate) fn open(path: &Path, mode: u32) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(mode)
            .open(path)?;
        let durable_len = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            state: Mutex::new(State {
                pending: Vec::new(),
                waiting: Vec::new(),
                syncing: false,
                durable_len,
            }),
            turn: Condvar::new(),
        })
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.turn.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `bytes` and returns once they are durable (written and fdatasynced), sharing
    /// the sync with whoever appends at the same time.
    pub(crate) fn append(&self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mine: Outcome = Arc::new(OnceLock::new());
        let mut g = self.lock();
        g.pending.extend_from_slice(bytes);
        g.waiting.push(mine.clone());
        loop {
            if let Some(done) = mine.get() {
                return done.clone().map_err(std::io::Error::other);
            }
            if g.syncing {
                g = self.wait(g);
                continue;
            }
            g = self.lead(g);
        }
    }

    /// Writes and syncs everything queued as one group, outside the lock.
    fn lead<'a>(&'a self, mut g: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        g.syncing = true;
        let buf = std::mem::take(&mut g.pending);
        let group = std::mem::take(&mut g.waiting);
        let start = g.durable_len;
        drop(g);
        // Only the leader touches the file while `syncing` is set.
        let written = (&self.file)
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        let mut g = self.lock();
        let outcome = match written {
            Ok(()) => {
                g.durable_len = start + buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial group off, so the next one starts where this one did.
                if let Err(cut) = self.file.set_len(start) {
                    tracing::error!(path = %self.path.display(), error = %cut, "cannot cut a failed append off");
                }
                Err(e.to_string())
            }
        };
        for w in group {
            // Each waiter's slot is set once, here.
            let _already = w.set(outcome.clone());
        }
        g.syncing = false;
        self.turn.notify_all();
        g
    }

    /// Empties the file (after what it held was folded elsewhere); waits for a group being
    /// written. Appends queued but not yet written stay queued.
    pub(crate) fn truncate(&self) -> std::io::Result<()> {
        let mut g = self.lock();
        while g.syncing {
            g = self.wait(g);
        }
        self.file.set_len(0)?;
        self.file.sync_data()?;
        g.durable_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_appends_all_land_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let log = GroupLog::open(&path, 0o600).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..50 {
                        log.append(format!("{t}-{i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 400);
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 400);
        log.append(b"").unwrap();
        log.truncate().unwrap();
        log.append(b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        // Reopened, the length so far counts as durable.
        drop(log);
        let log = GroupLog::open(&path, 0o600).unwrap();
        log.append(b"more\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\nmore\n");
        assert_eq!(log.path(), path);
    }
}
