//! Loads the Maltrail trails in `/work/shared/data/threat-intel` and checks lookups with
//! entries picked from the files themselves.
//!
//! Skips (with a message) when the data directory is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use rampart_intel::{FeedConfig, Format, Indicator, IntelConfig, IntelStore, Kind};

fn threat_intel_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/threat-intel");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: ../shared/data/threat-intel not found");
    None
}

/// The non-comment, non-blank lines of a trail file, independently of the crate's parser.
fn raw_entries(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn store(dir: &Path) -> IntelStore {
    let config = IntelConfig {
        feeds: vec![FeedConfig::new("maltrail", dir, Format::Maltrail)],
        ..IntelConfig::default()
    };
    let (store, report) = IntelStore::open(config);
    assert!(report.is_complete(), "{report:?}");
    assert!(report.swapped);
    store
}

#[test]
fn loads_every_trail_file() {
    let Some(dir) = threat_intel_dir() else {
        return;
    };
    let store = store(&dir);
    let set = store.load();
    let stats = set.stats();
    let per_family: BTreeMap<&str, usize> = stats
        .by_family
        .iter()
        .map(|((_, family), n)| (family.as_str(), *n))
        .collect();
    eprintln!("entries per family: {per_family:?}");
    eprintln!(
        "entries per kind: {:?}; duplicates {}",
        stats.by_kind, stats.duplicates
    );
    for family in [
        "gafgyt",
        "hajime",
        "iotreaper",
        "ipstorm",
        "kaiten",
        "mirai",
        "moobot",
        "qbot",
        "torii",
        "xorddos",
        "meris",
    ] {
        assert!(
            per_family.get(family).copied().unwrap_or(0) > 0,
            "no entries for {family}"
        );
    }
    assert_eq!(
        per_family.len(),
        11,
        "LICENSE and MANIFEST.md are not feed files"
    );
    // Every non-comment line is either held, a counted duplicate or a counted bad line.
    let mut raw = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            raw += raw_entries(&path).len();
        }
    }
    let report = store.reload();
    let bad: usize = report.feeds.iter().map(|f| f.bad_lines).sum();
    eprintln!(
        "bad lines: {bad}, first: {:?}",
        report.feeds[0].bad_line_samples
    );
    assert_eq!(stats.entries + stats.duplicates + bad, raw);
    assert!(bad * 1000 < raw, "{bad} bad lines of {raw}");
    assert!(stats.entries > 90_000, "{} entries", stats.entries);
}

