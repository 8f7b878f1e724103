//! The posting phases. Open loop: sends are due at a fixed offered rate whatever the
//! answers do (each send is its own task, up to a cap in flight). Closed loop: a fixed
//! number of posters, each sending its next message once the previous one is answered.
//! Both stop at their duration or their post count, whichever comes first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use crate::api::Api;
use crate::setup::Group;
use crate::stream::message_text;
use crate::tally::Tally;

/// What the posters need, shared by their tasks.
#[derive(Debug)]
pub struct Posting {
    /// One per node; posts go to them in turn.
    pub apis: Vec<Api>,
    pub groups: Vec<Group>,
    pub tally: Arc<Tally>,
    pub text_bytes: usize,
    /// Tells this run's nonces apart from any earlier run's.
    pub run_tag: String,
    /// Deliveries are push notifications (`--deliver webhook`).
    pub pushes: bool,
}

impl Posting {
    /// Sends the `n`-th post of a phase: groups take turns, and so do the members of each,
    /// and the nodes.
    async fn post(&self, phase: u32, n: u64) {
        let groups = self.groups.len() as u64;
        let group = &self.groups[(n % groups) as usize];
        let author_index = ((n / groups) % group.members.len() as u64) as usize;
        let author = &group.members[author_index];
        let node = (n % self.apis.len() as u64) as usize;
        // Pushes never go to the author; live streams do.
        let exempt = if self.pushes { 1u64 << author_index } else { 0 };
        let (seq, _) = self.tally.begin_post(phase, (n % groups) as u32, node as u8, exempt);
        let text = message_text(seq, self.text_bytes);
        let nonce = format!("{}-{seq}", self.run_tag);
        let created = self.apis[node]
            .post_message(author, &group.id, &text, &nonce)
            .await
            .is_ok_and(|status| status == reqwest::StatusCode::CREATED);
        self.tally.end_post(seq, created);
    }
}

/// How a phase's sending went, beyond what the tally knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Sends that were due but not made because `max_in_flight` posts were unanswered.
    pub skipped: u64,
    /// Whether every answer came before the drain time was up.
    pub all_answered: bool,
}

/// Posts at `rate` per second for `duration` (at most `max_posts`), then waits up to
/// `drain` for the answers.
pub async fn open_loop(
    posting: &Arc<Posting>,
    phase: u32,
    rate: f64,
    duration: Duration,
    max_posts: u64,
    max_in_flight: usize,
    drain: Duration,
) -> Sent {
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let (mut due_so_far, mut sent, mut skipped) = (0u64, 0u64, 0u64);
    loop {
        tick.tick().await;
        let elapsed = start.elapsed();
        if elapsed >= duration || due_so_far >= max_posts {
            break;
        }
        let due = ((elapsed.as_secs_f64() * rate) as u64 + 1).min(max_posts);
        while due_so_far < due {
            due_so_far += 1;
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let posting = posting.clone();
                    let n = sent;
                    tokio::spawn(async move {
                        posting.post(phase, n).await;
                        drop(permit);
                    });
                    sent += 1;
                }
                Err(_) => skipped += 1,
            }
        }
    }
    let all_answered = tokio::time::timeout(drain, permits.acquire_many(max_in_flight as u32)).await.is_ok();
    Sent { skipped, all_answered }
}

/// Runs `posters` posters for `duration` (at most `max_posts` posts in all), then waits
/// up to `drain` for the last answers.
pub async fn closed_loop(
    posting: &Arc<Posting>,
    phase: u32,
    posters: usize,
    duration: Duration,
    max_posts: u64,
    drain: Duration,
) -> Sent {
    let end = Instant::now() + duration;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..posters)
        .map(|_| {
            let (posting, next) = (posting.clone(), next.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= max_posts {
                        break;
                    }
                    posting.post(phase, n).await;
                }
            })
        })
        .collect();
    let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
    let all_answered = tokio::time::timeout(duration + drain, futures::future::join_all(workers)).await.is_ok();
    aborts.iter().for_each(|a| a.abort());
    Sent { skipped: 0, all_answered }
}

/// Waits until every created post of `phase` reached all its group's streams, or `drain`
/// is up.
pub async fn await_deliveries(tally: &Tally, phase: u32, drain: Duration) {
    let until = Instant::now() + drain;
    while Instant::now() < until {
        let c = tally.post_counts(phase);
        if c.in_flight == 0 && c.lost == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
