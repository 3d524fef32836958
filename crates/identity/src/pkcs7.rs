//! The few DER structures EST needs and nothing parses for us: a degenerate ("certs-only")
//! PKCS#7/CMS SignedData (RFC 5652, RFC 7030 section 4.1.3) and the CSR attributes response
//! (RFC 7030 section 4.5.2). Written with a minimal DER writer.

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CONTEXT_0_CONSTRUCTED: u8 = 0xa0;

/// id-signedData, 1.2.840.113549.1.7.2.
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-data, 1.2.840.113549.1.7.1.
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// ecdsa-with-SHA256, 1.2.840.10045.4.3.2.
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// id-ecPublicKey, 1.2.840.10045.2.1.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let significant = bytes.get(skip..).unwrap_or_default();
    out.push(0x80 | significant.len() as u8);
    out.extend_from_slice(significant);
}

/// Appends one TLV.
fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 6);
    tlv(&mut v, tag, content);
    v
}

/// A certs-only SignedData carrying `certs` (each a full certificate DER), wrapped in a
/// ContentInfo: what `openssl pkcs7 -print_certs` and EST clients read.
pub fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
    let mut sd = Vec::new();
    tlv(&mut sd, TAG_INTEGER, &[0x01]); // version 1
    tlv(&mut sd, TAG_SET, &[]); // digestAlgorithms: none
    sd.extend_from_slice(&wrap(TAG_SEQUENCE, &wrap(TAG_OID, OID_DATA))); // encapContentInfo
    let cert_bytes: Vec<u8> = certs.iter().flat_map(|c| c.iter().copied()).collect();
    tlv(&mut sd, TAG_CONTEXT_0_CONSTRUCTED, &cert_bytes); // [0] IMPLICIT CertificateSet
    tlv(&mut sd, TAG_SET, &[]); // signerInfos: none
    let signed_data = wrap(TAG_SEQUENCE, &sd);
    let mut ci = wrap(TAG_OID, OID_SIGNED_DATA);
    tlv(&mut ci, TAG_CONTEXT_0_CONSTRUCTED, &signed_data);
    wrap(TAG_SEQUENCE, &ci)
}

/// The CsrAttrs the server asks devices to follow: sign with ecdsa-with-SHA256 and use a
/// P-256 key (RFC 7030 section 4.5.2 example form).
pub fn csr_attrs_p256() -> Vec<u8> {
    let mut body = wrap(TAG_OID, OID_ECDSA_SHA256);
    let mut attr = wrap(TAG_OID, OID_EC_PUBLIC_KEY);
    attr.extend_from_slice(&wrap(TAG_SET, &wrap(TAG_OID, OID_P256)));
    body.extend_from_slice(&wrap(TAG_SEQUENCE, &attr));
    wrap(TAG_SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths() {
        let mut v = Vec::new();
        push_len(&mut v, 0x7f);
        push_len(&mut v, 0x80);
        push_len(&mut v, 0x1234);
        assert_eq!(v, [0x7f, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn empty_bag_shape() {
        let d = certs_only(&[]);
        assert_eq!(d[0], 0x30);
        assert_eq!(d.len(), 2 + d[1] as usize);
        let a = csr_attrs_p256();
        assert_eq!(a.len(), 2 + a[1] as usize);
    }
}
