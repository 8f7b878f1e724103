//! What was posted and what arrived. Every post gets a sequence number (carried in its
//! text) and a bit mask of the group members whose stream delivered it, so a second
//! delivery to the same member is a duplicate and a missing bit is a loss.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to an hour.
const MAX_MICROS: u64 = 3_600_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostState {
    InFlight,
    Created,
    Failed,
}

#[derive(Debug)]
struct Post {
    group: u32,
    phase: u32,
    sent_at: Instant,
    state: PostState,
    delivered_to: u64,
}

/// Counts and histograms of one phase.
#[derive(Debug)]
pub struct PhaseTally {
    pub started: Instant,
    /// The sequence number of the phase's first post (phases run one after another).
    first_seq: usize,
    /// Post → `signal.created` parsed by a receiving stream.
    pub delivery: Histogram<u64>,
    /// Post → its HTTP answer.
    pub answer: Histogram<u64>,
    pub deliveries: u64,
    pub duplicates: u64,
    /// Deliveries to a stream whose user is not in the post's group.
    pub misrouted: u64,
    pub last_delivery: Option<Instant>,
    pub last_answer: Option<Instant>,
}

impl PhaseTally {
    fn new(first_seq: usize) -> Self {
        let hist = || Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid bounds");
        Self {
            started: Instant::now(),
            first_seq,
            delivery: hist(),
            answer: hist(),
            deliveries: 0,
            duplicates: 0,
            misrouted: 0,
            last_delivery: None,
            last_answer: None,
        }
    }
}

/// The outcome of a phase's posts, once the phase is over.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostCounts {
    pub created: u64,
    pub failed: u64,
    pub in_flight: u64,
    /// Member deliveries the created posts should have caused.
    pub expected: u64,
    /// Of those, how many never arrived.
    pub lost: u64,
}

#[derive(Debug, Default)]
struct Inner {
    posts: Vec<Post>,
    phases: Vec<PhaseTally>,
    /// `signal.created` events whose text is not one of our posts.
    foreign: u64,
    /// `resync` events: a stream fell behind and the server said so.
    resyncs: u64,
    /// Streams that ended or failed before the run was over.
    streams_ended: u64,
}

/// Shared by the posters and every receiving stream.
#[derive(Debug)]
pub struct Tally {
    group_size: usize,
    inner: Mutex<Inner>,
}

impl Tally {
    pub fn new(group_size: usize) -> Self {
        assert!((1..=64).contains(&group_size), "group size 1 to 64");
        Self { group_size, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a phase; returns its number.
    pub fn begin_phase(&self) -> u32 {
        let mut inner = self.lock();
        let first_seq = inner.posts.len();
        inner.phases.push(PhaseTally::new(first_seq));
        (inner.phases.len() - 1) as u32
    }

    /// Registers a post about to be sent; returns its sequence number and send time.
    pub fn begin_post(&self, phase: u32, group: u32) -> (u64, Instant) {
        let mut inner = self.lock();
        let sent_at = Instant::now();
        inner.posts.push(Post { group, phase, sent_at, state: PostState::InFlight, delivered_to: 0 });
        ((inner.posts.len() - 1) as u64, sent_at)
    }

    /// Records the HTTP answer of a post.
    pub fn end_post(&self, seq: u64, created: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(post) = inner.posts.get_mut(seq as usize) else {
            return;
        };
        post.state = if created { PostState::Created } else { PostState::Failed };
        let (phase, sent_at) = (post.phase as usize, post.sent_at);
        let tally = &mut inner.phases[phase];
        tally.answer.saturating_record(micros(now.duration_since(sent_at)));
        tally.last_answer = Some(now);
    }

    /// Records that the stream of `member` (its index in `group`) parsed post `seq` at `at`.
    pub fn delivered(&self, seq: u64, group: u32, member: usize, at: Instant) {
        let mut inner = self.lock();
        let Some(post) = inner.posts.get_mut(seq as usize) else {
            inner.foreign += 1;
            return;
        };
        let (phase, sent_at) = (post.phase as usize, post.sent_at);
        let bit = 1u64 << member;
        let outcome = if post.group != group {
            Outcome::Misrouted
        } else if post.delivered_to & bit != 0 {
            Outcome::Duplicate
        } else {
            post.delivered_to |= bit;
            Outcome::First
        };
        let tally = &mut inner.phases[phase];
        match outcome {
            Outcome::Misrouted => tally.misrouted += 1,
            Outcome::Duplicate => tally.duplicates += 1,
            Outcome::First => {
                tally.deliveries += 1;
                tally.delivery.saturating_record(micros(at.saturating_duration_since(sent_at)));
                tally.last_delivery = Some(at);
            }
        }
    }

    pub fn foreign(&self) {
        self.lock().foreign += 1;
    }

    pub fn resync(&self) {
        self.lock().resyncs += 1;
    }

    pub fn stream_ended(&self) {
        self.lock().streams_ended += 1;
    }

    /// (foreign events, resyncs, streams ended) so far.
    pub fn stream_trouble(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        (inner.foreign, inner.resyncs, inner.streams_ended)
    }

    /// Where the posts of `phase` stand.
    pub fn post_counts(&self, phase: u32) -> PostCounts {
        let inner = self.lock();
        let mut c = PostCounts::default();
        let first = inner.phases[phase as usize].first_seq;
        for post in inner.posts[first..].iter().filter(|p| p.phase == phase) {
            match post.state {
                PostState::InFlight => c.in_flight += 1,
                PostState::Failed => c.failed += 1,
                PostState::Created => {
                    c.created += 1;
                    c.expected += self.group_size as u64;
                    c.lost += self.group_size as u64 - u64::from(post.delivered_to.count_ones());
                }
            }
        }
        c
    }

    /// Runs `f` on the tally of `phase`.
    pub fn with_phase<T>(&self, phase: u32, f: impl FnOnce(&PhaseTally) -> T) -> T {
        f(&self.lock().phases[phase as usize])
    }
}

enum Outcome {
    First,
    Duplicate,
    Misrouted,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_duplicates_and_misroutes_are_counted() {
        let t = Tally::new(3);
        let phase = t.begin_phase();
        let (a, _) = t.begin_post(phase, 0);
        let (b, _) = t.begin_post(phase, 1);
        t.end_post(a, true);
        t.end_post(b, true);
        let now = Instant::now();
        for member in 0..3 {
            t.delivered(a, 0, member, now);
        }
        t.delivered(a, 0, 1, now); // again
        t.delivered(b, 0, 0, now); // to a stream of another group
        t.delivered(b, 1, 2, now);
        let c = t.post_counts(phase);
        assert_eq!((c.created, c.expected, c.lost), (2, 6, 2));
        t.with_phase(phase, |p| {
            assert_eq!((p.deliveries, p.duplicates, p.misrouted), (4, 1, 1));
        });
    }
}
