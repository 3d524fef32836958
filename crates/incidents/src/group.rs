//! Grouping findings into incidents.
//!
//! A finding about a device goes to that device's active incident in the same tenant (one
//! about an unattributed address to that host's), or opens a new one. A resolved incident
//! closed less than `reopen_window` ago is reopened instead; one marked a false positive is
//! reopened only by a new kind or a higher severity (repeats of what the operator dismissed
//! are counted, silently). Separately, each campaign key of a device finding is tallied: once
//! `campaign_min_devices` distinct devices of a tenant carried it within `campaign_window`
//! (event time), a campaign incident is opened (once) and the devices' incidents are linked to
//! it; later devices extend it.
//!
//! The grouper holds the incidents it may change, bounded: open ones, and closed ones until
//! their reopen window passes. At the hard cap the least recently active is forgotten (its
//! subject's next finding opens a new incident). On start, [`Grouper::restore`] rebuilds the
//! state from the stored active incidents; operator changes made elsewhere are passed in with
//! [`Grouper::update`].

mod index;

use std::net::IpAddr;

use rampart_core::{DeviceId, TenantId, Timestamp, ValidationError};
use time::Duration;

use crate::incident::{clamp_event_time, title_for};
use crate::text;
use crate::{
    IdGenerator, Incident, IncidentId, MAX_KINDS, Recorded, Scope, Severity, Status, TimelineEntry,
    TimelineEvent,
};
use index::{Changes, Index, Subject};

/// Campaign keys considered per finding; a finding carrying more is truncated.
const MAX_KEYS_PER_FINDING: usize = 8;

/// What the grouper needs to know about a finding. Callers extract it from the detection
/// finding (kind and severity by name) and derive the campaign keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFacts {
    /// The finding's id.
    pub finding_id: String,
    /// The tenant of the device (required with `device`), or of the host if known.
    pub tenant: Option<TenantId>,
    /// The device it is about.
    pub device: Option<DeviceId>,
    /// The address it is about, used when no device is known.
    pub host: Option<IpAddr>,
    /// The finding kind's name.
    pub kind: String,
    /// Its severity.
    pub severity: Severity,
    /// One line for the operator.
    pub summary: String,
    /// When detection raised it (event time).
    pub raised_at: Timestamp,
    /// What it shares with other devices' findings: `c2:203.0.113.7:443`,
    /// `intel:feed/indicator`, `profile:meter/firmware:1.2/kind:ddos`. At most 8 are used.
    pub campaign_keys: Vec<String>,
}

/// Grouping rules and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrouperConfig {
    /// How long after closing an incident a finding on its subject reopens it (by `now`).
    pub reopen_window: Duration,
    /// Distinct devices that must share a campaign key to form a campaign (at least 2).
    pub campaign_min_devices: usize,
    /// How close together (event time) those devices' findings must be.
    pub campaign_window: Duration,
    /// Incidents held in memory (open, and closed within the reopen window).
    pub max_incidents: usize,
    /// Campaign keys tallied in memory.
    pub max_campaign_keys: usize,
    /// Devices remembered per campaign key (at least `campaign_min_devices`).
    pub max_devices_per_key: usize,
    /// Devices listed on a campaign incident; `device_count` keeps counting beyond.
    pub max_campaign_devices: usize,
}

impl Default for GrouperConfig {
    fn default() -> Self {
        Self {
            reopen_window: Duration::hours(24),
            campaign_min_devices: 5,
            campaign_window: Duration::hours(1),
            max_incidents: 20_000,
            max_campaign_keys: 10_000,
            max_devices_per_key: 64,
            max_campaign_devices: 1_000,
        }
    }
}

impl GrouperConfig {
    fn normalized(mut self) -> Self {
        self.campaign_min_devices = self.campaign_min_devices.max(2);
        self.max_devices_per_key = self.max_devices_per_key.max(self.campaign_min_devices);
        self.max_incidents = self.max_incidents.max(1);
        self.max_campaign_keys = self.max_campaign_keys.max(1);
        self.max_campaign_devices = self.max_campaign_devices.max(1);
        self
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds())
        .unwrap_or(i64::MAX)
        .max(0)
}

