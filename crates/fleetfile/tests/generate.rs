//! The synthetic fleet is valid, unique where it must be, deterministic and realistic.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::{HashMap, HashSet};

use rampart_core::{ImeiPolicy, TenantId};
use rampart_fleetfile::{CsvWriter, FleetReader, Format, JsonlWriter, generate};

#[test]
fn ten_thousand_rows_read_back_valid_and_unique() {
    let records: Vec<_> = generate(10_000, 42).collect();
    assert_eq!(records.len(), 10_000);

    let mut csv = CsvWriter::new(Vec::new()).unwrap();
    let mut jsonl = JsonlWriter::new(Vec::new());
    for r in &records {
        csv.write(r).unwrap();
        jsonl.write(r).unwrap();
    }
    for (format, bytes) in [
        (Format::Csv, csv.into_inner().unwrap()),
        (Format::Jsonl, jsonl.into_inner().unwrap()),
    ] {
        let reader = FleetReader::new(bytes.as_slice(), format, TenantId::default()).unwrap();
        let back: Vec<_> = reader
            .map(|r| r.unwrap_or_else(|e| panic!("{format}: {e}: {}", e.raw)).1)
            .collect();
        assert!(back == records, "{format} round trip differs");
    }

    let mut ids = HashSet::new();
    let mut imsis = HashSet::new();
    let mut iccids = HashSet::new();
    let mut ips = HashSet::new();
    let mut imeis = HashSet::new();
    let mut profiles: HashMap<String, u32> = HashMap::new();
    let mut policies: HashMap<ImeiPolicy, u32> = HashMap::new();
    for r in &records {
        assert!(ids.insert(r.device.id.clone()));
        for ip in &r.device.ips {
            assert!(ips.insert(*ip), "duplicate ip {ip}");
        }
        *profiles
            .entry(r.device.profile.as_ref().unwrap().to_string())
            .or_default() += 1;
        if let Some(sim) = &r.sim {
            assert!(
                imsis.insert(sim.imsi.clone()),
                "duplicate imsi {}",
                sim.imsi
            );
            assert!(
                iccids.insert(sim.iccid.clone()),
                "duplicate iccid {}",
                sim.iccid
            );
            assert!(matches!(sim.iccid.as_str().len(), 19 | 20));
            assert!(sim.iccid.as_str().starts_with("89"));
            *policies.entry(sim.imei_policy).or_default() += 1;
            for imei in &sim.allowed_imeis {
                assert!(imeis.insert(imei.clone()), "duplicate imei {imei}");
            }
        }
    }
    assert_eq!(profiles.len(), 6, "{profiles:?}");
    assert!(
        profiles["smart-meter"] > profiles["gateway"] * 3,
        "{profiles:?}"
    );
    assert!(ips.len() > 1000, "cameras and gateways have addresses");
    assert!(imsis.len() > 9000);
    assert!(policies[&ImeiPolicy::Fixed] > policies[&ImeiPolicy::Learn] * 3);
    assert!(policies[&ImeiPolicy::None] > 0);

    let first = &records[0];
    assert_eq!(first.device.id.as_str(), "dev-0000001");
    assert!(
        first
            .device
            .tags
            .iter()
            .any(|t| t.as_str().starts_with("site:"))
    );
}

#[test]
fn deterministic_per_seed() {
    let a: Vec<_> = generate(200, 1).collect();
    let b: Vec<_> = generate(200, 1).collect();
    let c: Vec<_> = generate(200, 2).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // A prefix of a bigger fleet is the smaller fleet.
    let d: Vec<_> = generate(50, 1).collect();
    assert_eq!(a[..50], d[..]);
}
