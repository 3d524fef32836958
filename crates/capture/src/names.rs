//! Server names a client reveals in its first TCP payload: the SNI of a TLS ClientHello and
//! the Host header of an HTTP/1.x request. Only the first segment is looked at (no stream
//! reassembly), which is where both normally sit; a ClientHello split across segments before
//! its SNI extension yields nothing. Every read is bounds-checked.

/// Which protocol revealed the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// TLS ClientHello server_name extension.
    Tls,
    /// HTTP request Host header.
    Http,
}

impl Via {
    /// The spelling used in `NameRecord::via`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::Http => "http",
        }
    }
}

/// Longest name accepted (DNS's limit).
const MAX_NAME: usize = 253;
/// How far into an HTTP request the Host header is searched.
const MAX_HTTP_HEAD: usize = 4096;

/// Looks for a server name in the first payload a client sent.
pub(crate) fn server_name(payload: &[u8]) -> Option<(String, Via)> {
    match payload.first()? {
        0x16 => tls_sni(payload).map(|n| (n, Via::Tls)),
        b'A'..=b'Z' => http_host(payload).map(|n| (n, Via::Http)),
        _ => None,
    }
}

/// The SNI host name of a TLS ClientHello record.
pub(crate) fn tls_sni(rec: &[u8]) -> Option<String> {
    // Record header: type 22 (handshake), version 3.x, length.
    if *rec.first()? != 0x16 || *rec.get(1)? != 3 {
        return None;
    }
    let body = rec.get(5..)?;
    // Handshake header: type 1 (ClientHello), 3-byte length.
    if *body.first()? != 1 {
        return None;
    }
    let mut p = 4 + 2 + 32; // header, client_version, random
    let sid_len = usize::from(*body.get(p)?);
    p += 1 + sid_len;
    let cs_len = usize::from(be16(body, p)?);
    p += 2 + cs_len;
    let comp_len = usize::from(*body.get(p)?);
    p += 1 + comp_len;
    let ext_total = usize::from(be16(body, p)?);
    p += 2;
    let end = p + ext_total;
    while p + 4 <= end {
        let ext_type = be16(body, p)?;
        let ext_len = usize::from(be16(body, p + 2)?);
        p += 4;
        if ext_type == 0 {
            let ext = body.get(p..p + ext_len)?;
            // server_name_list: 2-byte length, then (type, 2-byte length, name) entries.
            let mut q = 2;
            while q + 3 <= ext.len() {
                let name_type = *ext.get(q)?;
                let len = usize::from(be16(ext, q + 1)?);
                let name = ext.get(q + 3..q + 3 + len)?;
                if name_type == 0 {
                    return clean_host(name);
                }
                q += 3 + len;
            }
            return None;
        }
        p += ext_len;
    }
    None
}

/// The Host header of an HTTP/1.x request.
pub(crate) fn http_host(req: &[u8]) -> Option<String> {
    const METHODS: &[&[u8]] = &[
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PUT ",
        b"DELETE ",
        b"OPTIONS ",
        b"CONNECT ",
        b"PATCH ",
        b"TRACE ",
    ];
    if !METHODS.iter().any(|m| req.starts_with(m)) {
        return None;
    }
    let head = req.get(..req.len().min(MAX_HTTP_HEAD))?;
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next()?;
    if !request_line.windows(5).any(|w| w == b"HTTP/") {
        return None;
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (field, value) = line.split_at(colon);
        if field.eq_ignore_ascii_case(b"host") {
            let value = value.get(1..)?.trim_ascii();
            // Drop a port, but keep a bracketed IPv6 literal whole.
            let host = if value.first() == Some(&b'[') {
                let close = value.iter().position(|&b| b == b']')?;
                value.get(..=close)?
            } else {
                match value.iter().position(|&b| b == b':') {
                    Some(c) => value.get(..c)?,
                    None => value,
                }
            };
            return clean_host(host);
        }
    }
    None
}

/// Lowercase text when the bytes look like a host name; `None` otherwise.
fn clean_host(name: &[u8]) -> Option<String> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    if !name
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':'))
    {
        return None;
    }
    Some(String::from_utf8_lossy(name).to_ascii_lowercase())
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Builds a minimal TLS 1.2-style ClientHello carrying `sni`; used by tests and the synthetic
/// capture generator.
pub fn build_client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0);
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = Vec::new();
    // A dummy extension first (supported_groups), so the parser has to walk.
    exts.extend_from_slice(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d]);
    exts.extend_from_slice(&0u16.to_be_bytes());
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend_from_slice(&sni_ext);
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[0x11; 32]);
    hello.push(0); // session id
    hello.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    hello.extend_from_slice(&[1, 0]); // null compression
    hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    hello.extend_from_slice(&exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sni_found() {
        let hello = build_client_hello("Device.Example.net");
        assert_eq!(
            server_name(&hello),
            Some(("device.example.net".to_string(), Via::Tls))
        );
        for cut in 0..hello.len() - 1 {
            // Shorter prefixes never panic; most give nothing.
            let _ = tls_sni(&hello[..cut]);
        }
    }

    #[test]
    fn http_host_found() {
        let req = b"GET /x HTTP/1.1\r\nUser-Agent: a\r\nHOST: Cam.Local:8080\r\n\r\n";
        assert_eq!(server_name(req), Some(("cam.local".to_string(), Via::Http)));
        let v6 = b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n";
        assert_eq!(http_host(v6).as_deref(), Some("[::1]"));
        assert_eq!(http_host(b"GET / HTTP/1.1\r\n\r\nHost: x\r\n"), None);
        assert_eq!(http_host(b"GETX / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
