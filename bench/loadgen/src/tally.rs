//! What was posted and what arrived. Every post gets a sequence number (carried in its
//! text) and a bit mask of the group members whose stream delivered it, so a second
//! delivery to the same member is a duplicate and a missing bit is a loss. With more than
//! one node, each delivery is also filed by its path: the receiving stream on the node the
//! post was sent to (same node) or on another (cross node).

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
    /// The node the post was sent to.
    node: u8,
    sent_at: Instant,
    state: PostState,
    delivered_to: u64,
    /// Members not expected to get it (the author, when deliveries are pushes).
    exempt: u64,
}

/// Counts and histograms of one phase.
#[derive(Debug)]
pub struct PhaseTally {
    pub started: Instant,
    /// The sequence number of the phase's first post (phases run one after another).
    first_seq: usize,
    /// Post → `signal.created` parsed by a receiving stream.
    pub delivery: Histogram<u64>,
    /// The same, for deliveries by a stream on another node than the post's (cluster only).
    pub delivery_cross: Histogram<u64>,
    /// ... and by a stream on the post's node.
    pub delivery_same: Histogram<u64>,
    /// Post → its HTTP answer.
    pub answer: Histogram<u64>,
    /// Open loop: a send's due time → when it was made (the load generator's own delay,
    /// which sends the posts it owes at once, as a burst).
    pub late: Histogram<u64>,
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
            delivery_cross: hist(),
            delivery_same: hist(),
            answer: hist(),
            late: hist(),
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
    /// Of the expected deliveries, those to a stream on another node than the post's...
    pub expected_cross: u64,
    /// ... and how many of them never arrived.
    pub lost_cross: u64,
}

/// The node (index of its `--base`) of the stream of `member` of `group`: members are
/// spread round-robin over the nodes in the order the streams are opened.
pub fn stream_node(group: u32, member: usize, group_size: usize, nodes: usize) -> u8 {
    ((group as usize * group_size + member) % nodes.max(1)) as u8
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
    nodes: usize,
    inner: Mutex<Inner>,
}

impl Tally {
    pub fn new(group_size: usize, nodes: usize) -> Self {
        assert!((1..=64).contains(&group_size), "group size 1 to 64");
        assert!((1..=255).contains(&nodes), "1 to 255 nodes");
        Self { group_size, nodes, inner: Mutex::new(Inner::default()) }
    }

    /// The members of `group` whose stream is on another node than `node`, as a bit mask.
    fn cross_mask(&self, group: u32, node: u8) -> u64 {
        (0..self.group_size)
            .filter(|&m| stream_node(group, m, self.group_size, self.nodes) != node)
            .fold(0, |mask, m| mask | 1 << m)
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

    /// Registers a post about to be sent to `node`; returns its sequence number and send time.
    /// The members of mask `exempt` are not to receive it (the author of a push). `due`: when
    /// an open loop owed it.
    pub fn begin_post(&self, phase: u32, group: u32, node: u8, exempt: u64, due: Option<Instant>) -> (u64, Instant) {
        let mut inner = self.lock();
        let sent_at = Instant::now();
        if let Some(due) = due {
            inner.phases[phase as usize].late.saturating_record(micros(sent_at.saturating_duration_since(due)));
        }
        inner.posts.push(Post { group, phase, node, sent_at, state: PostState::InFlight, delivered_to: 0, exempt });
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
        let stream_node = stream_node(group, member, self.group_size, self.nodes);
        let mut inner = self.lock();
        let Some(post) = inner.posts.get_mut(seq as usize) else {
            inner.foreign += 1;
            return;
        };
        let (phase, sent_at, cross) = (post.phase as usize, post.sent_at, post.node != stream_node);
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
                let latency = micros(at.saturating_duration_since(sent_at));
                tally.deliveries += 1;
                tally.delivery.saturating_record(latency);
                if self.nodes > 1 {
                    let by_path = if cross { &mut tally.delivery_cross } else { &mut tally.delivery_same };
                    by_path.saturating_record(latency);
                }
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
                    let all = if self.group_size == 64 { u64::MAX } else { (1u64 << self.group_size) - 1 };
                    let expected = all & !post.exempt;
                    c.expected += u64::from(expected.count_ones());
                    c.lost += u64::from((expected & !post.delivered_to).count_ones());
                    if self.nodes > 1 {
                        let cross = self.cross_mask(post.group, post.node) & expected;
                        c.expected_cross += u64::from(cross.count_ones());
                        c.lost_cross += u64::from((cross & !post.delivered_to).count_ones());
                    }
                }
            }
        }
        c
    }

    /// Every post so far, by sequence number: its group, and whether it was acknowledged
    /// (`Some(true)`), refused to the end (`Some(false)`) or never answered (`None`).
    pub fn outcomes(&self) -> Vec<(u32, Option<bool>)> {
        let inner = self.lock();
        inner
            .posts
            .iter()
            .map(|p| {
                let outcome = match p.state {
                    PostState::InFlight => None,
                    PostState::Created => Some(true),
                    PostState::Failed => Some(false),
                };
                (p.group, outcome)
            })
            .collect()
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
        let t = Tally::new(3, 1);
        let phase = t.begin_phase();
        let (a, _) = t.begin_post(phase, 0, 0, 0, None);
        let (b, _) = t.begin_post(phase, 1, 0, 0, None);
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
            assert!(p.delivery_cross.is_empty() && p.delivery_same.is_empty());
        });
        assert_eq!((c.expected_cross, c.lost_cross), (0, 0));
    }

    #[test]
    fn deliveries_are_filed_by_path_across_nodes() {
        // Groups of 4 over 2 nodes: members 0 and 2 stream from node 0, 1 and 3 from node 1.
        assert_eq!(stream_node(0, 2, 4, 2), 0);
        assert_eq!(stream_node(1, 3, 4, 2), 1);
        let t = Tally::new(4, 2);
        let phase = t.begin_phase();
        let (a, _) = t.begin_post(phase, 1, 1, 0, None);
        t.end_post(a, true);
        let now = Instant::now();
        for member in [0, 1, 3] {
            t.delivered(a, 1, member, now);
        }
        let c = t.post_counts(phase);
        assert_eq!((c.expected, c.lost, c.expected_cross, c.lost_cross), (4, 1, 2, 1));
        t.with_phase(phase, |p| {
            assert_eq!((p.delivery_cross.len(), p.delivery_same.len()), (1, 2));
        });
    }

    #[test]
    fn an_open_loop_send_made_late_is_counted_from_when_it_was_due() {
        let t = Tally::new(2, 1);
        let phase = t.begin_phase();
        let due = Instant::now().checked_sub(std::time::Duration::from_millis(40)).unwrap();
        t.begin_post(phase, 0, 0, 0, Some(due));
        t.begin_post(phase, 0, 0, 0, None);
        t.with_phase(phase, |p| {
            assert_eq!(p.late.len(), 1, "a closed-loop send owes nothing");
            assert!(p.late.max() >= 40_000, "late by at least 40 ms: {} µs", p.late.max());
        });
    }
}
