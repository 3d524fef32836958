//! Shared helpers of the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub(crate) mod pcap;

use std::path::{Path, PathBuf};

/// The shared data directory, or `None` (with a message) when absent; absent data fails
/// the test when `RAMPART_REQUIRE_SHARED_DATA=1`.
pub(crate) fn shared_data(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: {} not found", dir.display());
    None
}

/// Whether a peer tool is installed; absent tools fail the test when
/// `RAMPART_REQUIRE_PEERS=1`.
pub(crate) fn have_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(name).is_file();
    if !found {
        assert!(
            std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
            "RAMPART_REQUIRE_PEERS=1 but {name} is not installed"
        );
        eprintln!("skipping: {name} not installed");
    }
    found
}

/// Full path of a tool (PATH or /usr/sbin).
pub(crate) fn tool_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}
