//! Suricata's DNS events in all three layouts: version 1 (one event per query and one per
//! answer record, `rdata` and `ttl` at the top), version 2 (one event per response with an
//! `answers` array and/or `grouped` addresses) and version 3 (Suricata 8: `request`/`response`
//! with a `queries` array).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use rampart_core::SignalSource;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::build::{self, DnsParts};
use crate::error::Reason;
use crate::eve::{Event, endpoints, nested};
use crate::reader::{LogEvent, Parsed};
use crate::time::Micros;

/// The DNS server port: an event whose source port is 53 (and destination is not) is a
/// response seen from the server's side, and the client is its destination.
const DNS_PORT: u16 = 53;

#[derive(Deserialize)]
struct Dns<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rrname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rrtype: Option<Cow<'a, str>>,
    #[serde(borrow)]
    rcode: Option<Cow<'a, str>>,
    rdata: Option<Text>,
    ttl: Option<u64>,
    answers: Option<Vec<Answer>>,
    grouped: Option<Grouped>,
    queries: Option<Vec<Query>>,
}

#[derive(Deserialize)]
struct Answer {
    rrname: Option<Text>,
    ttl: Option<u64>,
    rdata: Option<Text>,
}

#[derive(Deserialize)]
struct Query {
    rrname: Option<Text>,
    rrtype: Option<Text>,
}

#[derive(Deserialize)]
struct Grouped {
    #[serde(rename = "A")]
    a: Option<Vec<Text>>,
    #[serde(rename = "AAAA")]
    aaaa: Option<Vec<Text>>,
}

/// Parses a `dns` event.
pub(crate) fn parse(event: &Event<'_>, ts: Micros) -> Result<Parsed, Reason> {
    let dns: Dns<'_> = nested(event.dns, "dns")?.ok_or(Reason::Missing("dns"))?;
    let first_query = dns.queries.as_ref().and_then(|q| q.first());
    let query = dns
        .rrname
        .as_deref()
        .or_else(|| first_query.and_then(|q| q.rrname.as_ref()?.0.as_deref()))
        .or_else(|| {
            // Some version 2 answers name the query only in their first answer record.
            let first = dns.answers.as_ref()?.first()?;
            first.rrname.as_ref()?.0.as_deref()
        });
    let Some(query) = query else {
        return Ok(Parsed::Skipped);
    };
    let rrtype = dns
        .rrtype
        .as_deref()
        .or_else(|| first_query.and_then(|q| q.rrtype.as_ref()?.0.as_deref()));
    let is_answer = matches!(dns.kind.as_deref(), Some("answer" | "response"));
    let rcode = match (is_answer, dns.rcode.as_deref()) {
        (true, Some(text)) => Some(rcode(text).ok_or_else(|| Reason::invalid("dns.rcode", text))?),
        _ => None,
    };
    let mut answers: Vec<IpAddr> = Vec::new();
    let mut add = |text: Option<&Text>| {
        if let Some(ip) = text
            .and_then(|t| t.0.as_deref())
            .and_then(|t| t.parse().ok())
            && !answers.contains(&ip)
        {
            answers.push(ip);
        }
    };
    add(dns.rdata.as_ref());
    for answer in dns.answers.iter().flatten() {
        add(answer.rdata.as_ref());
    }
    if let Some(grouped) = &dns.grouped {
        for text in grouped.a.iter().chain(&grouped.aaaa).flatten() {
            add(Some(text));
        }
    }
    let ttl = dns
        .ttl
        .into_iter()
        .chain(dns.answers.iter().flatten().filter_map(|a| a.ttl))
        .min()
        .map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    let (mut client, mut server) = endpoints(event)?;
    if event.src_port == Some(DNS_PORT) && event.dest_port != Some(DNS_PORT) {
        std::mem::swap(&mut client, &mut server);
    }
    let record = build::dns(DnsParts {
        source: SignalSource::Suricata,
        ts,
        client,
        server,
        query,
        qtype: rrtype.and_then(qtype),
        rcode,
        answers,
        ttl,
    });
    Ok(Parsed::Event(LogEvent::Dns(record)))
}

/// Record type number of Suricata's type name (or of a bare number).
fn qtype(name: &str) -> Option<u16> {
    Some(match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "NULL" => 10,
        "PTR" => 12,
        "HINFO" => 13,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "NAPTR" => 35,
        "OPT" => 41,
        "DS" => 43,
        "SSHFP" => 44,
        "RRSIG" => 46,
        "NSEC" => 47,
        "DNSKEY" => 48,
        "NSEC3" => 50,
        "TLSA" => 52,
        "SVCB" => 64,
        "HTTPS" => 65,
        "ANY" => 255,
        "CAA" => 257,
        other => return other.parse().ok(),
    })
}

/// Response code number of Suricata's name (or of a bare number).
fn rcode(name: &str) -> Option<u8> {
    Some(match name {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        other => return other.parse().ok(),
    })
}

/// A value read as text when it is a string and ignored otherwise: `rdata` is an object for
/// some record types (SOA, SRV) in some versions, which must not fail the whole event.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_owned())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(qtype("AAAA"), Some(28));
        assert_eq!(qtype("65"), Some(65));
        assert_eq!(qtype("WHAT"), None);
        assert_eq!(rcode("NXDOMAIN"), Some(3));
        assert_eq!(rcode("11"), Some(11));
    }
}
