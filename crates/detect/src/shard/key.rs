//! Subjects as map keys. [`Key`] is the owned form a shard stores; [`KeyRef`] borrows the
//! subject of an observation so that finding a known device costs one hash and no allocation
//! (the owned key, with its `tenant/device` text, is built only when a device is first seen).

use std::hash::Hash;
use std::net::IpAddr;

use hashbrown::Equivalent;
use rampart_bus::Subject;
use serde::{Deserialize, Serialize};

use crate::net::canonical;

/// Fixed-seed hasher: iteration order, and so output order, is the same in every run; much
/// cheaper than SipHash on the short keys a shard hashes per observation.
pub(crate) type Hasher = foldhash::fast::FixedState;

/// A map with the shard's hasher.
pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, Hasher>;

/// A subject, compactly: the registered device's `tenant/device` key, else the host address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub(crate) enum Key {
    Named(Box<str>),
    Host(IpAddr),
    None,
}

/// A subject's key borrowed from the subject itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRef<'a> {
    /// Tenant (absent for a device without one) and device id.
    Named(Option<&'a str>, &'a str),
    Host(IpAddr),
    None,
}

/// Named keys longer than this are hashed from a heap copy (ids are far shorter in practice).
const INLINE_NAME: usize = 256;

impl<'a> KeyRef<'a> {
    pub(crate) fn of(s: &'a Subject) -> Self {
        match (&s.tenant, &s.device_id, s.host) {
            (t, Some(d), _) => Self::Named(t.as_ref().map(|t| t.as_str()), d.as_str()),
            (_, _, Some(h)) => Self::Host(canonical(h)),
            _ => Self::None,
        }
    }
}

/// The hash of a named key's text, written the same way for the owned and the borrowed form.
fn hash_name<H: std::hash::Hasher>(state: &mut H, tenant: &str, device: &str) {
    state.write_u8(0);
    let n = tenant.len() + 1 + device.len();
    let mut buf = [0u8; INLINE_NAME];
    if let Some(dst) = buf.get_mut(..n) {
        let (t, rest) = dst.split_at_mut(tenant.len());
        t.copy_from_slice(tenant.as_bytes());
        if let Some((slash, d)) = rest.split_first_mut() {
            *slash = b'/';
            d.copy_from_slice(device.as_bytes());
        }
        state.write(dst);
    } else {
        state.write(format!("{tenant}/{device}").as_bytes());
    }
}

fn hash_host<H: std::hash::Hasher>(state: &mut H, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            state.write_u8(1);
            state.write_u32(a.to_bits());
        }
        IpAddr::V6(a) => {
            state.write_u8(2);
            state.write_u128(a.to_bits());
        }
    }
}

impl Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::Named(s) => {
                state.write_u8(0);
                state.write(s.as_bytes());
            }
            Self::Host(ip) => hash_host(state, *ip),
            Self::None => state.write_u8(3),
        }
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match *self {
            Self::Named(t, d) => hash_name(state, t.unwrap_or(""), d),
            Self::Host(ip) => hash_host(state, ip),
            Self::None => state.write_u8(3),
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (*self, key) {
            (Self::Named(t, d), Key::Named(s)) => s
                .strip_prefix(t.unwrap_or(""))
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|r| r == d),
            (Self::Host(a), Key::Host(b)) => a == *b,
            (Self::None, Key::None) => true,
            _ => false,
        }
    }
}

impl From<KeyRef<'_>> for Key {
    fn from(k: KeyRef<'_>) -> Self {
        match k {
            KeyRef::Named(t, d) => Self::Named(format!("{}/{d}", t.unwrap_or("")).into_boxed_str()),
            KeyRef::Host(ip) => Self::Host(ip),
            KeyRef::None => Self::None,
        }
    }
}

impl From<&KeyRef<'_>> for Key {
    fn from(k: &KeyRef<'_>) -> Self {
        Self::from(*k)
    }
}

impl Key {
    /// The subject back (host-keyed subjects carry only the address).
    pub(crate) fn subject(&self) -> Subject {
        match self {
            Self::Named(s) => {
                let (t, d) = s.split_once('/').unwrap_or(("", s));
                Subject {
                    tenant: rampart_core::TenantId::parse(t).ok(),
                    device_id: rampart_core::DeviceId::parse(d).ok(),
                    host: None,
                }
            }
            Self::Host(ip) => Subject {
                tenant: None,
                device_id: None,
                host: Some(*ip),
            },
            Self::None => Subject::default(),
        }
    }

    pub(crate) fn of(s: &Subject) -> Self {
        Self::from(KeyRef::of(s))
    }

    /// A stable 64-bit hash of the key (FNV over its text or address), for routing.
    pub(crate) fn route_hash(k: KeyRef<'_>) -> u64 {
        use crate::finding::Fnv;
        let mut h = Fnv::default();
        match k {
            KeyRef::Named(t, d) => {
                h.write(t.unwrap_or("").as_bytes());
                h.write(b"/");
                h.write(d.as_bytes());
            }
            KeyRef::Host(ip) => h.0 = Fnv::ip(ip),
            KeyRef::None => {}
        }
        h.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn subject(t: Option<&str>, d: Option<&str>, h: Option<&str>) -> Subject {
        Subject {
            tenant: t.and_then(|t| rampart_core::TenantId::parse(t).ok()),
            device_id: d.and_then(|d| rampart_core::DeviceId::parse(d).ok()),
            host: h.and_then(|h| h.parse().ok()),
        }
    }

    #[test]
    fn borrowed_and_owned_keys_hash_and_compare_alike() {
        let b = Hasher::default();
        let long = "d".repeat(120);
        for s in [
            subject(Some("acme"), Some("dev-1"), Some("10.0.0.1")),
            subject(None, Some("dev/2"), None),
            subject(Some("acme"), Some(long.as_str()), None),
            subject(None, None, Some("::ffff:10.0.0.9")),
            subject(None, None, Some("fd00::1")),
            subject(None, None, None),
        ] {
            let r = KeyRef::of(&s);
            let k = Key::of(&s);
            assert_eq!(b.hash_one(r), b.hash_one(&k), "{s:?}");
            assert!(r.equivalent(&k), "{s:?}");
            assert_eq!(Key::of(&k.subject()), k, "{s:?}");
        }
        let a = subject(Some("acme"), Some("dev-1"), None);
        let other = Key::of(&subject(Some("acme"), Some("dev-2"), None));
        assert!(!KeyRef::of(&a).equivalent(&other));
        let no_tenant = Key::of(&subject(None, Some("dev-1"), None));
        assert!(!KeyRef::of(&a).equivalent(&no_tenant));
    }

    #[test]
    fn names_longer_than_the_inline_buffer_hash_alike() {
        let b = Hasher::default();
        let t = "t".repeat(200);
        let d = "d".repeat(128);
        let r = KeyRef::Named(Some(&t), &d);
        let k = Key::from(r);
        assert_eq!(b.hash_one(r), b.hash_one(&k));
        assert!(r.equivalent(&k));
    }
}
