//! Synthetic fleets for demos, load tests and import benchmarks.
//!
//! Deterministic: a record depends only on `(seed, index)`, through our own SplitMix64, so a
//! seed gives the same fleet on every platform and with every dependency version. Unique
//! identifiers (IMSI, ICCID, IP, device id) come from bijections of the index, not from the
//! PRNG, so uniqueness is guaranteed rather than likely.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use rampart_core::{
    Device, DeviceId, DeviceRecord, DeviceState, Iccid, Imei, ImeiPolicy, Imsi, Label, MacAddr,
    Msisdn, Sim, TenantId, Timestamp, luhn_check_digit,
};

/// Most records [`generate`] yields: IMSI and ICCID serials are unique below this.
pub const MAX_GENERATED: u64 = 1_000_000_000;

/// Hosts in 10.0.0.0/8 without .0.0.0 and .255.255.255; devices past this get no address.
const IP_HOSTS: u64 = (1 << 24) - 2;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and its output is fixed forever.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..n` (multiply-shift; the bias is negligible here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }
}

/// `(index * mul + offset) mod modulus`: a bijection on `0..modulus` when `mul` is coprime to
/// it, which scatters serials while keeping them unique.
fn scramble(index: u64, mul: u64, offset: u64, modulus: u64) -> u64 {
    ((u128::from(index) * u128::from(mul) + u128::from(offset)) % u128::from(modulus)) as u64
}

struct Operator {
    /// MCC + MNC of the IMSI.
    plmn: &'static str,
    /// `89` + country calling code + issuer.
    iccid_prefix: &'static str,
    /// ICCID length including the check digit.
    iccid_len: usize,
    /// Country code + mobile prefix of the MSISDN.
    msisdn_prefix: &'static str,
    /// Digits after the prefix.
    msisdn_digits: u32,
}

#[rustfmt::skip]
const OPERATORS: &[Operator] = &[
    Operator { plmn: "21407", iccid_prefix: "893407", iccid_len: 19, msisdn_prefix: "346", msisdn_digits: 8 },
    Operator { plmn: "23415", iccid_prefix: "894415", iccid_len: 19, msisdn_prefix: "447", msisdn_digits: 9 },
    Operator { plmn: "26201", iccid_prefix: "894901", iccid_len: 20, msisdn_prefix: "49151", msisdn_digits: 8 },
    Operator { plmn: "20801", iccid_prefix: "893301", iccid_len: 20, msisdn_prefix: "336", msisdn_digits: 8 },
    Operator { plmn: "22201", iccid_prefix: "893901", iccid_len: 19, msisdn_prefix: "393", msisdn_digits: 9 },
    Operator { plmn: "20404", iccid_prefix: "893104", iccid_len: 19, msisdn_prefix: "316", msisdn_digits: 8 },
    Operator { plmn: "310260", iccid_prefix: "8901260", iccid_len: 19, msisdn_prefix: "1214", msisdn_digits: 7 },
];

struct Site {
    name: &'static str,
    slug: &'static str,
    region: &'static str,
    operator: usize,
}

#[rustfmt::skip]
const SITES: &[(Site, u64)] = &[
    (Site { name: "Madrid", slug: "madrid", region: "eu", operator: 0 }, 18),
    (Site { name: "Barcelona", slug: "barcelona", region: "eu", operator: 0 }, 8),
    (Site { name: "London", slug: "london", region: "eu", operator: 1 }, 14),
    (Site { name: "Manchester", slug: "manchester", region: "eu", operator: 1 }, 5),
    (Site { name: "Berlin", slug: "berlin", region: "eu", operator: 2 }, 12),
    (Site { name: "Munich", slug: "munich", region: "eu", operator: 2 }, 6),
    (Site { name: "Paris", slug: "paris", region: "eu", operator: 3 }, 10),
    (Site { name: "Milan", slug: "milan", region: "eu", operator: 4 }, 7),
    (Site { name: "Amsterdam", slug: "amsterdam", region: "eu", operator: 5 }, 8),
    (Site { name: "Dallas", slug: "dallas", region: "us", operator: 6 }, 12),
];

const CUSTOMERS: &[(&str, u64)] = &[
    ("acme", 30),
    ("globex", 20),
    ("initech", 15),
    ("umbrella", 15),
    ("hooli", 10),
    ("stark", 10),
];

/// Plausible TACs (first 8 IMEI digits) in the ranges of common IoT modules.
#[rustfmt::skip]
const TACS: &[&str] = &[
    "86107303", // Quectel EC25
    "86614703", // Quectel BG95
    "35295910", // u-blox SARA-R410M
    "35925406", // u-blox LARA-R6
    "35469211", // Telit ME910C1
    "35320108", // Telit LE910C4
    "86729104", // SIMCom SIM7600
    "86871305", // SIMCom SIM7070
];

struct ProfileSpec {
    name: &'static str,
    short: &'static str,
    /// Indexes into [`TACS`] of the modules this class ships with.
    tacs: &'static [usize],
    /// Static address and MAC (wired / fixed-IP devices).
    wired: bool,
    /// Share (‰) that has a SIM.
    sim_per_mille: u64,
    /// Share (‰) of SIMs with a phone number.
    msisdn_per_mille: u64,
    /// Hardware vendor prefix for the MAC.
    oui: &'static str,
}

#[rustfmt::skip]
const PROFILES: &[(ProfileSpec, u64)] = &[
    (ProfileSpec { name: "smart-meter", short: "meter", tacs: &[1, 2, 7], wired: false, sim_per_mille: 1000, msisdn_per_mille: 200, oui: "" }, 40),
    (ProfileSpec { name: "sensor", short: "sensor", tacs: &[1, 4, 7], wired: false, sim_per_mille: 1000, msisdn_per_mille: 100, oui: "" }, 20),
    (ProfileSpec { name: "tracker", short: "tracker", tacs: &[1, 2, 4], wired: false, sim_per_mille: 1000, msisdn_per_mille: 700, oui: "" }, 14),
    (ProfileSpec { name: "camera", short: "camera", tacs: &[0, 3, 6], wired: true, sim_per_mille: 700, msisdn_per_mille: 300, oui: "00:40:8c" }, 10),
    (ProfileSpec { name: "pos-terminal", short: "pos", tacs: &[0, 5, 6], wired: false, sim_per_mille: 1000, msisdn_per_mille: 900, oui: "" }, 10),
    (ProfileSpec { name: "gateway", short: "gateway", tacs: &[0, 3, 5], wired: true, sim_per_mille: 900, msisdn_per_mille: 500, oui: "00:1e:42" }, 6),
];

/// A synthetic fleet of `count` devices (at most [`MAX_GENERATED`]) in the default tenant.
///
/// Record `n` (from 1) is `dev-{n:07}`; the mix is ~40% smart meters, 20% sensors, 14%
/// trackers, 10% cameras, 10% POS terminals, 6% gateways over ten sites on seven operators.
/// Device ids, IMSIs and ICCIDs are unique for any count; the static 10.0.0.0/8 addresses of
/// cameras and gateways for the first 16,777,214 devices (later ones get none); IMEIs for the
/// first 1,000,000. Every record passes the [`crate::FleetReader`]'s validation.
pub fn generate(count: u64, seed: u64) -> impl Iterator<Item = DeviceRecord> {
    generate_for(TenantId::default_tenant(), count, seed)
}

/// Like [`generate`], owned by `tenant`.
pub fn generate_for(tenant: TenantId, count: u64, seed: u64) -> impl Iterator<Item = DeviceRecord> {
    (1..=count.min(MAX_GENERATED)).map(move |n| generate_one(&tenant, n, seed))
}

fn digits(value: u64, width: usize) -> String {
    format!("{value:0width$}")
}

fn with_luhn(mut payload: String) -> String {
    let check = luhn_check_digit(&payload).unwrap_or(0);
    payload.push(char::from(b'0' + check));
    payload
}

// Generated values are built to satisfy the core rules; a failure is a bug in this module,
// covered by the tests, never bad input.
#[allow(clippy::expect_used)]
fn label(s: &str) -> Label {
    Label::parse(s).expect("generated label is valid")
}

#[allow(clippy::expect_used)]
fn generate_one(tenant: &TenantId, n: u64, seed: u64) -> DeviceRecord {
    let mut rng = SplitMix64(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let (profile, site, customer) = (
        rng.weighted(PROFILES),
        rng.weighted(SITES),
        rng.weighted(CUSTOMERS),
    );
    let operator = &OPERATORS[site.operator];

    let id = DeviceId::parse(&format!("dev-{}", digits(n, 7))).expect("generated id is valid");
    let mut device = Device::new(tenant.clone(), id);
    device.name = format!("{} {} ({})", profile.short, digits(n, 7), site.name);
    device.profile = Some(label(profile.name));
    device.tags = vec![
        label(&format!("site:{}", site.slug)),
        label(&format!("customer:{customer}")),
        label(&format!("region:{}", site.region)),
    ];
    if rng.chance(50) {
        device.tags.push(label("critical"));
    }
    device.groups = vec![
        label(&format!("{}-{}", site.slug, profile.name)),
        label(&format!("wave-{}", 1 + rng.below(5))),
    ];
    device.firmware = Some(format!(
        "{}.{}.{}",
        1 + rng.below(3),
        rng.below(10),
        rng.below(20)
    ));
    if profile.wired {
        if n <= IP_HOSTS {
            let host = 1 + (n - 1 + seed % IP_HOSTS) % IP_HOSTS;
            let addr = Ipv4Addr::from(0x0A00_0000 | host as u32);
            device.ips = vec![IpNet::V4(Ipv4Net::from(addr))];
        }
        let low = scramble(n, 0x9E_3779, seed, 1 << 24);
        let mac = format!(
            "{}:{:02x}:{:02x}:{:02x}",
            profile.oui,
            low >> 16,
            (low >> 8) & 0xff,
            low & 0xff
        );
        device.mac = Some(MacAddr::parse(&mac).expect("generated mac is valid"));
    }
    device.state = match rng.below(1000) {
        0..970 => DeviceState::Active,
        970..985 => DeviceState::Disabled,
        985..995 => DeviceState::Quarantined,
        _ => DeviceState::Decommissioned,
    };
    device.normalize().expect("generated device is valid");

    let sim = rng.chance(profile.sim_per_mille).then(|| {
        let msin_width = 15 - operator.plmn.len();
        let imsi = format!(
            "{}{}",
            operator.plmn,
            digits(scramble(n, 387_420_489, seed, MAX_GENERATED), msin_width)
        );
        let serial_width = operator.iccid_len - 1 - operator.iccid_prefix.len();
        let batch = 10u64.pow((serial_width - 9) as u32);
        let serial = (seed % batch) * MAX_GENERATED + scramble(n, 282_475_249, seed, MAX_GENERATED);
        let iccid = with_luhn(format!(
            "{}{}",
            operator.iccid_prefix,
            digits(serial, serial_width)
        ));
        let tac = TACS[profile.tacs[rng.below(profile.tacs.len() as u64) as usize]];
        let imei = with_luhn(format!(
            "{tac}{}",
            digits(scramble(n, 823_543, seed, 1_000_000), 6)
        ));
        let imei = Imei::parse(&imei).expect("generated imei is valid");
        let msisdn = rng.chance(profile.msisdn_per_mille).then(|| {
            let modulus = 10u64.pow(operator.msisdn_digits);
            let number = scramble(n, 40_353_607, seed, modulus);
            let text = format!(
                "{}{}",
                operator.msisdn_prefix,
                digits(number, operator.msisdn_digits as usize)
            );
            Msisdn::parse(&text).expect("generated msisdn is valid")
        });
        let (imei_policy, allowed_imeis) = match rng.below(100) {
            0..80 => (ImeiPolicy::Fixed, vec![imei]),
            80..95 => (ImeiPolicy::Learn, Vec::new()),
            _ => (ImeiPolicy::None, Vec::new()),
        };
        let mut sim = Sim {
            tenant: tenant.clone(),
            iccid: Iccid::parse(&iccid).expect("generated iccid is valid"),
            imsi: Imsi::parse(&imsi).expect("generated imsi is valid"),
            msisdn,
            imei_policy,
            allowed_imeis,
            learned_imei: None,
            device_id: Some(device.id.clone()),
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
        };
        sim.normalize().expect("generated sim is valid");
        sim
    });
    DeviceRecord { device, sim }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_stable() {
        // Reference values of SplitMix64 seeded with 0; they must never change.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn scramble_is_a_bijection() {
        let m = 1000;
        let mut seen = vec![false; m as usize];
        for i in 0..m {
            let v = scramble(i, 387_420_489, 12_345, m) as usize;
            assert!(!seen[v]);
            seen[v] = true;
        }
    }

    #[test]
    fn looks_realistic() {
        let r = generate(3, 7).nth(2).unwrap();
        assert_eq!(r.device.id.as_str(), "dev-0000003");
        assert!(r.device.name.contains(" 0000003 ("), "{}", r.device.name);
        let same = generate(3, 7).nth(2).unwrap();
        assert_eq!(r, same);
        assert_ne!(generate(3, 8).nth(2).unwrap(), r);
    }
}
