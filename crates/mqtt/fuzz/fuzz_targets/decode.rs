//! Arbitrary payloads: decoding must not panic, and whatever decodes must encode (in both
//! key styles) to a report that decodes to the same record. Topic parsing runs too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::Timestamp;
use rampart_mqtt::{KeyStyle, TopicPattern, decode_report, encode_with};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(pattern) = TopicPattern::parse("rampart/devices/{device}/metrics")
    {
        let _ = pattern.device_id(text);
        let _ = TopicPattern::parse(text);
    }
    let Ok((header, metrics)) = decode_report(data, Timestamp(1_700_000_000_000)) else {
        return;
    };
    for style in [KeyStyle::Long, KeyStyle::Short] {
        let bytes = encode_with(&metrics, header.report_id, style).expect("decoded reports encode");
        let (h2, again) = decode_report(&bytes, Timestamp(0)).expect("encoded reports decode");
        assert_eq!(h2.report_id, header.report_id);
        assert_eq!(again, metrics);
    }
});
