//! Per-user events in one process: each user's bounded replay buffer and the queues of
//! their open live streams.
//!
//! A live stream costs what is pending for it, not a fixed ring: its queue holds no memory
//! until an event waits to be read, and gives back what a burst made it grow once it is
//! read. (A broadcast channel per user would hold `live_lag` slots per user from its first
//! event on: 48 KiB at 1,024.) A stream that falls `live_lag` events behind loses the
//! oldest ones and reads an error next (the client resyncs), then the newest `live_lag`:
//! the semantics of a broadcast receiver that lagged.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};

use domain::{Error, Event, Result, UserId};
use ports::EventId;

use crate::LocalBus;

/// A durable event of a user's log: its sequence and the event (shared by its recipients).
pub(crate) type Sequenced = (u64, Arc<Event>);
/// What a live stream receives: a sequenced event, or an ephemeral one (`None`).
pub(crate) type Live = (Option<u64>, Arc<Event>);

/// A queue that grew past this many slots is given back once it is empty again.
const KEEP_EMPTY_CAPACITY: usize = 16;

/// One user's events: the replay buffer and the open live streams.
#[derive(Default)]
pub(crate) struct UserLog {
    buffer: VecDeque<Sequenced>,
    /// The highest sequence dropped from the buffer: a resume from below it has a gap.
    evicted_up_to: u64,
    streams: Vec<Arc<Subscriber>>,
}

impl UserLog {
    /// Keeps `event` for replay (at most `keep` events) and hands it to every open stream.
    pub(crate) fn publish(&mut self, seq: u64, event: &Arc<Event>, keep: usize, live_lag: usize) {
        // Evict before pushing, so the buffer never outgrows `keep` (nor its capacity).
        while self.buffer.len() >= keep.max(1) {
            if let Some((evicted, _)) = self.buffer.pop_front() {
                self.evicted_up_to = evicted;
            }
        }
        self.buffer.push_back((seq, event.clone()));
        self.deliver(Some(seq), event, live_lag);
    }

    /// Hands `event` to the streams open now (an ephemeral event has no sequence).
    pub(crate) fn deliver(&self, seq: Option<u64>, event: &Arc<Event>, live_lag: usize) {
        for stream in &self.streams {
            stream.push((seq, event.clone()), live_lag);
        }
    }

    /// The events after `seq` still in the buffer, and whether some after it are gone.
    pub(crate) fn replay_after(&self, seq: u64) -> (Vec<Sequenced>, bool) {
        let replay = self.buffer.iter().filter(|(s, _)| *s > seq).cloned().collect();
        (replay, seq < self.evicted_up_to)
    }

    /// Opens a live stream: it receives every event handed out from now on.
    pub(crate) fn open_stream(&mut self) -> Arc<Subscriber> {
        let stream = Arc::new(Subscriber::default());
        self.streams.push(stream.clone());
        stream
    }

    pub(crate) fn close_stream(&mut self, stream: &Arc<Subscriber>) {
        self.streams.retain(|s| !Arc::ptr_eq(s, stream));
    }

    #[cfg(test)]
    pub(crate) fn streams(&self) -> &[Arc<Subscriber>] {
        &self.streams
    }

    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

/// The receiving end of one live stream, shared with its user's log.
#[derive(Default)]
pub(crate) struct Subscriber {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Live>,
    /// Events dropped because the stream fell behind, not reported yet.
    missed: u64,
    waker: Option<Waker>,
}

impl Subscriber {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, item: Live, live_lag: usize) {
        let waker = {
            let mut queue = self.lock();
            if queue.pending.len() >= live_lag.max(1) {
                queue.pending.pop_front();
                queue.missed += 1;
            }
            queue.pending.push_back(item);
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The next live item, an error once after events were dropped, or `Pending`.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Result<Live>> {
        let mut queue = self.lock();
        if queue.missed > 0 {
            let missed = std::mem::take(&mut queue.missed);
            return Poll::Ready(Err(Error::unavailable(format!("the stream fell {missed} events behind"))));
        }
        match queue.pending.pop_front() {
            Some(item) => {
                if queue.pending.is_empty() && queue.pending.capacity() > KEEP_EMPTY_CAPACITY {
                    queue.pending = VecDeque::new();
                }
                Poll::Ready(Ok(item))
            }
            None => {
                if !queue.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    queue.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn queue_capacity(&self) -> usize {
        self.lock().pending.capacity()
    }
}

/// Replay, then live: the stream [`LocalBus::subscribe_user`](crate::LocalBus) returns.
/// Dropping it closes its live stream.
pub(crate) struct LiveStream {
    pub(crate) bus: LocalBus,
    pub(crate) user: UserId,
    pub(crate) replay: std::vec::IntoIter<Sequenced>,
    pub(crate) subscriber: Arc<Subscriber>,
}

impl futures::Stream for LiveStream {
    type Item = Result<(Option<EventId>, Event)>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = match this.replay.next() {
            Some((seq, event)) => Ok((Some(seq), event)),
            None => ready!(this.subscriber.poll_next(cx)),
        };
        Poll::Ready(Some(item.map(|(seq, event)| (seq.map(|seq| this.bus.event_id(seq)), (*event).clone()))))
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.bus.close_stream(self.user, &self.subscriber);
    }
}
