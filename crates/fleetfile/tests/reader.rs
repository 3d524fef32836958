//! Reading whole files: good rows come through, bad rows become the right `RowError`s.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::io::{self, BufRead, BufReader, Read};

use rampart_core::{DeviceState, ImeiPolicy, TenantId, luhn_check_digit};
use rampart_fleetfile::{FatalError, FleetReader, Format, MAX_LINE_BYTES, RowError, RowResult};

const IMSI: &str = "214070123456789";
const IMEI: &str = "490154203237518";
const BAD_IMEI: &str = "490154203237517";

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn iccid(serial: u32) -> String {
    let base = format!("8934071234{serial:08}");
    format!("{base}{}", luhn_check_digit(&base).unwrap())
}

fn bad_iccid(serial: u32) -> String {
    let good = iccid(serial);
    let last = good.as_bytes()[good.len() - 1] - b'0';
    format!("{}{}", &good[..good.len() - 1], (last + 1) % 10)
}

fn read(input: &[u8], format: Format) -> Vec<RowResult> {
    FleetReader::new(input, format, tenant()).unwrap().collect()
}

fn errors(results: &[RowResult]) -> Vec<(u64, String)> {
    results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.reason.clone()))
        .collect()
}

fn ok_lines(results: &[RowResult]) -> Vec<(u64, String)> {
    results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|(l, r)| (*l, r.device.id.to_string()))
        .collect()
}