/// Where a finding went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new incident was opened for it.
    Created,
    /// A recently closed incident was reopened for it.
    Reopened,
    /// It joined an incident and added a timeline entry (new kind or higher severity).
    Updated,
    /// It repeated what the incident already shows: counts only.
    Counted,
    /// Its id was already on the incident: nothing changed.
    Duplicate,
}

/// A campaign the finding counted towards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignLink {
    /// The campaign incident.
    pub campaign: IncidentId,
    /// The key.
    pub key: String,
    /// The finding made it form.
    pub created: bool,
}

/// An incident a finding changed: persist `incident` (upsert) and append `entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentChange {
    /// The incident as it is now.
    pub incident: Incident,
    /// New timeline entries, in order (empty when only counts moved).
    pub entries: Vec<TimelineEntry>,
    /// It did not exist before.
    pub created: bool,
}

/// What grouping one finding decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDecision {
    /// The device or host incident the finding belongs to.
    pub incident: IncidentId,
    /// What happened to it.
    pub outcome: Outcome,
    /// Campaigns the finding counted towards.
    pub campaigns: Vec<CampaignLink>,
    /// Every incident that changed (the finding's own first), to persist in this order.
    pub changes: Vec<IncidentChange>,
}

/// Sizes and evictions, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GrouperStats {
    /// Incidents held.
    pub incidents: usize,
    /// Campaign keys tallied.
    pub campaign_keys: usize,
    /// Incidents forgotten at the cap (not by age).
    pub evicted_incidents: u64,
    /// Campaign keys forgotten at the cap (not by age).
    pub evicted_keys: u64,
}

/// Groups findings into incidents. See the module documentation for the rules.
pub struct Grouper {
    config: GrouperConfig,
    reopen_ms: i64,
    window_ms: i64,
    ids: IdGenerator,
    index: Index,
}

