//! The audit itself: fed the presentations, then the issuance index (walked twice), the CA
//! certificates, then the registry's active devices and SIMs one at a time; [`Audit::finish`]
//! gives the report.
//!
//! Memory: per live device certificate 40 bytes in two sorted vectors keyed by 64-bit hashes
//! (device, key), never the records themselves; after the first pass they shrink to one entry
//! per device plus the keys found shared. An index of a million certificates takes about
//! 40 MB at the peak, and the registry is looked up in it one device at a time. (Two devices
//! whose tenant/id hash alike would share an entry: with 64-bit FNV-1a that is about one chance
//! in 10^7 for a million devices.)

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use rampart_core::{ImeiPolicy, Sim};
use rampart_detect::{Severity, Threshold};
use rampart_identity::presence::Presented;
use rampart_identity::{CertRecord, Serial, Usage};

use crate::check::{CheckId, Policy};
use crate::report::{CheckResult, Fnv, Report, Resource, ResourceType, Tally};

const DAY: i64 = 86_400;

/// A CA certificate's validity, as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaValidity {
    /// `root`, or the issuing CA's id (`issuing-<n>`).
    pub id: String,
    /// End of validity (Unix seconds).
    pub not_after: i64,
    /// Leaving service after a rotation: it will not be needed until it expires.
    pub retiring: bool,
}

/// A device's live certificates, folded: keyed by [`device_key`].
#[derive(Debug, Clone, Copy)]
struct DeviceState {
    device: u64,
    /// Latest expiry among its unrevoked client certificates.
    newest_expiry: i64,
    /// One of them is valid now.
    valid_now: bool,
}

/// One audit run. Feed it in this order: [`presentations`](Self::presentations) (optional),
/// [`certificates`](Self::certificates), [`cas`](Self::cas), then every
/// [`device`](Self::device) and [`sim`](Self::sim).
#[derive(Debug)]
pub struct Audit {
    policy: Policy,
    now: i64,
    tallies: BTreeMap<CheckId, Tally>,
    presented: Option<HashMap<Serial, Vec<Presented>>>,
    /// One row per live client certificate during the first pass, then one per device,
    /// sorted by device.
    devices: Vec<DeviceState>,
    /// (key, device) per live client certificate during the first pass.
    key_rows: Vec<(u64, u64)>,
    /// Keys certified for several devices, with their number of devices.
    shared_keys: HashMap<u64, usize>,
    /// (key, device) pairs already reported.
    reported_keys: HashSet<(u64, u64)>,
    unknown_key_types: u64,
}

fn device_key(tenant: &str, device: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(tenant.as_bytes());
    h.write(&[0]);
    h.write(device.as_bytes());
    h.0
}

/// 64 bits standing for a key (the whole recorded hash goes in, whatever its form).
fn spki_key(spki_sha256: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(spki_sha256.as_bytes());
    h.0
}

fn date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

fn threshold(metric: &str, limit: f64, observed: f64) -> Threshold {
    Threshold {
        metric: metric.to_owned(),
        limit,
        observed,
        basis: "policy".to_owned(),
    }
}

impl Audit {
    /// An audit at `now` (Unix seconds) under `policy`.
    pub fn new(policy: Policy, now: i64) -> Self {
        let cap = policy.max_resources;
        let tallies = CheckId::ALL
            .into_iter()
            .filter(|c| policy.enabled(*c))
            .map(|c| (c, Tally::new(c, cap)))
            .collect();
        Self {
            policy,
            now,
            tallies,
            presented: None,
            devices: Vec::new(),
            key_rows: Vec::new(),
            shared_keys: HashMap::new(),
            reported_keys: HashSet::new(),
            unknown_key_types: 0,
        }
    }

    fn tally(&mut self, c: CheckId) -> Option<&mut Tally> {
        self.tallies.get_mut(&c)
    }

