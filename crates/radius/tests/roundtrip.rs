//! Property tests: wire round trips, typed round trips, signing, and robustness against
//! arbitrary, truncated and oversized input.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use rampart_radius::auth::{hide_password, unhide_password, verify_request, verify_response};
use rampart_radius::tgpp::VENDOR_ID;
use rampart_radius::uli::{Cgi, Ecgi, FiveGsTai, Ncgi, Rai, Sai, Tai};
use rampart_radius::{
    Attribute, AttributeType, Code, DecodeError, MsTimeZone, Packet, PacketBuilder, PdpType, Plmn,
    RatType, SubAttribute, TgppValue, UserLocationInfo, VendorPayload, VendorSpecific,
};

fn arb_plmn() -> impl Strategy<Value = Plmn> {
    (0u16..=999, any::<bool>())
        .prop_flat_map(|(mcc, three)| {
            let max: u16 = if three { 999 } else { 99 };
            (Just(mcc), 0..=max, Just(three))
        })
        .prop_map(|(mcc, mnc, three)| Plmn::new(mcc, mnc, three).unwrap())
}

fn arb_tai() -> impl Strategy<Value = Tai> {
    (arb_plmn(), any::<u16>()).prop_map(|(plmn, tac)| Tai { plmn, tac })
}

fn arb_ecgi() -> impl Strategy<Value = Ecgi> {
    (arb_plmn(), 0u32..1 << 28).prop_map(|(plmn, eci)| Ecgi { plmn, eci })
}

fn arb_tai5() -> impl Strategy<Value = FiveGsTai> {
    (arb_plmn(), 0u32..1 << 24).prop_map(|(plmn, tac)| FiveGsTai { plmn, tac })
}

fn arb_ncgi() -> impl Strategy<Value = Ncgi> {
    (arb_plmn(), 0u64..1 << 36).prop_map(|(plmn, nci)| Ncgi { plmn, nci })
}

