//! Journal segments come from disk, where a crash or damage can leave anything: framing must
//! stop at the first bad frame without panicking, and an entry that decodes must re-encode to
//! the same bytes (binary) or to an entry that decodes alike (the earlier JSON form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_accounting::journal_format::{ENTRY_VERSION, frames, reencode};

fuzz_target!(|data: &[u8]| {
    let (payloads, valid) = frames(data);
    assert!(valid <= data.len());
    for payload in payloads.into_iter().chain([data]) {
        let Ok(again) = reencode(payload) else {
            continue;
        };
        if payload.first() == Some(&ENTRY_VERSION) {
            assert_eq!(again, payload, "binary entries are canonical");
        }
        assert_eq!(reencode(&again).as_ref(), Ok(&again));
    }
});
