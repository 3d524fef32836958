//! Property tests: writing then reading gives the records back, and no input makes the parser
//! or the reader panic.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::*;
use rampart_core::{
    Device, DeviceId, DeviceRecord, DeviceState, Iccid, Imei, ImeiPolicy, Imsi, Label, MacAddr,
    Msisdn, Sim, TenantId, Timestamp, luhn_check_digit,
};
use rampart_fleetfile::{CsvWriter, FleetReader, Format, JsonlWriter, parse_csv_line};

fn tenant() -> TenantId {
    TenantId::parse("t-1").unwrap()
}

fn with_luhn(payload: String) -> String {
    let d = luhn_check_digit(&payload).unwrap();
    format!("{payload}{d}")
}

fn iccid() -> impl Strategy<Value = Iccid> {
    "89[0-9]{15,17}".prop_map(|p| Iccid::parse(&with_luhn(p)).unwrap())
}

fn imsi() -> impl Strategy<Value = Imsi> {
    let mccs = prop::sample::select(vec![
        "001", "214", "234", "262", "208", "310", "222", "204", "999",
    ]);
    (mccs, "[0-9]{11,12}").prop_map(|(mcc, rest)| Imsi::parse(&format!("{mcc}{rest}")).unwrap())
}

fn imei() -> impl Strategy<Value = Imei> {
    prop_oneof![
        "[0-9]{14}".prop_map(|p| Imei::parse(&with_luhn(p)).unwrap()),
        "[0-9]{16}".prop_map(|s| Imei::parse(&s).unwrap()),
    ]
}

fn label() -> impl Strategy<Value = Label> {
    "[a-zA-Z0-9_.:/=-]{1,20}".prop_map(|s| Label::parse(&s).unwrap())
}

fn ip() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|a| IpNet::from(IpAddr::V4(a))),
        any::<Ipv6Addr>().prop_map(|a| IpNet::from(IpAddr::V6(a))),
        (any::<Ipv4Addr>(), 0u8..=32).prop_map(|(a, p)| IpNet::new(a.into(), p).unwrap()),
        (any::<Ipv6Addr>(), 0u8..=128).prop_map(|(a, p)| IpNet::new(a.into(), p).unwrap()),
    ]
}

fn state() -> impl Strategy<Value = DeviceState> {
    prop::sample::select(vec![
        DeviceState::Active,
        DeviceState::Quarantined,
        DeviceState::Disabled,
        DeviceState::Decommissioned,
    ])
}

fn policy() -> impl Strategy<Value = ImeiPolicy> {
    prop::sample::select(vec![ImeiPolicy::None, ImeiPolicy::Fixed, ImeiPolicy::Learn])
}

prop_compose! {
    fn device()(
        id in "[a-zA-Z0-9_.:/=@-]{1,40}",
        // Any printable text, quotes and commas included; blanks at the ends are not kept.
        name in "\\PC{0,40}",
        profile in prop::option::of(label()),
        groups in prop::collection::vec(label(), 0..4),
        tags in prop::collection::vec(label(), 0..4),
        ips in prop::collection::vec(ip(), 0..4),
        mac in prop::option::of(any::<[u8; 6]>()),
        firmware in "[^;\\pC]{0,20}",
        state in state(),
    ) -> Device {
        let mut d = Device::new(tenant(), DeviceId::parse(&id).unwrap());
        d.name = name.trim().to_owned();
        d.profile = profile;
        d.groups = groups;
        d.tags = tags;
        d.ips = ips;
        d.mac = mac.map(|m| {
            let hex: Vec<String> = m.iter().map(|b| format!("{b:02X}")).collect();
            MacAddr::parse(&hex.join("-")).unwrap()
        });
        let firmware = firmware.trim();
        d.firmware = (!firmware.is_empty()).then(|| firmware.to_owned());
        d.state = state;
        d.normalize().unwrap();
        d
    }
}