impl std::fmt::Debug for Grouper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouper")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Grouper {
    /// An empty grouper. `seed` seeds the random part of new incident ids: take it from the
    /// operating system so that several processes do not mint the same ids.
    pub fn new(config: GrouperConfig, seed: u64) -> Self {
        let config = config.normalized();
        Self {
            reopen_ms: millis(config.reopen_window),
            window_ms: millis(config.campaign_window),
            config,
            ids: IdGenerator::new(seed),
            index: Index::default(),
        }
    }

    /// A grouper holding `incidents` (the stored active ones, and recently closed ones if
    /// reopening should survive a restart), with campaign tallies rebuilt from the campaign
    /// keys their findings carried. Beyond the cap the least recently updated are left out.
    pub fn restore(
        config: GrouperConfig,
        seed: u64,
        incidents: impl IntoIterator<Item = Incident>,
    ) -> Self {
        let mut g = Self::new(config, seed);
        for incident in incidents {
            let touch = incident.updated_at.0;
            let tally = match (&incident.scope, &incident.tenant) {
                (Scope::Device(d), Some(t)) if incident.status.is_active() => {
                    let seen = incident
                        .counts
                        .last_finding_at
                        .unwrap_or(incident.updated_at);
                    Some((t.clone(), d.clone(), incident.campaign_keys.clone(), seen))
                }
                _ => None,
            };
            if !g.index.hold(incident, touch) {
                continue;
            }
            if let Some((t, d, keys, seen)) = tally {
                for key in keys {
                    g.index.tally(
                        (t.clone(), key),
                        &d,
                        seen.0,
                        g.window_ms,
                        g.config.max_devices_per_key,
                    );
                }
            }
        }
        g.enforce_caps();
        g
    }

    /// The rules in force (bounds raised to their minimums).
    pub fn config(&self) -> &GrouperConfig {
        &self.config
    }

    /// A held incident.
    pub fn get(&self, id: &IncidentId) -> Option<&Incident> {
        self.index.get(id)
    }

    /// Sizes and evictions.
    pub fn stats(&self) -> GrouperStats {
        GrouperStats {
            incidents: self.index.held.len(),
            campaign_keys: self.index.tallies.len(),
            evicted_incidents: self.index.evicted_incidents,
            evicted_keys: self.index.evicted_keys,
        }
    }

    /// Takes an incident changed outside the grouper (an operator's status change,
    /// assignment, note): the held copy is replaced, or the incident is held if it is active
    /// and its subject has no active incident.
    pub fn update(&mut self, incident: Incident, now: Timestamp) {
        let id = incident.id.clone();
        if self.index.hold(incident, now.0) {
            self.index.touch(&id, now);
        }
        self.enforce_caps();
    }

    /// Stops holding an incident (deleted, or handed to another process).
    pub fn forget(&mut self, id: &IncidentId) -> Option<Incident> {
        self.index.drop_held(id)
    }

    /// Groups one finding. Refused when it names neither a device nor a host, a device
    /// without its tenant, or has an empty id or kind.
    pub fn ingest(
        &mut self,
        f: &FindingFacts,
        now: Timestamp,
    ) -> Result<GroupDecision, ValidationError> {
        let subject = subject_of(f)?;
        if text::line(&f.finding_id, text::NAME_MAX).is_empty() {
            return Err(ValidationError::Missing {
                field: "finding_id",
            });
        }
        if text::line(&f.kind, text::NAME_MAX).is_empty() {
            return Err(ValidationError::Missing { field: "kind" });
        }
        self.index.expire_closed(now, self.reopen_ms);
        let mut changes = Changes::default();
        let (id, outcome) = self.group_subject(&subject, f, now, &mut changes);
        let mut campaigns = Vec::new();
        if outcome != Outcome::Duplicate
            && let Subject::Device(t, d) = &subject
        {
            let mut keys: Vec<String> = Vec::new();
            for k in &f.campaign_keys {
                let k = text::line(k, text::KEY_MAX);
                if !k.is_empty() && !keys.contains(&k) && keys.len() < MAX_KEYS_PER_FINDING {
                    keys.push(k);
                }
            }
            for key in keys {
                if let Some(link) = self.campaign_step(t, d, key, &id, f, now, &mut changes) {
                    campaigns.push(link);
                }
            }
        }
        let changes = changes.finish(&self.index);
        self.enforce_caps();
        Ok(GroupDecision {
            incident: id,
            outcome,
            campaigns,
            changes,
        })
    }

    fn enforce_caps(&mut self) {
        self.index.cap_incidents(self.config.max_incidents);
        self.index
            .cap_tallies(self.window_ms, self.config.max_campaign_keys);
    }

    /// Applies the finding to the subject's incident, or opens one.
    fn group_subject(
        &mut self,
        subject: &Subject,
        f: &FindingFacts,
        now: Timestamp,
        changes: &mut Changes,
    ) -> (IncidentId, Outcome) {
        if let Some(id) = self.index.for_subject(subject).cloned() {
            if let Some(outcome) = self.apply_existing(&id, f, now, changes, None) {
                return (id, outcome);
            }
            // Closed too long ago: a new incident takes the subject.
            self.index.drop_held(&id);
        }
        let (tenant, scope) = match subject {
            Subject::Device(t, d) => (Some(t.clone()), Scope::Device(d.clone())),
            Subject::Host(t, ip) => (t.clone(), Scope::Host(*ip)),
            Subject::Campaign(t, key) => (
                Some(t.clone()),
                Scope::Campaign {
                    key: key.clone(),
                    devices: Vec::new(),
                    device_count: 0,
                },
            ),
        };
        let id = self.ids.next_id(now);
        let mut incident = Incident::new(id.clone(), tenant, scope, "", now);
        if let Recorded::Entry(e) = incident.record_finding(f, now) {
            changes.entry(&id, e);
        }
        changes.created(&id);
        self.index.hold(incident, now.0);
        (id, Outcome::Created)
    }

    /// Applies the finding to a held incident: attach when active, reopen when closed within
    /// the window (a false positive only for something new). `None` when the incident is not
    /// held or closed too long ago. `join` forces a timeline entry (a device joining a
    /// campaign).
    fn apply_existing(
        &mut self,
        id: &IncidentId,
        f: &FindingFacts,
        now: Timestamp,
        changes: &mut Changes,
        join: Option<&DeviceId>,
    ) -> Option<Outcome> {
        let reopen_ms = self.reopen_ms;
        let max_listed = self.config.max_campaign_devices;
        let incident = self.index.get_mut(id)?;
        let mut outcome = None;
        let mut join = join;
        if incident.status.is_closed() {
            let within = incident
                .closed_at
                .is_some_and(|c| now.0.saturating_sub(c.0) <= reopen_ms);
            if !within {
                return None;
            }
            let kind = text::line(&f.kind, text::NAME_MAX);
            let something_new = !incident.kinds.contains(&kind) || f.severity > incident.severity;
            let dismissed = incident.status == Status::FalsePositive && !something_new;
            let duplicate = incident
                .finding_ids
                .contains(&text::line(&f.finding_id, text::NAME_MAX));
            if dismissed {
                // What the operator dismissed, again (on a campaign: on another device).
                join = None;
            } else if !duplicate && let Ok(e) = incident.transition(Status::Open, None, now) {
                changes.entry(id, e);
                outcome = Some(Outcome::Reopened);
            }
        }
        let recorded = match join {
            Some(device) => join_campaign(incident, f, device, max_listed, now),
            None => incident.record_finding(f, now),
        };
        let result = match recorded {
            Recorded::Duplicate => outcome.unwrap_or(Outcome::Duplicate),
            Recorded::Counted => {
                changes.touched(id);
                outcome.unwrap_or(Outcome::Counted)
            }
            Recorded::Entry(e) => {
                changes.entry(id, e);
                outcome.unwrap_or(Outcome::Updated)
            }
        };
        if result != Outcome::Duplicate {
            self.index.touch(id, now);
        }
        Some(result)
    }

    /// Tallies one campaign key of a device finding and forms or extends its campaign.
    #[allow(clippy::too_many_arguments)]
    fn campaign_step(
        &mut self,
        tenant: &TenantId,
        device: &DeviceId,
        key: String,
        device_incident: &IncidentId,
        f: &FindingFacts,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Option<CampaignLink> {
        let members: Vec<(DeviceId, i64)> = self
            .index
            .tally(
                (tenant.clone(), key.clone()),
                device,
                f.raised_at.0,
                self.window_ms,
                self.config.max_devices_per_key,
            )
            .devices
            .iter()
            .map(|(d, seen)| (d.clone(), *seen))
            .collect();
        let subject = Subject::Campaign(tenant.clone(), key.clone());
        if let Some(cid) = self.index.for_subject(&subject).cloned()
            && let Some(listed) = self.index.get(&cid).map(|c| is_member(c, device))
        {
            let member = listed
                || self
                    .index
                    .get(device_incident)
                    .is_some_and(|i| i.campaign.as_ref() == Some(&cid));
            let join = (!member).then_some(device);
            if self.apply_existing(&cid, f, now, changes, join).is_some() {
                if self.index.get(&cid).is_some_and(|c| c.status.is_active()) {
                    self.link(device_incident, &cid, &key, now, changes);
                }
                return Some(CampaignLink {
                    campaign: cid,
                    key,
                    created: false,
                });
            }
            // Closed too long ago: a new campaign may form below.
            self.index.drop_held(&cid);
        }
        if members.len() < self.config.campaign_min_devices {
            return None;
        }
        let mut members = members;
        members.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let cid = self.ids.next_id(now);
        let device_count = u64::try_from(members.len()).unwrap_or(u64::MAX);
        let scope = Scope::Campaign {
            key: key.clone(),
            devices: members
                .iter()
                .take(self.config.max_campaign_devices)
                .map(|(d, _)| d.clone())
                .collect(),
            device_count,
        };
        let title = title_for("", &scope);
        let mut campaign = Incident::new(cid.clone(), Some(tenant.clone()), scope, &title, now);
        if let Recorded::Entry(e) = campaign.record_finding(f, now) {
            changes.entry(&cid, e);
        }
        changes.created(&cid);
        // The campaign is as severe as its worst member and shows all their kinds.
        for (d, _) in &members {
            let member_subject = Subject::Device(tenant.clone(), d.clone());
            let Some(mid) = self.index.for_subject(&member_subject) else {
                continue;
            };
            if let Some(m) = self.index.get(mid)
                && m.status.is_active()
            {
                campaign.severity = campaign.severity.max(m.severity);
                for k in &m.kinds {
                    if !campaign.kinds.contains(k) && campaign.kinds.len() < MAX_KINDS {
                        campaign.kinds.push(k.clone());
                    }
                }
            }
        }
        self.index.hold(campaign, now.0);
        for (d, _) in &members {
            let member_subject = Subject::Device(tenant.clone(), d.clone());
            if let Some(mid) = self.index.for_subject(&member_subject).cloned() {
                self.link(&mid, &cid, &key, now, changes);
            }
        }
        Some(CampaignLink {
            campaign: cid,
            key,
            created: true,
        })
    }

    /// Links an active device incident to a campaign (unless it belongs to one already).
    fn link(
        &mut self,
        incident: &IncidentId,
        campaign: &IncidentId,
        key: &str,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let Some(i) = self.index.get_mut(incident) else {
            return;
        };
        if !i.status.is_active() {
            return;
        }
        if let Some(e) = i.link_campaign(campaign, key, now) {
            changes.entry(incident, e);
            self.index.touch(incident, now);
        }
    }
}

