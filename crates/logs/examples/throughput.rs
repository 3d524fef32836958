//! Reading throughput and memory on a large generated Zeek conn.log (TSV).
//!
//! ```sh
//! cargo run --release -p rampart-logs --example throughput -- /tmp/conn.log 1000000 5
//! ```
//!
//! Writes the file when it does not exist (the given number of lines), reads it the given
//! number of times and prints each run's lines/s, the median and the peak resident memory.

#![allow(clippy::unwrap_used)] // A measurement tool: a failure should stop it loudly.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::time::Instant;

use rampart_logs::{LogEvent, LogReader};

const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2024-05-01-10-00-00\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n";

/// A realistic mix: TCP sessions, failed attempts, DNS over UDP, some IPv6.
fn generate(path: &str, lines: u64) {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(HEADER.as_bytes()).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut line = String::with_capacity(256);
    for i in 0..lines {
        line.clear();
        let r = next();
        let ts = 1_714_557_600_000_000 + i * 1_000 + r % 1_000;
        let uid: String = (0..17)
            .map(|k| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        [((r >> (k * 3)) % 62) as usize],
                )
            })
            .collect();
        let src = format!(
            "10.{}.{}.{}",
            (r >> 8) % 256,
            (r >> 16) % 256,
            (r >> 24) % 254 + 1
        );
        let (dst, proto, service, state_s, history, dport) = match r % 10 {
            0..=4 => (
                format!("93.184.{}.{}", (r >> 32) % 256, (r >> 40) % 254 + 1),
                "tcp",
                "ssl",
                "SF",
                "ShADadFf",
                443,
            ),
            5 | 6 => (
                format!("10.0.{}.{}", (r >> 32) % 256, (r >> 40) % 254 + 1),
                "tcp",
                "-",
                "S0",
                "S",
                23,
            ),
            7 | 8 => ("10.0.0.1".to_string(), "udp", "dns", "SF", "Dd", 53),
            _ => (
                format!("2001:db8::{:x}", (r >> 32) % 65536),
                "tcp",
                "http",
                "SF",
                "ShADadfF",
                80,
            ),
        };
        writeln!(
            line,
            "{}.{:06}\tC{uid}\t{src}\t{}\t{dst}\t{dport}\t{proto}\t{service}\t{}.{:06}\t{}\t{}\t{state_s}\tT\tF\t0\t{history}\t{}\t{}\t{}\t{}\t(empty)",
            ts / 1_000_000,
            ts % 1_000_000,
            1024 + (r >> 48) % 60000,
            (r >> 20) % 30,
            (r >> 12) % 1_000_000,
            (r >> 3) % 100_000,
            (r >> 5) % 1_000_000,
            (r >> 7) % 100 + 1,
            (r >> 9) % 100_000 + 40,
            (r >> 11) % 100,
            (r >> 13) % 1_000_000,
        )
        .unwrap();
        out.write_all(line.as_bytes()).unwrap();
    }
    out.write_all(b"#close\t2024-05-01-11-00-00\n").unwrap();
    out.flush().unwrap();
}

/// CPU time this thread has had, in seconds: on a shared machine wall time measures the
/// neighbours as much as the reader.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 / 1e9)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "/tmp/rampart-conn.log".into());
    let lines: u64 = args.next().map_or(1_000_000, |n| n.parse().unwrap());
    let runs: usize = args.next().map_or(5, |n| n.parse().unwrap());
    if std::fs::metadata(&path).is_err() {
        eprintln!("generating {lines} lines into {path}");
        generate(&path, lines);
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let mut rates = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut reader = LogReader::open(&path).unwrap();
        let mut bytes = 0u64;
        for event in &mut reader {
            if let Ok(LogEvent::Flow(f)) = event {
                bytes = bytes.wrapping_add(f.bytes);
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        let summary = reader.summary();
        assert_eq!(summary.errors, 0);
        let wall_rate = summary.lines as f64 / elapsed;
        let rate = summary.lines as f64 / cpu;
        println!(
            "run {run}: {} lines, {} flows; wall {elapsed:.3} s ({wall_rate:.0} lines/s); \
             cpu {cpu:.3} s ({rate:.0} lines/s, {:.1} MB/s) (checksum {bytes})",
            summary.lines,
            summary.flows,
            size as f64 / cpu / 1e6
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median {:.0} lines per cpu-second over {runs} runs; peak RSS {} KiB; file {size} bytes",
        rates[rates.len() / 2],
        peak_rss_kib().unwrap_or(0)
    );
}
