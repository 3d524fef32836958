//! Flows: the hot path. A flow bumps the active findings whose pattern it matches (a flow of
//! known bad activity is convicted and goes no further), else it runs through the network
//! detectors of its device.

use std::net::IpAddr;

use rampart_bus::Attributed;
use rampart_core::FlowRecord;

use super::{KeyRef, Shard, device, profile_name, raise::bump};
use crate::finding::{Evidence, FindingEvent, FindingKind, FlowEvidence, FlowNote, Pattern};
use crate::intel::ThreatIntel;
use crate::net::{NetState, Trigger, is_failed_attempt, is_unicast, remote_of};
use crate::{DetectConfig, c2, flood, policy, scan};

impl Shard {
    pub(super) fn on_flow(&mut self, a: &Attributed<FlowRecord>, out: &mut Vec<FindingEvent>) {
        let at = a.record.end.0;
        let mut trig = self.take_scratch();
        self.flow_detectors(a, &mut trig);
        self.raise_scratch(&a.subject, at, trig, out);
    }

    fn flow_detectors(&mut self, a: &Attributed<FlowRecord>, trig: &mut Vec<Trigger>) {
        let flow = &a.record;
        let at = flow.end.0;
        let Self {
            cfg,
            intel,
            context,
            devices,
            profiles,
            findings,
            stats,
            policies,
            updates,
            ..
        } = self;
        let key = KeyRef::of(&a.subject);
        let max = cfg.engine.max_devices_per_shard;
        let Some(dev) = device(
            devices, profiles, stats, &**context, max, &a.subject, key, at,
        ) else {
            return;
        };
        let profile = dev.profile;
        let responder = a.subject_is_responder;
        let (remote, remote_port) = remote_of(flow, responder);
        let failed = is_failed_attempt(flow);
        // The known activity: bump the findings it belongs to.
        let mut convicted = false;
        if !responder && !dev.alarms.is_empty() {
            let note = FlowNote {
                uid: None,
                remote,
                remote_port,
                protocol: flow.protocol,
                start: flow.start.0,
                end: flow.end.0,
                failed,
            };
            for alarm in dev.alarms.iter_mut() {
                if alarm.pattern.is_some_and(|p| p.matches(&note)) {
                    alarm.last_seen = alarm.last_seen.max(at);
                    convicted |= alarm.severity >= cfg.engine.convict_severity;
                    if let Some(f) = findings.get_mut(&alarm.id) {
                        bump(f, cfg.engine.max_evidence, at, 1, || {
                            Evidence::Flow(FlowEvidence::of(flow))
                        });
                        updates.mark(alarm);
                    }
                }
            }
        }
        if convicted || !is_unicast(remote) {
            return;
        }
        if !responder {
            let net = dev.net.get_or_insert_with(Box::default);
            net.last = net.last.max(at);
            // Unicast already checked: external is outside the home networks.
            let external = !cfg.engine.home_nets.contains(remote);
            if external && cfg.intel.enabled {
                intel_flow(cfg, &**intel, net, flow, remote, trig);
            }
            flood::on_flow(&cfg.ddos, &mut net.targets, flow, remote, trig);
            if external {
                c2::on_external_flow(&cfg.c2, &mut net.endpoints, flow, remote, failed, trig);
            }
            scan::on_flow(
                &cfg.scan,
                &mut net.ports,
                &mut net.hosts,
                flow,
                remote,
                failed,
                trig,
            );
        }
        if profile == 0 {
            // Policies are per profile: a device without one has none to break.
            return;
        }
        let names = dev
            .net
            .as_deref()
            .map(|n| n.names.as_slice())
            .unwrap_or(&[]);
        policy::on_flow(
            &cfg.policy,
            policies,
            &cfg.engine.home_nets,
            profile_name(profiles, profile),
            names,
            flow,
            responder,
            remote,
            trig,
        );
    }
}

/// Threat intel on a flow's external destination, directly or through a listed name.
fn intel_flow(
    cfg: &DetectConfig,
    intel: &dyn ThreatIntel,
    net: &NetState,
    flow: &FlowRecord,
    remote: IpAddr,
    out: &mut Vec<Trigger>,
) {
    let by_ip = intel.match_ip(remote).map(|h| {
        (
            h.severity,
            format!(
                "traffic with {remote}:{} listed by {} ({})",
                flow.dst_port,
                h.feed,
                h.category.as_deref().unwrap_or("listed")
            ),
        )
    });
    let by_name = || {
        net.names
            .iter()
            .find(|s| s.ip == Some(remote))
            .and_then(|s| s.listed.as_deref())
            .map(|name| {
                (
                    None,
                    format!(
                        "traffic with {remote}:{}, an address of listed {name}",
                        flow.dst_port
                    ),
                )
            })
    };
    let Some((sev, summary)) = by_ip.or_else(by_name) else {
        return;
    };
    out.push(Trigger {
        kind: FindingKind::ThreatIntel,
        severity: sev.unwrap_or(cfg.intel.severity),
        pattern: Some(Pattern {
            dst: Some(remote),
            ..Pattern::default()
        }),
        summary,
        evidence: vec![Evidence::Flow(FlowEvidence::of(flow))],
        count: 1,
        first_seen: flow.start.0,
        threshold: Trigger::threshold("listed_destinations", 1.0, 1.0, "feed"),
        rule: None,
    });
}
