//! The simulated fleet: the same devices `rampart devices generate --seed S` registers (so a
//! server that imported them attributes everything), each with an address on the packet
//! gateway's pool, and what each one does per second — ordinary telemetry, or one of the
//! misbehaviours detection must catch.

use std::net::Ipv4Addr;

use rampart_core::{ConnState, FlowRecord, PacketFacts, SignalSource, Timestamp, proto, tcp_flags};

/// What a misbehaving device does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Misbehaviour {
    /// Its SIM shows up in another device (a different IMEI).
    SimSwap,
    /// Its session jumps to a network in another country.
    Roaming,
    /// It sends a hundred times its usual volume.
    UsageSpike,
    /// It scans random addresses on telnet ports, Mirai-style (unanswered SYNs).
    Scan,
    /// It beacons to a command-and-control endpoint at a fixed period.
    C2,
    /// It floods one target with UDP.
    Flood,
}

/// One simulated device.
#[derive(Debug, Clone)]
pub(crate) struct SimDevice {
    pub(crate) device_id: String,
    pub(crate) imsi: String,
    pub(crate) imei: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) mcc: u16,
    pub(crate) mnc: u16,
    pub(crate) three_digit_mnc: bool,
    pub(crate) misbehaviour: Option<Misbehaviour>,
    /// Cumulative octets reported so far (accounting counters only grow).
    pub(crate) up: u64,
    pub(crate) down: u64,
}

/// The fleet of `count` generated devices that have a SIM; `bad` lists how many devices do
/// what (the first ones of the fleet, in generation order).
pub(crate) fn build(count: u64, seed: u64, bad: &[(Misbehaviour, u64)]) -> Vec<SimDevice> {
    let mut out = Vec::new();
    let mut plan = bad
        .iter()
        .flat_map(|(m, n)| std::iter::repeat_n(*m, *n as usize));
    for (i, rec) in rampart_fleetfile::generate(count, seed).enumerate() {
        let Some(sim) = rec.sim else { continue };
        let imsi = sim.imsi.as_str().to_owned();
        let mcc: u16 = imsi.get(..3).and_then(|s| s.parse().ok()).unwrap_or(1);
        // North American numbering uses three-digit MNCs.
        let three = (300..=316).contains(&mcc);
        let mnc_len = if three { 3 } else { 2 };
        let mnc: u16 = imsi
            .get(3..3 + mnc_len)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let imei = sim
            .allowed_imeis
            .first()
            .or(sim.learned_imei.as_ref())
            .map_or_else(|| format!("35{i:012}0"), |e| e.as_str().to_owned());
        // 100.64.0.0/10 (CGNAT), as mobile IoT APNs commonly hand out.
        let ip = Ipv4Addr::from(0x6440_0000u32 | ((i as u32 + 2) & 0x003f_ffff));
        out.push(SimDevice {
            device_id: rec.device.id.as_str().to_owned(),
            imsi,
            imei,
            ip,
            mcc,
            mnc,
            three_digit_mnc: three,
            misbehaviour: plan.next(),
            up: 0,
            down: 0,
        });
    }
    out
}

/// A small deterministic generator (no wall clock, no OS entropy: a run is reproducible).
#[derive(Debug, Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The fleet's servers: where ordinary devices send telemetry.
const SERVERS: [(Ipv4Addr, u16, u8); 3] = [
    (Ipv4Addr::new(203, 0, 113, 10), 8883, proto::TCP),
    (Ipv4Addr::new(203, 0, 113, 11), 443, proto::TCP),
    (Ipv4Addr::new(203, 0, 113, 53), 53, proto::UDP),
];

#[allow(clippy::too_many_arguments)]
fn flow(
    d: &SimDevice,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    packets: u64,
    bytes: u64,
    flags: u8,
    start: Timestamp,
    end: Timestamp,
) -> FlowRecord {
    let state = if protocol == proto::TCP && flags == tcp_flags::SYN {
        ConnState::S0
    } else if protocol == proto::TCP {
        ConnState::SF
    } else {
        ConnState::OTH
    };
    FlowRecord {
        source: SignalSource::NetflowV9,
        exporter: None,
        uid: None,
        start,
        end,
        src: d.ip.into(),
        dst: dst.into(),
        src_port,
        dst_port,
        protocol,
        packets,
        bytes,
        rev_packets: 0,
        rev_bytes: 0,
        tcp_flags: flags,
        rev_tcp_flags: 0,
        state,
        service: None,
        facts: PacketFacts::default(),
    }
}

#[allow(clippy::too_many_arguments)] // One call site; a struct would only rename the list.
/// What the device exported during the second ending at `now` (as its gateway's flow
/// exporter would see it). `second` counts seconds since the start of the run; `active` says
/// whether misbehaviour has begun.
pub(crate) fn flows_for(
    d: &mut SimDevice,
    rng: &mut Rng,
    now: Timestamp,
    second: u64,
    active: bool,
    normal_flows: u64,
    c2: (Ipv4Addr, u16),
    out: &mut Vec<FlowRecord>,
) {
    let start = Timestamp(now.0 - 1000);
    let port = || 32_768 + (rng_port(second, d.ip) % 28_000) as u16;
    for k in 0..normal_flows {
        let (dst, dport, p) = SERVERS[(rng.below(SERVERS.len() as u64)) as usize];
        let (pk, by, fl) = if p == proto::TCP {
            (
                6,
                1_200 + rng.below(800),
                tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN,
            )
        } else {
            (1, 70 + rng.below(30), 0)
        };
        let sp = port().wrapping_add(k as u16);
        out.push(flow(d, dst, sp, dport, p, pk, by, fl, start, now));
        d.up += by;
        d.down += by * 2;
    }
    if !active {
        return;
    }
    match d.misbehaviour {
        Some(Misbehaviour::Scan) => {
            for _ in 0..20 {
                let dst = Ipv4Addr::from((rng.next() as u32) | 0x0100_0000);
                let dport = if rng.below(10) == 0 { 2323 } else { 23 };
                out.push(flow(
                    d,
                    dst,
                    port(),
                    dport,
                    proto::TCP,
                    1,
                    40,
                    tcp_flags::SYN,
                    start,
                    now,
                ));
            }
        }
        Some(Misbehaviour::C2) if second.is_multiple_of(10) => {
            out.push(flow(
                d,
                c2.0,
                port(),
                c2.1,
                proto::TCP,
                5,
                420,
                tcp_flags::SYN | tcp_flags::ACK | tcp_flags::PSH | tcp_flags::FIN,
                start,
                now,
            ));
        }
        Some(Misbehaviour::Flood) => {
            let target = Ipv4Addr::new(198, 51, 100, 200);
            out.push(flow(
                d,
                target,
                port(),
                80,
                proto::UDP,
                50_000,
                50_000 * 540,
                0,
                start,
                now,
            ));
            d.up += 50_000 * 540;
        }
        Some(Misbehaviour::UsageSpike) => {
            let by = 2_000_000 + rng.below(500_000);
            out.push(flow(
                d,
                SERVERS[1].0,
                port(),
                443,
                proto::TCP,
                by / 1400,
                by,
                tcp_flags::SYN | tcp_flags::ACK | tcp_flags::FIN,
                start,
                now,
            ));
            d.up += by;
        }
        _ => {}
    }
}

fn rng_port(second: u64, ip: Ipv4Addr) -> u64 {
    second.wrapping_mul(2_654_435_761) ^ u64::from(u32::from(ip))
}
