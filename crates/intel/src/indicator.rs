//! One indicator of compromise: what a feed line means once comments and whitespace are gone.
//!
//! Parsing is strict about shape (a line is an address, a network, a host with an optional
//! port, a URL or a URL path, and nothing else) but tolerant about spelling: schemes are
//! dropped, host names are lowercased, a trailing dot is ignored and CIDRs with host bits set
//! are truncated to their network. Anything that is not one of those shapes is an
//! [`EntryError`], which the loaders count against the line; it never aborts a load.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::EntryError;

/// Longest line the loaders look at; longer ones are bad lines, so one corrupt feed cannot
/// make the set hold megabyte-long keys.
pub const MAX_ENTRY_LEN: usize = 2048;

/// Longest host name (RFC 1035, without the trailing dot).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Longest label of a host name (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// What an indicator denotes; also how it is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// One address, any port.
    Ip,
    /// A network, longest prefix wins.
    Cidr,
    /// One address on one port (Maltrail's `ip:port`).
    IpPort,
    /// A host name and all names below it.
    Domain,
    /// A host name on one port.
    DomainPort,
    /// A host (with optional port) and a path.
    Url,
    /// A path (with optional query prefix) on any host.
    UrlPath,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Self; 7] = [
        Self::Ip,
        Self::Cidr,
        Self::IpPort,
        Self::Domain,
        Self::DomainPort,
        Self::Url,
        Self::UrlPath,
    ];

    /// Stable lowercase name, used as a metric label and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Cidr => "cidr",
            Self::IpPort => "ip_port",
            Self::Domain => "domain",
            Self::DomainPort => "domain_port",
            Self::Url => "url",
            Self::UrlPath => "url_path",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed indicator in canonical form (lowercase host, network address of a CIDR).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indicator {
    /// One address.
    Ip(IpAddr),
    /// A network.
    Cidr(IpNet),
    /// One address on one port.
    IpPort(IpAddr, u16),
    /// A host name, lowercase, no trailing dot.
    Domain(Box<str>),
    /// A host name on one port.
    DomainPort(Box<str>, u16),
    /// `host[:port]/path[?query]` with the host in canonical form (IPv6 in brackets).
    Url(Box<str>),
    /// `/path[?query]`, case kept (paths are case-sensitive).
    UrlPath(Box<str>),
}

impl Indicator {
    /// The kind, which decides which lookup finds this indicator.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Ip(_) => Kind::Ip,
            Self::Cidr(_) => Kind::Cidr,
            Self::IpPort(..) => Kind::IpPort,
            Self::Domain(_) => Kind::Domain,
            Self::DomainPort(..) => Kind::DomainPort,
            Self::Url(_) => Kind::Url,
            Self::UrlPath(_) => Kind::UrlPath,
        }
    }

    /// Parses one entry (already stripped of comments and surrounding whitespace).
    pub fn parse(text: &str) -> Result<Self, EntryError> {
        if text.is_empty() {
            return Err(EntryError::Empty);
        }
        if text.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong(text.len()));
        }
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(EntryError::BadChar(c));
        }
        if text.starts_with('/') {
            return Ok(Self::UrlPath(text.into()));
        }
        let rest = strip_scheme(text)?;
        // Only bare entries may be networks: `http://10.0.0.0/8` is a URL path.
        if rest.len() == text.len()
            && let Some(net) = parse_cidr(text)
        {
            return net;
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (hostport, path) = rest.split_at(split);
        if hostport.is_empty() {
            return Err(EntryError::NoHost);
        }
        // A URL whose path is just `/` names the host, as in `http://1.2.3.4/`.
        let path = if path == "/" { "" } else { path };
        let (host, port) = split_host_port(hostport)?;
        if path.is_empty() {
            return Ok(match (host, port) {
                (Host::Ip(ip), None) => Self::Ip(ip),
                (Host::Ip(ip), Some(p)) => Self::IpPort(ip, p),
                (Host::Name(n), None) => Self::Domain(n.into()),
                (Host::Name(n), Some(p)) => Self::DomainPort(n.into(), p),
            });
        }
        let mut url = String::with_capacity(hostport.len() + path.len() + 2);
        host.write_to(&mut url);
        if let Some(p) = port {
            url.push(':');
            url.push_str(&p.to_string());
        }
        if !path.starts_with('/') {
            url.push('/');
        }
        url.push_str(path);
        Ok(Self::Url(url.into()))
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Cidr(net) => write!(f, "{net}"),
            Self::IpPort(IpAddr::V6(ip), port) => write!(f, "[{ip}]:{port}"),
            Self::IpPort(ip, port) => write!(f, "{ip}:{port}"),
            Self::Domain(d) => f.write_str(d),
            Self::DomainPort(d, port) => write!(f, "{d}:{port}"),
            Self::Url(u) | Self::UrlPath(u) => f.write_str(u),
        }
    }
}

/// Drops `scheme://`; a scheme must be ASCII letters, digits, `+`, `-` or `.`. A `://` after
/// the start of a path (`evil.com/r?to=http://x`) is part of the path, not a scheme.
fn strip_scheme(text: &str) -> Result<&str, EntryError> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Ok(text);
    };
    if scheme.contains(['/', '?']) {
        return Ok(text);
    }
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        Ok(rest)
    } else {
        Err(EntryError::BadScheme)
    }
}

/// `a.b.c.d/len` or `v6/len`; `None` when the entry is not that shape (an address followed
/// by a path such as `1.2.3.4/bins/x.arm` is a URL), so the caller goes on to host parsing.
fn parse_cidr(text: &str) -> Option<Result<Indicator, EntryError>> {
    let (addr, len) = text.split_once('/')?;
    let ip = addr.parse::<IpAddr>().ok()?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let net = len
        .parse::<u8>()
        .ok()
        .and_then(|len| IpNet::new(ip, len).ok())
        .ok_or(EntryError::BadPrefixLen);
    Some(net.map(|n| Indicator::Cidr(n.trunc())))
}