fn header_error(input: &[u8]) -> (u64, String) {
    match FleetReader::new(input, Format::Csv, tenant()) {
        Err(FatalError::Header { line, reason }) => (line, reason),
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn csv_file_with_bad_rows() {
    let header = "device_id,name,profile,imsi,iccid,msisdn,imei_policy,allowed_imeis,ips,tags,firmware,state";
    let mut file: Vec<u8> = Vec::new();
    let mut push = |line: &dyn AsRef<[u8]>| {
        file.extend_from_slice(line.as_ref());
        file.push(b'\n');
    };
    push(&"# exported by hand");
    push(&header);
    push(&format!(
        "dev-1,meter 1 (Madrid),smart-meter,{IMSI},{},+34600111222,,{IMEI},10.0.0.1; 10.1.0.0/16,site:madrid;region:eu,1.4.2,",
        iccid(1)
    ));
    push(&"");
    push(&format!("dev-2,,,{IMSI},{},,,,,,,", bad_iccid(2)));
    push(&format!(
        "dev-3,,,214070000000003,{},,fixed,{BAD_IMEI},,,,",
        iccid(3)
    ));
    push(&format!("dev-4,,,100070000000004,{},,,,,,,", iccid(4)));
    push(&"dev-5,,,,,,,,");
    push(&"dev-6,\"broken,,,,,,,,,,");
    push(b"dev-7,caf\xe9,,,,,,,,,,");
    push(&"dev-8,,,,,,,,,,,gone");
    push(&"dev-9,\"a \"\"quoted\"\", name\",camera,,,,,,,,,disabled");
    push(&"dev-10,,,214070000000010,,,,,,,,");
    push(&"  ");
    push(b"dev-11,crlf,,,,,,,fe80::1/64,,,\r");
    push(&"dev 12,,,,,,,,,,,");
    push(&format!("dev-13,,,,,,,{IMEI},,,,"));
    push(&"dev-14,,,,,,,,not-an-ip,,,");

    file.extend_from_slice(b"dev-15,no newline at end,,,,,,,,,,");

    let results = read(&file, Format::Csv);
    assert_eq!(
        ok_lines(&results),
        [
            (3, "dev-1".into()),
            (12, "dev-9".into()),
            (15, "dev-11".into()),
            (19, "dev-15".into())
        ]
    );
    let errors = errors(&results);
    let expected: &[(u64, &str)] = &[
        (5, "luhn check digit is wrong"),
        (
            6,
            "invalid imei \"490154203237517\": luhn check digit is wrong",
        ),
        (7, "mobile country code is not assigned"),
        (8, "expected 12 fields, found 9"),
        (9, "field 2: quoted value is not terminated"),
        (10, "not valid utf-8"),
        (11, "invalid state \"gone\""),
        (13, "iccid is required"),
        (16, "invalid device_id \"dev 12\""),
        (17, "belong to a sim: iccid and imsi are required"),
        (18, "invalid ips \"not-an-ip\""),
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for ((line, reason), (want_line, want)) in errors.iter().zip(expected) {
        assert_eq!(line, want_line, "{reason}");
        assert!(
            reason.contains(want),
            "line {line}: {reason:?} lacks {want:?}"
        );
    }

    let (_, first) = results[0].as_ref().unwrap();
    assert_eq!(first.device.tenant, tenant());
    assert_eq!(first.device.name, "meter 1 (Madrid)");
    assert_eq!(
        first.device.profile.as_ref().unwrap().as_str(),
        "smart-meter"
    );
    assert_eq!(first.device.tags.len(), 2);
    assert_eq!(first.device.ips.len(), 2);
    assert_eq!(first.device.firmware.as_deref(), Some("1.4.2"));
    assert_eq!(first.device.state, DeviceState::Active);
    let sim = first.sim.as_ref().unwrap();
    assert_eq!(sim.tenant, tenant());
    assert_eq!(sim.device_id.as_ref(), Some(&first.device.id));
    assert_eq!(sim.imsi.as_str(), IMSI);
    assert_eq!(sim.msisdn.as_ref().unwrap().as_str(), "34600111222");
    assert_eq!(
        sim.imei_policy,
        ImeiPolicy::Fixed,
        "defaults to fixed with imeis"
    );
    assert_eq!(sim.allowed_imeis.len(), 1);

    let nine = results
        .iter()
        .find_map(|r| r.as_ref().ok().filter(|(l, _)| *l == 12))
        .unwrap();
    assert_eq!(nine.1.device.name, "a \"quoted\", name");
    assert_eq!(nine.1.device.state, DeviceState::Disabled);
    assert!(nine.1.sim.is_none());

    let rejected: Vec<&RowError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(rejected[5].raw, "dev-7,caf\u{fffd},,,,,,,,,,");
    assert_eq!(rejected[4].raw, "dev-6,\"broken,,,,,,,,,,");
}

#[test]
fn imei_policy_defaults_and_rules() {
    let input = format!(
        "device_id,imsi,iccid,imei_policy,allowed_imeis\n\
         a,{IMSI},{},,\n\
         b,214070000000002,{},learn,\n\
         c,214070000000003,{},fixed,\n\
         d,,,none,\n\
         e,214070000000005,{},sometimes,\n",
        iccid(1),
        iccid(2),
        iccid(3),
        iccid(5)
    );
    let results = read(input.as_bytes(), Format::Csv);
    let policy = |i: usize| {
        results[i]
            .as_ref()
            .unwrap()
            .1
            .sim
            .as_ref()
            .map(|s| s.imei_policy)
    };
    assert_eq!(policy(0), Some(ImeiPolicy::None));
    assert_eq!(policy(1), Some(ImeiPolicy::Learn));
    assert!(
        results[2]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("at least one allowed imei")
    );
    assert_eq!(
        policy(3),
        None,
        "an explicit none without a sim is harmless"
    );
    assert!(
        results[4]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("imei_policy")
    );
}

#[test]
fn bom_crlf_comments_and_case_insensitive_header() {
    let input = b"\xEF\xBB\xBF# comment\r\n\r\nDevice_ID , Name\r\n# another\r\ndev-1,x\r\n\r\n";
    let results = read(input, Format::Csv);
    assert_eq!(ok_lines(&results), [(5, "dev-1".into())]);

    let reader =
        FleetReader::new(&b"\xEF\xBB\xBFdevice_id\nd\n"[..], Format::Csv, tenant()).unwrap();
    assert_eq!(reader.columns().len(), 1);
    assert_eq!(reader.count(), 1);
}

#[test]
fn header_errors_are_fatal() {
    assert_eq!(
        header_error(b""),
        (
            0,
            "the file is empty: expected a header line starting with device_id".into()
        )
    );
    assert_eq!(header_error(b"# only a comment\n\n").0, 2);
    let (line, reason) = header_error(b"# c\ndevice_id,nmae\n");
    assert_eq!(line, 2);
    assert!(reason.starts_with("unknown column \"nmae\""), "{reason}");
    assert!(
        header_error(b"name,imsi\n")
            .1
            .contains("missing the required column device_id")
    );
    assert!(
        header_error(b"name,device_id\n")
            .1
            .contains("must be the first column")
    );
    assert!(
        header_error(b"device_id,imsi,IMSI\n")
            .1
            .contains("duplicate column \"imsi\"")
    );
    assert!(
        header_error(b"device_id,,imsi\n")
            .1
            .contains("column 2 has no name")
    );
    assert!(
        header_error(b"device_id,\"imsi\n")
            .1
            .contains("not terminated")
    );
    assert!(header_error(b"device_id,\xff\n").1.contains("utf-8"));
    let msg = FatalError::Header {
        line: 1,
        reason: "x".into(),
    }
    .to_string();
    assert_eq!(msg, "line 1: bad header: x");
}

#[test]
fn overlong_lines_are_rejected_and_reading_goes_on() {
    let mut input = b"device_id,name\n".to_vec();
    input.extend_from_slice(b"dev-1,");
    input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES * 3));
    input.extend_from_slice(b"\ndev-2,ok\n#");
    input.extend(std::iter::repeat_n(b'c', MAX_LINE_BYTES * 2));
    // Exactly at the limit is fine (blanks around a cell are ignored), one more byte is not.
    input.extend_from_slice(b"\ndev-3,ok");
    input.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES - 8));
    input.extend_from_slice(b"\r\ndev-4,ok");
    input.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES - 7));
    input.push(b'\n');
    let results = read(&input, Format::Csv);
    assert_eq!(
        ok_lines(&results),
        [(3, "dev-2".into()), (5, "dev-3".into())]
    );
    assert_eq!(
        errors(&results).iter().map(|e| e.0).collect::<Vec<_>>(),
        [2, 6]
    );
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("longer than 65536 bytes"));
    assert_eq!(err.raw.len(), rampart_fleetfile::MAX_RAW_BYTES);
}

