//! Calls: 1:1 and small-group calls, peer to peer (WebRTC), signalled through Petit chat.
//! A call is a record of its own (who was asked, who is in it now, its state), changed
//! only by compare-and-set on its `version`, and a `call` signal in its chat's timeline
//! that shows it (same id). The transitions are pure functions here.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};
use crate::id::{ChatId, Id, UserId};

/// A call's id: the id of its `call` signal.
pub type CallId = Id;

/// How long a call rings before it ends as missed, if nobody answers (by default).
pub const DEFAULT_RING_MS: i64 = 45_000;
/// Most members a chat may have to be called (peer to peer: every pair connects).
pub const MAX_CALL_MEMBERS: usize = 8;
/// Largest WebRTC payload relayed in one `call.signal` (an SDP fits many times over).
pub const MAX_CALL_SIGNAL_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMedia {
    Audio,
    Video,
}

impl CallMedia {
    pub fn as_str(self) -> &'static str {
        match self {
            CallMedia::Audio => "audio",
            CallMedia::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "audio" => Some(CallMedia::Audio),
            "video" => Some(CallMedia::Video),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Started; nobody else joined yet.
    Ringing,
    /// Someone answered.
    Ongoing,
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Ongoing => "ongoing",
            CallState::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ringing" => Some(CallState::Ringing),
            "ongoing" => Some(CallState::Ongoing),
            "ended" => Some(CallState::Ended),
            _ => None,
        }
    }
}

/// What a call signal in the timeline says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    pub media: CallMedia,
    pub state: CallState,
    /// Unix ms when someone first answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Everyone who was in the call at some point, the caller first.
    pub participants: Vec<UserId>,
}

impl CallSummary {
    /// Ended without anyone answering.
    pub fn missed(&self) -> bool {
        self.state == CallState::Ended && self.answered_at.is_none()
    }

    /// How long it lasted, from the first answer to its end (ms).
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.ended_at? - self.answered_at?)
    }
}

/// A call as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: CallId,
    pub chat_id: ChatId,
    pub started_by: UserId,
    pub started_at: i64,
    /// Unix ms after which, unanswered, it ends as missed.
    pub ring_until: i64,
    /// The chat's members when it started, but the caller: who it rings.
    pub invited: Vec<UserId>,
    /// Who is in it now.
    pub present: Vec<UserId>,
    /// Who declined it.
    pub declined: Vec<UserId>,
    pub summary: CallSummary,
    /// Bumped by every change; a change is written only over the version it was made from.
    pub version: i64,
}

/// A change to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallAction {
    Join,
    Leave,
    Decline,
    End,
    /// Nobody answered in time (the sweeper, on any node).
    TimeOut,
}

fn ended() -> Error {
    Error::conflict(ErrorCode::CallEnded, "this call has ended")
}

fn push_once(list: &mut Vec<UserId>, user: UserId) {
    if !list.contains(&user) {
        list.push(user);
    }
}

impl Call {
    /// A call `caller` starts in `chat` with its other `members`, at `now`, ringing for
    /// `ring_ms`.
    pub fn start(
        id: CallId,
        chat: ChatId,
        caller: UserId,
        members: &[UserId],
        media: CallMedia,
        now: i64,
        ring_ms: i64,
    ) -> Self {
        Self {
            id,
            chat_id: chat,
            started_by: caller,
            started_at: now,
            ring_until: now + ring_ms,
            invited: members.iter().copied().filter(|m| *m != caller).collect(),
            present: vec![caller],
            declined: vec![],
            summary: CallSummary {
                media,
                state: CallState::Ringing,
                answered_at: None,
                ended_at: None,
                participants: vec![caller],
            },
            version: 1,
        }
    }

    pub fn state(&self) -> CallState {
        self.summary.state
    }

    /// Whether `user` may act on the call at all (the caller or someone it rings).
    pub fn concerns(&self, user: UserId) -> bool {
        self.started_by == user || self.invited.contains(&user)
    }