    /// The certificates presented to Rampart's TLS endpoints. Without this call the two
    /// presentation checks report that they had nothing to look at.
    pub fn presentations(&mut self, presented: Vec<Presented>) {
        let since = self.now.saturating_sub(
            i64::try_from(self.policy.presentation_lookback_secs).unwrap_or(i64::MAX),
        );
        let mut by_serial: HashMap<Serial, Vec<Presented>> = HashMap::new();
        for p in presented.into_iter().filter(|p| p.last_seen >= since) {
            by_serial.entry(p.serial.clone()).or_default().push(p);
        }
        self.presented = Some(by_serial);
    }

    /// Walks the issuance index: `walk` must call its argument on every record, and is called
    /// twice (the second pass knows each device's newest certificate and each shared key).
    /// `expected` (the index's size) sizes the first pass's tables; 0 is fine.
    pub fn certificates<F>(&mut self, expected: usize, mut walk: F)
    where
        F: FnMut(&mut dyn FnMut(&CertRecord)),
    {
        self.devices.reserve(expected);
        self.key_rows.reserve(expected);
        walk(&mut |r| self.first_pass(r));
        self.fold();
        walk(&mut |r| self.second_pass(r));
    }

    /// Folds the first pass's rows: one entry per device (latest expiry, valid now), and the
    /// keys held by more than one device.
    fn fold(&mut self) {
        self.devices.sort_unstable_by_key(|d| d.device);
        self.devices.dedup_by(|later, kept| {
            if later.device != kept.device {
                return false;
            }
            kept.newest_expiry = kept.newest_expiry.max(later.newest_expiry);
            kept.valid_now |= later.valid_now;
            true
        });
        self.devices.shrink_to_fit();
        let mut rows = std::mem::take(&mut self.key_rows);
        rows.sort_unstable();
        rows.dedup();
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            if let [(key, _), _, ..] = group {
                self.shared_keys.insert(*key, group.len());
            }
        }
    }

    fn device_state(&self, device: u64) -> Option<DeviceState> {
        self.devices
            .binary_search_by_key(&device, |d| d.device)
            .ok()
            .and_then(|i| self.devices.get(i).copied())
    }

    /// A shared-key resource completed with the number of devices holding the key, known
    /// only after the first pass.
    fn complete_shared_key(shared: &HashMap<u64, usize>, r: &mut Resource) {
        let n = shared.get(&spki_key(&r.id)).copied().unwrap_or(0);
        r.count = Some(n as u64);
        r.threshold.observed = n as f64;
        r.summary = format!(
            "public key {}… certified for {n} devices: this one and {} other(s), possibly in \
             other tenants",
            r.id.get(..16).unwrap_or(&r.id),
            n.saturating_sub(1)
        );
    }

    fn first_pass(&mut self, r: &CertRecord) {
        let client = r.usage == Usage::Client;
        let live = r.revoked.is_none();
        let now = self.now;
        let dev = device_key(&r.tenant, &r.subject);
        if client && live {
            self.devices.push(DeviceState {
                device: dev,
                newest_expiry: r.not_after,
                valid_now: r.not_before <= now && now < r.not_after,
            });
            self.key_rows.push((spki_key(&r.spki_sha256), dev));
            if let Some(t) = self.tally(CheckId::SharedKey) {
                t.checked(Some(&r.tenant));
            }
        }
        if live && r.not_after > now {
            self.weak_key(r);
        }
        let matched: Vec<Presented> = self
            .presented
            .as_ref()
            .and_then(|m| m.get(&r.serial))
            .map(|ps| {
                ps.iter()
                    .filter(|p| p.fingerprint == r.fingerprint)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for p in &matched {
            self.revoked_in_use(r, p);
            self.shared_certificate(r, p);
        }
    }

    fn second_pass(&mut self, r: &CertRecord) {
        if r.usage != Usage::Client || r.revoked.is_some() {
            return;
        }
        let dev = device_key(&r.tenant, &r.subject);
        let newest = self.device_state(dev).map(|s| s.newest_expiry);
        if newest == Some(r.not_after) {
            self.expiring(r);
        }
        let spki = spki_key(&r.spki_sha256);
        if self.shared_keys.contains_key(&spki)
            && self.reported_keys.insert((spki, dev))
            && let Some(t) = self.tally(CheckId::SharedKey)
        {
            t.fail(
                0,
                Resource {
                    check: CheckId::SharedKey,
                    severity: CheckId::SharedKey.severity(),
                    resource_type: ResourceType::Key,
                    id: r.spki_sha256.clone(),
                    tenant: Some(r.tenant.clone()),
                    device: Some(r.subject.clone()),
                    summary: String::new(),
                    at: None,
                    count: None,
                    addresses: Vec::new(),
                    threshold: threshold("devices_with_key", 1.0, 0.0),
                },
            );
        }
    }

    fn device_of(r: &CertRecord) -> Option<String> {
        (r.usage == Usage::Client).then(|| r.subject.clone())
    }

    fn expiring(&mut self, r: &CertRecord) {
        let now = self.now;
        let warn = i64::from(self.policy.expiry_warning_days).saturating_mul(DAY);
        let limit = f64::from(self.policy.expiry_warning_days);
        let Some(t) = self.tally(CheckId::CertificateExpiring) else {
            return;
        };
        t.checked(Some(&r.tenant));
        let left = r.not_after.saturating_sub(now);
        if left > warn {
            return;
        }
        let days = left as f64 / DAY as f64;
        let (severity, summary) = if left <= 0 {
            (
                Severity::High,
                format!(
                    "newest certificate {} of the device expired {:.1} days ago ({}) and is not revoked",
                    r.serial,
                    -days,
                    date(r.not_after)
                ),
            )
        } else {
            (
                CheckId::CertificateExpiring.severity(),
                format!(
                    "certificate {} expires in {days:.1} days ({})",
                    r.serial,
                    date(r.not_after)
                ),
            )
        };
        t.fail(
            r.not_after,
            Resource {
                check: CheckId::CertificateExpiring,
                severity,
                resource_type: ResourceType::Certificate,
                id: r.serial.to_string(),
                tenant: Some(r.tenant.clone()),
                device: Some(r.subject.clone()),
                summary,
                at: Some(r.not_after),
                count: None,
                addresses: Vec::new(),
                threshold: threshold("days_to_expiry", limit, days),
            },
        );
    }

    fn weak_key(&mut self, r: &CertRecord) {
        if !self.policy.enabled(CheckId::WeakKey) {
            return;
        }
        let Some(key) = &r.key else {
            self.unknown_key_types += 1;
            return;
        };
        let weakness = self.policy.weakness(key);
        let min_rsa = f64::from(self.policy.min_rsa_bits);
        let Some(t) = self.tally(CheckId::WeakKey) else {
            return;
        };
        t.checked(Some(&r.tenant));
        if let Some(why) = weakness {
            let bits = match key {
                rampart_identity::KeyType::Rsa { bits } => f64::from(*bits),
                _ => 0.0,
            };
            t.fail(
                0,
                Resource {
                    check: CheckId::WeakKey,
                    severity: CheckId::WeakKey.severity(),
                    resource_type: ResourceType::Certificate,
                    id: r.serial.to_string(),
                    tenant: Some(r.tenant.clone()),
                    device: Self::device_of(r),
                    summary: format!("certificate {} certifies a weak key: {why}", r.serial),
                    at: Some(r.not_after),
                    count: None,
                    addresses: Vec::new(),
                    threshold: threshold("rsa_bits", min_rsa, bits),
                },
            );
        }
    }

    fn revoked_in_use(&mut self, r: &CertRecord, p: &Presented) {
        let Some(t) = self.tally(CheckId::RevokedCertificateInUse) else {
            return;
        };
        t.checked(Some(&r.tenant));
        let Some(rev) = &r.revoked else { return };
        if p.refused_revoked == 0 && p.last_seen < rev.at {
            return;
        }
        let attempts = p.refused_revoked.max(1);
        t.fail(
            0,
            Resource {
                check: CheckId::RevokedCertificateInUse,
                severity: CheckId::RevokedCertificateInUse.severity(),
                resource_type: ResourceType::Certificate,
                id: r.serial.to_string(),
                tenant: Some(r.tenant.clone()),
                device: Self::device_of(r),
                summary: format!(
                    "certificate {} revoked at {} was presented after it ({} refused as revoked), \
                     last from {} at {}",
                    r.serial,
                    date(rev.at),
                    p.refused_revoked,
                    p.last_addr,
                    date(p.last_seen)
                ),
                at: Some(p.last_seen),
                count: Some(attempts),
                addresses: vec![p.last_addr],
                threshold: threshold("presentations_after_revocation", 0.0, attempts as f64),
            },
        );
    }

    fn shared_certificate(&mut self, r: &CertRecord, p: &Presented) {
        let now = self.now;
        let window = i64::try_from(self.policy.shared_certificate_window_secs).unwrap_or(i64::MAX);
        let since = now.saturating_sub(
            i64::try_from(self.policy.presentation_lookback_secs).unwrap_or(i64::MAX),
        );
        let Some(t) = self.tally(CheckId::SharedCertificate) else {
            return;
        };
        t.checked(Some(&r.tenant));
        let recent: Vec<_> = p
            .addresses
            .iter()
            .filter(|a| a.last_seen >= since)
            .collect();
        let mut together: Vec<IpAddr> = Vec::new();
        for (i, a) in recent.iter().enumerate() {
            let overlaps = recent.iter().enumerate().any(|(j, b)| {
                i != j
                    && a.addr != b.addr
                    && a.first_seen <= b.last_seen.saturating_add(window)
                    && b.first_seen <= a.last_seen.saturating_add(window)
            });
            if overlaps && !together.contains(&a.addr) {
                together.push(a.addr);
            }
        }
        if together.len() < 2 {
            return;
        }
        together.sort();
        let list: Vec<String> = together.iter().map(ToString::to_string).collect();
        t.fail(
            0,
            Resource {
                check: CheckId::SharedCertificate,
                severity: CheckId::SharedCertificate.severity(),
                resource_type: ResourceType::Certificate,
                id: r.serial.to_string(),
                tenant: Some(r.tenant.clone()),
                device: Self::device_of(r),
                summary: format!(
                    "certificate {} used from {} addresses within {window} s of each other: {}",
                    r.serial,
                    together.len(),
                    list.join(", ")
                ),
                at: Some(p.last_seen),
                count: Some(together.len() as u64),
                addresses: together.clone(),
                threshold: threshold("concurrent_addresses", 1.0, together.len() as f64),
            },
        );
    }

    /// The root and the issuing CAs in service.
    pub fn cas(&mut self, cas: &[CaValidity]) {
        let now = self.now;
        let warn = i64::from(self.policy.ca_expiry_warning_days).saturating_mul(DAY);
        let limit = f64::from(self.policy.ca_expiry_warning_days);
        let Some(t) = self.tally(CheckId::CaExpiring) else {
            return;
        };
        for ca in cas {
            t.checked(None);
            let left = ca.not_after.saturating_sub(now);
            if ca.retiring || left > warn {
                continue;
            }
            let days = left as f64 / DAY as f64;
            let (severity, summary) = if left <= 0 {
                (
                    Severity::Critical,
                    format!("CA {} expired at {}", ca.id, date(ca.not_after)),
                )
            } else {
                (
                    CheckId::CaExpiring.severity(),
                    format!(
                        "CA {} expires in {days:.1} days ({}): rotate it (`rampart ca rotate`)",
                        ca.id,
                        date(ca.not_after)
                    ),
                )
            };
            t.fail(
                ca.not_after,
                Resource {
                    check: CheckId::CaExpiring,
                    severity,
                    resource_type: ResourceType::Ca,
                    id: ca.id.clone(),
                    tenant: None,
                    device: None,
                    summary,
                    at: Some(ca.not_after),
                    count: None,
                    addresses: Vec::new(),
                    threshold: threshold("days_to_expiry", limit, days),
                },
            );
        }
    }

    /// One active registered device (call after [`Self::certificates`]).
    pub fn device(&mut self, tenant: &str, device: &str) {
        let now = self.now;
        let state = self.device_state(device_key(tenant, device));
        let Some(t) = self.tally(CheckId::DeviceWithoutIdentity) else {
            return;
        };
        t.checked(Some(tenant));
        let why = match state {
            Some(s) if s.valid_now => return,
            None => "has no unrevoked certificate".to_owned(),
            Some(s) if s.newest_expiry <= now => format!(
                "has no valid certificate: its newest expired at {}",
                date(s.newest_expiry)
            ),
            Some(_) => "has no certificate valid yet".to_owned(),
        };
        t.fail(
            0,
            Resource {
                check: CheckId::DeviceWithoutIdentity,
                severity: CheckId::DeviceWithoutIdentity.severity(),
                resource_type: ResourceType::Device,
                id: device.to_owned(),
                tenant: Some(tenant.to_owned()),
                device: Some(device.to_owned()),
                summary: format!("active device {device} {why}"),
                at: None,
                count: None,
                addresses: Vec::new(),
                threshold: threshold("valid_certificates", 1.0, 0.0),
            },
        );
    }

    /// One registered SIM.
    pub fn sim(&mut self, sim: &Sim) {
        let Some(t) = self.tally(CheckId::SimWithoutImeiLock) else {
            return;
        };
        let tenant = sim.tenant.as_str();
        t.checked(Some(tenant));
        if sim.imei_policy != ImeiPolicy::None {
            return;
        }
        let bound = sim
            .device_id
            .as_ref()
            .map_or_else(|| "unbound".to_owned(), |d| format!("bound to {d}"));
        t.fail(
            0,
            Resource {
                check: CheckId::SimWithoutImeiLock,
                severity: CheckId::SimWithoutImeiLock.severity(),
                resource_type: ResourceType::Sim,
                id: sim.iccid.to_string(),
                tenant: Some(tenant.to_owned()),
                device: sim.device_id.as_ref().map(ToString::to_string),
                summary: format!(
                    "SIM {} (IMSI {}, {bound}) has IMEI policy none: it works in any equipment",
                    sim.iccid, sim.imsi
                ),
                at: None,
                count: None,
                addresses: Vec::new(),
                threshold: threshold("imei_lock", 1.0, 0.0),
            },
        );
    }

    /// The report.
    pub fn finish(mut self) -> Report {
        let no_log = self.presented.is_none();
        let unknown = self.unknown_key_types;
        for (check, t) in &mut self.tallies {
            match check {
                CheckId::RevokedCertificateInUse | CheckId::SharedCertificate if no_log => {
                    t.note = Some(
                        "no presentations recorded: a running `rampart serve` records the \
                         certificates presented to its TLS endpoints"
                            .to_owned(),
                    );
                }
                CheckId::WeakKey if unknown > 0 => {
                    t.note = Some(format!(
                        "{unknown} valid certificate(s) issued before key types were recorded \
                         were not checked"
                    ));
                }
                _ => {}
            }
        }
        let shared = &self.shared_keys;
        let checks: Vec<CheckResult> = self
            .tallies
            .into_iter()
            .map(|(check, t)| match check {
                CheckId::SharedKey => t.finish(|r| Self::complete_shared_key(shared, r)),
                _ => t.finish(|_| {}),
            })
            .collect();
        Report {
            at: self.now,
            policy: self.policy,
            checks,
        }
    }
}
