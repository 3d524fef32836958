//! From source records to observations: every ingester (NetFlow/IPFIX collector, capture
//! reader, Zeek/Suricata log reader, MQTT subscriber) hands its records to an [`Observer`],
//! which attributes each one to a device with the same function the RADIUS path uses
//! (live session → IMSI → SIM → device; else a registry static address; else unattributed),
//! keeps per-device traffic counters, and returns the [`Observation`] that goes on to
//! detection. Live and offline (`rampart analyze`) use the same code, so both see the same
//! subjects.
//!
//! Which side of a flow is "the device": the side attribution names. When neither side is
//! registered, the side inside the home networks (private, CGNAT and ULA ranges by default,
//! like Zeek's `Site::local_nets` or Suricata's `HOME_NET`) is taken as the device, so an
//! unregistered fleet (a capture, a lab) is still analysed host by host; such observations are
//! counted as unattributed.

#![forbid(unsafe_code)]

mod traffic;

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use metrics::Counter;
use rampart_bus::{Attributed, Observation, Subject};
use rampart_core::{
    AlertRecord, DeviceId, DeviceMetrics, DnsRecord, FlowRecord, NameRecord, TenantId, Timestamp,
};
use rampart_sessions::{Attribution, Attributor};

pub use traffic::{SourceCounts, TRAFFIC_REFUSED_TOTAL, TrafficCounters, TrafficSnapshot};

/// Metric: observations by kind and attribution result (`device`, `unknown_imsi`, `host`).
pub const OBSERVATIONS_TOTAL: &str = "rampart_observations_total";

/// The networks taken as the fleet's side when no registry names an address.
#[derive(Debug, Clone)]
pub struct HomeNets {
    nets: Vec<IpNet>,
}

impl HomeNets {
    /// RFC 1918, RFC 6598 (carrier-grade NAT, common on mobile IoT APNs), link-local and
    /// IPv6 unique-local addresses.
    pub fn private() -> Self {
        let nets = [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",
            "169.254.0.0/16",
            "fc00::/7",
            "fe80::/10",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
        Self { nets }
    }

    /// Exactly these networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// Whether `ip` is inside one of them (IPv4-mapped IPv6 is seen as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

impl Default for HomeNets {
    fn default() -> Self {
        Self::private()
    }
}

/// Attributes records and counts traffic per subject. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Observer {
    attributor: Option<Attributor>,
    home: Arc<HomeNets>,
    traffic: Arc<TrafficCounters>,
    tally: Arc<Tally>,
}

/// The kinds of attributed record, in [`Tally`] order.
const KINDS: [&str; 4] = ["flow", "dns", "name", "alert"];
/// The attribution results, in [`Tally`] order.
const RESULTS: [&str; 3] = ["device", "unknown_imsi", "host"];

/// [`OBSERVATIONS_TOTAL`] handles registered once: the labelled `counter!` macro builds and
/// hashes its key on every call, a visible part of a flow's cost in `rampart serve`.
/// Handles taken before a recorder is installed count nowhere, so an observer is built after
/// the recorder (as `rampart serve` does).
#[derive(Debug)]
struct Tally {
    by_kind: [[Counter; RESULTS.len()]; KINDS.len()],
    metrics: Counter,
}

impl Tally {
    fn new() -> Self {
        Self {
            by_kind: KINDS.map(|kind| {
                RESULTS.map(|result| {
                    metrics::counter!(OBSERVATIONS_TOTAL, "kind" => kind, "result" => result)
                })
            }),
            metrics: metrics::counter!(OBSERVATIONS_TOTAL, "kind" => "metrics", "result" => "device"),
        }
    }
}

/// How a record was attributed (an index into [`RESULTS`]).
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Device = 0,
    UnknownImsi = 1,
    Host = 2,
}

/// Which record is being attributed (an index into [`KINDS`]).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Flow = 0,
    Dns = 1,
    Name = 2,
    Alert = 3,
}

/// One side's attribution.
enum Side {
    Device(TenantId, DeviceId),
    UnknownImsi,
    Nothing,
}

