//! Any bytes, read as a log of any format and as labelled flows: no panic, every line
//! accounted for, and line numbers of errors strictly increasing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_logs::{LabelledFlows, LogReader, Options};

fuzz_target!(|data: &[u8]| {
    // A small cap so the too-long path is exercised too.
    let options = Options::default().max_line_bytes(512);
    if let Ok(mut reader) = LogReader::with_options(data, "fuzz", options) {
        let mut last = 0;
        let mut yielded = 0u64;
        for event in &mut reader {
            yielded += 1;
            if let Err(error) = event {
                assert!(error.line > last, "line numbers go forward");
                last = error.line;
            }
        }
        let summary = reader.summary();
        assert_eq!(yielded, summary.records() + summary.errors);
        assert!(summary.records() + summary.errors + summary.skipped <= summary.lines);
        let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        assert!(summary.lines <= newlines + 1);
    }
    if let Ok(reader) = LabelledFlows::from_reader(data, "fuzz") {
        for _ in reader {}
    }
});
