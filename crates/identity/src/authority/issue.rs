//! Issuance in two steps, so that the costly part runs on every core and the index stays
//! ordered and durable.
//!
//! [`Authority::sign_request`] is CPU only and runs on any thread: the CSR's signature (proof of
//! possession), the profile's key policy, the certificate built and signed.
//! [`Authority::commit`] applies the duplicate-key policy (against the index, the batch itself
//! and the keys other commits are recording right now), then appends the batch to the index
//! with one fdatasync, shared with concurrent commits. A certificate leaves the authority only
//! in the result of its commit, so whatever a caller hands out is in the index durably.

use std::collections::HashMap;
use std::sync::PoisonError;

use rampart_core::{DeviceId, TenantId};

use super::{Authority, Issued};
use crate::index::CertRecord;
use crate::{IdentityError, csr};

/// Keys (SPKI SHA-256) being recorded → (tenant, device, commits recording it).
pub(super) type InFlight = HashMap<String, (String, String, usize)>;

/// Counted when a key is refused because another device holds it.
const DUPLICATE_KEYS: &str = "rampart_identity_duplicate_key_total";

/// A certificate signed for a verified request, not recorded yet: it may be handed out only
/// once [`Authority::commit`] accepted it.
#[derive(Debug)]
pub struct Signed {
    issued: Issued,
    reject_duplicates: bool,
}

impl Signed {
    /// What the index will record.
    pub fn record(&self) -> &CertRecord {
        &self.issued.record
    }
}

/// Worker threads for parallel issuance: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Maps `f` over `items` on up to `threads` scoped threads (contiguous slices), results in
/// item order.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                // `f` does not panic on input; should it anyway, the panic goes on up.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

impl Authority {
    /// Verifies a DER CSR (its signature with the enclosed key), applies the profile's key
    /// policy and signs the device certificate, without recording it: pass the result to
    /// [`Self::commit`]. Safe to call from many threads at once.
    pub fn sign_request(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &str,
        csr_der: &[u8],
    ) -> Result<Signed, IdentityError> {
        let profile = self.profile(profile)?;
        let csr = csr::verify(csr_der)?;
        Self::key_policy(profile, &csr.key_type)?;
        let issued = self.sign(tenant, device, profile, &csr)?;
        Ok(Signed {
            issued,
            reject_duplicates: profile.reject_duplicate_keys,
        })
    }

    /// Refuses a signed certificate whose key the index already holds for another device (when
    /// its profile says so), without recording anything: lets a caller check before it spends
    /// something (an enrolment token). [`Self::commit`] checks again.
    pub fn check_duplicate(&self, signed: &Signed) -> Result<(), IdentityError> {
        if !signed.reject_duplicates {
            return Ok(());
        }
        let r = &signed.issued.record;
        match self.key_holder(&r.tenant, &r.subject, &r.spki_sha256) {
            Some(other) => Err(duplicate_in_index(&other)),
            None => Ok(()),
        }
    }

