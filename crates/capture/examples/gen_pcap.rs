//! Writes a large capture for benchmarks.
//!
//! ```sh
//! # Synthetic: many concurrent flows with realistic sizes (web over TCP, DNS, small UDP,
//! # SYN probes), interleaved in time.
//! cargo run --release -p rampart-capture --example gen_pcap -- synth OUT.pcap PACKETS [ACTIVE]
//! # A real capture repeated N times, each copy shifted past the previous one in time.
//! cargo run --release -p rampart-capture --example gen_pcap -- replay IN.pcap OUT.pcap N
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;

use etherparse::PacketBuilder;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use rampart_capture::LinkType;
use rampart_capture::synth::{PcapWriter, dns_response, ethernet};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One conversation: its packets are produced one at a time.
struct Conv {
    client: [u8; 4],
    server: [u8; 4],
    cport: u16,
    kind: Kind,
    step: u32,
    len: u32,
}

#[derive(Clone, Copy)]
enum Kind {
    Web,
    Dns,
    SmallUdp,
    Probe { answered: bool },
}

impl Conv {
    fn new(rng: &mut Rng, id: u64) -> Self {
        let client = [10, (id >> 16) as u8 & 0x3f, (id >> 8) as u8, id as u8];
        let server = [198, 18, rng.below(20) as u8, rng.below(250) as u8];
        let cport = 1024 + (rng.below(60000) as u16);
        let roll = rng.below(100);
        let (kind, len) = if roll < 55 {
            (Kind::Web, 8 + 2 * rng.below(20) as u32)
        } else if roll < 80 {
            (Kind::Dns, 2)
        } else if roll < 90 {
            (Kind::SmallUdp, 1 + rng.below(6) as u32)
        } else {
            (
                Kind::Probe {
                    answered: rng.below(2) == 0,
                },
                1,
            )
        };
        let len = match kind {
            Kind::Probe { answered: true } => 2,
            _ => len,
        };
        Self {
            client,
            server,
            cport,
            kind,
            step: 0,
            len,
        }
    }

    fn done(&self) -> bool {
        self.step >= self.len
    }

    /// The next packet (IP, no link layer).
    fn next_packet(&mut self, rng: &mut Rng, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let (c, s, cp) = (self.client, self.server, self.cport);
        let i = self.step;
        self.step += 1;
        match self.kind {
            Kind::Web => {
                let last = self.len - 1;
                let (from_client, flags, size): (bool, &str, usize) = match i {
                    0 => (true, "S", 0),
                    1 => (false, "SA", 0),
                    2 => (true, "A", 0),
                    3 => (true, "PA", 200 + rng.below(400) as usize),
                    n if n == last - 2 => (true, "FA", 0),
                    n if n == last - 1 => (false, "FA", 0),
                    n if n == last => (true, "A", 0),
                    n if n.is_multiple_of(2) => (true, "A", 0),
                    _ => (false, "A", 1448),
                };
                let payload = vec![0x42u8; size];
                let (src, dst, sp, dp) = if from_client {
                    (c, s, cp, 443)
                } else {
                    (s, c, 443, cp)
                };
                let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, 1000 + i, 65535);
                for f in flags.chars() {
                    b = match f {
                        'S' => b.syn(),
                        'A' => b.ack(1),
                        'F' => b.fin(),
                        'P' => b.psh(),
                        _ => b,
                    };
                }
                b.write(out, &payload)?;
            }
            Kind::Dns => {
                let name = format!("d{}.example.net", rng.below(10_000));
                if i == 0 {
                    let mut q = dns_response(7, &name, 0, &[]);
                    if let Some(b) = q.get_mut(2) {
                        *b = 1;
                    }
                    PacketBuilder::ipv4(c, [9, 9, 9, 9], 64)
                        .udp(cp, 53)
                        .write(out, &q)?;
                } else {
                    let a = IpAddr::from([198, 18, 0, rng.below(250) as u8]);
                    let r = dns_response(7, &name, 0, &[(a, 300)]);
                    PacketBuilder::ipv4([9, 9, 9, 9], c, 64)
                        .udp(53, cp)
                        .write(out, &r)?;
                }
            }
            Kind::SmallUdp => {
                let payload = vec![0u8; 50 + rng.below(150) as usize];
                let (src, dst, sp, dp) = if i.is_multiple_of(2) {
                    (c, s, cp, 5683)
                } else {
                    (s, c, 5683, cp)
                };
                PacketBuilder::ipv4(src, dst, 64)
                    .udp(sp, dp)
                    .write(out, &payload)?;
            }
            Kind::Probe { .. } => {
                let port = 1 + rng.below(1024) as u16;
                if i == 0 {
                    PacketBuilder::ipv4(c, s, 64)
                        .tcp(cp, port, u32::from_be_bytes(s), 1024)
                        .syn()
                        .write(out, &[])?;
                } else {
                    PacketBuilder::ipv4(s, c, 64)
                        .tcp(port, cp, 0, 0)
                        .rst()
                        .ack(1)
                        .write(out, &[])?;
                }
            }
        }
        Ok(())
    }
}

