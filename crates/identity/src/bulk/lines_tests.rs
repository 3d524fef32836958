use std::io::{BufReader, Cursor};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use proptest::prelude::*;
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;

use super::*;
use crate::{AuthorityConfig, Ca, InitOptions, Serial};

fn authority(dir: &Path) -> Authority {
    Ca::init(dir, &InitOptions::default()).unwrap();
    Authority::open(dir, None, AuthorityConfig::default()).unwrap()
}

fn csr_pem(cn: &str) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serialize_request(&key).unwrap().pem().unwrap()
}

fn request(device: &str, csr: &str) -> String {
    serde_json::json!({ "device": device, "csr": csr }).to_string()
}

/// What each non-blank input line should come out as: a device issued, or a refusal.
#[derive(Debug, PartialEq)]
enum Want {
    Issued(String),
    Refused(u64, Option<String>),
}

/// More than two chunks on three threads, with every kind of refusal among good requests:
/// one result per request in input order, the index holds exactly the issued ones, and each
/// certificate verifies against the issuing CA.
#[test]
fn mixed_lines_over_several_chunks_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let auth = authority(&tmp.path().join("ca"));
    let one_csr = csr_pem("x");
    let der_b64 = |pem: &str| {
        base64::engine::general_purpose::STANDARD.encode(csr::decode_body(pem.as_bytes()).unwrap())
    };
    let mut bad_sig = csr::decode_body(csr_pem("dev-bad").as_bytes()).unwrap();
    let pos = bad_sig.windows(7).position(|w| w == b"dev-bad").unwrap();
    bad_sig[pos] ^= 1;
    let bad_sig = base64::engine::general_purpose::STANDARD.encode(bad_sig);

    let mut input: Vec<u8> = Vec::new();
    let mut want = Vec::new();
    let mut line_no = 0u64;
    let mut push = |input: &mut Vec<u8>, bytes: &[u8], w: Option<Want>| {
        line_no += 1;
        input.extend_from_slice(bytes);
        input.push(b'\n');
        if let Some(w) = w {
            want.push(match w {
                Want::Refused(_, d) => Want::Refused(line_no, d),
                w => w,
            });
        }
    };
    let good = 2 * BATCH + 40;
    for i in 0..good {
        let device = format!("dev-{i:04}");
        // PEM and base64 DER; each device its own key (the profile refuses a shared one).
        let pem = csr_pem(&device);
        let csr = if i % 2 == 0 { pem } else { der_b64(&pem) };
        let line = if i % 7 == 0 {
            format!("{}\r", request(&device, &csr))
        } else {
            request(&device, &csr)
        };
        push(&mut input, line.as_bytes(), Some(Want::Issued(device)));
        match i {
            3 => push(&mut input, b"{not json", Some(Want::Refused(0, None))),
            50 => push(
                &mut input,
                request("bad id!", &one_csr).as_bytes(),
                Some(Want::Refused(0, Some("bad id!".into()))),
            ),
            100 => push(
                &mut input,
                request("dev-garbage", "bm90IGEgY3Ny").as_bytes(),
                Some(Want::Refused(0, Some("dev-garbage".into()))),
            ),
            200 => push(
                &mut input,
                request("dev-badsig", &bad_sig).as_bytes(),
                Some(Want::Refused(0, Some("dev-badsig".into()))),
            ),
            260 => push(&mut input, b"   ", None),
            300 => {
                let long = request("dev-long", &"A".repeat(MAX_LINE + 10));
                push(&mut input, long.as_bytes(), Some(Want::Refused(0, None)));
            }
            400 => push(
                &mut input,
                b"\x00\xff\xfe binary \x80\x81",
                Some(Want::Refused(0, None)),
            ),
            450 => {
                let extra = r#"{"device":"dev-x","csr":"","tenant":"other"}"#;
                push(&mut input, extra.as_bytes(), Some(Want::Refused(0, None)));
            }
            _ => {}
        }
    }
    // The last line without its newline.
    input.extend_from_slice(request("dev-last", &csr_pem("dev-last")).as_bytes());
    want.push(Want::Issued("dev-last".into()));
    let good = good + 1;

    let out_path = tmp.path().join("out.jsonl");
    let mut out = LinesOutput::create(&out_path, false).unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    // A small read buffer so that lines straddle refills.
    let reader = BufReader::with_capacity(1000, Cursor::new(input));
    let report = issue_lines(&auth, &tenant, "device", reader, &mut out, 3).unwrap();
    drop(out);
    assert_eq!(report.issued, good);
    assert_eq!(report.refused, want.len() - good);
    assert_eq!(report.requests, want.len());
    assert_eq!(auth.index().len(), good);
    assert_eq!(
        std::fs::metadata(&out_path).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let issuing = auth.ca().current().cert_der.clone();
    let (_, issuing) = x509_parser::parse_x509_certificate(&issuing).unwrap();
    let text = std::fs::read_to_string(&out_path).unwrap();
    let got: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        match w {
            Want::Issued(device) => {
                assert_eq!(g["device"], device.as_str(), "{g}");
                let pem = g["certificate"].as_str().unwrap();
                let der = crate::ca::pem_to_der(pem).unwrap();
                let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
                x.verify_signature(Some(issuing.public_key())).unwrap();
                let serial = Serial::from_bytes(x.raw_serial());
                assert_eq!(g["serial"], serial.as_str());
                assert_eq!(g["not_after"], x.validity().not_after.timestamp());
                let rec = auth.index().get(&serial).unwrap();
                assert_eq!(rec.subject, *device);
            }
            Want::Refused(line, device) => {
                assert_eq!(g["line"], *line, "{g}");
                assert_eq!(g["device"].as_str(), device.as_deref(), "{g}");
                assert!(!g["error"].as_str().unwrap().is_empty());
            }
        }
    }
    let long = got
        .iter()
        .filter(|g| {
            g["error"]
                .as_str()
                .is_some_and(|e| e.contains("longer than"))
        })
        .count();
    assert_eq!(long, 1);

    // The output is not overwritten unless asked to.
    assert!(LinesOutput::create(&out_path, false).is_err());
    let mut again = LinesOutput::create(&out_path, true).unwrap();
    let report = issue_lines(&auth, &tenant, "device", Cursor::new(""), &mut again, 2).unwrap();
    assert_eq!(
        report,
        LinesReport {
            elapsed: report.elapsed,
            ..LinesReport::default()
        }
    );
    assert_eq!(std::fs::read(&out_path).unwrap(), b"");
}

