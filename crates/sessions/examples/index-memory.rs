//! Memory of the attribution index for N devices, each with one SIM and one static /32:
//! `cargo run --release -p rampart-sessions --example index-memory -- 1000000`.
//! Reads the resident set size from /proc (Linux).

use rampart_core::{DeviceId, TenantId};
use rampart_sessions::RegistryIndex;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let tenants: Vec<TenantId> = (0..10)
        .filter_map(|i| TenantId::parse(&format!("tenant-{i}")).ok())
        .collect();
    let before = rss_bytes();
    let start = std::time::Instant::now();
    let mut index = RegistryIndex::new();
    for i in 0..n {
        let Some(tenant) = tenants.get(i as usize % tenants.len()) else {
            return;
        };
        let Ok(device) = DeviceId::parse(&format!("device-{i:08}")) else {
            continue;
        };
        index.add_sim(&format!("00101{i:010}"), tenant, Some(&device));
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 | i);
        index.add_static(
            ipnet::IpNet::from(std::net::IpAddr::V4(ip)),
            tenant,
            &device,
        );
    }
    let built = start.elapsed();
    let after = rss_bytes();
    println!(
        "devices={n} sims={} statics={} build_s={:.2} rss_delta_mb={:.1} bytes_per_device={:.0}",
        index.sims(),
        index.statics(),
        built.as_secs_f64(),
        (after.saturating_sub(before)) as f64 / 1e6,
        (after.saturating_sub(before)) as f64 / f64::from(n.max(1))
    );
}