fn synth(out: &str, packets: u64, active: usize) -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut w = PcapWriter::new(
        BufWriter::new(File::create(out)?),
        LinkType::ETHERNET,
        65535,
    )?;
    let mut next_id = 0u64;
    let mut convs: Vec<Conv> = (0..active)
        .map(|_| {
            next_id += 1;
            Conv::new(&mut rng, next_id)
        })
        .collect();
    let mut ts: i64 = 1_700_000_000_000_000_000;
    let mut ip = Vec::with_capacity(2048);
    let mut flows = 0u64;
    for _ in 0..packets {
        let slot = rng.below(convs.len() as u64) as usize;
        let Some(conv) = convs.get_mut(slot) else {
            continue;
        };
        conv.next_packet(&mut rng, &mut ip)?;
        if conv.done() {
            flows += 1;
            next_id += 1;
            *conv = Conv::new(&mut rng, next_id);
        }
        // About 200k packets/s of traffic.
        ts += 5_000;
        w.write(ts, &ethernet(&ip), None)?;
    }
    w.into_inner()?;
    eprintln!(
        "{out}: {packets} packets, {flows} conversations completed, {active} open at the end"
    );
    Ok(())
}

fn replay(input: &str, out: &str, times: u32) -> Result<()> {
    let mut frames: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut linktype = LinkType::ETHERNET;
    let mut reader = pcap_parser::LegacyPcapReader::new(1 << 20, File::open(input)?)?;
    loop {
        match reader.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => linktype = LinkType(h.network.0 as u32),
                    PcapBlockOwned::Legacy(b) => {
                        let ts = i64::from(b.ts_sec) * 1_000_000_000 + i64::from(b.ts_usec) * 1000;
                        frames.push((ts, b.data.to_vec()));
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return Err(format!("{input}: read error").into());
                }
            }
            Err(e) => return Err(format!("{input}: {e:?}").into()),
        }
    }
    let first = frames.first().map_or(0, |f| f.0);
    let last = frames.last().map_or(0, |f| f.0);
    // Each copy starts an hour after the previous one ended: all its flows are new.
    let period = last - first + 3_600_000_000_000;
    let mut w = PcapWriter::new(BufWriter::new(File::create(out)?), linktype, 65535)?;
    for round in 0..i64::from(times) {
        for (ts, frame) in &frames {
            w.write(ts + round * period, frame, None)?;
        }
    }
    w.into_inner()?;
    eprintln!(
        "{out}: {} packets ({} x {times})",
        frames.len() as u64 * u64::from(times),
        frames.len()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["synth", out, packets] => synth(out, packets.parse()?, 50_000),
        ["synth", out, packets, active] => synth(out, packets.parse()?, active.parse()?),
        ["replay", input, out, times] => replay(input, out, times.parse()?),
        _ => Err("usage: gen_pcap synth OUT PACKETS [ACTIVE] | replay IN OUT TIMES".into()),
    }
}
