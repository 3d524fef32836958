//! What the binary's end-to-end tests share: peers found on the machine, skipping visibly when
//! one is missing (failing instead under `RAMPART_REQUIRE_PEERS=1`), free loopback ports, and
//! child processes killed when the test ends, whatever way it ends.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A child process, killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Whether `tool` is on the `PATH`.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Says that `test` is skipped and why; panics instead under `RAMPART_REQUIRE_PEERS=1`.
pub fn skip(test: &str, what: &str) {
    assert!(
        std::env::var("RAMPART_REQUIRE_PEERS").as_deref() != Ok("1"),
        "{test}: {what}, and RAMPART_REQUIRE_PEERS=1"
    );
    eprintln!("SKIPPED: {test}: {what}");
}

/// Whether every tool is installed; skips `test` (see [`skip`]) at the first one missing.
pub fn require(test: &str, tools: &[&str]) -> bool {
    for tool in tools {
        if !have(tool) {
            skip(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    true
}

/// Mosquitto's dynamic-security plugin, where Debian and others install it.
pub fn dynsec_plugin() -> Option<PathBuf> {
    let known = [
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
    ];
    if let Some(p) = known.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    let out = Command::new("dpkg")
        .args(["-L", "mosquitto"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("mosquitto_dynamic_security.so"))
        .map(PathBuf::from)
}

/// A TCP port free on loopback a moment ago.
pub fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free on loopback a moment ago.
pub fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
