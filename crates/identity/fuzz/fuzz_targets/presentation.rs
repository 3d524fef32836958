//! Whatever certificate a TLS client presents is recorded for the hygiene audit: recording it
//! may not panic, and the log stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_identity::presence::{Outcome, PresenceConfig, PresentationLog};

fuzz_target!(|data: &[u8]| {
    let log = PresentationLog::new(PresenceConfig {
        capacity: 4,
        addresses_per_certificate: 2,
    });
    let addr = std::net::IpAddr::from([192, 0, 2, data.first().copied().unwrap_or(0)]);
    for (i, outcome) in [Outcome::Accepted, Outcome::RefusedRevoked]
        .into_iter()
        .enumerate()
    {
        let _ = log.record(data, addr, i as i64, outcome);
    }
    assert!(log.len() <= 4);
});