fn arb_uli() -> impl Strategy<Value = UserLocationInfo> {
    prop_oneof![
        (arb_plmn(), any::<u16>(), any::<u16>())
            .prop_map(|(plmn, lac, ci)| UserLocationInfo::Cgi(Cgi { plmn, lac, ci })),
        (arb_plmn(), any::<u16>(), any::<u16>())
            .prop_map(|(plmn, lac, sac)| UserLocationInfo::Sai(Sai { plmn, lac, sac })),
        (arb_plmn(), any::<u16>(), any::<u8>())
            .prop_map(|(plmn, lac, rac)| UserLocationInfo::Rai(Rai { plmn, lac, rac })),
        arb_tai().prop_map(UserLocationInfo::Tai),
        arb_ecgi().prop_map(UserLocationInfo::Ecgi),
        (arb_tai(), arb_ecgi()).prop_map(|(t, e)| UserLocationInfo::TaiEcgi(t, e)),
        arb_ncgi().prop_map(UserLocationInfo::Ncgi),
        arb_tai5().prop_map(UserLocationInfo::FiveGsTai),
        (arb_tai5(), arb_ncgi()).prop_map(|(t, n)| UserLocationInfo::FiveGsTaiNcgi(t, n)),
        (
            any::<u8>().prop_filter(
                "known type",
                |t| !matches!(t, 0..=2 | 128..=130 | 135..=137)
            ),
            vec(any::<u8>(), 0..40)
        )
            .prop_map(|(location_type, data)| UserLocationInfo::Unknown {
                location_type,
                data
            }),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    "[0-9A-Za-z.-]{0,40}"
}

fn arb_tgpp() -> impl Strategy<Value = TgppValue> {
    let ipv4 = any::<[u8; 4]>().prop_map(Ipv4Addr::from);
    let ipv6 = any::<[u8; 16]>().prop_map(Ipv6Addr::from);
    prop_oneof![
        arb_text().prop_map(TgppValue::Imsi),
        any::<u32>().prop_map(TgppValue::ChargingId),
        any::<u32>().prop_map(|v| TgppValue::PdpType(PdpType::from(v))),
        ipv4.clone().prop_map(TgppValue::CgAddress),
        arb_text().prop_map(TgppValue::GprsNegotiatedQosProfile),
        ipv4.clone().prop_map(TgppValue::SgsnAddress),
        ipv4.prop_map(TgppValue::GgsnAddress),
        arb_text().prop_map(TgppValue::ImsiMccMnc),
        arb_text().prop_map(TgppValue::GgsnMccMnc),
        arb_text().prop_map(TgppValue::Nsapi),
        any::<u8>().prop_map(TgppValue::SessionStopIndicator),
        arb_text().prop_map(TgppValue::SelectionMode),
        arb_text().prop_map(TgppValue::ChargingCharacteristics),
        ipv6.clone().prop_map(TgppValue::CgIpv6Address),
        ipv6.clone().prop_map(TgppValue::SgsnIpv6Address),
        ipv6.clone().prop_map(TgppValue::GgsnIpv6Address),
        vec(ipv6, 0..4).prop_map(TgppValue::Ipv6DnsServers),
        arb_text().prop_map(TgppValue::SgsnMccMnc),
        any::<u8>().prop_map(TgppValue::TeardownIndicator),
        arb_text().prop_map(TgppValue::Imeisv),
        any::<u8>().prop_map(|v| TgppValue::RatType(RatType::from(v))),
        arb_uli().prop_map(TgppValue::UserLocationInfo),
        arb_tz().prop_map(TgppValue::MsTimeZone),
        any::<u8>().prop_map(TgppValue::NegotiatedDscp),
        any::<u8>().prop_map(TgppValue::AllocateIpType),
        (28u8.., vec(any::<u8>(), 0..40))
            .prop_map(|(kind, value)| TgppValue::Other { kind, value }),
    ]
}

fn arb_tz() -> impl Strategy<Value = MsTimeZone> {
    (-79i16..=79, 0u8..=3).prop_map(|(q, dst_hours)| MsTimeZone {
        offset_minutes: q * 15,
        dst_hours,
    })
}

fn arb_attribute() -> impl Strategy<Value = Attribute> {
    let vendor_raw = (
        any::<u32>().prop_filter("tlv vendor", |v| {
            ![9, 311, 2636, 5535, 10415, 14122].contains(v)
        }),
        vec(any::<u8>(), 0..=249),
    )
        .prop_map(|(vendor_id, raw)| {
            Attribute::VendorSpecific(VendorSpecific {
                vendor_id,
                payload: VendorPayload::Raw(raw),
            })
        });
    let tgpp_subs = vec((any::<u8>(), vec(any::<u8>(), 0..60)), 0..5)
        .prop_filter("fits", |subs| {
            subs.iter().map(|(_, v)| v.len() + 2).sum::<usize>() <= 249
        })
        .prop_map(|subs| {
            Attribute::VendorSpecific(VendorSpecific {
                vendor_id: VENDOR_ID,
                payload: VendorPayload::SubAttributes(
                    subs.into_iter()
                        .map(|(kind, value)| SubAttribute { kind, value })
                        .collect(),
                ),
            })
        });
    prop_oneof![
        4 => (any::<u8>().prop_filter("vsa", |k| *k != 26), vec(any::<u8>(), 0..=253))
            .prop_map(|(k, v)| Attribute::new(AttributeType(k), v)),
        // Too short to hold a Vendor-Id: stays raw.
        1 => vec(any::<u8>(), 0..4).prop_map(|v| Attribute::new(AttributeType::VENDOR_SPECIFIC, v)),
        1 => vendor_raw,
        2 => tgpp_subs,
    ]
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 16]>(),
        vec(arb_attribute(), 0..15),
    )
        .prop_map(|(code, identifier, authenticator, attributes)| Packet {
            code: Code::from(code),
            identifier,
            authenticator,
            attributes,
        })
}

