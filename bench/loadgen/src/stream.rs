//! One user's live stream (`GET /api/v1/events`), read by its own task: every
//! `signal.created` whose text is one of our posts is noted in the tally the moment it is
//! parsed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::api::{Api, Refusal, User};
use crate::drive::RETRY_PAUSE;
use crate::sse::{Frame, FrameParser};
use crate::tally::Tally;
use crate::timeline::Timeline;

/// How long a new stream may take to say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The text of a post: `lg <seq> ` and padding.
pub fn message_text(seq: u64, len: usize) -> String {
    let mut text = format!("lg {seq} ");
    while text.len() < len {
        text.push('x');
    }
    text
}

/// The sequence number in a text made by [`message_text`].
pub fn parse_seq(text: &str) -> Option<u64> {
    text.strip_prefix("lg ")?.split(' ').next()?.parse().ok()
}

#[derive(Deserialize)]
struct SignalCreated {
    signal: SignalData,
}

#[derive(Deserialize)]
struct SignalData {
    text: Option<String>,
}

/// An open stream that has said `ready`.
#[derive(Debug)]
pub struct LiveStream {
    resp: reqwest::Response,
    parser: FrameParser,
    /// The id of the last durable event read.
    last_id: Option<String>,
}

/// How a stream that ends is opened again (`--retry`): on the next node, resuming after
/// the last event read (`Last-Event-ID`), until the run is over.
#[derive(Debug, Clone)]
pub struct Resume {
    pub apis: Vec<Api>,
    pub user: User,
    /// The stream's index (which source address it uses).
    pub index: usize,
    /// The node it is on.
    pub node: usize,
    pub timeline: Arc<Timeline>,
}

impl LiveStream {
    /// Opens the user's stream (the `index`-th), resuming after `last_id` if given, and
    /// waits for its `ready` event.
    pub async fn connect(api: &Api, user: &User, index: usize, last_id: Option<String>) -> anyhow::Result<Self> {
        let resp = api.open_events(user, index, last_id.as_deref()).await?;
        let mut stream = Self { resp, parser: FrameParser::default(), last_id };
        let first =
            tokio::time::timeout(READY_TIMEOUT, stream.next_frame()).await.context("no `ready` event in time")??;
        match first {
            Some(f) if f.event == "ready" => Ok(stream),
            Some(f) => bail!("the first event is {:?}, not `ready`", f.event),
            None => bail!("the stream ended before `ready`"),
        }
    }

    async fn next_frame(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.parser.next_frame() {
                if frame.id.is_some() {
                    self.last_id.clone_from(&frame.id);
                }
                return Ok(Some(frame));
            }
            match self.resp.chunk().await? {
                Some(chunk) => self.parser.push(&chunk),
                None => return Ok(None),
            }
        }
    }

    /// Reads until the stream ends, noting deliveries as member `member` of `group`; with
    /// `resume`, opens it again wherever it can and goes on.
    pub async fn receive(mut self, group: u32, member: usize, tally: Arc<Tally>, mut resume: Option<Resume>) {
        loop {
            self.read(group, member, &tally).await;
            tally.stream_ended();
            let Some(r) = resume.as_mut() else { return };
            self = loop {
                r.node = (r.node + 1) % r.apis.len();
                match LiveStream::connect(&r.apis[r.node], &r.user, r.index, self.last_id.clone()).await {
                    Ok(stream) => {
                        r.timeline.stream_resumed();
                        break stream;
                    }
                    Err(e) => {
                        r.timeline.refused("stream", Refusal::of(&e));
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            };
        }
    }

    async fn read(&mut self, group: u32, member: usize, tally: &Tally) {
        loop {
            let frame = match self.next_frame().await {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => return,
            };
            match frame.event.as_str() {
                "signal.created" => {
                    let seq = serde_json::from_str::<SignalCreated>(&frame.data)
                        .ok()
                        .and_then(|e| e.signal.text)
                        .and_then(|t| parse_seq(&t));
                    let at = Instant::now();
                    match seq {
                        Some(seq) => tally.delivered(seq, group, member, at),
                        None => tally.foreign(),
                    }
                }
                "resync" => tally.resync(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_carry_their_sequence_number() {
        let text = message_text(1234, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_seq(&text), Some(1234));
        assert_eq!(parse_seq(&message_text(7, 1)), Some(7));
        assert_eq!(parse_seq("hello"), None);
    }
}
