//! Property tests: whatever is inserted is found; what no entry covers is not; the parser
//! never panics and accepts what it prints.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use rampart_intel::{Format, Indicator, IntelSetBuilder, Source, parse};

fn source(feed: &str) -> Arc<Source> {
    Arc::new(Source {
        feed: feed.into(),
        family: "f".into(),
        aliases: Box::new([]),
        file: "".into(),
    })
}

fn v4net() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

fn v6net() -> impl Strategy<Value = IpNet> {
    // Share a few leading bits so nested prefixes are common.
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| {
        let a = (a & (u128::MAX >> 4)) | (0x2u128 << 124);
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
    })
}

/// The longest listed prefix containing `ip`, the first of equal ones: the reference answer.
fn naive(nets: &[IpNet], ip: IpAddr) -> Option<IpNet> {
    let mut best: Option<IpNet> = None;
    for n in nets {
        if n.contains(&ip) && best.is_none_or(|b| n.prefix_len() > b.prefix_len()) {
            best = Some(*n);
        }
    }
    best
}

fn clustered_v4() -> impl Strategy<Value = IpNet> {
    // Addresses within 10.0.0.0/12 so that nesting and adjacency happen often.
    (0u32..(1 << 20), 8u8..=32).prop_map(|(a, l)| {
        IpNet::V4(
            Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | a), l)
                .unwrap()
                .trunc(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inserted_ips_are_found(ips in prop::collection::vec(any::<IpAddr>(), 1..200), probes in prop::collection::vec(any::<IpAddr>(), 50)) {
        let src = source("p");
        let mut b = IntelSetBuilder::new();
        for ip in &ips {
            b.add(&src, Indicator::Ip(*ip));
        }
        let s = b.build();
        let canon = |ip: IpAddr| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        for ip in &ips {
            let hit = s.match_ip(*ip).unwrap();
            prop_assert_eq!(hit.indicator(), &Indicator::Ip(canon(*ip)));
        }
        for p in probes {
            let listed = ips.iter().any(|i| canon(*i) == canon(p));
            prop_assert_eq!(s.match_ip(p).is_some(), listed);
        }
    }

    #[test]
    fn cidr_lookup_is_longest_prefix(
        nets in prop::collection::vec(prop_oneof![v4net(), clustered_v4(), v6net()], 1..60),
        probes in prop::collection::vec(any::<u32>(), 100),
        probes6 in prop::collection::vec(any::<u128>(), 50),
    ) {
        let src = source("p");
        let mut b = IntelSetBuilder::new();
        for n in &nets {
            b.add(&src, Indicator::Cidr(*n));
        }
        let s = b.build();
        // Each network's first, last and a middle address are found with the right prefix.
        for n in &nets {
            for ip in [n.network(), n.broadcast()] {
                let want = naive(&nets, ip).unwrap();
                prop_assert_eq!(s.match_ip(ip).unwrap().indicator(), &Indicator::Cidr(want));
            }
        }
        // Random addresses (clustered near the networks too) agree with the reference,
        // including those in no network, which must not match.
        let near: Vec<IpAddr> = probes
            .iter()
            .map(|p| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (p & 0xf_ffff))))
            .chain(probes.iter().map(|p| IpAddr::V4(Ipv4Addr::from(*p))))
            .chain(probes6.iter().map(|p| IpAddr::V6(Ipv6Addr::from((p & (u128::MAX >> 4)) | (0x2u128 << 124))))).collect();
        for ip in near {
            let want = naive(&nets, ip);
            prop_assert_eq!(s.match_ip(ip).map(|h| h.indicator().clone()), want.map(Indicator::Cidr));
        }
    }

    #[test]
    fn inserted_domains_match_with_subdomains(
        names in prop::collection::vec("[a-z0-9]{1,10}(\\.[a-z0-9-]{1,10}){0,2}\\.[a-z]{2,5}", 1..50),
        sub in "[a-zA-Z0-9]{1,8}",
        other in "[a-z]{1,12}\\.zz",
    ) {
        let text = names.join("\n");
        let parsed = parse(Format::Plain, text.as_bytes(), "p", "", None);
        let mut b = IntelSetBuilder::new();
        b.add_parsed(&parsed);
        let s = b.build();
        for n in &names {
            let Ok(norm) = rampart_intel::normalize_domain(n) else { continue };
            prop_assert!(s.match_domain(n).is_some());
            let via_sub = s.match_domain(&format!("{sub}.{}", n.to_uppercase())).unwrap();
            let Indicator::Domain(d) = via_sub.indicator() else { panic!() };
            let parent_suffix = format!(".{d}");
            prop_assert!(norm == **d || norm.ends_with(&parent_suffix));
        }
        // `.zz` is never generated, so nothing below it is listed.
        prop_assert!(s.match_domain(&other).is_none());
    }

    #[test]
    fn parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Plain, Format::Maltrail] {
            let p = parse(format, &bytes, "f", "x.txt", None);
            prop_assert!(p.bad_line_count + p.entries.len() <= p.lines + 1);
            let mut b = IntelSetBuilder::new();
            b.add_parsed(&p);
            let _ = b.build();
        }
    }

    #[test]
    fn printed_indicators_parse_back(text in "[ -~]{1,40}") {
        if let Ok(i) = Indicator::parse(&text) {
            prop_assert_eq!(Indicator::parse(&i.to_string()), Ok(i));
        }
    }
}
