//! Detection configuration from operators: any text must load or be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rampart_detect::DetectConfig::from_toml_str(text);
    }
});
