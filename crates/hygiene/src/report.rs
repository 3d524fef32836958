//! What an audit produces: per check the counts and a bounded list of non-compliant resources,
//! and the findings they become.

use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

use rampart_bus::Subject;
use rampart_core::{DeviceId, TenantId, Timestamp};
use rampart_detect::{AlarmState, Evidence, Finding, Severity, Threshold};
use serde::{Deserialize, Serialize};

use crate::check::{CheckId, Policy};

/// What a non-compliant resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// A certificate, by serial.
    Certificate,
    /// A public key, by the SHA-256 of its SubjectPublicKeyInfo.
    Key,
    /// A registered device, by id.
    Device,
    /// A SIM, by ICCID.
    Sim,
    /// A CA certificate, by id (`root`, `issuing-<n>`).
    Ca,
}

/// One non-compliant resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// The check it failed.
    pub check: CheckId,
    /// How bad.
    pub severity: Severity,
    /// What it is.
    pub resource_type: ResourceType,
    /// Its id (serial, key hash, device id, ICCID, CA id).
    pub id: String,
    /// Its tenant; none for the CA, which every tenant shares.
    pub tenant: Option<String>,
    /// The device concerned, when there is one.
    pub device: Option<String>,
    /// One line for a human.
    pub summary: String,
    /// The time that matters (expiry, latest presentation), Unix seconds.
    pub at: Option<i64>,
    /// How many (attempts, devices sharing, addresses).
    pub count: Option<u64>,
    /// Source addresses involved, bounded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    /// The limit and what was measured.
    pub threshold: Threshold,
}

impl Resource {
    /// The id of the finding this resource becomes: the same check, resource and severity
    /// give the same id, so a rerun updates the finding instead of adding one. The severity
    /// is in it so that an expiring certificate or CA that expires becomes a new, graver
    /// finding (the first is cleared) rather than an update nobody is told about.
    pub fn finding_id(&self) -> String {
        let mut h = Fnv::default();
        for part in [
            self.check.as_str(),
            self.id.as_str(),
            self.tenant.as_deref().unwrap_or_default(),
            self.device.as_deref().unwrap_or_default(),
            self.severity.as_str(),
        ] {
            h.write(part.as_bytes());
            h.write(&[0]);
        }
        format!("hyg-{:016x}", h.0)
    }

    /// The finding, raised at `at` (Unix seconds).
    pub fn finding(&self, at: i64) -> Finding {
        let time = Timestamp(at.saturating_mul(1000));
        let tenant = self.tenant.as_deref().and_then(|t| TenantId::parse(t).ok());
        let device = self.device.as_deref().and_then(|d| DeviceId::parse(d).ok());
        Finding {
            id: self.finding_id(),
            kind: self.check.kind(),
            severity: self.severity,
            subject: Subject {
                tenant,
                device_id: device,
                host: None,
            },
            first_seen: time,
            last_seen: time,
            raised_at: time,
            summary: self.summary.clone(),
            evidence: vec![Evidence::Metric {
                time,
                name: self.threshold.metric.clone(),
                value: self.threshold.observed,
            }],
            evidence_count: self.count.unwrap_or(1).max(1),
            threshold: self.threshold.clone(),
            pattern: None,
            rule: None,
            state: AlarmState::Active,
            cleared_at: None,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check.
    pub check: CheckId,
    /// What it looks for.
    pub title: String,
    /// Its severity (individual resources may be graver).
    pub severity: Severity,
    /// Resources examined.
    pub checked: u64,
    /// Resources that failed.
    pub non_compliant: u64,
    /// The first `max_resources` of them, most urgent or by id.
    pub resources: Vec<Resource>,
    /// Whether more failed than are listed.
    pub truncated: bool,
    /// Why the check could not look at everything (no presentations, keys of unknown type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Checked and non-compliant counts per tenant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, TenantCount>,
}

/// One tenant's part of a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCount {
    /// Examined.
    pub checked: u64,
    /// Failed.
    pub non_compliant: u64,
}

/// A whole audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// When it ran (Unix seconds).
    pub at: i64,
    /// The thresholds it used.
    pub policy: Policy,
    /// The checks that ran, in [`CheckId::ALL`] order.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Every listed resource as a finding.
    pub fn findings(&self) -> Vec<Finding> {
        self.checks
            .iter()
            .flat_map(|c| c.resources.iter().map(|r| r.finding(self.at)))
            .collect()
    }

