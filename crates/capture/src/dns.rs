//! DNS responses (RFC 1035) read just far enough to map a name to the addresses it resolved
//! to: the first question, the response code, and the A/AAAA records of the answer section
//! with their TTLs. Every read is bounds-checked, compression pointers may only point
//! backwards and are followed a bounded number of times, so any byte string is safe to feed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name RFC 1035 allows, in presentation form.
const MAX_NAME: usize = 253;
/// Compression pointers followed per name; a loop or a long chain stops here.
const MAX_POINTERS: usize = 16;
/// Answers read per response; the rest are skipped (and counted as truncated by the caller
/// if it cares).
const MAX_ANSWERS: usize = 64;

/// What one DNS response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsAnswer {
    /// The name asked, lowercase, without the trailing dot.
    pub(crate) query: String,
    /// Query type.
    pub(crate) qtype: u16,
    /// Response code (low 4 bits of the header flags).
    pub(crate) rcode: u8,
    /// A and AAAA addresses of the answer section.
    pub(crate) addrs: Vec<IpAddr>,
    /// Smallest TTL among those addresses.
    pub(crate) min_ttl: Option<u32>,
}

/// Why a datagram was not read as a DNS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Shorter than the header or a record it announces.
    #[error("dns message truncated")]
    Truncated,
    /// A query, not a response.
    #[error("dns message is not a response")]
    NotResponse,
    /// No question to name the answer.
    #[error("dns response without question")]
    NoQuestion,
    /// A name broke the format (bad label, forward or looping pointer, too long).
    #[error("dns name malformed")]
    BadName,
}

/// Parses a DNS response.
pub(crate) fn parse_response(msg: &[u8]) -> Result<DnsAnswer, DnsError> {
    let header = msg.get(..12).ok_or(DnsError::Truncated)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    if flags & 0x8000 == 0 {
        return Err(DnsError::NotResponse);
    }
    let opcode = (flags >> 11) & 0xf;
    if opcode != 0 {
        return Err(DnsError::NotResponse);
    }
    let rcode = (flags & 0xf) as u8;
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    let ancount = u16::from_be_bytes([header[6], header[7]]);
    if qdcount == 0 {
        return Err(DnsError::NoQuestion);
    }
    let mut pos = 12;
    let mut query = String::new();
    let mut qtype = 0;
    for i in 0..qdcount {
        let (name, next) = read_name(msg, pos, i == 0)?;
        let t = be16(msg, next).ok_or(DnsError::Truncated)?;
        if i == 0 {
            query = name;
            qtype = t;
        }
        pos = next + 4;
        if pos > msg.len() {
            return Err(DnsError::Truncated);
        }
    }
    let mut addrs = Vec::new();
    let mut min_ttl: Option<u32> = None;
    for _ in 0..usize::from(ancount).min(MAX_ANSWERS) {
        let (_, next) = read_name(msg, pos, false)?;
        let rtype = be16(msg, next).ok_or(DnsError::Truncated)?;
        let class = be16(msg, next + 2).ok_or(DnsError::Truncated)?;
        let ttl = be32(msg, next + 4).ok_or(DnsError::Truncated)?;
        let rdlen = usize::from(be16(msg, next + 8).ok_or(DnsError::Truncated)?);
        let rdata = msg
            .get(next + 10..next + 10 + rdlen)
            .ok_or(DnsError::Truncated)?;
        pos = next + 10 + rdlen;
        // Class IN only (mDNS sets the cache-flush bit on top).
        if class & 0x7fff != 1 {
            continue;
        }
        let addr = match (rtype, rdata.len()) {
            (1, 4) => IpAddr::V4(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])),
            (28, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(rdata);
                IpAddr::V6(Ipv6Addr::from(b))
            }
            _ => continue,
        };
        addrs.push(addr);
        min_ttl = Some(min_ttl.map_or(ttl, |m| m.min(ttl)));
    }
    Ok(DnsAnswer {
        query,
        qtype,
        rcode,
        addrs,
        min_ttl,
    })
}

