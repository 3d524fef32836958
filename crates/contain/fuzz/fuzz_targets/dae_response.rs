//! Arbitrary datagrams as answers to a Disconnect/CoA request: interpreting must never panic,
//! and whatever is accepted must be a correctly signed ACK/NAK of the right kind and
//! identifier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_contain::dae::{DaeKind, DaeReply, response};
use rampart_radius::auth::verify_response;
use rampart_radius::{Code, Packet};

const SECRET: &[u8] = b"secret";

fuzz_target!(|data: &[u8]| {
    let Some((&id, rest)) = data.split_first() else {
        return;
    };
    let mut auth = [0u8; 16];
    for (a, b) in auth.iter_mut().zip(rest) {
        *a = *b;
    }
    for kind in [DaeKind::Disconnect, DaeKind::Coa] {
        let Ok(reply) = response::interpret(rest, kind, id, &auth, SECRET) else {
            continue;
        };
        verify_response(rest, &auth, SECRET).expect("accepted answers verify");
        let packet = Packet::decode(rest).expect("accepted answers decode");
        assert_eq!(packet.identifier, id);
        let ok = matches!(
            (kind, packet.code, &reply),
            (DaeKind::Disconnect, Code::DisconnectAck, DaeReply::Ack { .. })
                | (DaeKind::Disconnect, Code::DisconnectNak, DaeReply::Nak { .. })
                | (DaeKind::Coa, Code::CoaAck, DaeReply::Ack { .. })
                | (DaeKind::Coa, Code::CoaNak, DaeReply::Nak { .. })
        );
        assert!(ok);
    }
    // Signed with the right secret, any decodable packet reaches the attribute reading.
    if let Ok(packet) = Packet::decode(rest) {
        if let Ok(mut bytes) = packet.encode() {
            if let Ok(sig) =
                rampart_radius::auth::response_authenticator(&bytes, &auth, SECRET)
            {
                bytes[4..20].copy_from_slice(&sig);
                for kind in [DaeKind::Disconnect, DaeKind::Coa] {
                    let _ = response::interpret(&bytes, kind, packet.identifier, &auth, SECRET);
                }
            }
        }
    }
});
