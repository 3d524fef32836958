//! One retry policy shared by every action: bounded attempts, exponential backoff with a cap,
//! and jitter so that many actions started by one incident do not retry in lockstep.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often and how patiently an action is retried.
///
/// The delay before attempt `n + 1` is `min(base_delay * 2^(n-1), max_delay)`, reduced by a
/// random fraction of at most `jitter` (0 = none, 1 = anywhere between zero and the full
/// delay). For RADIUS the same delays are the retransmission timeouts: the client keeps
/// listening for a late answer while it waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt.
    #[serde(with = "millis")]
    pub base_delay: Duration,
    /// Largest delay between two attempts.
    #[serde(with = "millis")]
    pub max_delay: Duration,
    /// Fraction of each delay that is randomised, in `0.0..=1.0`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            jitter: 0.2,
        }
    }
}

/// How one failed attempt should be treated.
#[derive(Debug)]
pub enum Attempt<E> {
    /// Worth trying again (timeout, 5xx, 429, connection refused).
    Retry(E),
    /// Trying again cannot help (4xx, bad configuration, the peer said no).
    Fatal(E),
}

/// The result of [`RetryPolicy::run`] with the number of attempts it took.
#[derive(Debug)]
pub struct Retried<T, E> {
    /// The last attempt's result.
    pub result: Result<T, E>,
    /// Attempts made.
    pub attempts: u32,
}

impl RetryPolicy {
    /// Attempts, never below one: a zero in a configuration file still means "try once".
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The delay after `failed` attempts (1-based) before jitter.
    pub fn backoff(&self, failed: u32) -> Duration {
        let shift = failed.saturating_sub(1).min(31);
        let factor = 1u32 << shift;
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay after `failed` attempts with jitter drawn from `unit` in `[0, 1)`.
    pub fn delay_with(&self, failed: u32, unit: f64) -> Duration {
        let full = self.backoff(failed);
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        full.mul_f64(1.0 - jitter)
    }

    /// The delay after `failed` attempts with fresh jitter.
    pub fn delay(&self, failed: u32) -> Duration {
        self.delay_with(failed, random_unit())
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails fatally or the
    /// attempts run out, sleeping between attempts. `op` must be idempotent.
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Retried<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Attempt<E>>>,
    {
        let max = self.attempts();
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(value) => {
                    return Retried {
                        result: Ok(value),
                        attempts: attempt,
                    };
                }
                Err(Attempt::Fatal(error)) => {
                    return Retried {
                        result: Err(error),
                        attempts: attempt,
                    };
                }
                Err(Attempt::Retry(error)) if attempt >= max => {
                    return Retried {
                        result: Err(error),
                        attempts: attempt,
                    };
                }
                Err(Attempt::Retry(error)) => {
                    drop(error);
                    tracing::debug!(attempt, "attempt failed, retrying");
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A uniform draw from `[0, 1)`; falls back to the middle if the OS has no randomness to give,
/// which only loses spread, never correctness.
pub(crate) fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or(1 << 63) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Durations as integer milliseconds in configuration files.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            jitter: 0.5,
        };
        let got: Vec<_> = (1..=6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_millis(1000));
        assert_eq!(p.delay_with(2, 0.0), Duration::from_millis(200));
        assert_eq!(
            p.delay_with(2, 0.999_999),
            Duration::from_micros(100_000) + Duration::from_nanos(100)
        );
        for _ in 0..100 {
            let d = p.delay(3);
            assert!(d <= Duration::from_millis(400) && d >= Duration::from_millis(200));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_on_fatal_and_counts() {
        let p = RetryPolicy::default();
        let r: Retried<(), &str> = p.run(|_| async { Err(Attempt::Retry("busy")) }).await;
        assert_eq!(r.attempts, 4);
        let r: Retried<(), &str> = p.run(|_| async { Err(Attempt::Fatal("no")) }).await;
        assert_eq!(r.attempts, 1);
        let r: Retried<u32, &str> = p
            .run(|n| async move {
                if n < 3 {
                    Err(Attempt::Retry("x"))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!((r.result.ok(), r.attempts), (Some(3), 3));
    }
}
