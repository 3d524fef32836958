//! Parsing speed, for the importer's budget (1,000,000 rows well under 15 s in all).
//! Run with `cargo test --release -p rampart-fleetfile --test throughput -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::time::Instant;

use rampart_core::TenantId;
use rampart_fleetfile::{CsvWriter, FleetReader, Format, JsonlWriter, generate};

#[test]
#[ignore = "timing; run in release"]
fn parse_throughput() {
    const ROWS: u64 = 200_000;
    let start = Instant::now();
    let mut csv = CsvWriter::new(Vec::new()).unwrap();
    let mut jsonl = JsonlWriter::new(Vec::new());
    for r in generate(ROWS, 1) {
        csv.write(&r).unwrap();
        jsonl.write(&r).unwrap();
    }
    let (csv, jsonl) = (csv.into_inner().unwrap(), jsonl.into_inner().unwrap());
    let per_row = start.elapsed() / ROWS as u32;
    println!("generate + write both: {per_row:?}/row");
    for (format, bytes) in [(Format::Csv, csv), (Format::Jsonl, jsonl)] {
        let start = Instant::now();
        let n = FleetReader::new(bytes.as_slice(), format, TenantId::default())
            .unwrap()
            .filter(Result::is_ok)
            .count();
        assert_eq!(n as u64, ROWS);
        let per_row = start.elapsed() / ROWS as u32;
        println!(
            "{format}: {per_row:?}/row, {} bytes/row",
            bytes.len() as u64 / ROWS
        );
    }
}
