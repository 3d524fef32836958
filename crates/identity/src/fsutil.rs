//! Durable, permission-aware file writes. Every file is written to a temporary sibling, fsynced
//! and renamed over the target, so a reader (a broker loading the CRL, a restart loading the CA)
//! sees the old or the new content, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::IdentityError;

/// Mode for private keys and secret stores.
pub(crate) const PRIVATE_FILE: u32 = 0o600;
/// Mode for certificates, chains and CRLs that services read.
pub(crate) const PUBLIC_FILE: u32 = 0o644;
/// Mode for directories holding keys.
pub(crate) const PRIVATE_DIR: u32 = 0o700;

/// Creates `dir` (and parents) and restricts it to the owner.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    fs::create_dir_all(dir).map_err(|e| IdentityError::io(dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR))
        .map_err(|e| IdentityError::io(dir, e))
}

/// Atomically replaces `path` with `bytes`, created with `mode`, and makes it durable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    write_replace(path, bytes, mode, true)
}

/// Writes a file that usually does not exist yet, unsynced, for batches that call
/// [`sync_dir`] once at the end: created in place (one inode, no rename) when absent, and
/// replaced atomically (a temporary file renamed over it, as [`write_atomic`] does) when a
/// file is already there.
pub(crate) fn write_new_nosync(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path);
    match created {
        Ok(mut f) => {
            let written = f
                .set_permissions(fs::Permissions::from_mode(mode))
                .and_then(|()| f.write_all(bytes));
            if let Err(e) = written {
                drop(f);
                let _ignored = fs::remove_file(path);
                return Err(IdentityError::io(path, e));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            write_replace(path, bytes, mode, false)
        }
        Err(e) => Err(IdentityError::io(path, e)),
    }
}

/// Flushes a directory's entries (and, on Linux filesystems with ordered data, the files
/// renamed into it).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IdentityError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IdentityError::io(dir, e))
}

fn write_replace(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> Result<(), IdentityError> {
    let parent = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| IdentityError::generate(format!("rng: {e}")))?;
    let tmp = parent.join(format!(".{name}.{}.tmp", hex::encode(rnd)));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode, never widened it; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ignored = fs::remove_file(&tmp);
    }
    result.map_err(|e| IdentityError::io(path, e))
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, IdentityError> {
    fs::read(path).map_err(|e| IdentityError::io(path, e))
}

/// Reads a whole UTF-8 file, naming it in the error.
pub(crate) fn read_string(path: &Path) -> Result<String, IdentityError> {
    fs::read_to_string(path).map_err(|e| IdentityError::io(path, e))
}
