//! The Luhn (mod 10) check used by ICCIDs (ITU-T E.118) and IMEIs (3GPP TS 23.003).

/// True when `digits` (ASCII digits only) carries a valid Luhn check digit in its last place.
pub fn luhn_valid(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    if bytes.len() < 2 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = bytes
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn check digit to append to `payload` (ASCII digits only); `None` for other input.
pub fn luhn_check_digit(payload: &str) -> Option<u8> {
    let bytes = payload.as_bytes();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    Some(((10 - (sum % 10)) % 10) as u8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_values() {
        // IMEI example from 3GPP TS 23.003 Annex B.
        assert!(luhn_valid("490154203237518"));
        assert!(!luhn_valid("490154203237517"));
        assert_eq!(luhn_check_digit("49015420323751"), Some(8));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("7992739871x"));
    }

    proptest! {
        #[test]
        fn appended_check_digit_validates(payload in "[0-9]{1,25}") {
            let d = luhn_check_digit(&payload).unwrap();
            let full = format!("{payload}{d}");
            prop_assert!(luhn_valid(&full));
        }
    }
}