/// The device (with its tenant) or host a finding is about.
fn subject_of(f: &FindingFacts) -> Result<Subject, ValidationError> {
    match (&f.device, &f.tenant, f.host) {
        (Some(d), Some(t), _) => Ok(Subject::Device(t.clone(), d.clone())),
        (Some(_), None, _) => Err(ValidationError::Missing { field: "tenant" }),
        (None, t, Some(ip)) => Ok(Subject::Host(t.clone(), ip)),
        (None, _, None) => Err(ValidationError::Missing { field: "device" }),
    }
}

fn is_member(campaign: &Incident, device: &DeviceId) -> bool {
    matches!(&campaign.scope, Scope::Campaign { devices, .. } if devices.contains(device))
}

/// Adds `device` to a campaign (listed while under `max_listed`) and records the finding
/// that brought it, always with an entry: a new member is news even when its kind is not.
fn join_campaign(
    campaign: &mut Incident,
    f: &FindingFacts,
    device: &DeviceId,
    max_listed: usize,
    now: Timestamp,
) -> Recorded {
    let recorded = campaign.record_finding(f, now);
    if recorded == Recorded::Duplicate {
        return recorded;
    }
    if let Scope::Campaign {
        devices,
        device_count,
        ..
    } = &mut campaign.scope
    {
        *device_count = device_count.saturating_add(1);
        if devices.len() < max_listed {
            devices.push(device.clone());
        }
    }
    match recorded {
        Recorded::Entry(e) => Recorded::Entry(e),
        _ => {
            campaign.updated_at = now;
            Recorded::Entry(TimelineEntry::new(
                now,
                None,
                TimelineEvent::Finding {
                    id: text::line(&f.finding_id, text::NAME_MAX),
                    kind: text::line(&f.kind, text::NAME_MAX),
                    severity: f.severity,
                    summary: text::line(&f.summary, text::SUMMARY_MAX),
                    raised_at: clamp_event_time(f.raised_at),
                },
            ))
        }
    }
}
