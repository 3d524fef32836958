//! Device certificates written straight into DER.
//!
//! What every device certificate of one issuing CA and usage shares (signature algorithm,
//! issuer name, authority key identifier, key usage, extended key usage) is encoded once; per
//! certificate only the serial, validity, subject, public key and SAN URI are written around
//! it, into one buffer. rcgen builds the same certificate field by field through many small
//! allocations, which cost more than a third of the CA's signature. A template is used only
//! after it reproduced rcgen's TBSCertificate byte for byte for a sample (checked when it is
//! made), and only for public keys whose SubjectPublicKeyInfo is in the form rcgen itself
//! writes, so both paths issue the same certificate.

use base64::Engine;
use rcgen::{KeyPair, SigningKey};
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;

use crate::IdentityError;
use crate::ca::IssuingCa;
use crate::profile::{KeyType, Usage};

/// SubjectPublicKeyInfo headers as rcgen writes them, up to the key's bits.
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const SPKI_ED25519: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// AlgorithmIdentifiers of the signatures an issuing CA makes.
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ALG_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

/// keyUsage, critical, digitalSignature only.
const EXT_KEY_USAGE: &[u8] = &[
    0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80,
];
/// extKeyUsage clientAuth; serverAuth differs in the last octet.
const EXT_EKU_CLIENT: &[u8] = &[
    0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01,
    0x05, 0x05, 0x07, 0x03, 0x02,
];
const EXT_EKU_SERVER: &[u8] = &[
    0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01,
    0x05, 0x05, 0x07, 0x03, 0x01,
];
const OID_SAN: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x11];
const OID_AKI: &[u8] = &[0x06, 0x03, 0x55, 0x1d, 0x23];
const OID_ORG: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x0a];
const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
/// `[0] EXPLICIT INTEGER 2`: version 3.
const VERSION_3: &[u8] = &[0xa0, 0x03, 0x02, 0x01, 0x02];

/// Prefix of the SAN URI, as in [`super::device_urn`].
const URN_PREFIX: &[u8] = b"urn:rampart:device:";

/// Whether a CSR's SubjectPublicKeyInfo is exactly what rcgen writes for its key (the usual
/// uncompressed P-256 point, say): then it can be copied into the certificate as it stands.
pub(super) fn canonical_spki(key: &KeyType, spki_der: &[u8], public_key: &[u8]) -> bool {
    let head = match key {
        KeyType::EcdsaP256 => SPKI_P256,
        KeyType::EcdsaP384 => SPKI_P384,
        KeyType::Ed25519 => SPKI_ED25519,
        KeyType::Rsa { .. } | KeyType::Other(_) => return false,
    };
    spki_der.len() == head.len() + public_key.len()
        && spki_der.starts_with(head)
        && spki_der.get(head.len()..) == Some(public_key)
}

/// The per-certificate parts of a device certificate.
pub(super) struct DeviceFields<'a> {
    pub(super) serial: &'a [u8; 16],
    pub(super) not_before: OffsetDateTime,
    pub(super) not_after: OffsetDateTime,
    pub(super) tenant: &'a str,
    pub(super) device: &'a str,
    /// In the form [`canonical_spki`] accepts.
    pub(super) spki_der: &'a [u8],
}

/// The shared parts of the device certificates of one issuing CA and usage.
#[derive(Debug)]
pub(super) struct DeviceTemplate {
    pub(super) usage: Usage,
    /// Signature AlgorithmIdentifier, inside the TBSCertificate and after it.
    sig_alg: &'static [u8],
    /// Issuer Name.
    issuer_name: Vec<u8>,
    /// authorityKeyIdentifier extension.
    aki: Vec<u8>,
    /// keyUsage and extKeyUsage extensions, after the SAN.
    tail: Vec<u8>,
}

