//! UDP payloads of a capture (classic pcap, Ethernet or Linux cooked), IPv4 fragments
//! reassembled.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// One UDP datagram of a capture.
pub(crate) struct Datagram {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) payload: Vec<u8>,
}

fn udp(src: IpAddr, dst: IpAddr, segment: &[u8]) -> Option<Datagram> {
    let sport = u16::from_be_bytes([*segment.first()?, *segment.get(1)?]);
    let dport = u16::from_be_bytes([*segment.get(2)?, *segment.get(3)?]);
    Some(Datagram {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        payload: segment.get(8..)?.to_vec(),
    })
}

/// (source, destination, IP identification) of a fragmented datagram.
type FragmentKey = (IpAddr, IpAddr, u16);
/// (offset, more fragments, bytes).
type Fragment = (usize, bool, Vec<u8>);

/// Every UDP datagram in the file, in capture order.
pub(crate) fn udp_datagrams(path: &Path) -> Vec<Datagram> {
    let bytes = std::fs::read(path).unwrap();
    let (_, capture) = pcap_parser::pcap::parse_pcap(&bytes).unwrap();
    let linktype = capture.header.network.0;
    let mut out = Vec::new();
    let mut fragments: HashMap<FragmentKey, Vec<Fragment>> = HashMap::new();
    for block in capture.blocks {
        let sliced = match linktype {
            1 => SlicedPacket::from_ethernet(block.data),
            113 => SlicedPacket::from_linux_sll(block.data),
            _ => SlicedPacket::from_ip(block.data),
        };
        let Ok(p) = sliced else { continue };
        match (&p.net, &p.transport) {
            (Some(NetSlice::Ipv4(v4)), _) if v4.is_payload_fragmented() => {
                let h = v4.header();
                if h.protocol() != etherparse::IpNumber::UDP {
                    continue;
                }
                let (src, dst) = (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                );
                let key = (src, dst, h.identification());
                let parts = fragments.entry(key).or_default();
                parts.push((
                    usize::from(h.fragments_offset().value()) * 8,
                    h.more_fragments(),
                    v4.payload().payload.to_vec(),
                ));
                parts.sort_by_key(|p| p.0);
                let complete = parts.iter().any(|p| !p.1)
                    && parts
                        .iter()
                        .try_fold(0usize, |at, (off, _, b)| {
                            (*off == at).then_some(at + b.len())
                        })
                        .is_some();
                if complete {
                    let parts = fragments.remove(&key).unwrap();
                    let whole: Vec<u8> = parts.into_iter().flat_map(|p| p.2).collect();
                    out.extend(udp(src, dst, &whole));
                }
            }
            (Some(net), Some(TransportSlice::Udp(u))) => {
                let (src, dst) = match net {
                    NetSlice::Ipv4(v4) => (
                        IpAddr::V4(v4.header().source_addr()),
                        IpAddr::V4(v4.header().destination_addr()),
                    ),
                    NetSlice::Ipv6(v6) => (
                        IpAddr::V6(v6.header().source_addr()),
                        IpAddr::V6(v6.header().destination_addr()),
                    ),
                    _ => continue,
                };
                out.push(Datagram {
                    src: SocketAddr::new(src, u.source_port()),
                    dst: SocketAddr::new(dst, u.destination_port()),
                    payload: u.payload().to_vec(),
                });
            }
            _ => {}
        }
    }
    out
}
