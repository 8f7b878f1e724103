//! The posting phases. Open loop: sends are due at a fixed offered rate whatever the
//! answers do (each send is its own task, up to a cap in flight). Closed loop: a fixed
//! number of posters, each sending its next message once the previous one is answered.
//! Both stop at their duration or their post count, whichever comes first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use crate::api::{Api, Refusal};
use crate::cli::RunArgs;
use crate::setup::Group;
use crate::stream::message_text;
use crate::tally::Tally;
use crate::timeline::Timeline;
use crate::verify::Reactions;

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
    /// How long a refused request is tried again (with the same nonce, on the next node);
    /// none: it is not.
    pub retry: Option<Duration>,
    /// Members who react to each acknowledged post (`--reactors`).
    pub reactors: usize,
    pub reactions: Arc<Reactions>,
    pub timeline: Arc<Timeline>,
}

/// The reaction the load adds.
pub const EMOJI: &str = "👍";
/// Pause before a refused request (or a stream opening, or a setup call) is tried again.
pub const RETRY_PAUSE: Duration = Duration::from_millis(250);

impl Posting {
    /// Sends the `n`-th post of a phase: groups take turns, and so do the members of each,
    /// and the nodes. `due`: when an open loop owed it.
    async fn post(&self, phase: u32, n: u64, due: Option<Instant>) {
        let groups = self.groups.len() as u64;
        let group_index = (n % groups) as u32;
        let group = &self.groups[group_index as usize];
        let author_index = ((n / groups) % group.members.len() as u64) as usize;
        let author = &group.members[author_index];
        let node = (n % self.apis.len() as u64) as usize;
        // Pushes never go to the author; live streams do.
        let exempt = if self.pushes { 1u64 << author_index } else { 0 };
        let (seq, _) = self.tally.begin_post(phase, group_index, node as u8, exempt, due);
        let text = message_text(seq, self.text_bytes);
        let nonce = format!("{}-{seq}", self.run_tag);
        let answer = self
            .attempt("post", node, |api| {
                let (text, nonce) = (&text, &nonce);
                async move { api.post_message(author, &group.id, text, nonce).await }
            })
            .await;
        self.tally.end_post(seq, answer.is_some());
        let Some(answer) = answer else { return };
        self.timeline.post_acked(answer.status == reqwest::StatusCode::OK);
        let reactions = (1..=self.reactors).map(|k| {
            let member = (author_index + k) % group.members.len();
            let (user, signal) = (&group.members[member], &answer.id);
            async move {
                self.reactions.tried(signal, group_index);
                let done = self
                    .attempt("react", node + k, |api| async move { api.react(user, &group.id, signal, EMOJI).await })
                    .await;
                if done.is_some() {
                    self.timeline.reaction_acked();
                    self.reactions.acked(signal);
                }
            }
        });
        futures::future::join_all(reactions).await;
    }

    /// Makes a request on node `first`; while it is refused and retries are on, again on the
    /// next node, until the retry time is up. Every refusal goes in the timeline.
    async fn attempt<'a, T, F, Fut>(&'a self, kind: &str, first: usize, request: F) -> Option<T>
    where
        F: Fn(&'a Api) -> Fut,
        Fut: std::future::Future<Output = Result<T, Refusal>>,
    {
        let until = Instant::now() + self.retry.unwrap_or_default();
        let mut node = first;
        loop {
            match request(&self.apis[node % self.apis.len()]).await {
                Ok(answer) => return Some(answer),
                Err(why) => self.timeline.refused(kind, why),
            }
            if self.retry.is_none() || Instant::now() >= until {
                return None;
            }
            node += 1;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
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

/// Posts at `rate` per second for `duration` (at most `--max-posts`, and until
/// `--stop-file` exists), then waits up to `--drain` for the answers.
pub async fn open_loop(posting: &Arc<Posting>, phase: u32, rate: f64, duration: Duration, args: &RunArgs) -> Sent {
    let (max_posts, max_in_flight, drain) = (args.max_posts, args.max_in_flight, args.drain);
    let stop_file = args.stop_file.as_deref();
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let (mut due_so_far, mut sent, mut skipped) = (0u64, 0u64, 0u64);
    let mut stop_checked = start;
    loop {
        tick.tick().await;
        let elapsed = start.elapsed();
        if elapsed >= duration || due_so_far >= max_posts {
            break;
        }
        if let Some(stop) = stop_file.filter(|_| stop_checked.elapsed() >= Duration::from_millis(500)) {
            stop_checked = Instant::now();
            if stop.exists() {
                break;
            }
        }
        let due = ((elapsed.as_secs_f64() * rate) as u64 + 1).min(max_posts);
        while due_so_far < due {
            // The k-th send (from 0) is due k / rate seconds into the phase.
            let due_at = start + Duration::from_secs_f64(due_so_far as f64 / rate);
            due_so_far += 1;
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    let posting = posting.clone();
                    let n = sent;
                    tokio::spawn(async move {
                        posting.post(phase, n, Some(due_at)).await;
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
                    posting.post(phase, n, None).await;
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
