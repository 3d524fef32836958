//! Matching rules on small hand-made feeds.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::IpAddr;

use rampart_intel::{Format, Indicator, IntelSet, IntelSetBuilder, Kind, parse};

fn set(format: Format, text: &str) -> IntelSet {
    let mut b = IntelSetBuilder::new();
    b.add_parsed(&parse(
        format,
        text.as_bytes(),
        "test",
        "elf_testbot.txt",
        None,
    ));
    b.build()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn shown(h: Option<&rampart_intel::Hit>) -> Option<String> {
    h.map(|h| h.indicator().to_string())
}

#[test]
fn domain_suffix_matching() {
    let s = set(Format::Plain, "evil.com\nx.good.org\nDeep.Sub.Evil.com.\n");
    assert_eq!(
        shown(s.match_domain("evil.com")).as_deref(),
        Some("evil.com")
    );
    assert_eq!(
        shown(s.match_domain("a.b.evil.com")).as_deref(),
        Some("evil.com")
    );
    assert_eq!(
        shown(s.match_domain("A.B.EVIL.COM.")).as_deref(),
        Some("evil.com")
    );
    // The most specific listed suffix wins.
    assert_eq!(
        shown(s.match_domain("x.deep.sub.evil.com")).as_deref(),
        Some("deep.sub.evil.com")
    );
    assert_eq!(
        shown(s.match_domain("y.x.good.org")).as_deref(),
        Some("x.good.org")
    );
    // Not a label boundary, a parent of a listed name, or the TLD alone.
    assert!(s.match_domain("notevil.com").is_none());
    assert!(s.match_domain("evil.com.au").is_none());
    assert!(s.match_domain("good.org").is_none());
    assert!(s.match_domain("com").is_none());
    assert!(s.match_domain("").is_none());
    assert!(s.match_domain(".").is_none());
    assert!(s.match_domain("évil.com").is_none());
    assert!(s.match_domain(&"a.".repeat(200)).is_none());
    assert_eq!(s.match_domain("evil.com").unwrap().family(), "test");
}

#[test]
fn cidr_longest_prefix() {
    let s = set(
        Format::Plain,
        "10.0.0.0/8\n10.1.0.0/16 # lab\n10.1.2.3\n2001:db8::/32\n2001:db8:1::/48\n",
    );
    assert_eq!(
        shown(s.match_ip(ip("10.9.9.9"))).as_deref(),
        Some("10.0.0.0/8")
    );
    assert_eq!(
        shown(s.match_ip(ip("10.1.9.9"))).as_deref(),
        Some("10.1.0.0/16")
    );
    assert_eq!(
        shown(s.match_ip(ip("10.1.2.3"))).as_deref(),
        Some("10.1.2.3")
    );
    assert_eq!(
        shown(s.match_ip(ip("10.255.255.255"))).as_deref(),
        Some("10.0.0.0/8")
    );
    assert!(s.match_ip(ip("11.0.0.0")).is_none());
    assert!(s.match_ip(ip("9.255.255.255")).is_none());
    assert_eq!(
        shown(s.match_ip(ip("2001:db8:1::5"))).as_deref(),
        Some("2001:db8:1::/48")
    );
    assert_eq!(
        shown(s.match_ip(ip("2001:db8:ffff::5"))).as_deref(),
        Some("2001:db8::/32")
    );
    assert!(s.match_ip(ip("2001:db9::1")).is_none());
    // Dual-stack sockets report IPv4 peers as mapped addresses.
    assert_eq!(
        shown(s.match_ip(ip("::ffff:10.1.2.3"))).as_deref(),
        Some("10.1.2.3")
    );
    // CIDRs and plain IPs match any port.
    assert_eq!(
        shown(s.match_endpoint(ip("10.1.2.3"), 443)).as_deref(),
        Some("10.1.2.3")
    );
}

#[test]
fn maltrail_shapes() {
    let text = "# Aliases: tb\n185.61.149.22:2407\nhttp://104.237.218.85\nhttp://71.27.48.12:80\n\
                evil.cc\nevil.cc:8080\ncnc.example.net/gate.php\nhttp://198.51.100.9/bins/x.sh\n\
                /izuku.arm7\n/rx/hx.php?mac=\n[2001:db8::7]:23\n/Anti_Bins/\n";
    let s = set(Format::Maltrail, text);
    assert_eq!(s.len(), 11);
    let hit = s.match_endpoint(ip("185.61.149.22"), 2407).unwrap();
    assert_eq!(
        (hit.kind(), hit.family(), hit.feed()),
        (Kind::IpPort, "testbot", "test")
    );
    assert_eq!(&*hit.source().aliases, ["tb".into()]);
    assert!(s.match_endpoint(ip("185.61.149.22"), 23).is_none());
    assert!(s.match_ip(ip("185.61.149.22")).is_none());
    assert_eq!(s.match_ip_any_port(ip("185.61.149.22")), Some(hit));
    assert_eq!(s.match_ip(ip("104.237.218.85")).unwrap().kind(), Kind::Ip);
    assert_eq!(
        s.match_endpoint(ip("71.27.48.12"), 80).unwrap().kind(),
        Kind::IpPort
    );
    assert_eq!(
        s.match_endpoint(ip("2001:db8::7"), 23).unwrap().kind(),
        Kind::IpPort
    );

    assert_eq!(
        s.match_host_port("a.EVIL.cc", 8080).unwrap().kind(),
        Kind::DomainPort
    );
    assert_eq!(
        s.match_host_port("a.evil.cc", 8081).unwrap().kind(),
        Kind::Domain
    );
    assert_eq!(
        s.match_host_port("185.61.149.22", 2407).unwrap().kind(),
        Kind::IpPort
    );

    assert_eq!(
        shown(s.match_url("http://CNC.example.net/gate.php?id=1")).as_deref(),
        Some("cnc.example.net/gate.php")
    );
    assert_eq!(
        shown(s.match_url("cnc.example.net:8080/gate.php")).as_deref(),
        Some("cnc.example.net/gate.php")
    );
    assert!(s.match_url("http://cnc.example.net/other.php").is_none());
    assert_eq!(
        shown(s.match_url("http://198.51.100.9/bins/x.sh")).as_deref(),
        Some("198.51.100.9/bins/x.sh")
    );
    // Generic path trails match on any host, also as the last segment of a longer path.
    assert_eq!(
        shown(s.match_url("http://203.0.113.5/izuku.arm7")).as_deref(),
        Some("/izuku.arm7")
    );
    assert_eq!(
        shown(s.match_url("http://203.0.113.5:81/bins/izuku.arm7")).as_deref(),
        Some("/izuku.arm7")
    );
    assert_eq!(
        shown(s.match_http("x.org", None, "/rx/hx.php?mac=00:11&v=2")).as_deref(),
        Some("/rx/hx.php?mac=")
    );
    assert!(s.match_http("x.org", None, "/rx/hx.php").is_none());
    assert!(s.match_url("http://203.0.113.5/izuku.arm").is_none());
    assert!(s.match_url("http://203.0.113.5/izuku.arm7/").is_none());
    assert_eq!(
        shown(s.match_url("http://203.0.113.5/Anti_Bins/sora.mips")).as_deref(),
        Some("/Anti_Bins/")
    );
    assert_eq!(
        shown(s.match_url("http://203.0.113.5/a/Anti_Bins/")).as_deref(),
        Some("/Anti_Bins/")
    );
    assert!(
        s.match_url("http://203.0.113.5/anti_bins/sora.mips")
            .is_none()
    );
    // Falls back to the host.
    assert_eq!(
        shown(s.match_url("https://www.evil.cc/index.html")).as_deref(),
        Some("evil.cc")
    );
    assert_eq!(
        shown(s.match_url("http://104.237.218.85/")).as_deref(),
        Some("104.237.218.85")
    );
    assert!(s.match_url("").is_none());
    let s2 = set(Format::Maltrail, "evil.org?id=\n");
    assert_eq!(
        shown(s2.match_url("http://EVIL.org?id=")).as_deref(),
        Some("evil.org/?id=")
    );
    assert_eq!(
        shown(s2.match_http("evil.org", Some(80), "/?id=7")).as_deref(),
        Some("evil.org/?id=")
    );
    assert_eq!(
        shown(s.match_url("evil.cc/r?to=http://a.org/")).as_deref(),
        Some("evil.cc")
    );
    assert!(s.match_url("http://[::1/x").is_none());
}

#[test]
fn duplicates_keep_the_first_source() {
    let mut b = IntelSetBuilder::new();
    b.add_parsed(&parse(
        Format::Plain,
        b"1.2.3.4\nevil.com\n10.0.0.0/8\n",
        "a",
        "",
        None,
    ));
    b.add_parsed(&parse(
        Format::Plain,
        b"1.2.3.4\nEVIL.com\n10.0.0.0/8\n5.6.7.8\n",
        "b",
        "",
        None,
    ));
    let s = b.build();
    assert_eq!(s.len(), 4);
    assert_eq!(s.stats().duplicates, 3);
    assert_eq!(s.match_ip(ip("1.2.3.4")).unwrap().feed(), "a");
    assert_eq!(s.match_domain("evil.com").unwrap().feed(), "a");
    assert_eq!(s.match_ip(ip("10.0.0.1")).unwrap().feed(), "a");
    assert_eq!(s.match_ip(ip("5.6.7.8")).unwrap().feed(), "b");
    assert_eq!(s.stats().by_kind.get(&Kind::Ip), Some(&2));
    assert_eq!(s.stats().by_family.get(&("b".into(), "b".into())), Some(&1));
    assert!(s.heap_bytes() > 0);
    assert!(
        s.iter()
            .any(|h| h.indicator() == &Indicator::Domain("evil.com".into()))
    );
}

#[test]
fn empty_set_matches_nothing() {
    let s = IntelSet::default();
    assert!(s.is_empty());
    assert!(s.match_ip(ip("0.0.0.0")).is_none());
    assert!(s.match_domain("a.b").is_none());
    assert!(s.match_url("http://a.b/c").is_none());
}
