//! The nonce fence: the KV bucket `<PREFIX>_NONCES`, one key per (chat, author, nonce)
//! holding the id of the attempt that claimed it. A claim is a KV `create` (a publish that
//! expects the key's subject to be empty), so every node agrees on the first attempt; the
//! bucket's `max_age` forgets claims after [`NONCE_FENCE_WINDOW`]. File storage, as the
//! other buckets: a NATS restart must not forget the claims of sends still in flight.

use async_nats::jetstream::kv;
use bytes::Bytes;
use domain::{ChatId, Id, Result, SignalId, UserId};
use ports::{NONCE_FENCE_WINDOW, NonceClaim};

use crate::{Inner, unavailable};

/// The bucket's configuration.
pub(crate) fn bucket(config: &crate::NatsConfig) -> kv::Config {
    kv::Config {
        bucket: config.nonces_bucket(),
        description: "Petit chat: which attempt of a send claimed its nonce (the nonce fence)".into(),
        history: 1,
        max_age: NONCE_FENCE_WINDOW,
        storage: async_nats::jetstream::stream::StorageType::File,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// The key of a nonce: a nonce is any visible ASCII, and a KV key allows few of those
/// characters, so its bytes are written in hex.
fn key(chat: ChatId, author: UserId, nonce: &str) -> String {
    use std::fmt::Write;
    let mut key = format!("{chat}.{author}.");
    for b in nonce.bytes() {
        let _ = write!(key, "{b:02x}");
    }
    key
}

impl Inner {
    pub(crate) async fn claim_nonce(
        &self,
        chat: ChatId,
        author: UserId,
        nonce: &str,
        id: SignalId,
    ) -> Result<NonceClaim> {
        let key = key(chat, author, nonce);
        let value = Bytes::from(id.to_string());
        // A claim that expires between the failed create and the read is gone: create again
        // (twice is plenty; a third expiry in a row would need a window of microseconds).
        for _ in 0..3 {
            match self.nonces.create(&key, value.clone()).await {
                Ok(_) => return Ok(NonceClaim::Ours),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => return Err(unavailable("cannot claim a nonce", e)),
            }
            let held = self.nonces.get(&key).await.map_err(|e| unavailable("cannot read a nonce claim", e))?;
            if let Some(held) = held {
                let first = std::str::from_utf8(&held)
                    .ok()
                    .and_then(|s| s.parse::<Id>().ok())
                    .ok_or_else(|| unavailable("a nonce claim holds no id", String::from_utf8_lossy(&held)))?;
                return Ok(if first == id { NonceClaim::Ours } else { NonceClaim::Theirs(first) });
            }
        }
        Err(unavailable("cannot claim a nonce", "its claim kept expiring"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_valid_kv_keys_for_any_nonce() {
        let k = key(Id(7), Id(9), "a.b *>~");
        assert_eq!(k, format!("{}.{}.612e62202a3e7e", Id(7), Id(9)));
        assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
    }
}
