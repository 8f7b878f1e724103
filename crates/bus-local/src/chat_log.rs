//! The chat-event log inside one process, with the semantics of the NATS adapter's: named
//! consumer groups, each with its own copy of every event published after it was
//! declared, split in lanes by chat (`ports::chat_partition`). A lane hands out its oldest
//! event to one worker at a time and the next only after the acknowledgement, so a chat's
//! events are handled in order while other lanes go on in parallel. An event dropped
//! without acknowledgement is handed out again at once; one held past `ack_wait` (a hung
//! worker) is handed to whoever asks next, and the late worker's acknowledgement is ignored.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{ChatEvent, Error, ErrorCode, EventTopic, NotifyJob, Result};
use ports::{Delivery, Interest};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What a log holds: its lane (its order is kept within it) and its topic.
pub(crate) trait Entry: Clone + Send + Sync + 'static {
    fn lane(&self, lanes: u32) -> u32;
    fn topic(&self) -> EventTopic;
}

impl Entry for ChatEvent {
    fn lane(&self, lanes: u32) -> u32 {
        ports::chat_partition(self.chat_id, lanes)
    }

    fn topic(&self) -> EventTopic {
        ChatEvent::topic(self)
    }
}

/// Notification jobs keep their order per user.
impl Entry for NotifyJob {
    fn lane(&self, lanes: u32) -> u32 {
        ports::chat_partition(self.user_id, lanes)
    }

    fn topic(&self) -> EventTopic {
        EventTopic::Other
    }
}

/// The stream of one group's deliveries.
pub(crate) type LogStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Delivery<T>>> + Send>>;

/// The consumer groups and their lanes.
pub(crate) struct ChatLog<T: Entry = ChatEvent> {
    lanes: u32,
    capacity: usize,
    ack_wait: Duration,
    groups: Mutex<HashMap<String, Arc<Group<T>>>>,
    /// Woken when a group's queue shrinks, for publishers waiting for room.
    room: Notify,
    leases: AtomicU64,
}

pub(crate) struct Group<T> {
    state: Mutex<GroupState<T>>,
    /// Woken when an event may have become available.
    changed: Notify,
}

struct GroupState<T> {
    /// The topics of the events it receives.
    interest: Interest,
    lanes: Vec<Lane<T>>,
    queued: usize,
    /// Where the next search for an available lane starts (round robin).
    next_lane: usize,
}

struct Lane<T> {
    /// Events not acknowledged yet, oldest first, with how often each was handed out.
    queue: VecDeque<(T, u32)>,
    /// The worker holding the front event: its lease number and deadline.
    lease: Option<(u64, Instant)>,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Self { queue: VecDeque::new(), lease: None }
    }
}

impl<T: Entry> ChatLog<T> {
    pub(crate) fn new(lanes: u32, capacity: usize, ack_wait: Duration) -> Self {
        Self {
            lanes: lanes.max(1),
            capacity: capacity.max(1),
            ack_wait,
            groups: Mutex::new(HashMap::new()),
            room: Notify::new(),
            leases: AtomicU64::new(0),
        }
    }