#[test]
fn jsonl_rows_and_errors() {
    let input = format!(
        r#"{{"device_id":"dev-1","name":"cam \"one\"","imsi":"{IMSI}","iccid":"{}","allowed_imeis":["{IMEI}"],"ips":"10.0.0.1;10.0.0.2","tags":["a","b"],"groups":null,"state":"quarantined"}}
{{"device_id":"dev-2","colour":"red"}}

# comments are skipped in json lines too
{{"device_id":"dev-3","imsi":214070123456789}}
{{"device_id":"dev-4","name":["x"]}}
{{"device_id":"dev-5"}} trailing
[1,2]
{{"device_id":"dev-7","imsi":"1","imsi":"2"}}
{{"device_id":"dev-8","tags":["ok",3]}}
{{"device_id":"dev-9","iccid":"{}"}}
{{"device_id":"dev-10"
{{"name":"no id"}}
{{"device_id":"dev-12","profile":null,"firmware":"2.0.1"}}
"#,
        iccid(1),
        iccid(9)
    );
    let results = read(input.as_bytes(), Format::Jsonl);
    assert_eq!(
        ok_lines(&results),
        [(1, "dev-1".into()), (14, "dev-12".into())]
    );
    let expected: &[(u64, &str)] = &[
        (2, "unknown key \"colour\""),
        (
            5,
            "invalid type: integer `214070123456789`, expected a string",
        ),
        (6, "name must be a string, not a list"),
        (7, "trailing characters"),
        (8, "expected a json object"),
        (9, "duplicate key \"imsi\""),
        (10, "invalid type: integer `3`, expected a string"),
        (11, "imsi is required"),
        (12, "EOF while parsing"),
        (13, "device_id is required"),
    ];
    let errors = errors(&results);
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for ((line, reason), (want_line, want)) in errors.iter().zip(expected) {
        assert_eq!(line, want_line, "{reason}");
        assert!(
            reason.contains(want),
            "line {line}: {reason:?} lacks {want:?}"
        );
    }
    let (_, first) = results[0].as_ref().unwrap();
    assert_eq!(first.device.name, "cam \"one\"");
    assert_eq!(first.device.ips.len(), 2);
    assert_eq!(first.device.tags.len(), 2);
    assert_eq!(first.device.state, DeviceState::Quarantined);
    assert_eq!(first.sim.as_ref().unwrap().imei_policy, ImeiPolicy::Fixed);
}

/// A stream that fails after some bytes, like a disk or network error mid-file.
struct FailingAfter(&'static [u8]);

impl Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("device unplugged"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn io_error_stops_reading_and_is_reported_by_finish() {
    let input: Box<dyn BufRead> = Box::new(BufReader::with_capacity(
        8,
        FailingAfter(b"device_id\ndev-1\ndev-2\nde"),
    ));
    let mut reader = FleetReader::new(input, Format::Csv, tenant()).unwrap();
    let ids: Vec<u64> = reader.by_ref().map(|r| r.unwrap().0).collect();
    assert_eq!(ids, [2, 3]);
    assert!(reader.next().is_none());
    let err = reader.finish().unwrap_err();
    assert!(matches!(err, FatalError::Io(_)));
    assert!(err.to_string().contains("device unplugged"));

    let clean = FleetReader::new(&b"device_id\nx\n"[..], Format::Csv, tenant()).unwrap();
    assert!(clean.finish().is_ok());
}
