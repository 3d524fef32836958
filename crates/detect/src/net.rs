//! Facts about addresses and flows the network detectors share, and the per-device state they
//! keep while a device is active (dropped when it goes idle, so a device at rest costs only its
//! core record).

use std::net::IpAddr;

use ipnet::IpNet;
use rampart_core::{FlowRecord, proto, tcp_flags};
use serde::{Deserialize, Serialize};

use crate::c2::{EndpointSlot, NameSlot};
use crate::finding::{Evidence, FindingKind, Pattern, Severity, Threshold};
use crate::flood::TargetSlot;
use crate::scan::{HostSlot, PortSlot};

/// What a detector asks the engine to raise (or, when an equal one is active, to update).
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub(crate) kind: FindingKind,
    pub(crate) severity: Severity,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) summary: String,
    pub(crate) evidence: Vec<Evidence>,
    pub(crate) count: u64,
    pub(crate) first_seen: i64,
    pub(crate) threshold: Threshold,
    pub(crate) rule: Option<String>,
}

impl Trigger {
    pub(crate) fn threshold(metric: &str, limit: f64, observed: f64, basis: &str) -> Threshold {
        Threshold {
            metric: metric.to_owned(),
            limit,
            observed,
            basis: basis.to_owned(),
        }
    }
}

/// The networks that are the fleet's own side; everything else unicast is external.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HomeNets(pub Vec<IpNet>);

impl Default for HomeNets {
    /// RFC 1918, RFC 6598 (CGNAT, common on IoT APNs), and IPv6 unique-local.
    fn default() -> Self {
        Self(
            [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",
                "fc00::/7",
            ]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        )
    }
}

impl HomeNets {
    /// Inside the home networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Prefix compare on the integer forms: a few instructions per network, on every flow.
        match canonical(ip) {
            IpAddr::V4(a) => {
                let a = a.to_bits();
                self.0.iter().any(|n| match n {
                    IpNet::V4(n) => {
                        let mask = u32::MAX
                            .checked_shl(32 - u32::from(n.prefix_len()))
                            .unwrap_or(0);
                        (a ^ n.addr().to_bits()) & mask == 0
                    }
                    IpNet::V6(_) => false,
                })
            }
            IpAddr::V6(a) => {
                let a = a.to_bits();
                self.0.iter().any(|n| match n {
                    IpNet::V6(n) => {
                        let mask = u128::MAX
                            .checked_shl(128 - u32::from(n.prefix_len()))
                            .unwrap_or(0);
                        (a ^ n.addr().to_bits()) & mask == 0
                    }
                    IpNet::V4(_) => false,
                })
            }
        }
    }

    /// A unicast address outside the home networks: the internet.
    pub fn is_external(&self, ip: IpAddr) -> bool {
        is_unicast(ip) && !self.contains(ip)
    }
}

/// IPv4-mapped IPv6 seen as IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address one host owns: not multicast, broadcast, unspecified, loopback or link-local.
/// Chatter to the others (DHCP, mDNS, SSDP, neighbour discovery) is nobody's destination.
pub(crate) fn is_unicast(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => {
            !(a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
                || a.is_loopback()
                || a.is_link_local()
                || (a.is_private() && a.octets()[3] == 255))
        }
        IpAddr::V6(a) => {
            !(a.is_multicast()
                || a.is_unspecified()
                || a.is_loopback()
                || a.is_unicast_link_local())
        }
    }
}

/// A failed TCP connection attempt: the originator's SYN got no answer or a refusal. When the
/// source reports flags, a SYN must be among them (a lone retransmitted FIN that Zeek files as
/// `SH` is the tail of a closed connection, not an attempt).
pub(crate) fn is_failed_attempt(flow: &FlowRecord) -> bool {
    flow.protocol == proto::TCP
        && flow.state.is_failed_attempt()
        && (flow.tcp_flags == 0 || flow.tcp_flags & tcp_flags::SYN != 0)
}

/// A flow's remote side and port, seen from the device.
pub(crate) fn remote_of(flow: &FlowRecord, responder: bool) -> (IpAddr, u16) {
    if responder {
        (canonical(flow.src), flow.src_port)
    } else {
        (canonical(flow.dst), flow.dst_port)
    }
}