    /// The call after `who` does `action` at `now` (`None`: nothing changes), or why not.
    pub fn apply(&self, who: UserId, action: CallAction, now: i64) -> Result<Option<Call>> {
        let mut next = self.clone();
        let s = &mut next.summary;
        match action {
            CallAction::TimeOut => {
                if s.state != CallState::Ringing || now < self.ring_until {
                    return Ok(None);
                }
                next.present.clear();
                s.state = CallState::Ended;
                s.ended_at = Some(now);
            }
            _ if s.state == CallState::Ended => return Err(ended()),
            CallAction::Join => {
                if next.present.contains(&who) {
                    return Ok(None);
                }
                next.present.push(who);
                next.declined.retain(|u| *u != who);
                push_once(&mut s.participants, who);
                if s.state == CallState::Ringing && who != self.started_by {
                    s.state = CallState::Ongoing;
                    s.answered_at = Some(now);
                }
            }
            CallAction::Leave => {
                if !next.present.contains(&who) {
                    return Ok(None);
                }
                next.present.retain(|u| *u != who);
                // Alone, or nobody answered the caller who hangs up: over.
                let over = next.present.is_empty()
                    || (s.state == CallState::Ongoing && next.present.len() == 1 && next.invited.len() == 1)
                    || (s.state == CallState::Ringing && who == self.started_by);
                if over {
                    next.present.clear();
                    s.state = CallState::Ended;
                    s.ended_at = Some(now);
                }
            }
            CallAction::Decline => {
                if who == self.started_by || next.present.contains(&who) || next.declined.contains(&who) {
                    return Ok(None);
                }
                next.declined.push(who);
                // Everyone it rang said no while it was ringing: over.
                if s.state == CallState::Ringing && next.invited.iter().all(|u| next.declined.contains(u)) {
                    next.present.clear();
                    s.state = CallState::Ended;
                    s.ended_at = Some(now);
                }
            }
            CallAction::End => {
                next.present.clear();
                s.state = CallState::Ended;
                s.ended_at = Some(now);
            }
        }
        next.version += 1;
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(members: &[u64]) -> Call {
        let members: Vec<UserId> = members.iter().map(|m| Id(*m)).collect();
        Call::start(Id(100), Id(50), members[0], &members, CallMedia::Audio, 1_000, DEFAULT_RING_MS)
    }

    fn after(c: &Call, who: u64, action: CallAction, now: i64) -> Call {
        c.apply(Id(who), action, now).unwrap().expect("a change")
    }

    #[test]
    fn a_one_to_one_call_rings_is_answered_and_ends_when_one_leaves() {
        let c = call(&[1, 2]);
        assert_eq!((c.state(), c.invited.clone(), c.present.clone()), (CallState::Ringing, vec![Id(2)], vec![Id(1)]));
        let c = after(&c, 2, CallAction::Join, 3_000);
        assert_eq!((c.state(), c.summary.answered_at, c.version), (CallState::Ongoing, Some(3_000), 2));
        assert_eq!(c.summary.participants, vec![Id(1), Id(2)]);
        assert_eq!(c.apply(Id(2), CallAction::Join, 3_500).unwrap(), None, "joining twice changes nothing");
        let c = after(&c, 1, CallAction::Leave, 63_000);
        assert_eq!((c.state(), c.summary.duration_ms(), c.summary.missed()), (CallState::Ended, Some(60_000), false));
        assert_eq!(c.apply(Id(2), CallAction::Join, 64_000).unwrap_err().code, "call_ended");
    }

    #[test]
    fn a_call_nobody_answers_times_out_as_missed_and_not_before() {
        let c = call(&[1, 2, 3]);
        assert_eq!(c.apply(Id(0), CallAction::TimeOut, 1_000 + DEFAULT_RING_MS - 1).unwrap(), None);
        let c = after(&c, 0, CallAction::TimeOut, 1_000 + DEFAULT_RING_MS);
        assert!(c.summary.missed());
        assert!(c.present.is_empty());
        assert_eq!(c.apply(Id(0), CallAction::TimeOut, 99_000_000).unwrap(), None);
        // Answered calls never time out.
        let answered = after(&call(&[1, 2]), 2, CallAction::Join, 2_000);
        assert_eq!(answered.apply(Id(0), CallAction::TimeOut, 99_000_000).unwrap(), None);
    }

    #[test]
    fn a_group_call_goes_on_until_its_last_participant_leaves() {
        let c = after(&call(&[1, 2, 3]), 2, CallAction::Join, 2_000);
        let c = after(&c, 3, CallAction::Join, 2_500);
        let c = after(&c, 1, CallAction::Leave, 3_000);
        assert_eq!(c.state(), CallState::Ongoing);
        let c = after(&c, 2, CallAction::Leave, 4_000);
        assert_eq!(c.state(), CallState::Ongoing, "one left, who may be joined again");
        let c = after(&c, 3, CallAction::Leave, 5_000);
        assert_eq!((c.state(), c.summary.ended_at), (CallState::Ended, Some(5_000)));
    }

    #[test]
    fn declines_and_the_caller_hanging_up_end_a_ringing_call() {
        let c = call(&[1, 2, 3]);
        let c = after(&c, 2, CallAction::Decline, 2_000);
        assert_eq!(c.state(), CallState::Ringing, "3 may still answer");
        let c = after(&c, 3, CallAction::Decline, 2_100);
        assert!(c.summary.missed());
        let hung_up = after(&call(&[1, 2]), 1, CallAction::Leave, 2_000);
        assert_eq!(hung_up.state(), CallState::Ended);
        assert_eq!(
            call(&[1, 2]).apply(Id(1), CallAction::Decline, 2_000).unwrap(),
            None,
            "the caller does not decline"
        );
        let ended = after(&call(&[1, 2]), 2, CallAction::End, 2_000);
        assert_eq!(ended.state(), CallState::Ended);
    }
}
