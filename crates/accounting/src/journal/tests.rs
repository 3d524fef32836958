//! The journal on real files: append and read back, torn tails, damage, rotation, deletion.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

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

proptest::proptest! {
    /// Slicing by 8 changes the speed, not the checksum (frames of earlier builds verify).
    #[test]
    fn crc32c_sliced_equals_bytewise(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
        split in 0usize..100,
    ) {
        proptest::prop_assert_eq!(crc32c(&bytes), crc::crc32c_bytewise(&bytes));
        // Fed in two pieces, as frames feed the length and then the payload.
        let split = split.min(bytes.len());
        let (a, b) = bytes.split_at(split);
        proptest::prop_assert_eq!(crc::update(crc::update(!0, a), b) ^ !0, crc32c(&bytes));
    }
}

#[test]
fn frames_round_trip_and_reject_damage() {
    let buf = framed(&[b"hello"]);
    assert_eq!(unframe(&buf), Frame::Entry(b"hello", 13));
    // Framing in place gives the same bytes; an empty payload is refused and removed.
    let mut inplace = Vec::new();
    let at = begin_frame(&mut inplace);
    inplace.extend_from_slice(b"hello");
    end_frame(&mut inplace, at).unwrap();
    assert_eq!(inplace, buf);
    let at = begin_frame(&mut inplace);
    assert!(end_frame(&mut inplace, at).is_err());
    assert_eq!(inplace, buf);
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

/// The part of a segment file after `from`, which must be all zeros.
fn zeros_after(path: &Path, from: u64) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes[usize::try_from(from).unwrap()..]
        .iter()
        .all(|b| *b == 0)
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
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&torn[..torn.len() - 5], good).unwrap();
    drop(f);
    let (mut j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(rec.truncated, (torn.len() - 5) as u64);
    assert_eq!(j.end(), good);
    assert!(zeros_after(&path, good), "the torn bytes are zeroed");
    let end = j.append(&framed(&[b"four"])).unwrap();
    let b = all(dir.path(), 0, end);
    assert_eq!(
        b.entries,
        vec![b"one".to_vec(), b"two".to_vec(), b"four".to_vec()]
    );
}

/// Pages of an unsynced group can reach the disk in any order: a complete frame may follow a
/// torn one. It was never acknowledged and must not come back when later appends line up
/// with it.
#[test]
fn a_complete_frame_behind_a_torn_one_never_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
    let good = j.append(&framed(&[b"acknowledged"])).unwrap();
    drop(j);
    let path = segment_path(dir.path(), 0);
    let mut group = framed(&[b"lost-first", b"complete-but-unacknowledged"]);
    group[9] ^= 0xff; // the first frame's payload never made it
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&group, good).unwrap();
    drop(f);
    let (mut j, rec) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(j.end(), good);
    assert_eq!(rec.truncated, group.len() as u64);
    // The next group is exactly as long as the torn frame, so it ends where the stale
    // complete frame started.
    let end = j.append(&framed(&[b"next-fresh"])).unwrap();
    assert_eq!(end, good + framed(&[b"lost-first"]).len() as u64);
    drop(j);
    let (j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(j.end(), end);
    let b = all(dir.path(), 0, j.end());
    assert_eq!(
        b.entries,
        vec![b"acknowledged".to_vec(), b"next-fresh".to_vec()]
    );
}

#[test]
fn segments_are_filled_ahead_and_cut_when_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(dir.path(), 4096).unwrap();
    let first = segment_path(dir.path(), 0);
    assert_eq!(std::fs::metadata(&first).unwrap().len(), 4096);
    let big = vec![b'x'; 1500];
    let e1 = j.append(&framed(&[&big])).unwrap();
    let e2 = j.append(&framed(&[&big])).unwrap();
    assert_eq!(
        std::fs::metadata(&first).unwrap().len(),
        4096,
        "appends inside the filled part do not change the size"
    );
    // The third does not fit: the segment is closed at its end and a filled one follows.
    let e3 = j.append(&framed(&[&big])).unwrap();
    assert_eq!(segments(dir.path()).unwrap(), vec![0, e2]);
    assert_eq!(std::fs::metadata(&first).unwrap().len(), e2);
    let second = segment_path(dir.path(), e2);
    assert_eq!(std::fs::metadata(&second).unwrap().len(), 4096);
    // A group larger than a segment still goes in, growing its segment.
    let huge = vec![b'y'; 10_000];
    let e4 = j.append(&framed(&[&huge])).unwrap();
    assert_eq!(segments(dir.path()).unwrap(), vec![0, e2, e3]);
    let b = all(dir.path(), 0, e4);
    assert_eq!(b.entries, vec![big.clone(), big.clone(), big, huge]);
    assert!(e1 < e2);
    // The spare being prepared is no segment, and a stale one is replaced on open.
    drop(j);
    std::fs::write(dir.path().join(SPARE_FILE), framed(&[b"stale"])).unwrap();
    let (j, rec) = Journal::open(dir.path(), 4096).unwrap();
    assert_eq!((j.end(), rec.truncated), (e4, 0));
    assert_eq!(segments(dir.path()).unwrap(), vec![0, e2, e3]);
}

/// A journal written before segments were filled ahead: its last segment ends at its last
/// frame. Opening fills it, and appends continue after the old frames.
#[test]
fn segments_written_without_filling_are_continued() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(ID_FILE), "old-journal").unwrap();
    let old = framed(&[b"{\"old\":1}", b"{\"old\":2}"]);
    std::fs::write(segment_path(dir.path(), 0), &old).unwrap();
    let (mut j, rec) = Journal::open(dir.path(), 1 << 16).unwrap();
    assert_eq!(
        (j.id(), j.end(), rec.truncated),
        ("old-journal", old.len() as u64, 0)
    );
    let end = j.append(&framed(&[b"new"])).unwrap();
    let b = all(dir.path(), 0, end);
    assert_eq!(
        b.entries,
        vec![
            b"{\"old\":1}".to_vec(),
            b"{\"old\":2}".to_vec(),
            b"new".to_vec()
        ]
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
