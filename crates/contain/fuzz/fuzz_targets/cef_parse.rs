//! Arbitrary text as a CEF line, and arbitrary bytes as an audit log: neither the CEF parser
//! nor audit verification may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_contain::siem::cef;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cef::parse(text);
    let _ = rampart_contain::audit::verify_reader(data);
});
