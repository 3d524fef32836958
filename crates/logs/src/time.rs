//! Timestamps as logs write them: Zeek's float seconds (`1537522822.965530`) and ISO 8601 text
//! (Zeek's `TS_ISO8601`, Suricata's `2016-01-23T07:09:02.187146+0000`, whose offset has no
//! colon and so is not RFC 3339). Everything is kept in microseconds until the record is built,
//! so a flow's end (start + duration) is not off by a rounding step.

/// Microseconds since the Unix epoch.
pub(crate) type Micros = i64;

/// Parses decimal seconds (`1537522822.965530`, `8.3`, `-0.5`) into microseconds, without going
/// through a float for the common form.
pub(crate) fn parse_seconds(text: &str) -> Option<Micros> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return float_seconds(text.parse().ok()?);
    }
    let mut micros: i64 = 0;
    for b in whole.bytes() {
        micros = micros.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    micros = micros.checked_mul(1_000_000)?;
    let mut scale = 100_000;
    for b in fraction.bytes().take(6) {
        micros = micros.checked_add(i64::from(b - b'0') * scale)?;
        scale /= 10;
    }
    Some(if negative { -micros } else { micros })
}

/// Float seconds (a JSON number) into microseconds, rounded to the nearest microsecond so
/// `1537522822.965` does not become `...964999`.
pub(crate) fn float_seconds(seconds: f64) -> Option<Micros> {
    let micros = (seconds * 1e6).round();
    // Beyond ±2^62 µs (146,000 years) is not a log timestamp.
    (micros.is_finite() && micros.abs() < 4.6e18).then_some(micros as i64)
}

/// Microseconds to the millisecond [`Timestamp`](rampart_core::Timestamp), rounding down.
pub(crate) fn to_millis(micros: Micros) -> rampart_core::Timestamp {
    rampart_core::Timestamp(micros.div_euclid(1000))
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[:]MM|±HH]`; no zone means UTC.
pub(crate) fn parse_iso(text: &str) -> Option<Micros> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, want: &[u8]| b.get(at).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let mut scale = 100_000;
        let start = at;
        while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
            micros += i64::from(d - b'0') * scale;
            scale /= 10;
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset_s = match b.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let hours = num(at + 1, 2)?;
            let minutes = match b.len() - at {
                3 => 0,
                5 => num(at + 3, 2)?,
                6 if b.get(at + 3) == Some(&b':') => num(at + 4, 2)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let s = hours * 3600 + minutes * 60;
            if sign == b'-' { -s } else { s }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some(seconds * 1_000_000 + micros)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(
            parse_seconds("1537522822.965530"),
            Some(1_537_522_822_965_530)
        );
        assert_eq!(parse_seconds("8.3"), Some(8_300_000));
        assert_eq!(parse_seconds("12"), Some(12_000_000));
        assert_eq!(parse_seconds("-0.5"), Some(-500_000));
        assert_eq!(parse_seconds("1.5e3"), Some(1_500_000_000));
        assert_eq!(parse_seconds("0.1234567"), Some(123_456));
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("."), None);
        assert_eq!(parse_seconds("x"), None);
        assert_eq!(parse_seconds("99999999999999999999"), None);
        assert_eq!(to_millis(-1).0, -1);
    }

    #[test]
    fn iso() {
        let want = 1_453_532_942_187_146;
        assert_eq!(parse_iso("2016-01-23T07:09:02.187146+0000"), Some(want));
        assert_eq!(parse_iso("2016-01-23T07:09:02.187146Z"), Some(want));
        assert_eq!(parse_iso("2016-01-23T08:09:02.187146+01:00"), Some(want));
        assert_eq!(parse_iso("2016-01-23T02:09:02.187146-0500"), Some(want));
        assert_eq!(parse_iso("2016-01-23T07:09:02.187146"), Some(want));
        assert_eq!(parse_iso("2016-01-23T09:09:02.187146+02"), Some(want));
        assert_eq!(parse_iso("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso("2000-02-29T00:00:00Z"), Some(951_782_400_000_000));
        assert_eq!(parse_iso("2001-02-29T00:00:00Z"), None);
        assert_eq!(parse_iso("2016-01-23T07:09:02.Z"), None);
        assert_eq!(parse_iso("2016-01-23T07:09:02+0"), None);
        assert_eq!(parse_iso("2016-01-23"), None);
        assert_eq!(parse_iso("2016-01-23T07:09:02Zjunk"), None);
    }
}
