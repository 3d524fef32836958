//! Every raw datagram of the Logstash NetFlow codec fixtures decodes without panicking;
//! templates are fed before data per exporter, as the file names say, and the deliberately
//! invalid v5 files are refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rampart_core::{FlowRecord, SignalSource};
use rampart_netflow::{Collector, CollectorLimits};

/// The exporter a fixture belongs to: its name up to the template/data marker.
fn family(name: &str) -> String {
    let stem = name.trim_end_matches(".dat");
    ["_tpl", "_data", "_opttpl", "_tplopt"]
        .iter()
        .filter_map(|m| stem.find(m))
        .min()
        .map_or_else(|| stem.to_owned(), |at| stem[..at].to_owned())
}

#[test]
fn every_logstash_fixture_decodes() {
    let Some(dir) = common::shared_data("netflow/logstash") else {
        return;
    };
    let mut families: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".dat") {
            families.entry(family(&name)).or_default().push(name);
        }
    }
    let mut collector = Collector::new(CollectorLimits::default()).unwrap();
    let mut results: BTreeMap<String, (Result<usize, String>, Vec<FlowRecord>)> = BTreeMap::new();
    for (i, (_, mut files)) in families.into_iter().enumerate() {
        // Templates first (their names say "tpl"), then data.
        files.sort_by_key(|f| (!f.contains("tpl"), f.clone()));
        let exporter: SocketAddr = format!("192.0.2.{}:2055", i + 1).parse().unwrap();
        for f in files {
            let bytes = std::fs::read(dir.join(&f)).unwrap();
            let mut out = Vec::new();
            let r = collector.ingest(exporter, &bytes, &mut out);
            eprintln!("{f}: {:?} {} flows", r, out.len());
            results.insert(f, (r.map(|r| r.records).map_err(|e| e.to_string()), out));
        }
    }
    for bad in ["netflow5_test_invalid01.dat", "netflow5_test_invalid02.dat"] {
        assert!(
            results[bad].0.is_err(),
            "{bad} accepted: {:?}",
            results[bad].0
        );
    }
    // Record counts of a few fixtures (as the Logstash codec's spec decodes them).
    for (file, n) in [
        ("netflow5.dat", 30),
        ("netflow5_test_juniper_mx80.dat", 29),
        ("netflow9_test_softflowd_tpl_data.dat", 7),
        ("netflow9_test_cisco_asa_1_data.dat", 14),
        ("netflow9_test_macaddr_data.dat", 29),
        ("ipfix_test_openbsd_pflow_data.dat", 26),
        ("ipfix_test_mikrotik_data258.dat", 28),
        ("ipfix_test_netscaler_data.dat", 3),
    ] {
        assert_eq!(results[file].0, Ok(n), "{file}");
    }
    for (file, (_, flows)) in &results {
        let source = if file.starts_with("netflow5") {
            SignalSource::NetflowV5
        } else if file.starts_with("netflow9") {
            SignalSource::NetflowV9
        } else {
            SignalSource::Ipfix
        };
        assert!(flows.iter().all(|f| f.source == source), "{file}");
        assert!(flows.iter().all(|f| f.exporter.is_some()), "{file}");
    }
    let total: usize = results.values().map(|(_, o)| o.len()).sum();
    eprintln!("total flows {total}");
    assert!(total >= 390, "{total}");
}
