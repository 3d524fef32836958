//! Cross-checks the 3GPP attribute numbers, value types and enumerations against the
//! FreeRADIUS 3.2.1 and Wireshark 4.0.17 `dictionary.3gpp` files in `/work/shared/data`.
//!
//! Skips (with a message) when the data directory is absent, unless
//! `RAMPART_REQUIRE_SHARED_DATA=1`.

#![allow(clippy::unwrap_used)] // Tests: a panic is how a failure is reported.

use std::path::{Path, PathBuf};

use rampart_radius::{PdpType, RatType, TgppValue};

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("RAMPART_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
        "RAMPART_REQUIRE_SHARED_DATA=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipping: ../shared/data not found");
    None
}

/// `(name, number, type)` of each ATTRIBUTE line, and `(attribute, name, value)` of each
/// VALUE line.
type Dictionary = (Vec<(String, u8, String)>, Vec<(String, String, u32)>);

fn parse(path: &Path) -> Dictionary {
    let text = std::fs::read_to_string(path).unwrap();
    let mut attributes = Vec::new();
    let mut values = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["ATTRIBUTE", name, number, kind, ..] => {
                if let Ok(number) = number.parse() {
                    attributes.push((name.to_string(), number, kind.to_string()));
                }
            }
            ["VALUE", attribute, name, value, ..] => {
                values.push((
                    attribute.to_string(),
                    name.to_string(),
                    value.parse().unwrap(),
                ));
            }
            _ => {}
        }
    }
    (attributes, values)
}

/// A well-formed sample value for a dictionary type, or `None` for opaque octets.
fn sample(kind: &str) -> Option<Vec<u8>> {
    Some(match kind {
        "string" => b"26201".to_vec(),
        "integer" => vec![0, 0, 0, 6],
        "ipaddr" => vec![192, 0, 2, 1],
        "ipv6addr" => vec![0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        "byte" => vec![6],
        "octets[2]" => vec![0x40, 0x01],
        _ => return None,
    })
}

#[test]
fn numbers_and_types_agree_with_dictionaries() {
    let Some(data) = shared_data() else { return };
    for file in [
        "radius/freeradius-3.2.1_dictionary.3gpp",
        "radius/wireshark-4.0.17_dictionary.3gpp",
    ] {
        let (attributes, _) = parse(&data.join(file));
        assert!(attributes.len() >= 27, "{file}");
        for (name, number, kind) in attributes {
            if number > 27 {
                continue; // Kept raw on purpose.
            }
            // Wireshark's "integer" for RAT-Type/DSCP/Allocate-IP-Type vs FreeRADIUS'
            // "byte": both widths must decode.
            let Some(value) = sample(&kind) else { continue };
            let decoded = TgppValue::decode(number, &value)
                .unwrap_or_else(|e| panic!("{file}: {name} ({number}, {kind}): {e}"));
            assert!(
                !matches!(decoded, TgppValue::Other { .. }),
                "{file}: {name} ({number}) has no typed decoder"
            );
        }
    }
}

#[test]
fn enumerations_agree_with_dictionaries() {
    let Some(data) = shared_data() else { return };
    let (_, freeradius) = parse(&data.join("radius/freeradius-3.2.1_dictionary.3gpp"));
    for (attribute, name, value) in &freeradius {
        if attribute == "3GPP-RAT-Type" {
            let rat = RatType::from(u8::try_from(*value).unwrap());
            assert_eq!(rat.name(), Some(name.as_str()), "{value}");
        }
    }
    let (_, wireshark) = parse(&data.join("radius/wireshark-4.0.17_dictionary.3gpp"));
    for (attribute, name, value) in &wireshark {
        match attribute.as_str() {
            "3GPP-RAT-Type" if *value != 0 => {
                let rat = RatType::from(u8::try_from(*value).unwrap());
                assert!(!matches!(rat, RatType::Other(_)), "{name} = {value}");
            }
            "3GPP-PDP-Type" => {
                assert!(
                    !matches!(PdpType::from(*value), PdpType::Other(_)),
                    "{name}"
                );
            }
            _ => {}
        }
    }
}