impl DeviceTemplate {
    /// The template for `issuing`'s device certificates of `usage`; `None` when its key or
    /// certificate is of a kind this path does not write (rcgen then builds each one).
    pub(super) fn new(issuing: &IssuingCa, usage: Usage) -> Option<Self> {
        let key = issuing.issuer.key();
        let alg = key.algorithm();
        let sig_alg = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
            ALG_ECDSA_SHA256
        } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            ALG_ECDSA_SHA384
        } else if alg == &rcgen::PKCS_ED25519 {
            ALG_ED25519
        } else {
            return None;
        };
        let (_, cert) = x509_parser::parse_x509_certificate(&issuing.cert_der).ok()?;
        let tbs = &cert.tbs_certificate;
        let key_id = tbs
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                _ => None,
            })?;
        // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
        let mut aki_seq = Vec::with_capacity(key_id.len() + 4);
        push_tlv(&mut aki_seq, 0x80, key_id);
        let mut aki_oct = Vec::with_capacity(aki_seq.len() + 4);
        push_tlv(&mut aki_oct, 0x30, &aki_seq);
        let mut aki_body = OID_AKI.to_vec();
        push_tlv(&mut aki_body, 0x04, &aki_oct);
        let mut aki = Vec::with_capacity(aki_body.len() + 4);
        push_tlv(&mut aki, 0x30, &aki_body);
        let eku = match usage {
            Usage::Client => EXT_EKU_CLIENT,
            Usage::Server => EXT_EKU_SERVER,
        };
        Some(Self {
            usage,
            sig_alg,
            issuer_name: tbs.subject.as_raw().to_vec(),
            aki,
            tail: [EXT_KEY_USAGE, eku].concat(),
        })
    }

    /// Appends the TBSCertificate for `f` to `out`. Fails only on names that cannot be written
    /// (not ASCII, as rcgen refuses them in the SAN URI, or absurdly long).
    pub(super) fn tbs(&self, f: &DeviceFields<'_>, out: &mut Vec<u8>) -> Result<(), IdentityError> {
        let (tenant, device) = (f.tenant.as_bytes(), f.device.as_bytes());
        if !f.tenant.is_ascii() || !f.device.is_ascii() {
            return Err(IdentityError::BadId(f.device.to_owned()));
        }
        // Content lengths, innermost first.
        let atv = |value: &[u8]| OID_ORG.len() + tlv_len(value.len());
        let set = |value: &[u8]| tlv_len(atv(value));
        let subject = tlv_len(set(tenant)) + tlv_len(set(device));
        let validity = time_len(f.not_before) + time_len(f.not_after);
        let uri = URN_PREFIX.len() + tenant.len() + 1 + device.len();
        let names = tlv_len(uri);
        let octets = tlv_len(names);
        let san = OID_SAN.len() + tlv_len(octets);
        let exts_seq = self.aki.len() + tlv_len(san) + self.tail.len();
        let exts = tlv_len(exts_seq);
        let body = VERSION_3.len()
            + tlv_len(f.serial.len())
            + self.sig_alg.len()
            + self.issuer_name.len()
            + tlv_len(validity)
            + tlv_len(subject)
            + f.spki_der.len()
            + tlv_len(exts);
        if body > MAX_LEN {
            return Err(IdentityError::BadId(f.device.to_owned()));
        }
        out.reserve(tlv_len(body));
        push_header(out, 0x30, body);
        out.extend_from_slice(VERSION_3);
        push_tlv(out, 0x02, f.serial);
        out.extend_from_slice(self.sig_alg);
        out.extend_from_slice(&self.issuer_name);
        push_header(out, 0x30, validity);
        push_time(out, f.not_before);
        push_time(out, f.not_after);
        push_header(out, 0x30, subject);
        for (oid, value) in [(OID_ORG, tenant), (OID_CN, device)] {
            push_header(out, 0x31, set(value));
            push_header(out, 0x30, atv(value));
            out.extend_from_slice(oid);
            push_tlv(out, 0x0c, value);
        }
        out.extend_from_slice(f.spki_der);
        push_header(out, 0xa3, exts);
        push_header(out, 0x30, exts_seq);
        out.extend_from_slice(&self.aki);
        // subjectAltName, not critical (the subject is not empty): one URI.
        push_header(out, 0x30, san);
        out.extend_from_slice(OID_SAN);
        push_header(out, 0x04, octets);
        push_header(out, 0x30, names);
        push_header(out, 0x86, uri);
        out.extend_from_slice(URN_PREFIX);
        out.extend_from_slice(tenant);
        out.push(b'/');
        out.extend_from_slice(device);
        out.extend_from_slice(&self.tail);
        Ok(())
    }

    /// Signs a TBSCertificate with the issuing key: the Certificate's DER.
    pub(super) fn certificate(&self, key: &KeyPair, tbs: &[u8]) -> Result<Vec<u8>, IdentityError> {
        let sig = key.sign(tbs).map_err(IdentityError::generate)?;
        let bits = tlv_len(sig.len() + 1);
        let body = tbs.len() + self.sig_alg.len() + bits;
        if body > MAX_LEN {
            return Err(IdentityError::generate("certificate too large"));
        }
        let mut der = Vec::with_capacity(tlv_len(body));
        push_header(&mut der, 0x30, body);
        der.extend_from_slice(tbs);
        der.extend_from_slice(self.sig_alg);
        push_header(&mut der, 0x03, sig.len() + 1);
        der.push(0);
        der.extend_from_slice(&sig);
        Ok(der)
    }
}