/// The host part of an entry or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// An address literal.
    Ip(IpAddr),
    /// A validated, lowercased name.
    Name(String),
}

impl Host {
    /// Appends the canonical text (IPv6 in brackets, as in URLs).
    fn write_to(&self, out: &mut String) {
        match self {
            Self::Ip(IpAddr::V6(ip)) => {
                out.push('[');
                out.push_str(&ip.to_string());
                out.push(']');
            }
            Self::Ip(ip) => out.push_str(&ip.to_string()),
            Self::Name(n) => out.push_str(n),
        }
    }
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 literal.
pub(crate) fn split_host_port(hostport: &str) -> Result<(Host, Option<u16>), EntryError> {
    if let Some(inner) = hostport.strip_prefix('[') {
        let (addr, after) = inner.split_once(']').ok_or(EntryError::BadHost)?;
        let ip: Ipv6Addr = addr.parse().map_err(|_| EntryError::BadHost)?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':').ok_or(EntryError::BadHost)?)?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    if let Ok(ip) = hostport.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), None));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (hostport, None),
    };
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok((Host::Ip(IpAddr::V4(ip)), port));
    }
    Ok((Host::Name(normalize_domain(host)?), port))
}

fn parse_port(p: &str) -> Result<u16, EntryError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EntryError::BadPort);
    }
    p.parse().map_err(|_| EntryError::BadPort)
}

/// Validates a host name and returns it lowercase without a trailing dot.
///
/// Labels are letters, digits, `-` and `_` (seen in real C2 names), 1 to 63 bytes, at least
/// two labels, and the last one not all digits (that would be a mistyped address).
pub fn normalize_domain(name: &str) -> Result<String, EntryError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_DOMAIN_LEN {
        return Err(EntryError::BadDomain);
    }
    let mut labels = 0usize;
    let mut last_numeric = false;
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(EntryError::BadDomain);
        }
        labels += 1;
        last_numeric = label.bytes().all(|b| b.is_ascii_digit());
    }
    if labels < 2 || last_numeric {
        return Err(EntryError::BadDomain);
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Indicator, EntryError> {
        Indicator::parse(s)
    }

    #[test]
    fn shapes() {
        assert_eq!(p("1.2.3.4"), Ok(Indicator::Ip("1.2.3.4".parse().unwrap())));
        assert_eq!(
            p("1.2.3.4:2407"),
            Ok(Indicator::IpPort("1.2.3.4".parse().unwrap(), 2407))
        );
        assert_eq!(
            p("http://104.237.218.85"),
            Ok(Indicator::Ip("104.237.218.85".parse().unwrap()))
        );
        assert_eq!(
            p("http://71.27.48.12:80/"),
            Ok(Indicator::IpPort("71.27.48.12".parse().unwrap(), 80))
        );
        assert_eq!(
            p("10.1.2.3/8"),
            Ok(Indicator::Cidr("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            p("2001:db8::/32"),
            Ok(Indicator::Cidr("2001:db8::/32".parse().unwrap()))
        );
        assert_eq!(
            p("2001:db8::1"),
            Ok(Indicator::Ip("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(
            p("[2001:db8::1]:443"),
            Ok(Indicator::IpPort("2001:db8::1".parse().unwrap(), 443))
        );
        assert_eq!(
            p("fFvFVcnc.Changeme.com."),
            Ok(Indicator::Domain("ffvfvcnc.changeme.com".into()))
        );
        assert_eq!(
            p("evil.com:8080"),
            Ok(Indicator::DomainPort("evil.com".into(), 8080))
        );
        assert_eq!(
            p("Evil.com/gate.php"),
            Ok(Indicator::Url("evil.com/gate.php".into()))
        );
        assert_eq!(
            p("https://Evil.com:8443/a/b?x=1"),
            Ok(Indicator::Url("evil.com:8443/a/b?x=1".into()))
        );
        assert_eq!(
            p("evil.com?id="),
            Ok(Indicator::Url("evil.com/?id=".into()))
        );
        assert_eq!(
            p("http://10.0.0.1/bins/x.arm"),
            Ok(Indicator::Url("10.0.0.1/bins/x.arm".into()))
        );
        assert_eq!(
            p("evil.com/r?to=http://x.org/"),
            Ok(Indicator::Url("evil.com/r?to=http://x.org/".into()))
        );
        assert_eq!(
            p("/izuku.arm7"),
            Ok(Indicator::UrlPath("/izuku.arm7".into()))
        );
        assert_eq!(
            p("/rx/hx.php?mac="),
            Ok(Indicator::UrlPath("/rx/hx.php?mac=".into()))
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "busybox",
            "1.2.3",
            "1.2.3.4:99999",
            "1.2.3.4:",
            "10.0.0.0/33",
            "bad..name.com",
            "spa ce.com",
            "é.com",
            "://x.com",
            "1x://x.com",
            "http://",
            "[::1",
            "a.com:b",
            "-",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(p(&"a".repeat(3000)), Err(EntryError::TooLong(3000)));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "1.2.3.4",
            "1.2.3.4:80",
            "[2001:db8::1]:443",
            "10.0.0.0/8",
            "evil.com",
            "evil.com:81",
            "evil.com/x?y",
            "/z.sh",
        ] {
            let i = p(s).unwrap();
            assert_eq!(i.to_string(), s);
            assert_eq!(p(&i.to_string()), Ok(i));
        }
    }
}
