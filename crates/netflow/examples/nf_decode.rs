//! Decodes the benchmark's NetFlow v9 or IPFIX datagrams (templates known) a fixed number of
//! times and reports records and CPU time: a deterministic workload for
//! `valgrind --tool=callgrind` (instructions per record do not depend on machine load) and a
//! quick records-per-CPU-second check.
//!
//! `nf_decode <v9|ipfix> [rounds] [fast|parser]`; prints the records decoded, the wall time,
//! records per second and how many datagrams took the compiled-template path (`parser`
//! decodes every datagram with netflow_parser alone, for comparison).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use rampart_core::{ConnState, FlowRecord, SignalSource, Timestamp};
use rampart_netflow::encode::{Encoder, EncoderOptions, ExportVersion};
use rampart_netflow::{Collector, CollectorLimits};

const EXPORT_MS: i64 = 1_704_067_200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let version = match args.get(1).map(String::as_str) {
        Some("v9") => ExportVersion::V9,
        Some("ipfix") => ExportVersion::Ipfix,
        _ => return Err("usage: nf_decode <v9|ipfix> [rounds] [fast|parser]".into()),
    };
    let rounds: usize = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let fast = args.get(3).map(String::as_str) != Some("parser");
    let flows: Vec<FlowRecord> = (0u32..3000)
        .map(|i| FlowRecord {
            source: SignalSource::Ipfix,
            exporter: Some(Arc::from("192.0.2.1")),
            uid: None,
            start: Timestamp(EXPORT_MS - 30_000),
            end: Timestamp(EXPORT_MS - 1_000),
            src: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, (i % 250) as u8)),
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
    opts.template_refresh = 0;
    let packets = Encoder::new(opts).encode(&flows, Timestamp(EXPORT_MS))?;
    let (first, data) = packets.split_first().ok_or("no packet")?;
    let exporter: SocketAddr = "192.0.2.1:2055".parse()?;
    let mut collector = Collector::new(CollectorLimits::default())?.with_fast_path(fast);
    let mut out = Vec::with_capacity(4096);
    collector.ingest(exporter, first, &mut out)?;
    let started = Instant::now();
    let mut records = 0usize;
    for _ in 0..rounds {
        out.clear();
        for p in data {
            collector.ingest(exporter, p, &mut out)?;
        }
        records += out.len();
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "records={records} wall_s={wall:.3} records_per_s={:.0} fast_datagrams={}",
        records as f64 / wall,
        collector.fast_path_datagrams()
    );
    Ok(())
}
