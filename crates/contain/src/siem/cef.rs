//! ArcSight Common Event Format (CEF) version 0.
//!
//! `CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension`. In header fields `\`
//! and `|` are escaped with a backslash; in extension values `\` and `=` are, and line
//! breaks become `\n` / `\r`. Header fields cannot carry line breaks at all, so they are
//! turned into spaces. Extension keys are restricted to ASCII letters, digits and `_`.

use serde::{Deserialize, Serialize};

/// One CEF event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CefEvent {
    /// Device Vendor.
    pub vendor: String,
    /// Device Product.
    pub product: String,
    /// Device Version.
    pub version: String,
    /// Signature ID: a stable id of the event class.
    pub signature_id: String,
    /// Name: human-readable description of the event class.
    pub name: String,
    /// Severity 0..=10 (larger values are clamped on output).
    pub severity: u8,
    /// Extension key-value pairs, in order.
    pub extensions: Vec<(String, String)>,
}

impl CefEvent {
    /// A Rampart event; version is this crate's.
    pub fn rampart(signature_id: impl Into<String>, name: impl Into<String>, severity: u8) -> Self {
        Self {
            vendor: "Rampart".into(),
            product: "Rampart".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            signature_id: signature_id.into(),
            name: name.into(),
            severity,
            extensions: Vec::new(),
        }
    }

    /// Adds an extension (key sanitised, see the module doc).
    #[must_use]
    pub fn ext(mut self, key: &str, value: impl Into<String>) -> Self {
        self.extensions.push((sanitize_key(key), value.into()));
        self
    }

    /// The CEF line.
    pub fn format(&self) -> String {
        let mut out = String::from("CEF:0");
        for field in [
            &self.vendor,
            &self.product,
            &self.version,
            &self.signature_id,
            &self.name,
        ] {
            out.push('|');
            escape_header(field, &mut out);
        }
        out.push('|');
        out.push_str(&self.severity.min(10).to_string());
        out.push('|');
        for (i, (k, v)) in self.extensions.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&sanitize_key(k));
            out.push('=');
            escape_value(v, &mut out);
        }
        out
    }
}

/// Keeps ASCII letters, digits and `_`; an empty result becomes `x`.
pub fn sanitize_key(key: &str) -> String {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if k.is_empty() { "x".into() } else { k }
}

/// Escapes a header field.
pub fn escape_header(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Escapes an extension value.
pub fn escape_value(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Why a CEF line does not parse.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CefParseError {
    /// Does not start with `CEF:0|`.
    #[error("not a cef version 0 line")]
    NotCef,
    /// Fewer than seven header fields.
    #[error("cef header has too few fields")]
    ShortHeader,
    /// Severity is not a number.
    #[error("cef severity is not a number")]
    Severity,
    /// An extension token without `=`.
    #[error("malformed cef extension")]
    Extension,
}

/// Parses a CEF line (the inverse of [`CefEvent::format`]; used to check exports).
pub fn parse(line: &str) -> Result<CefEvent, CefParseError> {
    let rest = line.strip_prefix("CEF:0|").ok_or(CefParseError::NotCef)?;
    let mut fields = Vec::with_capacity(6);
    let mut cur = String::new();
    let mut chars = rest.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => cur.push(e),
                None => cur.push('\\'),
            },
            '|' => {
                fields.push(std::mem::take(&mut cur));
                if fields.len() == 6 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => cur.push(c),
        }
    }
    let ext_start = ext_start.ok_or(CefParseError::ShortHeader)?;
    let mut fields = fields.into_iter();
    let mut next = || fields.next().ok_or(CefParseError::ShortHeader);
    let (vendor, product, version, signature_id, name, severity) =
        (next()?, next()?, next()?, next()?, next()?, next()?);
    let severity = severity
        .trim()
        .parse()
        .map_err(|_| CefParseError::Severity)?;
    let extensions = parse_extensions(rest.get(ext_start..).unwrap_or_default())?;
    Ok(CefEvent {
        vendor,
        product,
        version,
        signature_id,
        name,
        severity,
        extensions,
    })
}

/// Splits `k1=v1 k2=v two` at unescaped `=` signs: the word before each is a key, and a
/// value runs up to the space before the next key.
fn parse_extensions(s: &str) -> Result<Vec<(String, String)>, CefParseError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = s.as_bytes();
    // Positions of unescaped '='.
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b'=') => {
                eqs.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut out = Vec::with_capacity(eqs.len());
    let mut key_start = 0;
    for (n, &eq) in eqs.iter().enumerate() {
        let key = s.get(key_start..eq).ok_or(CefParseError::Extension)?;
        if key.is_empty() || key.contains(' ') {
            return Err(CefParseError::Extension);
        }
        let value_end = match eqs.get(n + 1) {
            Some(&next_eq) => {
                let between = s.get(eq + 1..next_eq).ok_or(CefParseError::Extension)?;
                let space = between.rfind(' ').ok_or(CefParseError::Extension)?;
                eq + 1 + space
            }
            None => s.len(),
        };
        let raw = s.get(eq + 1..value_end).ok_or(CefParseError::Extension)?;
        out.push((key.to_owned(), unescape_value(raw)));
        key_start = value_end + 1;
    }
    if eqs.is_empty() {
        return Err(CefParseError::Extension);
    }
    Ok(out)
}

fn unescape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(e) => out.push(e),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn formats_with_escapes() {
        let e = CefEvent::rampart("contain.radius_disconnect", "Disconnect a|b", 7)
            .ext("act", "disconnect")
            .ext("msg", r"a=b\c")
            .ext("cs1", "two words\nnext");
        let line = e.format();
        assert!(line.starts_with("CEF:0|Rampart|Rampart|"));
        assert!(line.contains(r"|contain.radius_disconnect|Disconnect a\|b|7|act=disconnect"));
        assert!(line.ends_with(r"msg=a\=b\\c cs1=two words\nnext"));
        assert_eq!(parse(&line).unwrap(), e);
    }

    fn header() -> impl Strategy<Value = String> {
        "[^\r\n]{0,12}"
    }

    proptest! {
        #[test]
        fn round_trip(
            vendor in header(), name in header(), sig in header(),
            severity in 0u8..=10,
            ext in proptest::collection::vec(("[A-Za-z0-9_]{1,8}", "(?s).{0,16}"), 0..5),
        ) {
            let e = CefEvent {
                vendor, product: "P|\\".into(), version: "1".into(), signature_id: sig, name,
                severity, extensions: ext,
            };
            // A value ending in spaces before the next key keeps them; a value starting the
            // next key's word would be ambiguous, which escaping of '=' rules out.
            prop_assert_eq!(parse(&e.format()).unwrap(), e);
        }
    }
}