/// An input that fails part way: the chunks before the failure are issued and written, and
/// the error is returned.
#[test]
fn input_error_ends_the_run_after_the_chunks_before_it() {
    struct Failing {
        good: Cursor<Vec<u8>>,
    }
    impl io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match io::Read::read(&mut self.good, buf)? {
                0 => Err(io::Error::other("device unplugged")),
                n => Ok(n),
            }
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let auth = authority(&tmp.path().join("ca"));
    let mut input = String::new();
    for i in 0..BATCH + 5 {
        input.push_str(&request(&format!("d-{i}"), &csr_pem("x")));
        input.push('\n');
    }
    let reader = BufReader::new(Failing {
        good: Cursor::new(input.into_bytes()),
    });
    let out_path = tmp.path().join("out.jsonl");
    let mut out = LinesOutput::create(&out_path, false).unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let err = issue_lines(&auth, &tenant, "device", reader, &mut out, 2).unwrap_err();
    assert!(err.to_string().contains("device unplugged"), "{err}");
    let written = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(written.lines().count(), BATCH);
    assert_eq!(auth.index().len(), BATCH);
}

#[test]
fn lines_are_capped_and_split_whatever_the_buffer() {
    let mut r = BufReader::with_capacity(4, Cursor::new(b"ab\r\nlong line\n\nlast".to_vec()));
    let mut buf = Vec::new();
    assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Some(true));
    assert_eq!(buf, b"ab");
    assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Some(false));
    assert_eq!(buf, b"ab", "nothing of a long line is kept");
    assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Some(true));
    assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), Some(true));
    assert_eq!(buf, b"ablast");
    assert_eq!(read_line(&mut r, &mut buf, 5).unwrap(), None);
}

proptest! {
    /// Any device id and CSR bytes written as a request line parse back to the same, in
    /// base64 and in PEM.
    #[test]
    fn request_lines_round_trip(
        device in "[A-Za-z0-9][A-Za-z0-9._:/=@-]{0,40}",
        der in proptest::collection::vec(any::<u8>(), 1..600),
        pem in any::<bool>(),
    ) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let csr = if pem {
            let body: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
                body.join("\n")
            )
        } else {
            b64
        };
        let req = parse_line(request(&device, &csr).as_bytes()).unwrap();
        prop_assert_eq!(req.device.as_str(), device.as_str());
        prop_assert_eq!(req.csr_der, der);
    }

    /// Whatever the bytes, a line is parsed or refused, never a panic.
    #[test]
    fn any_line_is_parsed_or_refused(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(refusal) = parse_line(&line) {
            prop_assert!(!refusal.error.to_string().is_empty());
        }
    }

    /// Lines read with the cap are the input's lines, whatever the read buffer's size.
    #[test]
    fn capped_reader_matches_split(
        text in "[a-z\r\n]{0,200}",
        cap in 1usize..16,
        max in 1usize..12,
    ) {
        let mut r = BufReader::with_capacity(cap, Cursor::new(text.clone().into_bytes()));
        let mut got = Vec::new();
        loop {
            let mut buf = Vec::new();
            match read_line(&mut r, &mut buf, max).unwrap() {
                None => break,
                Some(fits) => got.push((buf, fits)),
            }
        }
        // The cap counts a line's bytes as read, its \r included.
        let mut want: Vec<(Vec<u8>, bool)> = text
            .split('\n')
            .map(|l| (l.strip_suffix('\r').unwrap_or(l).as_bytes().to_vec(), l.len() <= max))
            .collect();
        if text.is_empty() || text.ends_with('\n') {
            want.pop();
        }
        prop_assert_eq!(got.len(), want.len());
        for ((g, fits), (w, wfits)) in got.iter().zip(&want) {
            prop_assert_eq!(fits, wfits);
            if *fits {
                prop_assert_eq!(g, w);
            } else {
                prop_assert!(g.is_empty());
            }
        }
    }
}

proptest! {
    /// The result line's fast writers write what serde_json writes.
    #[test]
    fn fast_writers_match_serde_json(s in "(?s).{0,200}", pem_like in "[A-Za-z0-9+/= -]{0,64}(\n[A-Za-z0-9+/= -]{0,64}){0,12}\n?", n in any::<i64>()) {
        for text in [&s, &pem_like] {
            let mut buf = Vec::new();
            push_lines(&mut buf, text);
            prop_assert_eq!(String::from_utf8(buf).unwrap(), serde_json::to_string(text).unwrap());
        }
        let mut buf = Vec::new();
        push_int(&mut buf, n);
        prop_assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
    }
}
