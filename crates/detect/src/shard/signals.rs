//! The other observations: DNS answers and server names (threat intel, names remembered for
//! flows), engine alerts, RADIUS accounting (identity, location, sessions, data use) and
//! device metrics (data use, GPS, declarative rules).

use rampart_bus::{AccountingObservation, Attributed, Subject};
use rampart_core::{AlertRecord, DeviceMetrics, DnsRecord, NameRecord};

use super::{Key, KeyRef, Shard, device, profile_name};
use crate::finding::{Evidence, FindingEvent, FindingKind, Pattern, Severity};
use crate::net::{Trigger, canonical};
use crate::{c2, rules, usage};

impl Shard {
    pub(super) fn on_dns(&mut self, a: &Attributed<DnsRecord>, out: &mut Vec<FindingEvent>) {
        let d = &a.record;
        let at = d.time.0;
        let mut trig = self.take_scratch();
        let Self {
            cfg,
            intel,
            context,
            devices,
            profiles,
            stats,
            ..
        } = self;
        let hit = if cfg.intel.enabled && !a.subject_is_responder {
            intel.match_domain(&d.query)
        } else {
            None
        };
        let key = KeyRef::of(&a.subject);
        let max = cfg.engine.max_devices_per_shard;
        let Some(dev) = device(
            devices, profiles, stats, &**context, max, &a.subject, key, at,
        ) else {
            self.scratch = trig;
            return;
        };
        if !a.subject_is_responder && (!d.answers.is_empty() || hit.is_some()) {
            let net = dev.net.get_or_insert_with(Box::default);
            net.last = net.last.max(at);
            c2::remember_names(
                cfg.intel.max_names.max(cfg.policy.max_names),
                &mut net.names,
                &d.query,
                hit.is_some(),
                &d.answers,
                at,
            );
        }
        if let Some(hit) = hit {
            trig.push(Trigger {
                kind: FindingKind::ThreatIntel,
                severity: hit.severity.unwrap_or(cfg.intel.severity),
                pattern: None,
                summary: format!(
                    "resolved {} listed by {} ({})",
                    d.query,
                    hit.feed,
                    hit.category.as_deref().unwrap_or("listed")
                ),
                evidence: vec![Evidence::Name {
                    time: d.time,
                    name: d.query.clone(),
                    addrs: d.answers.clone(),
                }],
                count: 1,
                first_seen: at,
                threshold: Trigger::threshold("listed_names", 1.0, 1.0, "feed"),
                rule: Some(format!("name:{}", d.query)),
            });
        }
        self.raise_scratch(&a.subject, at, trig, out);
    }

    pub(super) fn on_name(&mut self, a: &Attributed<NameRecord>, out: &mut Vec<FindingEvent>) {
        let n = &a.record;
        let at = n.time.0;
        if !self.cfg.intel.enabled || a.subject_is_responder {
            return;
        }
        let Some(hit) = self.intel.match_domain(&n.name) else {
            return;
        };
        let mut trig = self.take_scratch();
        trig.push(Trigger {
            kind: FindingKind::ThreatIntel,
            severity: hit.severity.unwrap_or(self.cfg.intel.severity),
            pattern: Some(Pattern {
                dst: Some(canonical(n.server)),
                ..Pattern::default()
            }),
            summary: format!(
                "contacted {} ({} {}:{}) listed by {}",
                n.name, n.via, n.server, n.port, hit.feed
            ),
            evidence: vec![Evidence::Name {
                time: n.time,
                name: n.name.clone(),
                addrs: vec![n.server],
            }],
            count: 1,
            first_seen: at,
            threshold: Trigger::threshold("listed_names", 1.0, 1.0, "feed"),
            rule: None,
        });
        if !self.ensure(&a.subject, at) {
            trig.clear();
        }
        self.raise_scratch(&a.subject, at, trig, out);
    }

