//! Turning the fields every format shares into the core records: one place decides what a
//! Zeek `history` string or a protocol name means, whichever syntax (TSV, CSV, JSON) carried it.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use rampart_core::{ConnState, DnsRecord, FlowRecord, NameRecord, SignalSource, proto, tcp_flags};

use crate::error::Reason;
use crate::time::{Micros, to_millis};

/// The fields of one connection, as any Zeek-shaped source gives them.
pub(crate) struct ConnParts<'a> {
    pub(crate) ts: Micros,
    pub(crate) duration: Option<Micros>,
    pub(crate) uid: Option<Cow<'a, str>>,
    pub(crate) orig_h: IpAddr,
    pub(crate) orig_p: u16,
    pub(crate) resp_h: IpAddr,
    pub(crate) resp_p: u16,
    pub(crate) protocol: u8,
    pub(crate) service: Option<Cow<'a, str>>,
    pub(crate) orig_bytes: Option<u64>,
    pub(crate) resp_bytes: Option<u64>,
    pub(crate) orig_ip_bytes: Option<u64>,
    pub(crate) resp_ip_bytes: Option<u64>,
    pub(crate) orig_pkts: Option<u64>,
    pub(crate) resp_pkts: Option<u64>,
    pub(crate) conn_state: Option<ConnState>,
    pub(crate) history: Option<Cow<'a, str>>,
}

/// Builds the flow record of a Zeek connection.
pub(crate) fn zeek_flow(parts: ConnParts<'_>, exporter: &Arc<str>) -> FlowRecord {
    let (tcp_flags, rev_tcp_flags) = match (&parts.history, parts.protocol) {
        (Some(history), proto::TCP) => history_flags(history),
        _ => (0, 0),
    };
    let packets = parts.orig_pkts.unwrap_or(0);
    let rev_packets = parts.resp_pkts.unwrap_or(0);
    let state = parts.conn_state.unwrap_or_else(|| {
        derive_state(
            parts.protocol,
            tcp_flags,
            rev_tcp_flags,
            packets,
            rev_packets,
        )
    });
    let end = parts
        .duration
        .map_or(parts.ts, |d| parts.ts.saturating_add(d.max(0)));
    FlowRecord {
        source: SignalSource::Zeek,
        exporter: Some(Arc::clone(exporter)),
        uid: parts.uid.map(|u| Box::from(u.as_ref())),
        start: to_millis(parts.ts),
        end: to_millis(end),
        src: parts.orig_h,
        dst: parts.resp_h,
        src_port: parts.orig_p,
        dst_port: parts.resp_p,
        protocol: parts.protocol,
        packets,
        // IP-level byte counts when Zeek recorded them; payload bytes are the fallback.
        bytes: parts.orig_ip_bytes.or(parts.orig_bytes).unwrap_or(0),
        rev_packets,
        rev_bytes: parts.resp_ip_bytes.or(parts.resp_bytes).unwrap_or(0),
        tcp_flags,
        rev_tcp_flags,
        state,
        service: parts.service.map(|s| lowercase(&s)),
        facts: Default::default(),
    }
}

/// The fields of one DNS transaction.
pub(crate) struct DnsParts<'a> {
    pub(crate) source: SignalSource,
    pub(crate) ts: Micros,
    pub(crate) client: IpAddr,
    pub(crate) server: IpAddr,
    pub(crate) query: &'a str,
    pub(crate) qtype: Option<u16>,
    pub(crate) rcode: Option<u8>,
    pub(crate) answers: Vec<IpAddr>,
    pub(crate) ttl: Option<u32>,
}

/// Builds a DNS record, normalising the name (lowercase, no trailing dot).
pub(crate) fn dns(parts: DnsParts<'_>) -> DnsRecord {
    DnsRecord {
        source: parts.source,
        time: to_millis(parts.ts),
        client: parts.client,
        server: parts.server,
        query: normalise_name(parts.query),
        qtype: parts.qtype,
        rcode: parts.rcode,
        answers: parts.answers,
        ttl: parts.ttl,
    }
}

/// Builds a name record (TLS SNI, HTTP Host).
pub(crate) fn name(
    source: SignalSource,
    ts: Micros,
    client: IpAddr,
    server: IpAddr,
    port: u16,
    name: &str,
    via: &str,
) -> NameRecord {
    NameRecord {
        source,
        time: to_millis(ts),
        client,
        server,
        port,
        name: normalise_name(name),
        via: Box::from(via),
    }
}

/// Lowercase with no trailing dot, the form names are compared in.
pub(crate) fn normalise_name(name: &str) -> Box<str> {
    lowercase(name.strip_suffix('.').unwrap_or(name))
}

fn lowercase(text: &str) -> Box<str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        text.to_ascii_lowercase().into_boxed_str()
    } else {
        Box::from(text)
    }
}

/// Zeek's transport names: `tcp`, `udp`, `icmp` (v4 or v6 by the address family),
/// `unknown_transport` (protocol 0).
pub(crate) fn zeek_proto(text: &str, addr: IpAddr) -> Result<u8, Reason> {
    Ok(match text {
        "tcp" | "TCP" => proto::TCP,
        "udp" | "UDP" => proto::UDP,
        "icmp" | "ICMP" if addr.is_ipv6() => proto::ICMPV6,
        "icmp" | "ICMP" => proto::ICMP,
        "unknown_transport" => 0,
        other => return Err(Reason::invalid("proto", other)),
    })
}

/// Zeek's `conn_state` spelling.
pub(crate) fn conn_state(text: &str) -> Result<ConnState, Reason> {
    ConnState::from_zeek(text).ok_or_else(|| Reason::invalid("conn_state", text))
}

