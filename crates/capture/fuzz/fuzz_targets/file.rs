//! Arbitrary bytes as a capture file: the reader either refuses them at open or iterates to
//! the end without panicking, whatever blocks, lengths and interfaces they claim.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use rampart_capture::{CaptureConfig, CaptureReader};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) =
        CaptureReader::from_reader(Cursor::new(data.to_vec()), CaptureConfig::default())
    else {
        return;
    };
    let events = reader.by_ref().count();
    let summary = reader.summary();
    assert!(summary.packets <= data.len() as u64);
    assert!(events as u64 <= summary.packets * 3 + 1);
});