prop_compose! {
    fn record()(
        device in device(),
        sim in prop::option::of((
            iccid(),
            imsi(),
            prop::option::of("[0-9]{5,15}"),
            policy(),
            prop::collection::vec(imei(), 0..3),
            imei(),
        )),
    ) -> DeviceRecord {
        let sim = sim.map(|(iccid, imsi, msisdn, imei_policy, mut allowed_imeis, extra)| {
            if imei_policy == ImeiPolicy::Fixed && allowed_imeis.is_empty() {
                allowed_imeis.push(extra);
            }
            let mut sim = Sim {
                tenant: tenant(),
                iccid,
                imsi,
                msisdn: msisdn.map(|m| Msisdn::parse(&m).unwrap()),
                imei_policy,
                allowed_imeis,
                learned_imei: None,
                device_id: Some(device.id.clone()),
                created_at: Timestamp::default(),
                updated_at: Timestamp::default(),
            };
            sim.normalize().unwrap();
            sim
        });
        DeviceRecord { device, sim }
    }
}

fn write(records: &[DeviceRecord], format: Format) -> Vec<u8> {
    match format {
        Format::Csv => {
            let mut w = CsvWriter::new(Vec::new()).unwrap();
            records.iter().for_each(|r| w.write(r).unwrap());
            w.into_inner().unwrap()
        }
        Format::Jsonl => {
            let mut w = JsonlWriter::new(Vec::new());
            records.iter().for_each(|r| w.write(r).unwrap());
            w.into_inner().unwrap()
        }
    }
}

fn read_back(bytes: &[u8], format: Format) -> Vec<DeviceRecord> {
    FleetReader::new(bytes, format, tenant())
        .unwrap()
        .map(|r| {
            r.map(|(_, rec)| rec)
                .unwrap_or_else(|e| panic!("{e}: {}", e.raw))
        })
        .collect()
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"']) || value.starts_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csv_round_trip(records in prop::collection::vec(record(), 0..8)) {
        let bytes = write(&records, Format::Csv);
        prop_assert_eq!(read_back(&bytes, Format::Csv), records);
    }

    #[test]
    fn jsonl_round_trip(records in prop::collection::vec(record(), 0..8)) {
        let bytes = write(&records, Format::Jsonl);
        prop_assert_eq!(read_back(&bytes, Format::Jsonl), records);
    }

    #[test]
    fn csv_line_round_trip(fields in prop::collection::vec("[^\r\n]{0,12}", 1..8)) {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        let line = line.join(",");
        let parsed = parse_csv_line(&line).unwrap();
        prop_assert_eq!(parsed.iter().map(Cow::as_ref).collect::<Vec<&str>>(), fields.iter().map(String::as_str).collect::<Vec<&str>>());
    }

    #[test]
    fn csv_line_parser_never_panics(line in "\\PC{0,80}|[\",a \r\n]{0,30}") {
        if let Ok(fields) = parse_csv_line(&line) {
            prop_assert!(!fields.is_empty());
        }
    }

    #[test]
    fn reader_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        shaped in prop::collection::vec(prop::sample::select(vec![
            "\"", ",", ";", "\n", "\r\n", "#", "{", "}", "[", "]", ":", "null", "\u{feff}",
            "dev-1", "214070123456789", "10.0.0.1/8", "\"device_id\"", "\"tags\"", "\\",
        ]), 0..60),
    ) {
        let header = b"device_id,name,imsi,iccid,allowed_imeis,ips,tags,state\n".to_vec();
        let shaped = shaped.concat().into_bytes();
        for format in [Format::Csv, Format::Jsonl] {
            for input in [&bytes, &shaped, &[header.as_slice(), &shaped].concat(), &[header.as_slice(), &bytes].concat()] {
                if let Ok(reader) = FleetReader::new(input.as_slice(), format, tenant()) {
                    reader.for_each(drop);
                }
            }
        }
    }
}