/// Windows of the network detectors for one device; allocated on its first flow, freed after
/// `idle_evict_s` of event time without one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct NetState {
    /// Event time of the last flow.
    pub(crate) last: i64,
    pub(crate) endpoints: Vec<EndpointSlot>,
    pub(crate) targets: Vec<TargetSlot>,
    pub(crate) ports: Vec<PortSlot>,
    pub(crate) hosts: Vec<HostSlot>,
    pub(crate) names: Vec<NameSlot>,
}

/// A slot of a per-device detector window. Resetting keeps the allocations of its lists, so a
/// device cycling through more endpoints than it has slots does not allocate per flow.
pub(crate) trait Slot: Default {
    fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Empties a list for reuse in a reset slot, keeping its allocation.
pub(crate) fn recycle<T>(v: &mut Vec<T>) -> Vec<T> {
    let mut v = std::mem::take(v);
    v.clear();
    v
}

/// Index of the slot matching `key`, else of a free place (pushing a default) or of the least
/// recently used slot (reset), keeping `slots` at most `cap` long. The first allocation is
/// for up to four slots (most devices use few; a full `cap` for every active device would
/// cost memory for nothing).
pub(crate) fn slot_for<T: Slot>(
    slots: &mut Vec<T>,
    cap: usize,
    is: impl Fn(&T) -> bool,
    last: impl Fn(&T) -> i64,
) -> (usize, bool) {
    if let Some(i) = slots.iter().position(&is) {
        return (i, false);
    }
    let cap = cap.max(1);
    if slots.len() < cap {
        if slots.capacity() == 0 {
            slots.reserve_exact(cap.min(4));
        }
        slots.push(T::default());
        return (slots.len() - 1, true);
    }
    let mut oldest = 0;
    let mut oldest_t = i64::MAX;
    for (i, s) in slots.iter().enumerate() {
        if last(s) < oldest_t {
            oldest_t = last(s);
            oldest = i;
        }
    }
    if let Some(s) = slots.get_mut(oldest) {
        s.reset();
    }
    (oldest, true)
}

/// Linear-counting estimate of the distinct values hashed into a 64-bit bitmap (accurate to a
/// few percent up to ~100; saturates at 255 when every bit is set).
pub(crate) fn distinct_estimate(bitmap: u64) -> f64 {
    let zeros = f64::from(bitmap.count_zeros());
    if zeros == 0.0 {
        return 255.0;
    }
    -64.0 * (zeros / 64.0).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The integer prefix compare agrees with `ipnet` on every address and prefix.
        #[test]
        fn contains_agrees_with_ipnet(a in any::<u32>(), n in any::<u32>(), len in 0u8..=32,
                                      a6 in any::<u128>(), n6 in any::<u128>(), len6 in 0u8..=128) {
            let v4 = IpNet::V4(ipnet::Ipv4Net::new(n.into(), len).unwrap_or_default());
            let v6 = IpNet::V6(ipnet::Ipv6Net::new(n6.into(), len6).unwrap_or_default());
            let home = HomeNets(vec![v4, v6]);
            for ip in [IpAddr::V4(a.into()), IpAddr::V6(a6.into()), IpAddr::V6(std::net::Ipv4Addr::from(a).to_ipv6_mapped())] {
                let want = home.0.iter().any(|x| x.contains(&canonical(ip)));
                prop_assert_eq!(home.contains(ip), want, "{} in {:?}", ip, home.0);
            }
        }
    }

    #[test]
    fn default_home_nets() {
        let home = HomeNets::default();
        for (ip, inside) in [
            ("10.1.2.3", true),
            ("172.31.255.1", true),
            ("172.32.0.1", false),
            ("100.64.0.1", true),
            ("192.168.0.9", true),
            ("fd00::1", true),
            ("::ffff:192.168.1.1", true),
            ("203.0.113.9", false),
            ("2001:db8::1", false),
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(0.into()));
            assert_eq!(home.contains(ip), inside, "{ip}");
        }
    }
}