    pub(crate) fn declare(&self, name: &str, interest: Interest) -> Result<Arc<Group<T>>> {
        if !ports::valid_group_name(name) {
            return Err(Error::invalid(ErrorCode::InvalidGroup, format!("{name:?} is not a consumer group name")));
        }
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let lanes = self.lanes as usize;
        let group = groups
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Group {
                    state: Mutex::new(GroupState {
                        interest,
                        lanes: (0..lanes).map(|_| Lane::default()).collect(),
                        queued: 0,
                        next_lane: 0,
                    }),
                    changed: Notify::new(),
                })
            })
            .clone();
        group.state.lock().unwrap_or_else(|e| e.into_inner()).interest = interest;
        Ok(group)
    }

    fn all_groups(&self) -> Vec<Arc<Group<T>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Appends the event to every group that wants its topic, waiting while a group is full.
    pub(crate) async fn publish(&self, event: &T) {
        let lane = event.lane(self.lanes) as usize;
        let topic = event.topic();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let groups = self.all_groups();
            let full = groups.iter().any(|g| g.state.lock().unwrap_or_else(|e| e.into_inner()).queued >= self.capacity);
            if !full {
                for group in groups {
                    let mut state = group.state.lock().unwrap_or_else(|e| e.into_inner());
                    if !state.interest.wants(topic) {
                        continue;
                    }
                    state.lanes[lane].queue.push_back((event.clone(), 0));
                    state.queued += 1;
                    drop(state);
                    group.changed.notify_waiters();
                }
                return;
            }
            // Wake up now and then even without a notice: a full group may be one nobody reads.
            let _ = tokio::time::timeout(Duration::from_millis(100), room).await;
        }
    }

    /// Events the group holds; a group never declared holds none (asking does not declare
    /// it: a group nobody reads would keep every event and stall publishers).
    pub(crate) fn lag(&self, name: &str) -> Result<u64> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let Some(group) = groups.get(name) else { return Ok(0) };
        let queued = group.state.lock().unwrap_or_else(|e| e.into_inner()).queued;
        Ok(queued as u64)
    }

    pub(crate) fn stream(self: &Arc<Self>, name: &str, interest: Interest) -> Result<LogStream<T>> {
        let group = self.declare(name, interest)?;
        let log = self.clone();
        Ok(Box::pin(futures::stream::unfold((log, group), |(log, group)| async move {
            let delivery = log.take(&group).await;
            Some((Ok(delivery), (log, group)))
        })))
    }

    /// Waits for the next available event of the group and leases it.
    async fn take(self: &Arc<Self>, group: &Arc<Group<T>>) -> Delivery<T> {
        loop {
            let changed = group.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let mut wake_at = now + Duration::from_secs(1);
            {
                let mut state = group.state.lock().unwrap_or_else(|e| e.into_inner());
                let count = state.lanes.len();
                for step in 0..count {
                    let index = (state.next_lane + step) % count;
                    let lane = &mut state.lanes[index];
                    if lane.queue.is_empty() {
                        continue;
                    }
                    match lane.lease {
                        Some((_, until)) if until > now => wake_at = wake_at.min(until),
                        _ => {
                            let lease = self.leases.fetch_add(1, Ordering::Relaxed);
                            lane.lease = Some((lease, now + self.ack_wait));
                            let Some((event, handed_out)) = lane.queue.front_mut() else { continue };
                            let redeliveries = *handed_out;
                            *handed_out += 1;
                            let event = event.clone();
                            state.next_lane = (index + 1) % count;
                            return self.delivery(group.clone(), index, lease, event, redeliveries);
                        }
                    }
                }
            }
            let _ = tokio::time::timeout_at(wake_at, changed).await;
        }
    }

    fn delivery(
        self: &Arc<Self>,
        group: Arc<Group<T>>,
        lane: usize,
        lease: u64,
        event: T,
        redeliveries: u32,
    ) -> Delivery<T> {
        let held = Held { log: self.clone(), group, lane, lease, done: false };
        Delivery {
            event,
            redeliveries,
            origin: None,
            ack: Box::new(move || {
                let mut held = held;
                held.finish(true);
                Box::pin(async { Ok(()) })
            }),
        }
    }
}

/// A leased event: acknowledged by `finish(true)`, handed back when dropped without it.
struct Held<T: Entry> {
    log: Arc<ChatLog<T>>,
    group: Arc<Group<T>>,
    lane: usize,
    lease: u64,
    done: bool,
}

impl<T: Entry> Held<T> {
    fn finish(&mut self, acknowledged: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let mut state = self.group.state.lock().unwrap_or_else(|e| e.into_inner());
        let lane = &mut state.lanes[self.lane];
        // Past its deadline the event may be leased to another worker: this lease is void.
        if lane.lease.map(|(lease, _)| lease) != Some(self.lease) {
            return;
        }
        lane.lease = None;
        if acknowledged {
            lane.queue.pop_front();
            state.queued -= 1;
        }
        drop(state);
        self.group.changed.notify_waiters();
        if acknowledged {
            self.log.room.notify_waiters();
        }
    }
}

impl<T: Entry> Drop for Held<T> {
    fn drop(&mut self) {
        self.finish(false);
    }
}