impl Observer {
    /// An observer over the live attribution state (`None` offline with no registry: every
    /// subject is then a host).
    pub fn new(
        attributor: Option<Attributor>,
        home: HomeNets,
        traffic: Arc<TrafficCounters>,
    ) -> Self {
        Self {
            attributor,
            home: Arc::new(home),
            traffic,
            tally: Arc::new(Tally::new()),
        }
    }

    /// The per-subject traffic counters.
    pub fn traffic(&self) -> &Arc<TrafficCounters> {
        &self.traffic
    }

    fn side(&self, ip: IpAddr, at: Timestamp) -> Side {
        match self.attributor.as_ref().map(|a| a.attribute(ip, at)) {
            Some(Attribution::Device {
                tenant, device_id, ..
            }) => Side::Device(tenant, device_id),
            Some(Attribution::UnknownImsi(_)) => Side::UnknownImsi,
            Some(Attribution::Unattributed) | None => Side::Nothing,
        }
    }

    /// Chooses the subject between an originator and a responder address.
    fn subject_of(&self, kind: Kind, src: IpAddr, dst: IpAddr, at: Timestamp) -> (Subject, bool) {
        let (subject, responder, result) = match self.side(src, at) {
            Side::Device(t, d) => (device(t, d, src), false, Outcome::Device),
            Side::UnknownImsi => (host(src), false, Outcome::UnknownImsi),
            Side::Nothing => match self.side(dst, at) {
                Side::Device(t, d) => (device(t, d, dst), true, Outcome::Device),
                Side::UnknownImsi => (host(dst), true, Outcome::UnknownImsi),
                Side::Nothing => {
                    let responder = !self.home.contains(src) && self.home.contains(dst);
                    (
                        host(if responder { dst } else { src }),
                        responder,
                        Outcome::Host,
                    )
                }
            },
        };
        self.tally.by_kind[kind as usize][result as usize].increment(1);
        (subject, responder)
    }

    /// A flow, attributed; its bytes and packets are added to the subject's counters.
    pub fn flow(&self, record: FlowRecord) -> Observation {
        let (subject, responder) = self.subject_of(Kind::Flow, record.src, record.dst, record.end);
        self.traffic.add_flow(&subject, &record, responder);
        Observation::Flow(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: responder,
        }))
    }

    /// A DNS answer, attributed to the asking client.
    pub fn dns(&self, record: DnsRecord) -> Observation {
        let (subject, responder) =
            self.subject_of(Kind::Dns, record.client, record.server, record.time);
        Observation::Dns(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: responder,
        }))
    }

    /// A server name, attributed to the client.
    pub fn name(&self, record: NameRecord) -> Observation {
        let (subject, responder) =
            self.subject_of(Kind::Name, record.client, record.server, record.time);
        Observation::Name(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: responder,
        }))
    }

    /// An alert, attributed to whichever side is the fleet's.
    pub fn alert(&self, record: AlertRecord) -> Observation {
        let (subject, responder) =
            self.subject_of(Kind::Alert, record.src, record.dst, record.time);
        Observation::Alert(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: responder,
        }))
    }

    /// A device's own report: the device is known from the channel it came on.
    pub fn metrics(
        &self,
        tenant: Option<TenantId>,
        device_id: DeviceId,
        record: DeviceMetrics,
    ) -> Observation {
        self.tally.metrics.increment(1);
        let subject = Subject {
            tenant,
            device_id: Some(device_id),
            host: None,
        };
        self.traffic.add_metrics(&subject, &record);
        Observation::Metrics(Box::new(Attributed {
            record,
            subject,
            subject_is_responder: false,
        }))
    }
}

fn device(tenant: TenantId, device_id: DeviceId, ip: IpAddr) -> Subject {
    Subject {
        tenant: Some(tenant),
        device_id: Some(device_id),
        host: Some(ip),
    }
}

fn host(ip: IpAddr) -> Subject {
    Subject {
        tenant: None,
        device_id: None,
        host: Some(ip),
    }
}

#[cfg(test)]
mod tests;
