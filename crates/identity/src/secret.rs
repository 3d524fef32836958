//! Secrets that must never reach a log: passphrases and enrolment tokens. Their `Debug` output is
//! redacted and their memory is wiped on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A passphrase protecting a private key file.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The passphrase bytes, for key derivation only.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// A one-time enrolment token in clear: shown once to the operator who hands it to the device,
/// never stored (the token store keeps only its SHA-256).
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentToken(Zeroizing<String>);

impl EnrolmentToken {
    /// Wraps a token received from a client.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The token text, to hand to the device.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EnrolmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrolmentToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Passphrase::new("hunter2");
        let t = EnrolmentToken::new("tok-secret");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!format!("{t:?}").contains("tok-secret"));
    }
}
