//! Sends a fixed number of pre-encoded NetFlow v9 or IPFIX datagrams over UDP at a paced
//! rate (0: as fast as it can): the load side of `scripts/bench-netflow.sh`.
//!
//! `nf_sender <v9|ipfix> <target host:port> <datagrams> <datagrams per second>`; prints the
//! datagrams and data records sent and the rate achieved. Pacing sends what is due every
//! millisecond and sleeps in between, so the sender leaves the other core to the collector.
//! Targets loopback only in the benchmark script.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let version = match args.get(1).map(String::as_str) {
        Some("v9") => ExportVersion::V9,
        Some("ipfix") => ExportVersion::Ipfix,
        _ => return Err("usage: nf_sender <v9|ipfix> <host:port> <datagrams> <rate>".into()),
    };
    let target: SocketAddr = args.get(2).ok_or("target missing")?.parse()?;
    let total: u64 = args.get(3).ok_or("datagram count missing")?.parse()?;
    let rate: u64 = args.get(4).ok_or("rate missing")?.parse()?;
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;
    let flows: Vec<FlowRecord> = (0u32..3000)
        .map(|i| FlowRecord {
            source: SignalSource::Ipfix,
            exporter: Some(Arc::from("sim")),
            uid: None,
            start: Timestamp(now_ms - 30_000),
            end: Timestamp(now_ms - 1_000),
            src: std::net::Ipv4Addr::from(0x0a00_0000 + i).into(),
            dst: std::net::Ipv4Addr::new(198, 51, 100, (i % 250) as u8).into(),
            src_port: 40_000 + (i % 20_000) as u16,
            dst_port: 443,
            protocol: 6,
            packets: u64::from(i % 100 + 1),
            bytes: u64::from(i % 100 + 1) * 600,
            rev_packets: 0,
            rev_bytes: 0,
            tcp_flags: 0x1b,
            rev_tcp_flags: 0,
            state: ConnState::SF,
            service: None,
            facts: Default::default(),
        })
        .collect();
    let mut opts = EncoderOptions::new(version);
    opts.boot_time = Timestamp(now_ms - 3_600_000);
    // Templates every 16 datagrams, as softflowd sends them; the first datagram carries them,
    // and the collectors are started before the sender.
    opts.template_refresh = 16;
    let mut enc = Encoder::new(opts);
    let packets = enc.encode(&flows, Timestamp(now_ms))?;
    let per_packet: Vec<u64> = packets.iter().map(|p| record_count(p, version)).collect();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(target)?;
    let started = Instant::now();
    let (mut sent, mut records, mut attempts) = (0u64, 0u64, 0u64);
    let mut cycle = packets.iter().zip(&per_packet).cycle();
    while attempts < total {
        // Datagrams due by now at the paced rate (all of them unpaced).
        let due = if rate == 0 {
            total
        } else {
            let elapsed = started.elapsed().as_micros();
            u64::try_from(elapsed * u128::from(rate) / 1_000_000)
                .unwrap_or(total)
                .min(total)
        };
        if attempts >= due {
            std::thread::sleep(Duration::from_micros(500));
            continue;
        }
        while attempts < due {
            let Some((p, n)) = cycle.next() else { break };
            attempts += 1;
            if socket.send(p).is_ok() {
                sent += 1;
                records += n;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent_datagrams={sent} sent_records={records} seconds={secs:.2} records_per_s={:.0}",
        records as f64 / secs
    );
    Ok(())
}

/// Data records in one datagram this encoder built (template records excluded).
fn record_count(p: &[u8], version: ExportVersion) -> u64 {
    let mut at = match version {
        ExportVersion::Ipfix => 16,
        _ => 20,
    };
    let mut n = 0;
    while at + 4 <= p.len() {
        let id = u16::from_be_bytes([p[at], p[at + 1]]);
        let len = usize::from(u16::from_be_bytes([p[at + 2], p[at + 3]]));
        if len < 4 {
            break;
        }
        let rec = match (version, id) {
            (ExportVersion::Ipfix, 256) => 47,
            (ExportVersion::V9, 256) => 38,
            _ => 0,
        };
        n += (len - 4).checked_div(rec).unwrap_or(0) as u64;
        at += len;
    }
    n
}
