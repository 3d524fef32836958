//! The journal on real files: append and read back, torn tails, damage, rotation, deletion.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use super::*;

fn framed(payloads: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    for p in payloads {
        frame(&mut buf, p).unwrap();
    }
    buf
}

fn payload(i: usize) -> Vec<u8> {
    format!("entry-{i:05}-{}", "x".repeat(i % 50)).into_bytes()
}

fn all(dir: &Path, from: u64, until: u64) -> Batch {
    read(dir, from, until, usize::MAX).unwrap()
}

#[test]
fn crc32c_known_vector() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
}

#[test]
fn frames_round_trip_and_reject_damage() {
    let buf = framed(&[b"hello"]);
    assert_eq!(unframe(&buf), Frame::Entry(b"hello", 13));
    assert_eq!(unframe(&[]), Frame::End);
    assert_eq!(unframe(&buf[..12]), Frame::Bad, "cut short");
    assert_eq!(unframe(&buf[..3]), Frame::Bad, "header cut short");
    for i in 0..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 0x40;
        assert_eq!(unframe(&bad), Frame::Bad, "flipped byte {i}");
    }
    assert_eq!(
        unframe(&[0u8; 16]),
        Frame::Bad,
        "zeroed space after a crash"
    );
    let mut huge = Vec::new();
    assert!(matches!(
        frame(&mut huge, &vec![0u8; MAX_ENTRY + 1]),
        Err(JournalError::TooLarge(_))
    ));
}

#[test]
fn append_then_replay_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec, Recovered::default());
    let id = j.id().to_owned();
    let e1 = j.append(&framed(&[b"a", b"bb"])).unwrap();
    let e2 = j.append(&framed(&[b"ccc"])).unwrap();
    assert_eq!(e1, 9 + 10);
    assert_eq!(e2, e1 + 11);
    drop(j);
    let (j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec.truncated, 0);
    assert_eq!(j.end(), e2);
    assert_eq!(j.id(), id, "identity survives a restart");
    let b = all(dir.path(), 0, e2);
    assert_eq!(
        b.entries,
        vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()]
    );
    assert_eq!((b.end, b.damaged), (e2, 0));
    // Replay from a folded position gives only the rest.
    let b = all(dir.path(), e1, e2);
    assert_eq!(b.entries, vec![b"ccc".to_vec()]);
}

#[test]
fn torn_tail_is_dropped_on_open_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
    let good = j.append(&framed(&[b"one", b"two"])).unwrap();
    drop(j);
    // A crash in the middle of the next group: half a frame reached the disk.
    let path = segment_path(dir.path(), 0);
    let torn = framed(&[b"three-never-acknowledged"]);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&torn[..torn.len() - 5]).unwrap();
    drop(f);
    let (mut j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec.truncated, (torn.len() - 5) as u64);
    assert_eq!(j.end(), good);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
    let end = j.append(&framed(&[b"four"])).unwrap();
    let b = all(dir.path(), 0, end);
    assert_eq!(
        b.entries,
        vec![b"one".to_vec(), b"two".to_vec(), b"four".to_vec()]
    );
}

#[test]
fn crc_damage_in_the_last_segment_cuts_it_there() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
    j.append(&framed(&[b"first"])).unwrap();
    let end = j.append(&framed(&[b"second", b"third"])).unwrap();
    drop(j);
    // Flip a payload byte of "second" (frame 2 starts at 13).
    let path = segment_path(dir.path(), 0);
    let mut f = OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(13 + 8 + 2)).unwrap();
    f.write_all(b"X").unwrap();
    drop(f);
    // Reading the durable range reports the damage and skips the rest of the segment.
    let b = all(dir.path(), 0, end);
    assert_eq!(b.entries, vec![b"first".to_vec()]);
    assert_eq!(b.end, end);
    assert_eq!(b.damaged, end - 13);
    // Opening cuts the damaged tail.
    let (j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(j.end(), 13);
    assert_eq!(rec.truncated, end - 13);
}

#[test]
fn rotation_positions_and_deletion_of_folded_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), 100).unwrap();
    let mut ends = Vec::new();
    for i in 0..40 {
        ends.push(j.append(&framed(&[&payload(i)])).unwrap());
    }
    let end = j.end();
    let starts = segments(dir.path()).unwrap();
    assert!(starts.len() > 5, "rotated: {starts:?}");
    // Segment names are journal positions: contiguous with the previous segment's end.
    assert_eq!(starts[0], 0);
    for s in &starts[1..] {
        assert!(ends.contains(s), "{s} is an entry boundary");
    }
    let b = all(dir.path(), 0, end);
    let want: Vec<Vec<u8>> = (0..40).map(payload).collect();
    assert_eq!(b.entries, want);
    // A small budget reads in several steps, losing and repeating nothing.
    let mut got = Vec::new();
    let mut at = 0;
    while at < end {
        let b = read(dir.path(), at, end, 64).unwrap();
        assert!(b.end > at, "progress");
        got.extend(b.entries);
        at = b.end;
    }
    assert_eq!(got, want);
    // Folded up to the middle: the segments wholly before go, the rest still read.
    let mid = ends[20];
    let deleted = delete_folded(dir.path(), mid).unwrap();
    assert!(deleted > 0);
    assert!(segments(dir.path()).unwrap()[0] <= mid);
    let b = all(dir.path(), mid, end);
    assert_eq!(b.entries, want[21..].to_vec());
    assert_eq!(b.damaged, 0);
    // Reopening after rotation appends to the last segment.
    drop(j);
    let (mut j, _) = Journal::open(dir.path(), 100).unwrap();
    assert_eq!(j.end(), end);
    let end2 = j.append(&framed(&[b"after"])).unwrap();
    let b = all(dir.path(), end, end2);
    assert_eq!(b.entries, vec![b"after".to_vec()]);
    // Everything folded: only the open segment is kept.
    delete_folded(dir.path(), end2).unwrap();
    assert_eq!(segments(dir.path()).unwrap().len(), 1);
}

#[test]
fn damage_in_an_older_segment_skips_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // One entry per segment.
    let (mut j, _) = Journal::open(dir.path(), 1).unwrap();
    for i in 0..6 {
        j.append(&framed(&[&payload(i)])).unwrap();
    }
    let end = j.end();
    let starts = segments(dir.path()).unwrap();
    assert_eq!(starts.len(), 6);
    // Zero the first segment's header: its entry is lost, the later ones are not.
    let path = segment_path(dir.path(), starts[0]);
    let mut f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(&[0u8; 8]).unwrap();
    drop(f);
    let b = all(dir.path(), 0, end);
    assert_eq!(b.end, end);
    assert_eq!(b.damaged, starts[1]);
    assert_eq!(b.entries.first(), Some(&payload(1)));
    assert_eq!(b.entries.len(), 5);
}
