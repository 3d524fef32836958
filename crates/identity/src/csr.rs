//! PKCS#10 certificate signing requests: decoding the EST body, verifying the self-signature with
//! the enclosed key (proof of possession), and classifying the key for policy.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::CsrError;
use crate::profile::KeyType;

/// Largest CSR accepted; a P-256 request is ~250 octets, RSA-4096 with attributes ~1.7 KiB.
pub const MAX_CSR_LEN: usize = 16 * 1024;

/// A CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    /// DER SubjectPublicKeyInfo, copied into the certificate.
    pub spki_der: Vec<u8>,
    /// The subject public key itself (the contents of the SPKI's BIT STRING).
    pub public_key: Vec<u8>,
    /// Key type, for the profile's policy.
    pub key_type: KeyType,
    /// Subject commonName, if any (only compared on re-enrolment).
    pub common_name: Option<String>,
    /// Subject organizationName, if any.
    pub organization: Option<String>,
}

/// Decodes an EST request body: base64 DER per RFC 7030 section 4.2.1 (whitespace ignored), and
/// for convenience a PEM request or raw DER.
pub fn decode_body(body: &[u8]) -> Result<Vec<u8>, CsrError> {
    if body.len() > MAX_CSR_LEN * 2 {
        return Err(CsrError::TooLarge);
    }
    if body.first() == Some(&0x30) {
        return Ok(body.to_vec());
    }
    let text = std::str::from_utf8(body).map_err(|_| CsrError::Encoding)?;
    decode_text(text)
}

/// Decodes a CSR given as text: a PEM request, or base64 DER (whitespace ignored). Unlike
/// [`decode_body`], never takes the text for raw DER.
pub fn decode_text(text: &str) -> Result<Vec<u8>, CsrError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
    const END: &str = "-----END CERTIFICATE REQUEST-----";
    if text.len() > MAX_CSR_LEN * 2 {
        return Err(CsrError::TooLarge);
    }
    // The first marker of each kind, found by a byte search in the usual layout (BEGIN first,
    // END at the first '-' after it, which base64 never holds) and by a substring search
    // otherwise.
    let start = if text.starts_with(BEGIN) {
        Some(0)
    } else {
        text.find(BEGIN)
    };
    let b64 = if let Some(start) = start {
        let rest = text.get(start + BEGIN.len()..).ok_or(CsrError::Encoding)?;
        let end = match rest.find('-') {
            Some(dash) if rest.get(dash..).is_some_and(|r| r.starts_with(END)) => dash,
            _ => rest.find(END).ok_or(CsrError::Encoding)?,
        };
        rest.get(..end).ok_or(CsrError::Encoding)?
    } else {
        text
    };
    let mut compact = Vec::with_capacity(b64.len());
    compact.extend(b64.bytes().filter(|c| !c.is_ascii_whitespace()));
    let der = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| CsrError::Encoding)?;
    if der.len() > MAX_CSR_LEN {
        return Err(CsrError::TooLarge);
    }
    Ok(der)
}

/// Parses a DER CSR and verifies its signature with the enclosed public key.
pub fn verify(der: &[u8]) -> Result<VerifiedCsr, CsrError> {
    if der.len() > MAX_CSR_LEN {
        return Err(CsrError::TooLarge);
    }
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|_| CsrError::Parse)?;
    if !rest.is_empty() {
        return Err(CsrError::TrailingData);
    }
    let sig_oid = &csr.signature_algorithm.algorithm;
    // Only SHA-2 ECDSA/RSA and Ed25519: x509-parser would also accept SHA-1 RSA for legacy use.
    let allowed_sig = [
        OID_SIG_ECDSA_WITH_SHA256,
        x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA384,
        x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA,
        x509_parser::oid_registry::OID_PKCS1_SHA384WITHRSA,
        x509_parser::oid_registry::OID_PKCS1_SHA512WITHRSA,
        OID_SIG_ED25519,
    ];
    if !allowed_sig.contains(sig_oid) {
        return Err(CsrError::UnsupportedAlgorithm);
    }
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key_type = classify(spki);
    if key_type == KeyType::EcdsaP256 && *sig_oid == OID_SIG_ECDSA_WITH_SHA256 {
        // The usual device request, verified with its SubjectPublicKeyInfo as it stands, which
        // aws-lc reads at once; x509-parser would hand it the bare point, which aws-lc first
        // tries, and fails, to read as a SubjectPublicKeyInfo.
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.raw)
            .verify(info.raw, &csr.signature_value.data)
            .map_err(|_| CsrError::BadSignature)?;
    } else {
        csr.verify_signature().map_err(|e| match e {
            x509_parser::error::X509Error::SignatureUnsupportedAlgorithm => {
                CsrError::UnsupportedAlgorithm
            }
            _ => CsrError::BadSignature,
        })?;
    }
    let first = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
    };
    Ok(VerifiedCsr {
        spki_der: spki.raw.to_vec(),
        public_key: spki.subject_public_key.data.to_vec(),
        key_type,
        common_name: first(&mut info.subject.iter_common_name()),
        organization: first(&mut info.subject.iter_organization()),
    })
}

