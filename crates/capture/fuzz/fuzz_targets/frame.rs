//! Arbitrary frames through the flow table under every supported link type: nothing may
//! panic, and every flow the table opened must come out at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_capture::{CaptureConfig, FlowTable, LinkType};

const LINK_TYPES: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_BSD,
    LinkType::RAW_OPENBSD,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    // First byte picks the link type, the rest is split into frames at 0xff 0x00 markers so
    // one input can build a conversation (and exercise state, fragments, eviction).
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let linktype = LINK_TYPES[usize::from(pick) % LINK_TYPES.len()];
    let config = CaptureConfig {
        max_flows: 4,
        ..CaptureConfig::default()
    };
    let mut table = FlowTable::new(config);
    let mut ts = 1_000_000_000i64;
    for frame in rest.split(|&b| b == 0xfe) {
        table.process(ts, linktype, frame);
        ts += i64::from(pick) * 100_000_000;
        while table.pop_event().is_some() {}
    }
    table.finish();
    while table.pop_event().is_some() {}
    assert_eq!(table.active_flows(), 0);
});