    pub(super) fn on_alert(&mut self, a: &Attributed<AlertRecord>, out: &mut Vec<FindingEvent>) {
        let r = &a.record;
        let at = r.time.0;
        if !self.cfg.alerts.enabled || r.severity > self.cfg.alerts.max_engine_severity {
            return;
        }
        let severity = match r.severity {
            1 => Severity::High,
            2 => Severity::Medium,
            3 => Severity::Low,
            _ => Severity::Info,
        };
        let (remote, port) = if a.subject_is_responder {
            (canonical(r.src), r.src_port)
        } else {
            (canonical(r.dst), r.dst_port)
        };
        let mut trig = self.take_scratch();
        trig.push(Trigger {
            kind: FindingKind::EngineAlert,
            severity,
            pattern: Some(Pattern {
                dst: Some(remote),
                dst_port: (!a.subject_is_responder).then_some(port),
                protocol: Some(r.protocol),
                failed_only: false,
            }),
            summary: format!(
                "{:?} alert {}: {} ({}:{} -> {}:{})",
                r.source, r.signature_id, r.signature, r.src, r.src_port, r.dst, r.dst_port
            ),
            evidence: vec![Evidence::Alert {
                time: r.time,
                signature: r.signature.clone(),
                signature_id: r.signature_id,
                engine_severity: r.severity,
                src: r.src,
                dst: r.dst,
                src_port: r.src_port,
                dst_port: r.dst_port,
            }],
            count: 1,
            first_seen: at,
            threshold: Trigger::threshold("engine_severity", 3.0, f64::from(r.severity), "engine"),
            rule: Some(format!("sid:{}", r.signature_id)),
        });
        if !self.ensure(&a.subject, at) {
            trig.clear();
        }
        self.raise_scratch(&a.subject, at, trig, out);
    }

    pub(super) fn on_accounting(&mut self, a: &AccountingObservation, out: &mut Vec<FindingEvent>) {
        let subject = Subject {
            tenant: a.tenant.clone(),
            device_id: a.device_id.clone(),
            host: None,
        };
        let mut trig = self.take_scratch();
        let at = a.record.event_time.0;
        let Self {
            devices,
            profiles,
            stats,
            cfg,
            context,
            imei_index,
            ..
        } = self;
        let key = KeyRef::of(&subject);
        let max = cfg.engine.max_devices_per_shard;
        if let Some(dev) = device(devices, profiles, stats, &**context, max, &subject, key, at) {
            let profile = profile_name(profiles, dev.profile);
            usage::on_accounting(
                cfg, &**context, dev, &subject, imei_index, profile, a, &mut trig,
            );
        }
        self.raise_scratch(&subject, at, trig, out);
    }

    pub(super) fn on_metrics(
        &mut self,
        m: &Attributed<DeviceMetrics>,
        out: &mut Vec<FindingEvent>,
    ) {
        let mut trig = self.take_scratch();
        let at = m.record.time.0;
        let Self {
            devices,
            profiles,
            stats,
            cfg,
            context,
            ..
        } = self;
        let key = KeyRef::of(&m.subject);
        let max = cfg.engine.max_devices_per_shard;
        let profile = device(
            devices, profiles, stats, &**context, max, &m.subject, key, at,
        )
        .map(|dev| {
            let name = profile_name(profiles, dev.profile);
            usage::on_metrics(cfg, dev, name, &m.record, &mut trig);
            dev.profile
        });
        if let Some(p) = profile
            && !self.rule_set.rules.is_empty()
        {
            let mut outcomes = Vec::new();
            let owned = Key::from(key);
            let Self {
                rules,
                profiles,
                rule_set,
                ..
            } = self;
            let name = profile_name(profiles, p);
            rules.on_metrics(&rule_set.rules, &owned, name, &m.record, &mut outcomes);
            for o in outcomes {
                match o {
                    rules::RuleOutcome::Alarm(t) => trig.push(t),
                    rules::RuleOutcome::Clear(rule) => self.clear_rule(key, &rule, at, out),
                }
            }
        }
        self.raise_scratch(&m.subject, at, trig, out);
    }
}
