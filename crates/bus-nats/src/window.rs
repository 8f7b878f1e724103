//! A node's window on the per-user event stream: the last events it read (for replays)
//! and the live streams open on it (to hand each new event to the streams of the users it
//! names). The follower (`follower.rs`) feeds it every event of the stream, in stream
//! order; `user_events.rs` opens and closes live streams on it. No I/O here.
//!
//! The window covers every event from `covered_from` to `next_seq - 1`, at most
//! `capacity` of them and none older than `max_age`: a stream that resumes after a
//! position inside it replays what it missed from memory, whatever node the position came
//! from (the stream's sequences are the same everywhere); one from before it gets a gap.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use domain::{Error, Event, Result, UserId};
use ports::EventId;
use ports::bus::event_id;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a live stream receives: its events, in order. Its sender dropped (the stream fell
/// behind, an event could not be read, the follower lost events) means it must resync.
pub(crate) type Live = mpsc::Receiver<(EventId, Event)>;

/// How many events a live stream may have waiting before it counts as fallen behind.
pub(crate) const LIVE_BUFFER: usize = 4096;

struct Entry {
    seq: u64,
    at: Instant,
    recipients: Box<[UserId]>,
    payload: Bytes,
}

struct Session {
    id: u64,
    /// The stream has (or replayed) every event of its user up to this sequence.
    after: u64,
    tx: mpsc::Sender<(EventId, Event)>,
}

/// How a live stream joined the window.
pub(crate) enum Joined {
    /// The events of the user after the requested position, replayed; then `Live`.
    Complete(Vec<(EventId, Event)>, Live, u64),
    /// The position is not covered: live events only.
    Gap(Live, u64),
    /// A replayed event cannot be read (a newer node wrote it): the stream must resync.
    Unreadable(Vec<(EventId, Event)>, Error),
}

pub(crate) struct Window {
    epoch: String,
    next_seq: u64,
    covered_from: u64,
    /// A stream opened now without a position starts after this: the stream's last
    /// sequence when the follower started (it reads what was stored before, for replays),
    /// or the last event handed out.
    fresh_after: u64,
    ring: VecDeque<Entry>,
    capacity: usize,
    max_age: Duration,
    sessions: HashMap<UserId, Vec<Session>>,
    next_session: u64,
}

impl Window {
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            epoch: String::new(),
            next_seq: 1,
            covered_from: 1,
            fresh_after: 0,
            ring: VecDeque::new(),
            capacity,
            max_age,
            sessions: HashMap::new(),
            next_session: 0,
        }
    }

    /// Starts over on the stream of `epoch`, reading from `start`, whose last sequence is
    /// `last`: forgets every event, and ends every live stream (they must resync).
    pub(crate) fn reset(&mut self, epoch: &str, start: u64, last: u64) {
        self.epoch = epoch.to_string();
        self.next_seq = start;
        self.covered_from = start;
        self.fresh_after = last.max(start.saturating_sub(1));
        self.ring.clear();
        self.let_go_all();
    }

    /// Ends every live stream (they must resync).
    pub(crate) fn let_go_all(&mut self) {
        self.sessions.clear();
    }

    pub(crate) fn epoch(&self) -> &str {
        &self.epoch
    }

    pub(crate) fn sessions(&self) -> usize {
        self.sessions.values().map(Vec::len).sum()
    }

    /// Takes the event stored at `seq` (the next one the follower read): remembers it and
    /// hands it to the live streams of the users it names.
    pub(crate) fn hand_out(&mut self, seq: u64, recipients: Box<[UserId]>, payload: Bytes, now: Instant) {
        self.next_seq = seq + 1;
        self.fresh_after = self.fresh_after.max(seq);
        // Decoded, and named, once for all the streams it goes to (if any).
        let mut event: Option<Result<(EventId, Event), String>> = None;
        for user in recipients.iter() {
            let Some(sessions) = self.sessions.get_mut(user) else { continue };
            let decoded = event.get_or_insert_with(|| match serde_json::from_slice(&payload) {
                Ok(event) => Ok((event_id(&self.epoch, seq), event)),
                Err(error) => Err(error.to_string()),
            });
            match decoded {
                Ok(item) => {
                    sessions.retain(|s| s.after >= seq || s.tx.try_send(item.clone()).is_ok());
                }
                Err(error) => {
                    // The client must resync rather than miss it silently.
                    tracing::warn!(%error, seq, "nats: an undecodable user event ends its users' live streams");
                    sessions.clear();
                }
            }
            if sessions.is_empty() {
                self.sessions.remove(user);
            }
        }
        if self.capacity > 0 {
            self.ring.push_back(Entry { seq, at: now, recipients, payload });
        } else {
            self.covered_from = self.next_seq;
        }
        self.evict(now);
    }

    /// Forgets events past the window's size or age.
    pub(crate) fn evict(&mut self, now: Instant) {
        while let Some(first) = self.ring.front() {
            if self.ring.len() <= self.capacity && now.duration_since(first.at) <= self.max_age {
                break;
            }
            self.covered_from = first.seq + 1;
            self.ring.pop_front();
        }
    }

    /// Opens a live stream of `user`: after `after` (a sequence the stream still holds
    /// every event after), or, with `None`, from now.
    pub(crate) fn join(&mut self, user: UserId, after: Option<u64>) -> Joined {
        let covered = after.is_none_or(|after| after + 1 >= self.covered_from);
        let mut replay = vec![];
        if let Some(after) = after.filter(|_| covered) {
            // The ring is in sequence order: only what follows the position is read (a
            // node's clients coming back at once each read what they missed, not the ring).
            let from = self.ring.partition_point(|e| e.seq <= after);
            for entry in self.ring.range(from..).filter(|e| e.recipients.contains(&user)) {
                match serde_json::from_slice(&entry.payload) {
                    Ok(event) => replay.push((event_id(&self.epoch, entry.seq), event)),
                    Err(error) => {
                        let detail = format!("nats: undecodable user event at sequence {}: {error}", entry.seq);
                        return Joined::Unreadable(replay, Error::unavailable(detail));
                    }
                }
            }
        }
        // Live events after the requested position (a node behind the one that gave it
        // skips what the client has), or after now.
        let (live, id) = self.register(user, after.filter(|_| covered).unwrap_or(self.fresh_after));
        if covered { Joined::Complete(replay, live, id) } else { Joined::Gap(live, id) }
    }

    /// Opens a live stream of `user` whose position the stream no longer holds (or never
    /// gave): live events from now, as a gap.
    pub(crate) fn join_lost(&mut self, user: UserId) -> Joined {
        let (live, id) = self.register(user, self.fresh_after);
        Joined::Gap(live, id)
    }

    /// A live stream of `user` that gets the events after `after`.
    fn register(&mut self, user: UserId, after: u64) -> (Live, u64) {
        let (tx, live) = mpsc::channel(LIVE_BUFFER);
        let id = self.next_session;
        self.next_session += 1;
        self.sessions.entry(user).or_default().push(Session { id, after, tx });
        (live, id)
    }

    /// Closes a live stream.
    pub(crate) fn leave(&mut self, user: UserId, id: u64) {
        if let Some(sessions) = self.sessions.get_mut(&user) {
            sessions.retain(|s| s.id != id);
            if sessions.is_empty() {
                self.sessions.remove(&user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use domain::Id;

    use super::*;

    fn receipt(n: u64) -> Event {
        Event::ReceiptUpdated { chat_id: Id(7), user_id: Id(1), read_up_to: Id(n), unread: None }
    }

    fn payload(n: u64) -> Bytes {
        Bytes::from(serde_json::to_vec(&receipt(n)).unwrap())
    }

    /// A window of `capacity` on stream "e" that read events 1..=`last`, each for users 1
    /// and 2 when odd, user 2 only when even.
    fn window(capacity: usize, last: u64) -> Window {
        let mut window = Window::new(capacity, Duration::from_secs(60));
        window.reset("e", 1, 0);
        for n in 1..=last {
            let recipients: Box<[UserId]> = if n % 2 == 1 { Box::new([Id(1), Id(2)]) } else { Box::new([Id(2)]) };
            window.hand_out(n, recipients, payload(n), Instant::now());
        }
        window
    }

    fn seqs(events: &[(EventId, Event)]) -> Vec<String> {
        events.iter().map(|(id, _)| id.clone()).collect()
    }

    #[tokio::test]
    async fn a_replay_gives_the_users_events_after_the_position_then_live_ones() {
        let mut window = window(10, 6);
        let Joined::Complete(replay, mut live, _) = window.join(Id(1), Some(1)) else { panic!("covered") };
        assert_eq!(seqs(&replay), ["e-3", "e-5"], "the user's events after 1");
        window.hand_out(7, Box::new([Id(1)]), payload(7), Instant::now());
        window.hand_out(8, Box::new([Id(2)]), payload(8), Instant::now());
        assert_eq!(live.try_recv().unwrap(), ("e-7".to_string(), receipt(7)));
        assert!(live.try_recv().is_err(), "another user's event");
    }

    #[tokio::test]
    async fn a_position_before_the_window_is_a_gap_and_one_at_its_edge_is_not() {
        let mut window = window(3, 6); // holds 4, 5, 6
        assert!(matches!(window.join(Id(1), Some(2)), Joined::Gap(..)));
        let Joined::Complete(replay, ..) = window.join(Id(1), Some(3)) else { panic!("covered") };
        assert_eq!(seqs(&replay), ["e-5"]);
    }

    #[tokio::test]
    async fn a_position_ahead_of_the_node_skips_what_the_client_has() {
        let mut window = window(10, 2);
        // Another node handed out 3 already; this one reads it later.
        let Joined::Complete(replay, mut live, _) = window.join(Id(1), Some(3)) else { panic!("covered") };
        assert!(replay.is_empty());
        window.hand_out(3, Box::new([Id(1)]), payload(3), Instant::now());
        window.hand_out(4, Box::new([Id(1)]), payload(4), Instant::now());
        assert_eq!(live.try_recv().unwrap().0, "e-4");
        assert!(live.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_or_leaves_is_let_go_and_a_reset_ends_every_stream() {
        let mut window = window(10, 0);
        let Joined::Complete(_, mut slow, _) = window.join(Id(1), None) else { panic!("new") };
        let Joined::Complete(_, _gone, gone_id) = window.join(Id(1), None) else { panic!("new") };
        window.leave(Id(1), gone_id);
        assert_eq!(window.sessions(), 1);
        for n in 1..=LIVE_BUFFER as u64 + 1 {
            window.hand_out(n, Box::new([Id(1)]), payload(n), Instant::now());
        }
        assert_eq!(window.sessions(), 0, "a full buffer lets the stream go");
        let mut received = 0;
        while slow.try_recv().is_ok() {
            received += 1;
        }
        assert_eq!(received, LIVE_BUFFER);
        assert!(matches!(slow.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)), "then it ends");
        let Joined::Complete(_, mut other, _) = window.join(Id(2), None) else { panic!("new") };
        window.reset("f", 100, 99);
        assert!(matches!(other.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
        assert!(matches!(window.join(Id(2), Some(50)), Joined::Gap(..)), "nothing before the reset is covered");
    }

    #[tokio::test]
    async fn an_undecodable_event_ends_its_users_streams() {
        let mut window = window(10, 0);
        let Joined::Complete(_, mut live, _) = window.join(Id(1), None) else { panic!("new") };
        window.hand_out(1, Box::new([Id(1)]), Bytes::from_static(b"{\"type\":\"from.the.future\"}"), Instant::now());
        assert!(matches!(live.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
        assert!(matches!(window.join(Id(1), Some(0)), Joined::Unreadable(..)), "nor is it replayed");
    }

    #[tokio::test]
    async fn events_older_than_the_retention_leave_the_window() {
        let mut window = Window::new(10, Duration::from_secs(60));
        window.reset("e", 1, 0);
        let start = Instant::now();
        window.hand_out(1, Box::new([Id(1)]), payload(1), start);
        window.hand_out(2, Box::new([Id(1)]), payload(2), start + Duration::from_secs(30));
        window.evict(start + Duration::from_secs(61));
        assert!(matches!(window.join(Id(1), Some(0)), Joined::Gap(..)));
        let Joined::Complete(replay, ..) = window.join(Id(1), Some(1)) else { panic!("covered") };
        assert_eq!(seqs(&replay), ["e-2"]);
    }
}