proptest! {
    #[test]
    fn packet_round_trip(p in arb_packet(), padding in vec(any::<u8>(), 0..16)) {
        let mut bytes = p.encode().unwrap();
        prop_assert!(bytes.len() <= 4096);
        prop_assert_eq!(&Packet::decode(&bytes).unwrap(), &p);
        // Octets beyond Length are padding (RFC 2865 §3).
        bytes.extend_from_slice(&padding);
        prop_assert_eq!(Packet::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn truncated_packets_are_rejected(p in arb_packet(), cut in any::<prop::sample::Index>()) {
        let bytes = p.encode().unwrap();
        let cut = cut.index(bytes.len());
        prop_assert!(Packet::decode(&bytes[..cut]).is_err());
    }

    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..5000)) {
        if let Ok(p) = Packet::decode(&bytes) {
            let again = p.encode().unwrap();
            prop_assert_eq!(Packet::decode(&again).unwrap(), p);
        }
        // Only a nonce-authenticated request without Message-Authenticator can pass, and
        // then nothing was authenticated.
        if let Ok(v) = verify_request(&bytes, b"s") {
            prop_assert!(!v.is_authenticated());
        }
        prop_assert!(verify_response(&bytes, &[0; 16], b"s").is_err());
    }

    #[test]
    fn mutated_packets_never_panic(p in arb_packet(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = p.encode().unwrap();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if let Ok(p) = Packet::decode(&bytes) {
            // Typed readers must not panic either.
            let _ = (p.user_location_info(), p.ms_time_zone(), p.rat_type(), p.imsi());
            let _ = p.tgpp_values().count();
            prop_assert_eq!(Packet::decode(&p.encode().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn tgpp_value_round_trip(value in arb_tgpp()) {
        let (kind, bytes) = value.encode().unwrap();
        prop_assert_eq!(&TgppValue::decode(kind, &bytes).unwrap(), &value);
        // And through a whole packet.
        let packet = PacketBuilder::new(Code::AccountingRequest, 1).tgpp(value.clone()).into_packet().unwrap();
        let decoded = Packet::decode(&packet.encode().unwrap()).unwrap();
        let values: Vec<_> = decoded.tgpp_values().collect();
        prop_assert_eq!(values, vec![Ok(value)]);
    }

    #[test]
    fn uli_round_trip(uli in arb_uli()) {
        let bytes = uli.encode().unwrap();
        prop_assert_eq!(UserLocationInfo::decode(&bytes).unwrap(), uli);
    }

    #[test]
    fn uli_decode_never_panics(bytes in vec(any::<u8>(), 0..20)) {
        if let Ok(uli) = UserLocationInfo::decode(&bytes) {
            prop_assert_eq!(UserLocationInfo::decode(&uli.encode().unwrap()).unwrap(), uli);
        }
    }

    #[test]
    fn time_zone_round_trip(tz in arb_tz()) {
        prop_assert_eq!(MsTimeZone::decode(&tz.encode().unwrap()).unwrap(), tz);
    }

    #[test]
    fn counters_round_trip(input in any::<u64>(), output in any::<u64>()) {
        let packet = PacketBuilder::new(Code::AccountingRequest, 1)
            .attrs(Attribute::input_octets64(input))
            .attrs(Attribute::output_octets64(output))
            .into_packet()
            .unwrap();
        prop_assert_eq!(packet.input_octets64(), Some(input));
        prop_assert_eq!(packet.output_octets64(), Some(output));
    }

    #[test]
    fn signed_requests_verify_and_detect_tampering(
        p in arb_packet(),
        code in prop::sample::select(vec![Code::AccountingRequest, Code::DisconnectRequest, Code::CoaRequest]),
        with_ma in any::<bool>(),
        secret in vec(any::<u8>(), 1..80),
        flip in (any::<prop::sample::Index>(), 1u8..),
    ) {
        let mut builder = PacketBuilder::new(code, p.identifier).attrs(
            p.attributes.into_iter().filter(|a| a.kind() != AttributeType::MESSAGE_AUTHENTICATOR).take(12),
        );
        if with_ma {
            builder = builder.message_authenticator();
        }
        let bytes = builder.encode_request(&secret).unwrap();
        let verified = verify_request(&bytes, &secret).unwrap();
        prop_assert_eq!(verified.message_authenticator, with_ma);
        prop_assert!(verified.authenticator);
        let mut tampered = bytes.clone();
        let at = flip.0.index(tampered.len());
        tampered[at] ^= flip.1;
        // A flipped code may turn it into an Access-Request, which without a
        // Message-Authenticator carries nothing to check: the result must say so.
        if let Ok(v) = verify_request(&tampered, &secret) {
            prop_assert!(!v.is_authenticated() && !with_ma, "{:?}", v);
        }

        let request = Packet::decode(&bytes).unwrap();
        let response_code = match code {
            Code::AccountingRequest => Code::AccountingResponse,
            Code::DisconnectRequest => Code::DisconnectNak,
            _ => Code::CoaAck,
        };
        let mut reply = PacketBuilder::reply(response_code, &request);
        if with_ma {
            reply = reply.message_authenticator();
        }
        let response = reply.encode_response(&request.authenticator, &secret).unwrap();
        prop_assert_eq!(verify_response(&response, &request.authenticator, &secret).unwrap().message_authenticator, with_ma);
        let mut other = request.authenticator;
        other[0] ^= 1;
        prop_assert!(verify_response(&response, &other, &secret).is_err());
    }

    #[test]
    fn password_hiding_round_trip(
        password in vec(1u8.., 0..=128),
        secret in vec(any::<u8>(), 1..40),
        authenticator in any::<[u8; 16]>(),
    ) {
        let hidden = hide_password(&password, &secret, &authenticator);
        prop_assert_eq!(hidden.len() % 16, 0);
        prop_assert_eq!(unhide_password(&hidden, &secret, &authenticator).unwrap(), password);
    }
}

#[test]
fn header_errors() {
    assert_eq!(
        Packet::decode(&[1, 2, 0]),
        Err(DecodeError::TooShort { len: 3 })
    );
    let mut p = vec![4, 1, 0, 19];
    p.extend_from_slice(&[0; 16]);
    assert_eq!(
        Packet::decode(&p),
        Err(DecodeError::InvalidLength { length: 19 })
    );
    p[2..4].copy_from_slice(&4097u16.to_be_bytes());
    assert_eq!(
        Packet::decode(&p),
        Err(DecodeError::InvalidLength { length: 4097 })
    );
    p[2..4].copy_from_slice(&30u16.to_be_bytes());
    assert_eq!(
        Packet::decode(&p),
        Err(DecodeError::LengthExceedsDatagram {
            length: 30,
            available: 20
        })
    );
}

#[test]
fn attribute_errors() {
    let packet = |attrs: &[u8]| {
        let mut p = vec![4, 1];
        p.extend_from_slice(&u16::try_from(20 + attrs.len()).unwrap().to_be_bytes());
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(attrs);
        Packet::decode(&p)
    };
    assert_eq!(
        packet(&[1, 1]),
        Err(DecodeError::AttributeLengthTooSmall {
            offset: 20,
            length: 1
        })
    );
    assert_eq!(
        packet(&[1, 0]),
        Err(DecodeError::AttributeLengthTooSmall {
            offset: 20,
            length: 0
        })
    );
    assert_eq!(
        packet(&[1, 3, b'a', 2]),
        Err(DecodeError::AttributeHeaderTruncated { offset: 23 })
    );
    assert_eq!(
        packet(&[1, 5, b'a']),
        Err(DecodeError::AttributeTruncated {
            offset: 20,
            length: 5
        })
    );
    // Empty values are legal on the wire.
    assert!(packet(&[24, 2]).is_ok());
}

#[test]
fn oversized_packets_are_not_encoded() {
    let big = Attribute::new(AttributeType::CLASS, vec![0; 253]);
    let packet = PacketBuilder::new(Code::AccountingRequest, 1)
        .attrs(std::iter::repeat_n(big, 17))
        .into_packet()
        .unwrap();
    assert!(packet.encode().is_err());
    let too_long = PacketBuilder::new(Code::AccountingRequest, 1)
        .attr(Attribute::new(AttributeType::CLASS, vec![0; 254]));
    assert!(too_long.encode_request(b"s").is_err());
    let bad_uli = PacketBuilder::new(Code::AccountingRequest, 1).tgpp(TgppValue::UserLocationInfo(
        UserLocationInfo::Ecgi(Ecgi {
            plmn: Plmn::new(262, 1, false).unwrap(),
            eci: 1 << 28,
        }),
    ));
    assert!(bad_uli.encode_request(b"s").is_err());
    // Signing modes must match the code.
    assert!(
        PacketBuilder::new(Code::AccessAccept, 1)
            .encode_request(b"s")
            .is_err()
    );
    assert!(
        PacketBuilder::new(Code::CoaRequest, 1)
            .encode_response(&[0; 16], b"s")
            .is_err()
    );
}
