//! What the phases write: signals shaped as the service writes a message (kind `msg`,
//! `text` of `--text-bytes` bytes, no reply, no subjects), ids from the domain's
//! generator, a 36-character nonce per send, and fresh chats for every phase.

use std::sync::Arc;

use domain::{ChatId, IdGenerator, Signal, SignalBody, UserId};

/// Authors the sends of a phase rotate through.
const AUTHORS: u64 = 8;

#[derive(Debug)]
pub struct Fixture {
    pub ids: IdGenerator,
    text: String,
    /// Distinguishes this run's nonces from any other run's.
    run: u64,
    pub chats: usize,
    pub page: usize,
}

impl Fixture {
    pub fn new(text_bytes: usize, chats: usize, page: usize, run: u64) -> Self {
        let text = "Petit chat benchmark message, ".chars().cycle().take(text_bytes).collect();
        Self { ids: IdGenerator::new(1), text, run, chats: chats.max(1), page }
    }

    /// Fresh chat ids, one per partition a phase writes.
    pub fn new_chats(&self) -> Arc<[ChatId]> {
        (0..self.chats).map(|_| self.ids.next_id()).collect()
    }

    /// The author of operation `i`.
    pub fn author(&self, i: u64) -> UserId {
        domain::Id(1_000 + i % AUTHORS)
    }

    /// The signal operation `i` sends to `chat`.
    pub fn signal(&self, chat: ChatId, i: u64) -> Signal {
        Signal {
            id: self.ids.next_id(),
            chat_id: chat,
            author_id: self.author(i),
            body: SignalBody::Msg {
                text: self.text.clone(),
                reply_to: None,
                attachments: vec![],
                mentions: vec![],
                everyone: false,
            },
            edited_at: None,
        }
    }

    /// A client nonce (36 visible ASCII characters, the length of a UUID).
    pub fn nonce(&self, chat: ChatId, i: u64) -> String {
        format!("{:016x}-{:08x}-{:010}", self.run, chat.0 as u32, i)
    }

    /// The bucket signals written now fall into.
    pub fn current_bucket(&self) -> i64 {
        self.ids.next_id().bucket()
    }
}

/// The chat operation `i` of a phase goes to.
pub fn pick(chats: &[ChatId], i: u64) -> ChatId {
    chats[(i % chats.len() as u64) as usize]
}
