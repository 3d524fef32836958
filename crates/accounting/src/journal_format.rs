//! The journal's on-disk format, for fuzzing and offline checks: frames (length, CRC-32C,
//! payload) and entry payloads (binary, or the JSON of journals written before it).

pub use crate::entry::EntryError;
use crate::entry::{Entry, VERSION};
use crate::journal::{Frame, unframe};

/// The first byte of an entry in the current binary format.
pub const ENTRY_VERSION: u8 = VERSION;

/// Decodes one entry payload of either format and encodes it again in the current one.
pub fn reencode(payload: &[u8]) -> Result<Vec<u8>, EntryError> {
    let entry = Entry::decode(payload)?;
    let mut out = Vec::with_capacity(payload.len());
    entry.as_ref().encode(&mut out)?;
    Ok(out)
}

/// The payloads of the valid frames at the start of `segment`, and the length they cover:
/// recovery keeps exactly those bytes.
pub fn frames(segment: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut payloads = Vec::new();
    let mut at = 0usize;
    while let Frame::Entry(p, n) = unframe(segment.get(at..).unwrap_or_default()) {
        payloads.push(p);
        at += n;
    }
    (payloads, at)
}