fn classify(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> KeyType {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == OID_EC_P256 => KeyType::EcdsaP256,
            Some(c) if c == OID_NIST_EC_P384 => KeyType::EcdsaP384,
            Some(c) => KeyType::Other(format!("ec:{c}")),
            None => KeyType::Other("ec:?".to_owned()),
        };
    }
    if *alg == OID_SIG_ED25519 {
        return KeyType::Ed25519;
    }
    if *alg == OID_PKCS1_RSAENCRYPTION
        && let Ok(PublicKey::RSA(rsa)) = spki.parsed()
    {
        let bits = u32::try_from(rsa.key_size()).unwrap_or(0);
        return KeyType::Rsa { bits };
    }
    KeyType::Other(alg.to_id_string())
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;

    fn csr_der(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "dev-1");
        p.serialize_request(&key).unwrap().der().to_vec()
    }

    #[test]
    fn good_csr_verifies_and_classifies() {
        let v = verify(&csr_der(&rcgen::PKCS_ECDSA_P256_SHA256)).unwrap();
        assert_eq!(v.key_type, KeyType::EcdsaP256);
        assert_eq!(v.common_name.as_deref(), Some("dev-1"));
        let v = verify(&csr_der(&rcgen::PKCS_ED25519)).unwrap();
        assert_eq!(v.key_type, KeyType::Ed25519);
        let v = verify(&csr_der(&rcgen::PKCS_ECDSA_P384_SHA384)).unwrap();
        assert_eq!(v.key_type, KeyType::EcdsaP384);
    }

    #[test]
    fn csr_with_bad_signature_is_refused() {
        let mut der = csr_der(&rcgen::PKCS_ECDSA_P256_SHA256);
        // Flip a bit inside the subject (covered by the signature), not in the structure.
        let pos = der.windows(5).position(|w| w == b"dev-1").unwrap();
        der[pos] ^= 0x01;
        assert_eq!(verify(&der).unwrap_err(), CsrError::BadSignature);
        let mut der = csr_der(&rcgen::PKCS_ED25519);
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert_eq!(verify(&der).unwrap_err(), CsrError::BadSignature);
    }

    /// The marker search as it was, with substring searches only.
    fn decode_text_reference(text: &str) -> Result<Vec<u8>, CsrError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
        if text.len() > MAX_CSR_LEN * 2 {
            return Err(CsrError::TooLarge);
        }
        let b64 = if let Some(start) = text.find(BEGIN) {
            let rest = &text[start + BEGIN.len()..];
            let end = rest
                .find("-----END CERTIFICATE REQUEST-----")
                .ok_or(CsrError::Encoding)?;
            &rest[..end]
        } else {
            text
        };
        let compact: Vec<u8> = b64.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|_| CsrError::Encoding)?;
        if der.len() > MAX_CSR_LEN {
            return Err(CsrError::TooLarge);
        }
        Ok(der)
    }

    proptest::proptest! {
        /// Texts made of markers, dashes, base64 and noise decode as the substring search did.
        #[test]
        fn marker_search_is_unchanged(parts in proptest::collection::vec(proptest::prop_oneof![
            proptest::strategy::Just("-----BEGIN CERTIFICATE REQUEST-----".to_owned()),
            proptest::strategy::Just("-----END CERTIFICATE REQUEST-----".to_owned()),
            proptest::strategy::Just("-----END CERT".to_owned()),
            "[-\n ]{0,3}",
            "[A-Za-z0-9+/=]{0,12}",
            "(?s).{0,4}",
        ], 0..8)) {
            let text = parts.concat();
            proptest::prop_assert_eq!(decode_text(&text), decode_text_reference(&text));
        }
    }

    #[test]
    fn body_encodings() {
        let der = csr_der(&rcgen::PKCS_ECDSA_P256_SHA256);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let wrapped: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_body(wrapped.as_bytes()).unwrap(), der);
        assert_eq!(decode_body(&der).unwrap(), der);
        let pem = format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{wrapped}-----END CERTIFICATE REQUEST-----\n"
        );
        assert_eq!(decode_body(pem.as_bytes()).unwrap(), der);
        assert_eq!(decode_body(b"!!!").unwrap_err(), CsrError::Encoding);
        assert!(verify(b"\x30\x03\x02\x01\x00").is_err());
        let mut trailing = der;
        trailing.push(0);
        assert_eq!(verify(&trailing).unwrap_err(), CsrError::TrailingData);
    }
}