/// Reads a possibly compressed name at `pos`; returns it (lowercase, dotted, no trailing dot;
/// only built when `keep` is set) and the offset just past it in the message.
fn read_name(msg: &[u8], mut pos: usize, keep: bool) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut end = None;
    let mut pointers = 0;
    let mut total = 0usize;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated)?;
        match len >> 6 {
            0 => {
                if len == 0 {
                    let after = end.unwrap_or(pos + 1);
                    return Ok((name, after));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(DnsError::Truncated)?;
                total += label.len() + 1;
                if total > MAX_NAME + 1 {
                    return Err(DnsError::BadName);
                }
                if keep {
                    if !name.is_empty() {
                        name.push('.');
                    }
                    for &b in label {
                        let c = b.to_ascii_lowercase();
                        // Names are shown and matched as text: escape what is not printable.
                        if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                            name.push(char::from(c));
                        } else {
                            name.push_str(&format!("\\{c:03}"));
                        }
                    }
                }
                pos += 1 + label.len();
            }
            3 => {
                let low = *msg.get(pos + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                // Only backwards: a pointer forward or to itself is not something an encoder
                // produces, and refusing it rules out loops together with the bound.
                if target >= pos || pointers >= MAX_POINTERS {
                    return Err(DnsError::BadName);
                }
                pointers += 1;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                pos = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Encodes a response with one question and the given A/AAAA answers (compressed owner
/// names); used by tests and the synthetic capture generator.
pub fn build_response(id: u16, name: &str, rcode: u8, answers: &[(IpAddr, u32)]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(0x8180u16 | u16::from(rcode & 0xf)).to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m.extend_from_slice(&u16::try_from(answers.len()).unwrap_or(0).to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        m.push(bytes.len() as u8);
        m.extend_from_slice(bytes);
    }
    m.push(0);
    let qtype: u16 = match answers.first() {
        Some((IpAddr::V6(_), _)) => 28,
        _ => 1,
    };
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    for (addr, ttl) in answers {
        m.extend_from_slice(&[0xc0, 12]);
        let (t, data): (u16, Vec<u8>) = match addr {
            IpAddr::V4(a) => (1, a.octets().to_vec()),
            IpAddr::V6(a) => (28, a.octets().to_vec()),
        };
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&1u16.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(data.len() as u16).to_be_bytes());
        m.extend_from_slice(&data);
    }
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_with_compression() {
        let a: IpAddr = "93.184.216.34".parse().unwrap();
        let b: IpAddr = "2606:2800:220:1::1".parse().unwrap();
        let msg = build_response(7, "Example.COM", 0, &[(a, 300), (b, 60)]);
        let r = parse_response(&msg).unwrap();
        assert_eq!(r.query, "example.com");
        assert_eq!(r.qtype, 1);
        assert_eq!(r.addrs, vec![a, b]);
        assert_eq!(r.min_ttl, Some(60));
        assert_eq!(r.rcode, 0);
    }

    #[test]
    fn pointer_loop_and_forward_pointer_refused() {
        let mut msg = build_response(1, "a.b", 0, &[]);
        // Point the question name at itself.
        msg[12] = 0xc0;
        msg[13] = 12;
        assert_eq!(parse_response(&msg), Err(DnsError::BadName));
        msg[13] = 200;
        assert_eq!(parse_response(&msg), Err(DnsError::BadName));
    }

    #[test]
    fn query_and_short_refused() {
        let mut msg = build_response(1, "a.b", 3, &[]);
        assert_eq!(parse_response(&msg).unwrap().rcode, 3);
        msg[2] &= 0x7f;
        assert_eq!(parse_response(&msg), Err(DnsError::NotResponse));
        assert_eq!(parse_response(&msg[..5]), Err(DnsError::Truncated));
    }
}
