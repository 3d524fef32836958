//! Turning triggers into findings: a trigger equal to an active alarm of the device (kind,
//! pattern, rule) updates that finding; otherwise a new finding is raised, the device's
//! oldest alarm making room when it has too many.

use rampart_bus::Subject;
use rampart_core::Timestamp;

use super::{Alarm, KeyRef, Shard, retire};
use crate::finding::{AlarmState, Evidence, Finding, FindingEvent, FindingKind, Fnv, finding_id};
use crate::net::Trigger;

impl Shard {
    /// Raises each trigger, or updates the active finding it repeats (same device, kind,
    /// pattern and rule).
    pub(crate) fn raise_all(
        &mut self,
        subject: &Subject,
        at: i64,
        trig: &mut Vec<Trigger>,
        out: &mut Vec<FindingEvent>,
    ) {
        if trig.is_empty() {
            return;
        }
        let key = KeyRef::of(subject);
        let max_evidence = self.cfg.engine.max_evidence;
        let max_alarms = self.cfg.engine.max_alarms_per_device;
        for t in trig.drain(..) {
            let Some(dev) = self.devices.get_mut(&key) else {
                continue;
            };
            let rule = t.rule.as_deref();
            if let Some(alarm) = dev
                .alarms
                .iter_mut()
                .find(|a| a.kind == t.kind && a.pattern == t.pattern && a.rule.as_deref() == rule)
            {
                alarm.last_seen = alarm.last_seen.max(at);
                if let Some(f) = self.findings.get_mut(&alarm.id) {
                    let mut ev = t.evidence.into_iter();
                    bump(f, max_evidence, at, t.count, || {
                        ev.next().unwrap_or(Evidence::Metric {
                            time: Timestamp(at),
                            name: "repeat".to_owned(),
                            value: 1.0,
                        })
                    });
                    self.updates.mark(alarm);
                }
                continue;
            }
            if dev.alarms.len() >= max_alarms {
                let oldest = dev.alarms.remove(0);
                retire(
                    &mut self.findings,
                    &mut self.stats,
                    &self.updates,
                    &oldest,
                    at,
                    Some(out),
                );
            }
            let mut salt = Fnv::default();
            salt.write(format!("{:?}{:?}", t.pattern, t.rule).as_bytes());
            let id = finding_id(subject, t.kind, t.first_seen, salt.0);
            let mut evidence = t.evidence;
            evidence.truncate(max_evidence);
            let finding = Finding {
                id: id.clone(),
                kind: t.kind,
                severity: t.severity,
                subject: subject.clone(),
                first_seen: Timestamp(t.first_seen.min(at)),
                last_seen: Timestamp(at),
                raised_at: Timestamp(at),
                summary: t.summary,
                evidence_count: t.count.max(evidence.len() as u64),
                evidence,
                threshold: t.threshold,
                pattern: t.pattern,
                rule: t.rule.clone(),
                state: AlarmState::Active,
                cleared_at: None,
            };
            dev.alarms.push(Alarm {
                id: id.clone().into_boxed_str(),
                kind: t.kind,
                severity: t.severity,
                pattern: t.pattern,
                rule: t.rule.map(String::into_boxed_str),
                last_seen: at,
                marked: 0,
            });
            self.stats.raised += 1;
            out.push(FindingEvent::Raised(Box::new(finding.clone())));
            self.findings.insert(id.into_boxed_str(), finding);
        }
    }

    /// Clears a device's active alarm of a rule (its metric came back to normal).
    pub(super) fn clear_rule(
        &mut self,
        key: KeyRef<'_>,
        rule: &str,
        at: i64,
        out: &mut Vec<FindingEvent>,
    ) {
        let Some(dev) = self.devices.get_mut(&key) else {
            return;
        };
        let Some(i) = dev
            .alarms
            .iter()
            .position(|a| a.kind == FindingKind::Rule && a.rule.as_deref() == Some(rule))
        else {
            return;
        };
        let alarm = dev.alarms.remove(i);
        retire(
            &mut self.findings,
            &mut self.stats,
            &self.updates,
            &alarm,
            at,
            Some(out),
        );
    }
}

/// Adds a repeat to a finding: last seen, count, and evidence while there is room.
pub(super) fn bump(
    f: &mut Finding,
    max_evidence: usize,
    at: i64,
    count: u64,
    evidence: impl FnOnce() -> Evidence,
) {
    f.last_seen = Timestamp(f.last_seen.0.max(at));
    f.evidence_count = f.evidence_count.saturating_add(count.max(1));
    if f.evidence.len() < max_evidence {
        f.evidence.push(evidence());
    }
}
