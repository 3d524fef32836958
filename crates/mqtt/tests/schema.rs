//! The schema's rules, one refusal at a time, and the encoder/decoder round trip.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::net::SocketAddr;

use proptest::prelude::*;
use rampart_core::{DeviceMetrics, GeoPoint, Timestamp};
use rampart_mqtt::{
    KeyStyle, MAX_PAYLOAD_BYTES, ReportError, decode, decode_report, encode, encode_with,
};

const RECEIVED: Timestamp = Timestamp(1_700_000_000_000);

fn with(body: &str) -> String {
    format!(r#"{{"header":{{"report_id":7,"version":"1.0"}}{body}}}"#)
}

fn err(payload: &str) -> ReportError {
    decode(payload.as_bytes(), RECEIVED).expect_err(payload)
}

#[test]
fn minimal_report_uses_receive_time() {
    let (h, m) = decode_report(with("").as_bytes(), RECEIVED).unwrap();
    assert_eq!((h.report_id, h.version.as_str()), (7, "1.0"));
    assert_eq!(
        m,
        DeviceMetrics {
            time: RECEIVED,
            ..DeviceMetrics::default()
        }
    );
}

#[test]
fn timestamps() {
    let m = decode(with(r#","timestamp":1700000000123"#).as_bytes(), RECEIVED).unwrap();
    assert_eq!(m.time, Timestamp(1_700_000_000_123));
    let m = decode(
        with(r#","timestamp":"2023-11-14T23:13:20.123456+01:00""#).as_bytes(),
        RECEIVED,
    )
    .unwrap();
    assert_eq!(m.time, Timestamp(1_700_000_000_123));
    // null is absent, as for every optional member.
    let m = decode(with(r#","timestamp":null"#).as_bytes(), RECEIVED).unwrap();
    assert_eq!(m.time, RECEIVED);
    for bad in [
        r#","timestamp":-1"#,
        r#","timestamp":253402300800000"#,
        r#","timestamp":"yesterday""#,
        r#","timestamp":1.5"#,
        r#","timestamp":18446744073709551615"#,
    ] {
        let e = err(&with(bad));
        assert!(
            matches!(e, ReportError::Timestamp(_) | ReportError::Json(_)),
            "{bad}: {e}"
        );
    }
}

#[test]
fn refusals_are_typed_and_named() {
    let cases: &[(&str, &str)] = &[
        (
            r#","position":{"lat":90.5,"lon":0}"#,
            "invalid position lat 90.5 lon 0",
        ),
        (r#","position":{"lat":0,"lon":-180.01}"#, "invalid position"),
        (
            r#","position":{"lat":0,"lon":0,"accuracy_m":-1}"#,
            "invalid accuracy_m -1",
        ),
        (
            r#","position":{"lat":0,"lon":0,"accuracy_m":1e300}"#,
            "invalid accuracy_m",
        ),
        (r#","interval_s":0"#, "interval_s 0 out of range"),
        (
            r#","interval_s":4294967296"#,
            "interval_s 4294967296 out of range",
        ),
        (
            r#","metrics":{"listening_tcp_ports":{"ports":[{"port":0}]}}"#,
            "listening_tcp_ports 0 out of range 1-65535",
        ),
        (
            r#","metrics":{"listening_udp_ports":{"ports":[{"port":65536}]}}"#,
            "listening_udp_ports 65536 out of range",
        ),
        (
            r#","metrics":{"listening_udp_ports":{"ports":[{"port":-5}]}}"#,
            "listening_udp_ports -5 out of range",
        ),
        (
            r#","metrics":{"listening_tcp_ports":{"ports":[{"port":1},{"port":2}],"total":1}}"#,
            "total 1 does not fit its 2 listed entries",
        ),
        (
            r#","metrics":{"tcp_connections":{"established_connections":{"connections":[{"remote_addr":"10.0.0.1:80"}],"total":0}}}"#,
            "established_connections total 0",
        ),
        (
            r#","metrics":{"tcp_connections":{"established_connections":{"total":4294967296}}}"#,
            "established_connections total 4294967296",
        ),
        (
            r#","metrics":{"tcp_connections":{"established_connections":{"connections":[{"remote_addr":"10.0.0.1"}]}}}"#,
            "invalid remote_addr \"10.0.0.1\"",
        ),
        (
            r#","metrics":{"tcp_connections":{"established_connections":{"connections":[{"remote_addr":"10.0.0.1:0"}]}}}"#,
            "invalid remote_addr",
        ),
        (
            r#","metrics":{"tcp_connections":{"established_connections":{"connections":[{"remote_addr":"10.0.0.1:1","local_port":70000}]}}}"#,
            "local_port 70000 out of range",
        ),
        (
            r#","metrics":{"network_stats":{"bytes_in":-1}}"#,
            "invalid report",
        ),
        (
            r#","metrics":{"network_stats":{"bytes_in":"12"}}"#,
            "invalid report",
        ),
        (
            r#","metrics":{"network_stats":{"bytes_inn":1}}"#,
            "unknown field `bytes_inn`",
        ),
        (r#","extra":1"#, "unknown field `extra`"),
    ];
    for (body, want) in cases {
        let e = err(&with(body)).to_string();
        assert!(e.contains(want), "{body}: got {e:?}, want {want:?}");
    }
    let name = "x".repeat(65);
    let e = err(&with(&format!(
        r#","metrics":{{"listening_tcp_ports":{{"ports":[{{"port":1,"interface":"{name}"}}]}}}}"#
    )));
    assert!(matches!(e, ReportError::Interface(65)), "{e}");
}

#[test]
fn header_rules() {
    for bad in [
        r#"{}"#,
        r#"{"header":{"report_id":1}}"#,
        r#"{"header":{"report_id":-1,"version":"1.0"}}"#,
        r#"{"header":{"report_id":1,"version":"2.0"}}"#,
        r#"{"header":{"report_id":1,"version":"1."}}"#,
        r#"{"header":{"report_id":1,"version":"1.0"},"hed":{"rid":1,"v":"1.0"}}"#,
        r#"[]"#,
        "",
        "null",
        r#"{"header":{"report_id":1,"version":"1.0"}} trailing"#,
    ] {
        let e = err(bad);
        assert!(
            matches!(e, ReportError::Json(_) | ReportError::Version(_)),
            "{bad}: {e}"
        );
    }
    assert!(decode(br#"{"hed":{"rid":1,"v":"1.2"}}"#, RECEIVED).is_ok());
}

#[test]
fn caps_and_size() {
    let ports: Vec<String> = (1..=1025).map(|p| format!(r#"{{"port":{p}}}"#)).collect();
    let e = err(&with(&format!(
        r#","metrics":{{"listening_tcp_ports":{{"ports":[{}]}}}}"#,
        ports.join(",")
    )));
    assert!(
        matches!(
            e,
            ReportError::TooMany {
                len: 1025,
                max: 1024,
                ..
            }
        ),
        "{e}"
    );
    let conns: Vec<String> = (0..1025)
        .map(|_| r#"{"rad":"1.2.3.4:5"}"#.to_owned())
        .collect();
    let e = err(&with(&format!(
        r#","met":{{"tc":{{"ec":{{"cs":[{}]}}}}}}"#,
        conns.join(",")
    )));
    assert!(matches!(e, ReportError::TooMany { max: 1024, .. }), "{e}");
    let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert!(matches!(
        decode(&big, RECEIVED),
        Err(ReportError::Oversized { size, max: MAX_PAYLOAD_BYTES }) if size == MAX_PAYLOAD_BYTES + 1
    ));
}

#[test]
fn long_device_text_is_not_echoed_whole() {
    let junk = "z".repeat(10_000);
    let e = err(&with(&format!(r#","{junk}":1"#))).to_string();
    assert!(e.len() < 400, "{}", e.len());
    let e = err(&with(&format!(
        r#","metrics":{{"tcp_connections":{{"established_connections":{{"connections":[{{"remote_addr":"{junk}"}}]}}}}}}"#
    )))
    .to_string();
    assert!(e.len() < 400, "{}", e.len());
}

#[test]
fn encoder_refuses_what_the_decoder_would() {
    let ok = DeviceMetrics {
        time: RECEIVED,
        ..DeviceMetrics::default()
    };
    let bad = [
        DeviceMetrics {
            listening_tcp_ports: vec![0],
            ..ok.clone()
        },
        DeviceMetrics {
            interval_s: Some(0),
            ..ok.clone()
        },
        DeviceMetrics {
            time: Timestamp(-1),
            ..ok.clone()
        },
        DeviceMetrics {
            position: Some(GeoPoint {
                lat: f64::NAN,
                lon: 0.0,
                accuracy_m: None,
            }),
            ..ok.clone()
        },
        DeviceMetrics {
            remote_addrs: vec!["10.0.0.1:0".parse().unwrap()],
            ..ok.clone()
        },
        DeviceMetrics {
            remote_addrs: vec!["10.0.0.1:1".parse().unwrap(); 2],
            established_connections: Some(1),
            ..ok.clone()
        },
        DeviceMetrics {
            listening_udp_ports: vec![7; 1025],
            ..ok.clone()
        },
    ];
    for m in bad {
        assert!(encode(&m, 1).is_err(), "{m:?}");
    }
    assert!(encode(&ok, 1).is_ok());
}

#[test]
fn short_keys_are_written() {
    let m = DeviceMetrics {
        time: RECEIVED,
        bytes_in: Some(1),
        listening_tcp_ports: vec![22],
        established_connections: Some(1),
        remote_addrs: vec!["10.0.0.1:80".parse().unwrap()],
        ..DeviceMetrics::default()
    };
    let text = String::from_utf8(encode_with(&m, 5, KeyStyle::Short).unwrap()).unwrap();
    for key in [
        r#""hed""#, r#""rid""#, r#""met""#, r#""tp""#, r#""pts""#, r#""pt""#, r#""ns""#, r#""bi""#,
        r#""tc""#, r#""ec""#, r#""cs""#, r#""rad""#, r#""t""#,
    ] {
        assert!(text.contains(key), "{key} missing in {text}");
    }
    assert!(
        !text.contains("header") && !text.contains("listening"),
        "{text}"
    );
    assert!(text.contains(r#""timestamp""#), "{text}");
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u16; 8]>(), 1..=u16::MAX).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn port_set() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::btree_set(1..=u16::MAX, 0..40).prop_map(|s| s.into_iter().collect())
}

prop_compose! {
    fn metrics()(
        time in 0i64..=253_402_300_799_999,
        interval_s in proptest::option::of(1..=u32::MAX),
        bytes_in in any::<Option<u64>>(),
        bytes_out in any::<Option<u64>>(),
        packets_in in any::<Option<u64>>(),
        packets_out in any::<Option<u64>>(),
        listening_tcp_ports in port_set(),
        listening_udp_ports in port_set(),
        remote_addrs in proptest::collection::vec(socket_addr(), 0..20),
        extra in proptest::option::of(0u32..1_000_000),
        position in proptest::option::of((
            -90.0f64..=90.0,
            -180.0f64..=180.0,
            proptest::option::of(0.0f32..=40_000_000.0),
        )),
    ) -> DeviceMetrics {
        DeviceMetrics {
            time: Timestamp(time),
            interval_s,
            bytes_in,
            bytes_out,
            packets_in,
            packets_out,
            listening_tcp_ports,
            listening_udp_ports,
            established_connections: extra.map(|e| e + remote_addrs.len() as u32),
            remote_addrs,
            position: position.map(|(lat, lon, accuracy_m)| GeoPoint { lat, lon, accuracy_m }),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(m in metrics(), id in any::<u64>(), short in any::<bool>()) {
        let style = if short { KeyStyle::Short } else { KeyStyle::Long };
        let bytes = encode_with(&m, id, style).unwrap();
        let (header, back) = decode_report(&bytes, Timestamp(0)).unwrap();
        prop_assert_eq!(header.report_id, id);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode(&bytes, RECEIVED).ok();
    }

    #[test]
    fn mutated_reports_never_panic(m in metrics(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode(&m, 1).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(again) = decode(&bytes, RECEIVED) {
            // Whatever decodes re-encodes.
            prop_assert!(encode(&again, 1).is_ok());
        }
    }
}