/// The TCP flags each side sent, from Zeek's `history` letters (uppercase: originator,
/// lowercase: responder): `S` SYN, `H` SYN+ACK, `A` ACK, `D` data (counted as PSH), `F` FIN,
/// `R` RST. Other letters (retransmissions, gaps, window, the `^` flip) carry no flag.
pub(crate) fn history_flags(history: &str) -> (u8, u8) {
    let (mut orig, mut resp) = (0u8, 0u8);
    for letter in history.bytes() {
        let flag = match letter.to_ascii_uppercase() {
            b'S' => tcp_flags::SYN,
            b'H' => tcp_flags::SYN | tcp_flags::ACK,
            b'A' => tcp_flags::ACK,
            b'D' => tcp_flags::PSH,
            b'F' => tcp_flags::FIN,
            b'R' => tcp_flags::RST,
            _ => continue,
        };
        if letter.is_ascii_uppercase() {
            orig |= flag;
        } else {
            resp |= flag;
        }
    }
    (orig, resp)
}

/// The Zeek state a flow's flags and packet counts imply, for sources that do not say
/// (Suricata): the same vocabulary, so detectors need one rule for every source.
pub(crate) fn derive_state(protocol: u8, orig: u8, resp: u8, packets: u64, rev: u64) -> ConnState {
    use tcp_flags::{FIN, RST, SYN};
    if protocol != proto::TCP {
        return match (packets > 0, rev > 0) {
            (true, true) => ConnState::SF,
            (true, false) => ConnState::S0,
            (false, true) => ConnState::SHR,
            (false, false) => ConnState::OTH,
        };
    }
    let has = |flags: u8, bit: u8| flags & bit != 0;
    let orig_syn = has(orig, SYN);
    let resp_syn = has(resp, SYN);
    if orig_syn && !resp_syn {
        return if has(resp, RST) {
            ConnState::REJ
        } else if has(orig, RST) {
            ConnState::RSTOS0
        } else if has(orig, FIN) {
            ConnState::SH
        } else {
            ConnState::S0
        };
    }
    if orig_syn && resp_syn {
        return if has(orig, RST) {
            ConnState::RSTO
        } else if has(resp, RST) {
            ConnState::RSTR
        } else {
            match (has(orig, FIN), has(resp, FIN)) {
                (true, true) => ConnState::SF,
                (true, false) => ConnState::S2,
                (false, true) => ConnState::S3,
                (false, false) => ConnState::S1,
            }
        };
    }
    if resp_syn {
        if has(resp, RST) {
            return ConnState::RSTRH;
        }
        if has(resp, FIN) {
            return ConnState::SHR;
        }
    }
    ConnState::OTH
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcp_flags::{ACK, FIN, PSH, RST, SYN};

    #[test]
    fn history_letters() {
        assert_eq!(
            history_flags("ShADadfFr"),
            (SYN | ACK | PSH | FIN, SYN | ACK | PSH | FIN | RST)
        );
        assert_eq!(history_flags("S"), (SYN, 0));
        assert_eq!(history_flags("^dtTwWcCgGiIqQ"), (0, PSH));
        assert_eq!(history_flags("sH"), (SYN | ACK, SYN));
    }

    #[test]
    fn states() {
        let tcp = proto::TCP;
        assert_eq!(derive_state(tcp, SYN, 0, 1, 0), ConnState::S0);
        assert_eq!(derive_state(tcp, SYN, RST | ACK, 1, 1), ConnState::REJ);
        assert_eq!(derive_state(tcp, SYN | RST, 0, 2, 0), ConnState::RSTOS0);
        assert_eq!(derive_state(tcp, SYN | FIN, 0, 2, 0), ConnState::SH);
        let (o, r) = history_flags("ShADadfF");
        assert_eq!(derive_state(tcp, o, r, 5, 5), ConnState::SF);
        assert_eq!(derive_state(tcp, o | RST, r, 5, 5), ConnState::RSTO);
        assert_eq!(
            derive_state(tcp, SYN | ACK, SYN | ACK | RST, 5, 5),
            ConnState::RSTR
        );
        assert_eq!(derive_state(tcp, SYN | ACK, SYN | ACK, 5, 5), ConnState::S1);
        assert_eq!(
            derive_state(tcp, SYN | ACK | FIN, SYN | ACK, 5, 5),
            ConnState::S2
        );
        assert_eq!(
            derive_state(tcp, SYN | ACK, SYN | ACK | FIN, 5, 5),
            ConnState::S3
        );
        assert_eq!(
            derive_state(tcp, 0, SYN | ACK | RST, 0, 2),
            ConnState::RSTRH
        );
        assert_eq!(derive_state(tcp, 0, SYN | ACK | FIN, 0, 2), ConnState::SHR);
        assert_eq!(derive_state(tcp, ACK, ACK, 3, 3), ConnState::OTH);
        assert_eq!(derive_state(proto::UDP, 0, 0, 1, 1), ConnState::SF);
        assert_eq!(derive_state(proto::UDP, 0, 0, 1, 0), ConnState::S0);
    }

    #[test]
    fn names_and_protocols() {
        assert_eq!(&*normalise_name("Example.COM."), "example.com");
        let v6: IpAddr = "::1".parse().unwrap();
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        assert_eq!(zeek_proto("icmp", v6), Ok(proto::ICMPV6));
        assert_eq!(zeek_proto("icmp", v4), Ok(proto::ICMP));
        assert!(zeek_proto("sctp", v4).is_err());
    }
}
