//! Duplicate detection (RFC 5080 §2.2.2): a retransmission carries the same identifier and
//! authenticator from the same source. While the original is being committed it is dropped
//! (the answer is on its way); after, the cached answer is sent again.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Identity of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DupKey {
    pub(crate) source: SocketAddr,
    pub(crate) identifier: u8,
    pub(crate) authenticator: [u8; 16],
}

/// Where a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Being committed.
    Pending,
    /// Acknowledged with this response.
    Answered(Vec<u8>),
}

/// Bounded by time and count: the oldest entries go first.
#[derive(Debug)]
pub(crate) struct DupCache {
    window: Duration,
    max: usize,
    map: HashMap<DupKey, (Seen, Instant)>,
    order: VecDeque<(Instant, DupKey)>,
}

impl DupCache {
    pub(crate) fn new(window: Duration, max: usize) -> Self {
        Self {
            window,
            max,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn evict(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front().copied() {
            if now.duration_since(at) <= self.window && self.order.len() <= self.max {
                break;
            }
            self.order.pop_front();
            // Only forget answered requests (a pending one is still in the pipeline), and only
            // through the slot of their latest state.
            if self
                .map
                .get(&key)
                .is_some_and(|(s, t)| matches!(s, Seen::Answered(_)) && *t == at)
            {
                self.map.remove(&key);
            }
        }
    }

    /// The state of a request, or `None` after recording it as pending.
    pub(crate) fn check(&mut self, key: DupKey, now: Instant) -> Option<Seen> {
        self.evict(now);
        if let Some((seen, _)) = self.map.get(&key) {
            return Some(seen.clone());
        }
        self.map.insert(key, (Seen::Pending, now));
        self.order.push_back((now, key));
        None
    }

    /// Records the answer sent.
    pub(crate) fn answered(&mut self, key: DupKey, response: Vec<u8>, now: Instant) {
        self.map.insert(key, (Seen::Answered(response), now));
        // The window runs from the answer; the pending entry's slot may already be gone.
        self.order.push_back((now, key));
    }

    /// Forgets a request that was not committed, so that its retransmission is processed.
    pub(crate) fn forget(&mut self, key: &DupKey) {
        self.map.remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_states() {
        let mut c = DupCache::new(Duration::from_secs(30), 100);
        let key = DupKey {
            source: "127.0.0.1:5000".parse().expect("addr"),
            identifier: 7,
            authenticator: [1; 16],
        };
        let t0 = Instant::now();
        assert_eq!(c.check(key, t0), None);
        assert_eq!(c.check(key, t0), Some(Seen::Pending));
        c.answered(key, vec![5], t0);
        assert_eq!(c.check(key, t0), Some(Seen::Answered(vec![5])));
        assert_eq!(c.check(key, t0 + Duration::from_secs(31)), None, "expired");
        assert_eq!(c.len(), 1);
    }
}