/// A certificate's PEM, as rcgen writes it: 64 columns, `\n` line ends.
pub(crate) fn pem(der: &[u8]) -> String {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----\n";
    const END: &[u8] = b"-----END CERTIFICATE-----\n";
    let engine = &base64::engine::general_purpose::STANDARD;
    let b64_len = der.len().div_ceil(3) * 4;
    let mut out = Vec::with_capacity(BEGIN.len() + b64_len + b64_len.div_ceil(64) + END.len());
    out.extend_from_slice(BEGIN);
    // 48 octets make one line of 64 characters; each line is encoded in place.
    for chunk in der.chunks(48) {
        let at = out.len();
        out.resize(at + chunk.len().div_ceil(3) * 4, 0);
        let written = out
            .get_mut(at..)
            .map_or(0, |line| engine.encode_slice(chunk, line).unwrap_or(0));
        out.truncate(at + written);
        out.push(b'\n');
    }
    out.extend_from_slice(END);
    // Base64 and the armour are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Longest content written: lengths take at most two octets.
const MAX_LEN: usize = 0xffff;

/// Length of a DER header (tag and length) for `len` content octets, `len` <= [`MAX_LEN`].
fn header_len(len: usize) -> usize {
    match len {
        0..=0x7f => 2,
        0x80..=0xff => 3,
        _ => 4,
    }
}

/// Length of a whole TLV with `len` content octets.
fn tlv_len(len: usize) -> usize {
    header_len(len) + len
}

fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    let b = len.to_be_bytes();
    let n = b.len();
    match len {
        0..=0x7f => out.extend_from_slice(&[tag, b[n - 1]]),
        0x80..=0xff => out.extend_from_slice(&[tag, 0x81, b[n - 1]]),
        _ => out.extend_from_slice(&[tag, 0x82, b[n - 2], b[n - 1]]),
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// rcgen's choice (RFC 5280 section 4.1.2.5): UTCTime from 1950 to 2049, GeneralizedTime
/// otherwise; whole seconds.
fn utc_time(t: OffsetDateTime) -> bool {
    (1950..2050).contains(&t.year())
}

fn time_len(t: OffsetDateTime) -> usize {
    if utc_time(t) { 15 } else { 17 }
}

fn push_time(out: &mut Vec<u8>, t: OffsetDateTime) {
    let t = t.to_offset(time::UtcOffset::UTC);
    let two = |out: &mut Vec<u8>, v: u8| out.extend_from_slice(&[b'0' + v / 10, b'0' + v % 10]);
    let year = t.year();
    if utc_time(t) {
        out.extend_from_slice(&[0x17, 13]);
        two(out, u8::try_from(year.rem_euclid(100)).unwrap_or(0));
    } else {
        out.extend_from_slice(&[0x18, 15]);
        let y = u16::try_from(year.clamp(0, 9999)).unwrap_or(0);
        two(out, u8::try_from(y / 100).unwrap_or(0));
        two(out, u8::try_from(y % 100).unwrap_or(0));
    }
    two(out, u8::from(t.month()));
    two(out, t.day());
    two(out, t.hour());
    two(out, t.minute());
    two(out, t.second());
    out.push(b'Z');
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
