//! Arbitrary feed files: both loaders must not panic, every line is accounted for, every
//! parsed entry is found again in the built set, and lookups of arbitrary text never panic.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use rampart_intel::{Format, Indicator, IntelSetBuilder, parse};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Plain, Format::Maltrail] {
        let parsed = parse(format, data, "fuzz", "elf_fuzz.txt", None);
        assert!(parsed.entries.len() + parsed.bad_line_count <= parsed.lines + 1);
        let mut builder = IntelSetBuilder::new();
        builder.add_parsed(&parsed);
        let set = builder.build();
        for e in &parsed.entries {
            let found = match e {
                Indicator::Ip(ip) => set.match_ip(*ip).is_some(),
                Indicator::Cidr(net) => set.match_ip(net.network()).is_some(),
                Indicator::IpPort(ip, port) => set.match_endpoint(*ip, *port).is_some(),
                Indicator::Domain(d) => set.match_domain(d).is_some(),
                Indicator::DomainPort(d, port) => set.match_host_port(d, *port).is_some(),
                Indicator::Url(u) => set.match_url(u).is_some(),
                Indicator::UrlPath(p) => set.match_http("fuzz.example", None, p).is_some(),
            };
            assert!(found, "{e:?} not found");
            assert_eq!(Indicator::parse(&e.to_string()).as_ref(), Ok(e));
        }
        // The input as a query of every kind.
        let text = String::from_utf8_lossy(data);
        let _ = set.match_domain(&text);
        let _ = set.match_url(&text);
        let _ = set.match_host_port(&text, 80);
        let _ = set.match_http(&text, Some(1), &text);
        if let Ok(ip) = text.trim().parse::<IpAddr>() {
            let _ = (set.match_ip(ip), set.match_ip_any_port(ip));
        }
    }
});
