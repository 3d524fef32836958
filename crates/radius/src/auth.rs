//! Authenticators: Request/Response Authenticator (RFC 2865 §3, RFC 2866 §3, RFC 5176
//! §2.3), Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.1) and User-Password hiding
//! (RFC 2865 §5.2).
//!
//! Checks work on the received octets, not on a re-encoding, so that nothing the sender
//! signed can be lost or reordered before the check.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use crate::attr::{AttributeType, walk};
use crate::code::AuthenticatorKind;
use crate::error::{AuthError, DecodeError, ValueError};
use crate::packet::{HEADER_LEN, split_header};

/// What a successful check covered.
///
/// An Access-Request or Status-Server without Message-Authenticator passes with both
/// fields `false`: nothing in it is authenticated. Callers must also check that the code
/// is the one they expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Whether the Request or Response Authenticator was checked (always, except for
    /// Access-Request and Status-Server, whose authenticator is a nonce).
    pub authenticator: bool,
    /// Whether a Message-Authenticator was present (and correct). Callers enforcing the
    /// Blast-RADIUS mitigations (CVE-2024-3596) require it.
    pub message_authenticator: bool,
}

impl Verified {
    /// Whether anything was authenticated at all.
    pub fn is_authenticated(&self) -> bool {
        self.authenticator || self.message_authenticator
    }
}

/// Checks a request from a client that shares `secret` with us.
///
/// Accounting-Request, Disconnect-Request and CoA-Request: the Request Authenticator is
/// MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret). Access-Request and
/// Status-Server carry a random authenticator, so only a Message-Authenticator can be
/// checked. A Message-Authenticator, when present, is always checked.
pub fn verify_request(datagram: &[u8], secret: &[u8]) -> Result<Verified, AuthError> {
    let (header, bytes) = split_header(datagram)?;
    let ma = find_message_authenticator(bytes)?;
    let (hmac_auth, authenticator) = match header.code.authenticator_kind() {
        AuthenticatorKind::RequestDigest => {
            let expected = digest(bytes, &[0; 16], secret);
            if !ct_eq(&expected, &header.authenticator) {
                return Err(AuthError::RequestAuthenticator);
            }
            ([0; 16], true)
        }
        AuthenticatorKind::Random => (header.authenticator, false),
        AuthenticatorKind::Response | AuthenticatorKind::Unknown => {
            return Err(AuthError::NotARequest { code: header.code });
        }
    };
    let message_authenticator = check_message_authenticator(bytes, ma, &hmac_auth, secret)?;
    Ok(Verified {
        authenticator,
        message_authenticator,
    })
}

/// Checks a response to a request whose authenticator was `request_authenticator`.
///
/// Response Authenticator = MD5(Code+Identifier+Length+RequestAuth+Attributes+Secret);
/// the Message-Authenticator is an HMAC over the packet with the request's authenticator.
pub fn verify_response(
    datagram: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<Verified, AuthError> {
    let (header, bytes) = split_header(datagram)?;
    if header.code.authenticator_kind() != AuthenticatorKind::Response {
        return Err(AuthError::NotAResponse { code: header.code });
    }
    let ma = find_message_authenticator(bytes)?;
    let expected = digest(bytes, request_authenticator, secret);
    if !ct_eq(&expected, &header.authenticator) {
        return Err(AuthError::ResponseAuthenticator);
    }
    let message_authenticator =
        check_message_authenticator(bytes, ma, request_authenticator, secret)?;
    Ok(Verified {
        authenticator: true,
        message_authenticator,
    })
}

/// The Request Authenticator an Accounting, Disconnect or CoA request must carry.
///
/// `packet` is the encoded packet; its current Authenticator field is ignored.
pub fn request_authenticator(packet: &[u8], secret: &[u8]) -> Result<[u8; 16], DecodeError> {
    let (_, bytes) = split_header(packet)?;
    Ok(digest(bytes, &[0; 16], secret))
}

/// The Response Authenticator for an encoded response; its current Authenticator field
/// is ignored.
pub fn response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<[u8; 16], DecodeError> {
    let (_, bytes) = split_header(packet)?;
    Ok(digest(bytes, request_authenticator, secret))
}

/// Hides a User-Password (RFC 2865 §5.2) for an Access-Request with `authenticator`.
///
/// The password is zero-padded to a multiple of 16 octets and cut at 128.
pub fn hide_password(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let password = &password[..password.len().min(128)];
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(password);
    out.resize(padded_len, 0);
    let mut prev = *authenticator;
    for chunk in out.chunks_exact_mut(16) {
        let key: [u8; 16] = Md5::new()
            .chain_update(secret)
            .chain_update(prev)
            .finalize()
            .into();
        for (b, k) in chunk.iter_mut().zip(key) {
            *b ^= k;
        }
        prev.copy_from_slice(chunk);
    }
    out
}

/// Recovers a User-Password hidden with [`hide_password`]; trailing zero padding removed.
pub fn unhide_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, ValueError> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) {
        return Err(ValueError::WrongLength {
            expected: hidden.len().div_ceil(16).max(1) * 16,
            actual: hidden.len(),
        });
    }
    let mut out = hidden.to_vec();
    let mut prev = *authenticator;
    for chunk in out.chunks_exact_mut(16) {
        let key: [u8; 16] = Md5::new()
            .chain_update(secret)
            .chain_update(prev)
            .finalize()
            .into();
        prev.copy_from_slice(chunk);
        for (b, k) in chunk.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    let end = out.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    out.truncate(end);
    Ok(out)
}

