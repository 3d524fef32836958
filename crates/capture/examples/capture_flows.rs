//! Reads a capture and prints its flows, DNS answers and names (`-q`: only the summary), with
//! the packet rate; used to compare against tshark and in the capture benchmark.
//!
//! ```sh
//! cargo run --release -p rampart-capture --example capture_flows -- [-q] [--no-timeouts] FILE...
//! ```

use std::time::Instant;

use rampart_capture::{CaptureConfig, CaptureEvent, CaptureReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut quiet = false;
    let mut files = Vec::new();
    let mut config = CaptureConfig::default();
    for arg in std::env::args().skip(1) {
        if arg == "-q" {
            quiet = true;
        } else if arg == "--no-timeouts" {
            // One flow per 5-tuple for the whole file, as tshark's conversation table.
            let day = std::time::Duration::from_secs(1 << 40);
            config.tcp_timeout = day;
            config.udp_timeout = day;
            config.other_timeout = day;
            config.attempt_timeout = day;
            config.close_delay = day;
        } else {
            files.push(arg);
        }
    }
    for file in files {
        let started = Instant::now();
        let mut reader = CaptureReader::open(&file, config.clone())?;
        let (mut flows, mut dns, mut names) = (0u64, 0u64, 0u64);
        for event in reader.by_ref() {
            match &event {
                CaptureEvent::Flow(f) => {
                    flows += 1;
                    if !quiet {
                        println!(
                            "flow {} {}:{} -> {}:{} p{} {}/{} pkts {}/{} bytes {:?} facts {:?}",
                            f.start.0,
                            f.src,
                            f.src_port,
                            f.dst,
                            f.dst_port,
                            f.protocol,
                            f.packets,
                            f.rev_packets,
                            f.bytes,
                            f.rev_bytes,
                            f.state,
                            f.facts
                        );
                    }
                }
                CaptureEvent::Dns(d) => {
                    dns += 1;
                    if !quiet {
                        println!(
                            "dns {} {} {:?} {:?} ttl {:?}",
                            d.client, d.query, d.rcode, d.answers, d.ttl
                        );
                    }
                }
                CaptureEvent::Name(n) => {
                    names += 1;
                    if !quiet {
                        println!(
                            "name {} -> {}:{} {} via {}",
                            n.client, n.server, n.port, n.name, n.via
                        );
                    }
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let s = reader.summary();
        println!(
            "{file}: {} packets in {secs:.3} s ({:.0} packets/s), {flows} flows, {dns} dns, {names} names, peak {} flows; {:?}",
            s.packets,
            s.packets as f64 / secs.max(1e-9),
            s.table.peak_flows,
            s
        );
    }
    Ok(())
}