#[test]
fn lookups_of_entries_taken_from_the_files() {
    let Some(dir) = threat_intel_dir() else {
        return;
    };
    let store = store(&dir);
    let set = store.load();
    let (mut endpoints, mut ips, mut domains, mut paths) = (0, 0, 0, 0);
    let mut listed_ports = std::collections::HashSet::new();
    let mut listed_ips = std::collections::HashSet::new();
    for h in set.iter() {
        match h.indicator() {
            Indicator::IpPort(ip, port) => {
                listed_ports.insert((*ip, *port));
            }
            Indicator::Ip(ip) => {
                listed_ips.insert(*ip);
            }
            _ => {}
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        for line in raw_entries(&path) {
            if let Ok(sa) = line.parse::<SocketAddr>() {
                // `ip:port`: found with its port, not without one, found by address alone.
                let hit = set.match_endpoint(sa.ip(), sa.port()).unwrap();
                assert_eq!(hit.kind(), Kind::IpPort, "{line}");
                assert!(set.match_ip_any_port(sa.ip()).is_some(), "{line}");
                assert_eq!(
                    rampart_intel::family_from_file_name(&hit.source().file).as_deref(),
                    Some(hit.family())
                );
                // Another port of the same address matches only if listed some other way.
                let other = sa.port().wrapping_add(1);
                let expect =
                    listed_ports.contains(&(sa.ip(), other)) || listed_ips.contains(&sa.ip());
                assert_eq!(
                    set.match_endpoint(sa.ip(), other).is_some(),
                    expect,
                    "{line}"
                );
                endpoints += 1;
            } else if let Some(ip) = line
                .strip_prefix("http://")
                .and_then(|r| r.parse::<IpAddr>().ok())
            {
                let hit = set.match_ip(ip).unwrap();
                assert_eq!(hit.indicator(), &Indicator::Ip(ip));
                ips += 1;
            } else if line.starts_with('/') {
                let hit = set
                    .match_url(&format!("http://198.51.100.7{line}"))
                    .unwrap();
                assert_eq!(hit.kind(), Kind::UrlPath, "{line}");
                // A file or directory name also matches deeper in a download path.
                let one_segment = line
                    .get(1..)
                    .is_some_and(|r| !r.trim_end_matches('/').contains(['/', '?']));
                if one_segment {
                    let deeper = if line.ends_with('/') {
                        format!("/x{line}y.arm")
                    } else {
                        format!("/x/y{line}")
                    };
                    let hit = set.match_http("evil.example", Some(8080), &deeper);
                    assert_eq!(hit.map(|h| h.kind()), Some(Kind::UrlPath), "{deeper}");
                }
                paths += 1;
            } else if !line.contains(['/', ':']) {
                // A domain: itself, in other case with a trailing dot, and a subdomain.
                let hit = set.match_domain(&line).unwrap();
                let upper = format!("{}.", line.to_ascii_uppercase());
                assert_eq!(set.match_domain(&upper), Some(hit), "{line}");
                let sub = set.match_domain(&format!("c2-node.{line}")).unwrap();
                assert_eq!(sub.kind(), Kind::Domain);
                assert!(
                    line.to_ascii_lowercase()
                        .ends_with(&**match sub.indicator() {
                            Indicator::Domain(d) => d,
                            other => panic!("{other:?}"),
                        })
                );
                domains += 1;
            }
        }
    }
    eprintln!("checked {endpoints} ip:port, {ips} url ips, {domains} domains, {paths} paths");
    assert!(endpoints > 40_000 && ips > 2_000 && domains > 3_000 && paths > 40_000);
}

#[test]
fn muhstik_c2_from_iot23_is_listed_as_kaiten() {
    let Some(dir) = threat_intel_dir() else {
        return;
    };
    let set = store(&dir).load();
    // Pick the kaiten `ip:port` entries from the file and check each names kaiten unless
    // an earlier file (by name) listed it first.
    let kaiten = raw_entries(&dir.join("elf_kaiten.txt"));
    let mut checked = 0;
    for sa in kaiten.iter().filter_map(|l| l.parse::<SocketAddr>().ok()) {
        let hit = set.match_endpoint(sa.ip(), sa.port()).unwrap();
        assert!(hit.family() <= "kaiten", "{sa}: {}", hit.family());
        if hit.family() == "kaiten" {
            assert!(hit.source().aliases.iter().any(|a| &**a == "tsunami"));
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn unlisted_neighbour_is_not_matched() {
    let Some(dir) = threat_intel_dir() else {
        return;
    };
    let set = store(&dir).load();
    // For each listed IPv4 address, the first address of its /24 that no entry names
    // (with or without port) must not match by address.
    let listed: std::collections::HashSet<IpAddr> = set
        .iter()
        .filter_map(|h| match h.indicator() {
            Indicator::Ip(ip) | Indicator::IpPort(ip, _) => Some(*ip),
            _ => None,
        })
        .collect();
    let mut misses = 0;
    for ip in listed.iter().take(2_000) {
        let IpAddr::V4(v4) = ip else { continue };
        let base = u32::from(*v4) & !0xff;
        if let Some(free) = (0..256u32)
            .map(|i| IpAddr::from(std::net::Ipv4Addr::from(base | i)))
            .find(|a| !listed.contains(a))
        {
            assert!(set.match_ip(free).is_none(), "{free}");
            assert!(set.match_endpoint(free, 80).is_none(), "{free}");
            assert!(set.match_ip_any_port(free).is_none(), "{free}");
            misses += 1;
        }
    }
    assert!(misses > 1_000);
}
