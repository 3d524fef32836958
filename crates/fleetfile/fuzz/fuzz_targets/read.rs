//! Arbitrary bytes through the reader in both formats: it must never panic, and every record
//! it accepts must survive a write/read round trip through both writers unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_core::{DeviceRecord, TenantId};
use rampart_fleetfile::{CsvWriter, FleetReader, Format, JsonlWriter};

fn read_all(data: &[u8], format: Format) -> Vec<DeviceRecord> {
    match FleetReader::new(data, format, TenantId::default()) {
        Ok(reader) => reader.filter_map(|row| row.ok().map(|(_, r)| r)).collect(),
        Err(_) => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    for format in [Format::Csv, Format::Jsonl] {
        let records = read_all(data, format);
        if records.is_empty() {
            continue;
        }
        let mut csv = CsvWriter::new(Vec::new()).expect("write to memory");
        let mut jsonl = JsonlWriter::new(Vec::new());
        for r in &records {
            csv.write(r).expect("a parsed record can be written as csv");
            jsonl
                .write(r)
                .expect("a parsed record can be written as jsonl");
        }
        let csv = csv.into_inner().expect("flush to memory");
        let jsonl = jsonl.into_inner().expect("flush to memory");
        assert_eq!(read_all(&csv, Format::Csv), records, "csv round trip");
        assert_eq!(read_all(&jsonl, Format::Jsonl), records, "jsonl round trip");
    }
});
