//! The reorder buffer behind the watermark: observations wait here until event time has
//! passed them, and leave in (event time, arrival) order.
//!
//! Most input arrives in event order, so an observation no older than the newest one held is
//! appended to a queue that stays sorted at O(1); only one that arrives out of order goes to a
//! heap. Release takes the smaller head of the two, which gives exactly the order one heap of
//! everything would.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rampart_bus::Observation;

/// An observation waiting for the watermark.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) at: i64,
    pub(crate) seq: u64,
    pub(crate) obs: Observation,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Observations held for reordering.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    /// In (at, seq) order: arrivals no older than the last one queued.
    queue: VecDeque<Pending>,
    /// The others.
    late: BinaryHeap<Reverse<Pending>>,
}

impl Reorder {
    /// Holds an observation. `seq` must grow with every call (it breaks ties in arrival order).
    pub(crate) fn push(&mut self, p: Pending) {
        match self.queue.back() {
            Some(last) if p.at < last.at => self.late.push(Reverse(p)),
            _ => self.queue.push_back(p),
        }
    }

    /// The oldest held observation, if its event time is at most `upto`.
    pub(crate) fn pop_upto(&mut self, upto: i64) -> Option<Pending> {
        let from_queue = match (self.queue.front(), self.late.peek()) {
            (Some(q), Some(Reverse(l))) => q <= l,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if from_queue {
            if self.queue.front().is_some_and(|p| p.at <= upto) {
                return self.queue.pop_front();
            }
        } else if self.late.peek().is_some_and(|Reverse(p)| p.at <= upto) {
            return self.late.pop().map(|Reverse(p)| p);
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.late.len()
    }

    /// Every held observation, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.queue
            .iter()
            .chain(self.late.iter().map(|Reverse(p)| p))
    }
}

impl FromIterator<Pending> for Reorder {
    fn from_iter<I: IntoIterator<Item = Pending>>(iter: I) -> Self {
        let mut v: Vec<Pending> = iter.into_iter().collect();
        v.sort();
        Self {
            queue: v.into(),
            late: BinaryHeap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_bus::{Attributed, Subject};
    use rampart_core::{DeviceMetrics, Timestamp};

    fn obs() -> Observation {
        Observation::Metrics(Box::new(Attributed {
            record: DeviceMetrics {
                time: Timestamp(0),
                ..Default::default()
            },
            subject: Subject::default(),
            subject_is_responder: false,
        }))
    }

    /// Whatever the arrival order, release order is (at, seq), as with one heap.
    #[test]
    fn releases_in_event_then_arrival_order() {
        let times = [5, 5, 3, 9, 1, 9, 9, 4, 12, 2, 12, 11, 20, 0];
        let mut r = Reorder::default();
        for (seq, &at) in times.iter().enumerate() {
            r.push(Pending {
                at,
                seq: seq as u64,
                obs: obs(),
            });
        }
        assert_eq!(r.len(), times.len());
        let mut got = Vec::new();
        assert!(r.pop_upto(-1).is_none());
        while let Some(p) = r.pop_upto(i64::MAX) {
            got.push((p.at, p.seq));
        }
        let mut want: Vec<(i64, u64)> = times
            .iter()
            .enumerate()
            .map(|(s, &a)| (a, s as u64))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
}
