//! Interop against a running FreeRADIUS 3.2 server: Debian's default config (client
//! `127.0.0.1`, secret `testing123`) plus `sites-available/coa` enabled on port 3799 and
//! a `files` user `iotdev Cleartext-Password := "s3cr3t-pw"` with `Reply-Message =
//! "welcome"`. Opt-in: set `RAMPART_RADIUS_LIVE=<server ip>`; skipped otherwise.
//!
//! FreeRADIUS silently drops requests whose Request Authenticator or Message-Authenticator
//! is wrong, so every answer proves the peer accepted our signing; the answers are then
//! checked with our verifier.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::UdpSocket;
use std::time::Duration;

use rampart_radius::auth::{hide_password, verify_response};
use rampart_radius::uli::{Cgi, Ecgi, FiveGsTai, Ncgi, Rai, Sai, Tai};
use rampart_radius::{
    AcctStatusType, Attribute, AttributeType, Code, MsTimeZone, Packet, PacketBuilder, Plmn,
    RatType, TgppValue, UserLocationInfo,
};

const SECRET: &[u8] = b"testing123";

fn exchange(server: &str, port: u16, request: &[u8]) -> Packet {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.send_to(request, (server, port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = socket
        .recv_from(&mut buf)
        .expect("no answer: the server rejected our authenticator");
    let req = Packet::decode(request).unwrap();
    verify_response(&buf[..n], &req.authenticator, SECRET).unwrap();
    let response = Packet::decode(&buf[..n]).unwrap();
    assert_eq!(response.identifier, req.identifier);
    response
}

#[test]
fn live_freeradius_interop() {
    let Ok(server) = std::env::var("RAMPART_RADIUS_LIVE") else {
        eprintln!("skipping: RAMPART_RADIUS_LIVE not set");
        return;
    };
    let plmn2 = Plmn::new(262, 1, false).unwrap();
    let plmn3 = Plmn::new(310, 410, true).unwrap();
    let locations = [
        UserLocationInfo::Cgi(Cgi {
            plmn: plmn3,
            lac: 0x1234,
            ci: 0x5678,
        }),
        UserLocationInfo::Sai(Sai {
            plmn: plmn2,
            lac: 0x0102,
            sac: 0x0304,
        }),
        UserLocationInfo::Rai(Rai {
            plmn: plmn2,
            lac: 0x0a0b,
            rac: 0x0c,
        }),
        UserLocationInfo::Tai(Tai {
            plmn: plmn3,
            tac: 0xbeef,
        }),
        UserLocationInfo::Ecgi(Ecgi {
            plmn: plmn2,
            eci: 0x0abc_def1,
        }),
        UserLocationInfo::Ncgi(Ncgi {
            plmn: plmn2,
            nci: 0x9_8765_4321,
        }),
        UserLocationInfo::FiveGsTai(FiveGsTai {
            plmn: plmn3,
            tac: 0x12_3456,
        }),
        UserLocationInfo::FiveGsTaiNcgi(
            FiveGsTai {
                plmn: plmn2,
                tac: 0x00_0001,
            },
            Ncgi {
                plmn: plmn2,
                nci: 0x0_0000_0101,
            },
        ),
    ];
    let zones = [(-300, 0), (345, 0), (-210, 1), (60, 2)];
    for (i, uli) in locations.into_iter().enumerate() {
        let (offset_minutes, dst_hours) = zones[i % zones.len()];
        let mut builder = PacketBuilder::new(Code::AccountingRequest, 100 + i as u8)
            .attr(Attribute::acct_status_type(AcctStatusType::InterimUpdate))
            .attr(Attribute::text(AttributeType::ACCT_SESSION_ID, "live-1"))
            .attr(Attribute::user_name("iot-meter-0042"))
            .attrs(Attribute::input_octets64(5 << 32 | 77))
            .tgpp(TgppValue::Imsi("310410123456789".into()))
            .tgpp(TgppValue::RatType(RatType::Nr))
            .tgpp(TgppValue::UserLocationInfo(uli))
            .tgpp(TgppValue::MsTimeZone(MsTimeZone {
                offset_minutes,
                dst_hours,
            }));
        if i % 2 == 0 {
            builder = builder.message_authenticator();
        }
        let response = exchange(&server, 1813, &builder.encode_request(SECRET).unwrap());
        assert_eq!(response.code, Code::AccountingResponse);
    }

    let coa = PacketBuilder::new(Code::CoaRequest, 7)
        .attr(Attribute::user_name("iot-meter-0042"))
        .attr(Attribute::text(AttributeType::FILTER_ID, "quarantine"))
        .message_authenticator()
        .encode_request(SECRET)
        .unwrap();
    assert_eq!(exchange(&server, 3799, &coa).code, Code::CoaAck);

    let disconnect = PacketBuilder::new(Code::DisconnectRequest, 8)
        .attr(Attribute::user_name("iot-meter-0042"))
        .attr(Attribute::ipv4(
            AttributeType::FRAMED_IP_ADDRESS,
            [10, 45, 0, 7].into(),
        ))
        .message_authenticator()
        .encode_request(SECRET)
        .unwrap();
    assert_eq!(
        exchange(&server, 3799, &disconnect).code,
        Code::DisconnectAck
    );

    let nonce = *b"0123456789abcdef";
    let access = PacketBuilder::new(Code::AccessRequest, 9)
        .attr(Attribute::user_name("iotdev"))
        .attr(Attribute::new(
            AttributeType::USER_PASSWORD,
            hide_password(b"s3cr3t-pw", SECRET, &nonce),
        ))
        .message_authenticator()
        .encode_access_request(nonce, SECRET)
        .unwrap();
    let accept = exchange(&server, 1812, &access);
    assert_eq!(accept.code, Code::AccessAccept);
    assert_eq!(accept.reply_message(), Some("welcome"));
}