    /// Records a batch of signed certificates, in order, with one index sync: each is first
    /// checked against the duplicate-key policy (against the index, the batch's earlier
    /// entries and commits in progress). Requests that failed earlier pass through as failures;
    /// the results come back in batch order. Only an index failure fails the whole batch, and
    /// then nothing of it was handed out.
    pub fn commit(
        &self,
        batch: Vec<Result<Signed, IdentityError>>,
    ) -> Result<Vec<Result<Issued, IdentityError>>, IdentityError> {
        // Keys this commit put in flight, to take out again when it is recorded (or not).
        let mut mine = Vec::new();
        let mut checked: Vec<_> = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            batch
                .into_iter()
                .map(|item| item.and_then(|s| self.admit(s, &mut in_flight, &mut mine)))
                .collect()
        };
        // The records are lent to the index and put back, not copied.
        let records: Vec<CertRecord> = checked
            .iter_mut()
            .flatten()
            .map(|s| std::mem::replace(&mut s.issued.record, CertRecord::placeholder()))
            .collect();
        let recorded = self.index.insert(&records);
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in &mine {
                if let Some(entry) = in_flight.get_mut(key) {
                    entry.2 = entry.2.saturating_sub(1);
                    if entry.2 == 0 {
                        in_flight.remove(key);
                    }
                }
            }
        }
        recorded?;
        metrics::counter!("rampart_identity_issued_total").increment(records.len() as u64);
        let mut back = records.into_iter();
        for s in checked.iter_mut().flatten() {
            if let Some(r) = back.next() {
                s.issued.record = r;
            }
        }
        Ok(checked.into_iter().map(|r| r.map(|s| s.issued)).collect())
    }

    fn admit(
        &self,
        signed: Signed,
        in_flight: &mut InFlight,
        mine: &mut Vec<String>,
    ) -> Result<Signed, IdentityError> {
        let r = &signed.issued.record;
        if signed.reject_duplicates {
            if let Some(other) = self.key_holder(&r.tenant, &r.subject, &r.spki_sha256) {
                return Err(duplicate_in_index(&other));
            }
            if let Some((t, d, _)) = in_flight.get(&r.spki_sha256)
                && (*t != r.tenant || *d != r.subject)
            {
                metrics::counter!(DUPLICATE_KEYS).increment(1);
                let which = if mine.contains(&r.spki_sha256) {
                    "also in this batch"
                } else {
                    "being certified right now"
                };
                return Err(IdentityError::Policy(format!(
                    "public key {which} for device {d}"
                )));
            }
        }
        in_flight
            .entry(r.spki_sha256.clone())
            .or_insert_with(|| (r.tenant.clone(), r.subject.clone(), 0))
            .2 += 1;
        mine.push(r.spki_sha256.clone());
        Ok(signed)
    }

    /// Another device's certificate carrying the key `spki_sha256`, if the index has one.
    pub(super) fn key_holder(
        &self,
        tenant: &str,
        subject: &str,
        spki_sha256: &str,
    ) -> Option<CertRecord> {
        self.index
            .by_spki(spki_sha256)
            .into_iter()
            .find(|r| r.tenant != tenant || r.subject != subject)
    }

    /// Verifies a CSR, applies policy, signs and records a device certificate (one index sync).
    pub fn issue(
        &self,
        tenant: &TenantId,
        device: &DeviceId,
        profile: &str,
        csr_der: &[u8],
    ) -> Result<Issued, IdentityError> {
        let signed = self.sign_request(tenant, device, profile, csr_der)?;
        self.commit_one(signed)
    }

    /// Records one signed certificate (see [`Self::commit`]).
    pub fn commit_one(&self, signed: Signed) -> Result<Issued, IdentityError> {
        let issued = self
            .commit(vec![Ok(signed)])?
            .pop()
            .unwrap_or_else(|| Err(IdentityError::generate("empty commit")))?;
        let r = &issued.record;
        tracing::info!(
            tenant = %r.tenant, device = %r.subject, serial = %r.serial,
            profile = %r.profile, "certificate issued"
        );
        Ok(issued)
    }

    /// Issues many device certificates: verified and signed on every core, recorded with a
    /// single index sync. Each request succeeds or fails on its own; the results come back in
    /// request order.
    pub fn issue_batch(
        &self,
        profile: &str,
        requests: &[(TenantId, DeviceId, Vec<u8>)],
    ) -> Result<Vec<Result<Issued, IdentityError>>, IdentityError> {
        self.issue_batch_threads(profile, requests, default_threads())
    }

    /// [`Self::issue_batch`] on at most `threads` threads.
    pub fn issue_batch_threads(
        &self,
        profile: &str,
        requests: &[(TenantId, DeviceId, Vec<u8>)],
        threads: usize,
    ) -> Result<Vec<Result<Issued, IdentityError>>, IdentityError> {
        self.profile(profile)?;
        let signed = parallel_map(requests, threads, |(tenant, device, der)| {
            self.sign_request(tenant, device, profile, der)
        });
        self.commit(signed)
    }
}

pub(super) fn duplicate_in_index(other: &CertRecord) -> IdentityError {
    metrics::counter!(DUPLICATE_KEYS).increment(1);
    IdentityError::Policy(format!(
        "public key already certified for another device (serial {})",
        other.serial
    ))
}

#[cfg(test)]
#[path = "issue_tests.rs"]
mod tests;