/// Fills in the Message-Authenticator (if `ma_offset` is set) and, when `digest_auth`,
/// the Authenticator field of an encoded packet whose Authenticator field already holds
/// what the HMAC must cover (zeros, the request's authenticator, or a random nonce).
pub(crate) fn sign(packet: &mut [u8], ma_offset: Option<usize>, digest_auth: bool, secret: &[u8]) {
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&packet[4..HEADER_LEN]);
    if let Some(offset) = ma_offset {
        let mac = hmac(packet, offset, &auth, secret);
        packet[offset..offset + 16].copy_from_slice(&mac);
    }
    if digest_auth {
        let value = digest(packet, &auth, secret);
        packet[4..HEADER_LEN].copy_from_slice(&value);
    }
}

/// Offset of the Message-Authenticator value, if there is exactly one.
fn find_message_authenticator(bytes: &[u8]) -> Result<Option<usize>, AuthError> {
    let mut found = None;
    for item in walk(&bytes[HEADER_LEN..], HEADER_LEN) {
        let (offset, kind, value) = item?;
        if kind == AttributeType::MESSAGE_AUTHENTICATOR.0 {
            if value.len() != 16 {
                return Err(AuthError::MessageAuthenticatorLength { len: value.len() });
            }
            if found.is_some() {
                return Err(AuthError::DuplicateMessageAuthenticator);
            }
            found = Some(offset + 2);
        }
    }
    Ok(found)
}

/// Checks the Message-Authenticator if there is one; `Ok(false)` if there is none.
fn check_message_authenticator(
    bytes: &[u8],
    ma_offset: Option<usize>,
    authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<bool, AuthError> {
    let Some(offset) = ma_offset else {
        return Ok(false);
    };
    let mut expected = [0u8; 16];
    expected.copy_from_slice(&bytes[offset..offset + 16]);
    if ct_eq(&hmac(bytes, offset, authenticator, secret), &expected) {
        Ok(true)
    } else {
        Err(AuthError::MessageAuthenticator)
    }
}

/// MD5 over the packet with `authenticator` in place of the Authenticator field, then
/// the secret.
fn digest(bytes: &[u8], authenticator: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update(&bytes[..4])
        .chain_update(authenticator)
        .chain_update(&bytes[HEADER_LEN..])
        .chain_update(secret)
        .finalize()
        .into()
}

/// HMAC-MD5 keyed with the secret over the packet with `authenticator` in place of the
/// Authenticator field and the Message-Authenticator value (at `ma_offset`) zeroed.
fn hmac(bytes: &[u8], ma_offset: usize, authenticator: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
    let mut mac =
        <Hmac<Md5> as Mac>::new_from_slice(secret).expect("hmac-md5 accepts keys of any length");
    mac.update(&bytes[..4]);
    mac.update(authenticator);
    mac.update(&bytes[HEADER_LEN..ma_offset]);
    mac.update(&[0; 16]);
    mac.update(&bytes[ma_offset + 16..]);
    mac.finalize().into_bytes().into()
}

/// Comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
