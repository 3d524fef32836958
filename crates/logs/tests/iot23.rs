//! Reads every IoT-23 labelled flow file in `/work/shared/data/iot23-labeled-flows` and checks
//! the reader against the files themselves: no refused line, one flow per row, and the
//! malicious/benign counts and uids equal to what the label column says (counted here with a
//! plain split, independently of the reader).
//!
//! Skips (with a message) when the data directory is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rampart_core::{ConnState, proto, tcp_flags};
use rampart_logs::{LabelledFlows, LogEvent, LogFormat, LogReader};

fn iot23_files() -> Option<Vec<PathBuf>> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/iot23-labeled-flows");
    if !dir.is_dir() {
        assert!(
            std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
            dir.display()
        );
        eprintln!("skipping: {} not found", dir.display());
        return None;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no csv files in {}", dir.display());
    Some(files)
}

/// uid → malicious, straight from the text.
fn labels_from_text(path: &Path) -> HashMap<String, bool> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let uid = header.iter().position(|&h| h == "uid").unwrap();
    let label = header.iter().position(|&h| h == "label").unwrap();
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let malicious = match fields[label] {
                "Malicious" | "malicious" => true,
                "Benign" | "benign" => false,
                other => panic!("unexpected label {other:?}"),
            };
            (fields[uid].to_string(), malicious)
        })
        .collect()
}

#[test]
fn every_file_reads_without_error_and_labels_match() {
    let Some(files) = iot23_files() else { return };
    for path in files {
        let want = labels_from_text(&path);
        let mut reader = LabelledFlows::open(&path).unwrap();
        let mut got = HashMap::new();
        for item in &mut reader {
            let item = item.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let uid = item.flow.uid.as_deref().unwrap().to_string();
            assert!(
                got.insert(uid, item.label.malicious).is_none(),
                "duplicate uid"
            );
            if item.label.malicious {
                assert!(
                    item.label.detail.is_some(),
                    "malicious rows name the attack"
                );
            }
        }
        let count =
            |map: &HashMap<String, bool>, m: bool| map.values().filter(|&&v| v == m).count();
        eprintln!(
            "{}: {} malicious, {} benign",
            path.file_name().unwrap().to_string_lossy(),
            count(&got, true),
            count(&got, false)
        );
        assert_eq!(count(&got, true), count(&want, true), "{}", path.display());
        assert_eq!(
            count(&got, false),
            count(&want, false),
            "{}",
            path.display()
        );
        assert_eq!(got, want, "{}", path.display());
        let summary = reader.summary();
        assert_eq!(summary.errors, 0);
        assert_eq!(summary.flows, want.len() as u64);
        assert_eq!(summary.lines, want.len() as u64 + 1);

        // The plain reader takes the same file, labels ignored.
        let mut plain = LogReader::open(&path).unwrap();
        assert_eq!(plain.format(), Some(LogFormat::ZeekCsv));
        let flows = (&mut plain)
            .filter(|e| matches!(e, Ok(LogEvent::Flow(_))))
            .count();
        assert_eq!(flows, want.len());
        assert_eq!(plain.summary().errors, 0);
    }
}

#[test]
fn a_known_row_maps_field_by_field() {
    let Some(files) = iot23_files() else { return };
    let Some(path) = files
        .iter()
        .find(|p| p.ends_with("CTU-Malware-Capture-44-1-labeled.csv"))
    else {
        eprintln!("skipping: CTU-Malware-Capture-44-1-labeled.csv not present");
        return;
    };
    // 1547150789.067208,CzsY0D4B96NTr8m7ld,192.168.1.199,59222,46.101.251.172,80,tcp,http,
    // 1.686784,149,171750,SF,,,11584,ShADadttfF,122,7741,122,178102,,Malicious,C&C-FileDownload
    let first = LabelledFlows::open(path).unwrap().next().unwrap().unwrap();
    let f = &first.flow;
    assert_eq!(f.uid.as_deref(), Some("CzsY0D4B96NTr8m7ld"));
    assert_eq!(f.start.0, 1_547_150_789_067);
    assert_eq!(f.end.0, 1_547_150_790_753); // 789.067208 + 1.686784 = 790.753992
    assert_eq!(f.src.to_string(), "192.168.1.199");
    assert_eq!((f.src_port, f.dst_port), (59222, 80));
    assert_eq!(f.dst.to_string(), "46.101.251.172");
    assert_eq!(f.protocol, proto::TCP);
    assert_eq!(f.service.as_deref(), Some("http"));
    assert_eq!((f.packets, f.bytes), (122, 7741));
    assert_eq!((f.rev_packets, f.rev_bytes), (122, 178_102));
    assert_eq!(f.state, ConnState::SF);
    let all = tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN;
    assert_eq!((f.tcp_flags, f.rev_tcp_flags), (all, all));
    assert!(first.label.malicious);
    assert_eq!(first.label.detail.as_deref(), Some("C&C-FileDownload"));
    assert!(
        f.exporter
            .as_deref()
            .unwrap()
            .ends_with("CTU-Malware-Capture-44-1-labeled.csv")
    );
}