    /// Non-compliant resources in all checks.
    pub fn non_compliant(&self) -> u64 {
        self.checks.iter().map(|c| c.non_compliant).sum()
    }

    /// What one tenant may see: its own resources and counts, and the CA's (shared by all).
    pub fn for_tenant(&self, tenant: &str) -> Self {
        let checks = self
            .checks
            .iter()
            .map(|c| {
                let own = c.tenants.get(tenant).copied().unwrap_or_default();
                let shared = |r: &Resource| r.tenant.is_none();
                let (checked, non_compliant) = if c.check == CheckId::CaExpiring {
                    (c.checked, c.non_compliant)
                } else {
                    (own.checked, own.non_compliant)
                };
                let resources: Vec<Resource> = c
                    .resources
                    .iter()
                    .filter(|r| r.tenant.as_deref() == Some(tenant) || shared(r))
                    .cloned()
                    .collect();
                CheckResult {
                    check: c.check,
                    title: c.title.clone(),
                    severity: c.severity,
                    checked,
                    non_compliant,
                    truncated: non_compliant > resources.len() as u64,
                    resources,
                    note: c.note.clone(),
                    tenants: BTreeMap::new(),
                }
            })
            .collect();
        Self {
            at: self.at,
            policy: self.policy.clone(),
            checks,
        }
    }
}

/// Counts and the bounded listing of one check while the audit runs.
#[derive(Debug)]
pub(crate) struct Tally {
    check: CheckId,
    checked: u64,
    non_compliant: u64,
    tenants: BTreeMap<String, TenantCount>,
    top: Bounded,
    pub(crate) note: Option<String>,
}

impl Tally {
    pub(crate) fn new(check: CheckId, cap: usize) -> Self {
        Self {
            check,
            checked: 0,
            non_compliant: 0,
            tenants: BTreeMap::new(),
            top: Bounded::new(cap),
            note: None,
        }
    }

    fn tenant(&mut self, tenant: Option<&str>) -> Option<&mut TenantCount> {
        let t = tenant?;
        if !self.tenants.contains_key(t) {
            self.tenants.insert(t.to_owned(), TenantCount::default());
        }
        self.tenants.get_mut(t)
    }

    /// One resource examined.
    pub(crate) fn checked(&mut self, tenant: Option<&str>) {
        self.checked += 1;
        if let Some(c) = self.tenant(tenant) {
            c.checked += 1;
        }
    }

    /// One resource failed; `rank` orders the listing (smallest first).
    pub(crate) fn fail(&mut self, rank: i64, r: Resource) {
        self.non_compliant += 1;
        if let Some(c) = self.tenant(r.tenant.as_deref()) {
            c.non_compliant += 1;
        }
        self.top.offer(rank, r);
    }

    /// The result, each listed resource passed through `complete` (for what is only known
    /// at the end).
    pub(crate) fn finish(self, complete: impl FnMut(&mut Resource)) -> CheckResult {
        let mut resources = self.top.into_sorted();
        resources.iter_mut().for_each(complete);
        CheckResult {
            check: self.check,
            title: self.check.title().to_owned(),
            severity: self.check.severity(),
            checked: self.checked,
            non_compliant: self.non_compliant,
            truncated: self.non_compliant > resources.len() as u64,
            resources,
            note: self.note,
            tenants: self.tenants,
        }
    }
}

/// A resource with its place in the listing: rank, then tenant, device and id.
#[derive(Debug)]
struct Keyed {
    key: (i64, String),
    resource: Resource,
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The `cap` smallest resources offered: a max-heap whose top is the first to go. The listing
/// is the same whatever order the resources come in, so reruns raise the same findings.
#[derive(Debug)]
struct Bounded {
    cap: usize,
    heap: BinaryHeap<Keyed>,
}

impl Bounded {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            heap: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, rank: i64, resource: Resource) {
        if self.cap == 0 {
            return;
        }
        let key = (
            rank,
            format!(
                "{}\u{0}{}\u{0}{}",
                resource.tenant.as_deref().unwrap_or_default(),
                resource.device.as_deref().unwrap_or_default(),
                resource.id
            ),
        );
        if self.heap.len() < self.cap {
            self.heap.push(Keyed { key, resource });
        } else if self.heap.peek().is_some_and(|top| key < top.key) {
            self.heap.pop();
            self.heap.push(Keyed { key, resource });
        }
    }

    fn into_sorted(self) -> Vec<Resource> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|k| k.resource)
            .collect()
    }
}

/// FNV-1a, 64 bits: stable across runs and builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
