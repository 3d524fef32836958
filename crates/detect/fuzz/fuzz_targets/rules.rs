//! Rules and suppression windows from operators (files, API bodies): any bytes must load or
//! be refused with named problems, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = rampart_detect::Rule::parse_many(text) {
        assert!(rules.iter().all(|r| r.problems().is_empty()));
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = rampart_detect::Rule::from_json(&v);
        if let Ok(req) = rampart_detect::SuppressionRequest::from_json(&v) {
            let _ = req.into_suppression("s".into(), None, "fuzz", Timestamp(1_800_000_000_000));
        }
    }
});
