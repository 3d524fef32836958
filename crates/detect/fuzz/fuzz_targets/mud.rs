//! MUD files come from manufacturers' servers: any bytes must parse or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rampart_detect::parse_mud(text);
    }
});
