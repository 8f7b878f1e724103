//! Delayed notification jobs: one timer for all of them. A job waits here until it is due,
//! then goes to the notification log. One task sleeps until the earliest due time while
//! any job waits (a task per job held about 0.5 KiB each: one per online recipient of the
//! last minute's messages, bench/README.md, "Memory per open stream again").

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use domain::{NotifyJob, UserId};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::chat_log::ChatLog;

pub(crate) struct Delayed {
    /// Where due jobs go; gone once the bus is dropped.
    log: Weak<ChatLog<NotifyJob>>,
    state: Mutex<State>,
    /// Wakes the timer when a job due sooner than the one it sleeps for arrives.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Waiting jobs by due time, then arrival.
    due: BTreeMap<(Instant, u64), NotifyJob>,
    /// The (user, [`NotifyJob::delay_key`]) pairs of the waiting jobs.
    waiting: HashSet<(UserId, String)>,
    arrivals: u64,
    /// Whether the timer task runs (it ends when nothing waits).
    timer: bool,
}

impl Delayed {
    pub(crate) fn new(log: &Arc<ChatLog<NotifyJob>>) -> Self {
        Self { log: Arc::downgrade(log), state: Mutex::default(), wake: Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job` for `at`, unless a job of the same user and delay key waits already.
    pub(crate) fn queue(self: &Arc<Self>, job: &NotifyJob, at: Instant) {
        let (start, earliest) = {
            let mut state = self.lock();
            if !state.waiting.insert((job.user_id, job.delay_key())) {
                return;
            }
            let key = (at, state.arrivals);
            state.arrivals += 1;
            state.due.insert(key, job.clone());
            let earliest = state.due.keys().next() == Some(&key);
            (!std::mem::replace(&mut state.timer, true), earliest)
        };
        if start {
            tokio::spawn(run(self.clone()));
        } else if earliest {
            self.wake.notify_one();
        }
    }

    /// Takes the jobs due by `now`; then when the next is due, or `None` (and the timer
    /// stops) when nothing waits.
    fn take_due(&self, now: Instant) -> (Vec<NotifyJob>, Option<Instant>) {
        let mut state = self.lock();
        let mut due = Vec::new();
        while let Some(entry) = state.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            state.waiting.remove(&(job.user_id, job.delay_key()));
            due.push(job);
        }
        let next = state.due.keys().next().map(|(at, _)| *at);
        if next.is_none() && due.is_empty() {
            state.timer = false;
        }
        (due, next)
    }
}

/// The timer: publishes each job when it is due; ends when nothing waits, or when the log
/// is gone (the bus was dropped).
async fn run(delayed: Arc<Delayed>) {
    loop {
        let (due, next) = delayed.take_due(Instant::now());
        if !due.is_empty() {
            let Some(log) = delayed.log.upgrade() else { return };
            for job in &due {
                log.publish(job).await;
            }
            continue;
        }
        let Some(next) = next else { return };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = delayed.wake.notified() => {}
        }
        if delayed.log.strong_count() == 0 {
            return;
        }
    }
}
