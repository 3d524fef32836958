//! Reloading: new content is swapped in, unreadable feeds keep their previous content, and
//! the watcher notices changed files.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rampart_intel::{FeedConfig, FeedError, Format, IntelConfig, IntelStore};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn write(path: &Path, text: &str) {
    // Replace atomically, as feed updaters should.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config(dir: &Path) -> IntelConfig {
    let mut list = FeedConfig::new("local", dir.join("block.list"), Format::Plain);
    list.family = Some("operator".into());
    IntelConfig {
        feeds: vec![
            list,
            FeedConfig::new("maltrail", dir.join("trails"), Format::Maltrail),
        ],
        ..IntelConfig::default()
    }
}

#[test]
fn reload_swaps_new_content_and_keeps_old_on_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("trails")).unwrap();
    write(&dir.path().join("block.list"), "192.0.2.1\nbad line here\n");
    write(
        &dir.path().join("trails/elf_mirai.txt"),
        "# Aliases: moobot\n198.51.100.1:23\nmirai.example\n",
    );
    write(
        &dir.path().join("trails/README.md"),
        "not a feed file: 203.0.113.99\n",
    );

    let (store, report) = IntelStore::open(config(dir.path()));
    assert!(report.is_complete() && report.swapped, "{report:?}");
    assert_eq!(report.feeds[0].bad_lines, 1);
    assert_eq!(report.feeds[0].bad_line_samples[0].1.line, 2);
    assert_eq!(report.entries, 3);
    let first = store.load();
    assert_eq!(
        first.match_ip(ip("192.0.2.1")).unwrap().family(),
        "operator"
    );
    assert_eq!(
        first
            .match_endpoint(ip("198.51.100.1"), 23)
            .unwrap()
            .family(),
        "mirai"
    );
    assert!(first.match_ip(ip("203.0.113.99")).is_none());

    // New content in both feeds.
    write(&dir.path().join("block.list"), "192.0.2.2\n");
    write(
        &dir.path().join("trails/elf_gafgyt.txt"),
        "gafgyt.example\n",
    );
    let report = store.reload();
    assert!(report.is_complete() && report.swapped);
    let second = store.load();
    assert!(second.match_ip(ip("192.0.2.1")).is_none());
    assert!(second.match_ip(ip("192.0.2.2")).is_some());
    assert_eq!(
        second.match_domain("x.gafgyt.example").unwrap().family(),
        "gafgyt"
    );
    // A reader holding the old snapshot still sees it.
    assert!(first.match_ip(ip("192.0.2.1")).is_some());

    // The plain list disappears: its previous content stays, the other feed still reloads.
    std::fs::remove_file(dir.path().join("block.list")).unwrap();
    write(
        &dir.path().join("trails/elf_gafgyt.txt"),
        "gafgyt2.example\n",
    );
    let report = store.reload();
    assert!(!report.is_complete() && report.swapped);
    assert!(matches!(report.feeds[0].error, Some(FeedError::Io { .. })));
    assert!(report.feeds[0].kept_previous);
    let third = store.load();
    assert!(
        third.match_ip(ip("192.0.2.2")).is_some(),
        "previous content kept"
    );
    assert!(third.match_domain("gafgyt2.example").is_some());
    assert!(third.match_domain("gafgyt.example").is_none());

    // Both unreadable: nothing swapped, the same set stays.
    std::fs::remove_dir_all(dir.path().join("trails")).unwrap();
    let report = store.reload();
    assert!(!report.swapped);
    assert!(
        report
            .feeds
            .iter()
            .all(|f| f.error.is_some() && f.kept_previous)
    );
    assert!(Arc::ptr_eq(&third, &store.load()));

    // A directory with no feed files is an error too (it may be mid-replacement).
    std::fs::create_dir(dir.path().join("trails")).unwrap();
    let report = store.reload();
    assert!(matches!(
        report.feeds[1].error,
        Some(FeedError::Empty { .. })
    ));
    assert!(store.load().match_domain("gafgyt2.example").is_some());
}

#[test]
fn missing_feed_at_start_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("block.list"), "192.0.2.1\n");
    let (store, report) = IntelStore::open(config(dir.path()));
    assert!(report.swapped);
    assert!(report.feeds[0].error.is_none());
    assert!(!report.feeds[1].kept_previous);
    assert!(matches!(report.feeds[1].error, Some(FeedError::Io { .. })));
    assert_eq!(store.load().len(), 1);
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("block.list"), "192.0.2.1\n");
    let mut cfg = config(dir.path());
    cfg.feeds.truncate(1);
    cfg.max_file_bytes = 16;
    let (store, _) = IntelStore::open(cfg);
    assert_eq!(store.load().len(), 1);
    write(
        &dir.path().join("block.list"),
        "192.0.2.1\n192.0.2.2\n192.0.2.3\n",
    );
    let report = store.reload();
    assert!(matches!(
        report.feeds[0].error,
        Some(FeedError::TooLarge { .. })
    ));
    assert_eq!(store.load().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_reloads_on_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("trails")).unwrap();
    write(&dir.path().join("block.list"), "192.0.2.1\n");
    write(&dir.path().join("trails/elf_x.txt"), "x.example\n");
    let (store, _) = IntelStore::open(config(dir.path()));
    let store = Arc::new(store);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task =
        rampart_intel::spawn_watcher_every(Arc::clone(&store), Duration::from_millis(20), async {
            stop_rx.await.ok();
        });
    let before = store.load();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(Arc::ptr_eq(&before, &store.load()), "no change, no reload");

    write(&dir.path().join("block.list"), "192.0.2.1\n192.0.2.77\n");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.load().match_ip(ip("192.0.2.77")).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher did not reload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new file in a directory feed is noticed too.
    write(&dir.path().join("trails/elf_y.txt"), "y.example\n");
    while store.load().match_domain("y.example").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher missed a new file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
