//! Arbitrary datagrams: decoding must not panic, and whatever decodes must re-encode to
//! a packet that decodes to the same value. Typed readers and verifiers run too, since
//! they parse attribute values further.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_radius::auth::{verify_request, verify_response};
use rampart_radius::{Packet, TgppValue, UserLocationInfo};

fuzz_target!(|data: &[u8]| {
    let _ = verify_request(data, b"secret");
    let _ = verify_response(data, &[0; 16], b"secret");
    if let Ok(uli) = UserLocationInfo::decode(data) {
        let again = uli.encode().expect("decoded values encode");
        assert_eq!(UserLocationInfo::decode(&again).as_ref(), Ok(&uli));
    }
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let bytes = packet.encode().expect("decoded packets encode");
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    assert_eq!(bytes, data[..len]);
    assert_eq!(Packet::decode(&bytes).as_ref(), Ok(&packet));
    for value in packet.tgpp_values().flatten() {
        let (kind, encoded) = value.encode().expect("decoded values encode");
        assert_eq!(TgppValue::decode(kind, &encoded).as_ref(), Ok(&value));
    }
    let _ = (
        packet.user_location_info(),
        packet.ms_time_zone(),
        packet.framed_ipv6_prefix(),
        packet.input_octets64(),
    );
});
