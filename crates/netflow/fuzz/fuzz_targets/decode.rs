//! Arbitrary datagrams from a handful of exporters into one long-lived collector: decoding
//! must not panic, whatever templates earlier inputs left behind, and the collector's
//! memory stays within its caps (few exporters, small buffers). A second collector decodes
//! the same datagrams with netflow_parser alone: both must give the same flows and reports
//! (compiled templates change nothing but speed, evictions under tight caps included).
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use rampart_netflow::{Collector, CollectorLimits};

fn limits() -> CollectorLimits {
    CollectorLimits {
        max_exporters: 4,
        max_templates_per_exporter: 8,
        ..CollectorLimits::default()
    }
}

thread_local! {
    static COLLECTOR: RefCell<Collector> =
        RefCell::new(Collector::new(limits()).expect("valid limits"));
    static REFERENCE: RefCell<Collector> = RefCell::new(
        Collector::new(limits()).expect("valid limits").with_fast_path(false),
    );
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the exporter, so templates from one input meet data of another.
    let Some((&who, datagram)) = data.split_first() else {
        return;
    };
    let exporter = SocketAddr::from(([192, 0, 2, who % 8], 2055));
    let (fast, flows) = COLLECTOR.with(|c| {
        let mut c = c.borrow_mut();
        let mut out = Vec::new();
        let r = c.ingest(exporter, datagram, &mut out);
        if let Ok(report) = &r {
            assert_eq!(report.records, out.len());
        }
        assert!(c.exporter_count() <= 4);
        (r, out)
    });
    REFERENCE.with(|c| {
        let mut c = c.borrow_mut();
        let mut out = Vec::new();
        let r = c.ingest(exporter, datagram, &mut out);
        assert_eq!(r, fast, "reports differ");
        assert_eq!(out, flows, "flows differ");
    });
});
