//! Membership news: a core NATS message on `<prefix>.membership` per change, the chat id
//! as its payload, outside every stream. Every node's subscription gets it, at most once.
//! A subscriber is told it may have missed some ([`MembershipWord::Missed`]) when the
//! connection reconnects (`Inner::misses`: what was published meanwhile did not reach it)
//! or drops messages of any slow subscription (`Inner::drops`: the connection does not
//! say whose).

use bytes::Bytes;
use domain::{ChatId, Id, Result};
use futures::StreamExt;
use ports::{MembershipNewsStream, MembershipWord};

use crate::{Inner, unavailable};

pub(crate) async fn publish(inner: &Inner, chat: ChatId) -> Result<()> {
    inner
        .js
        .client()
        .publish(inner.config.membership_subject(), Bytes::from(chat.0.to_string()))
        .await
        .map_err(|e| unavailable("cannot publish membership news", e))
}

pub(crate) async fn subscribe(inner: &Inner) -> Result<MembershipNewsStream> {
    // New receivers have seen the current counts: only later ones wake them.
    let (misses, drops) = (inner.misses.subscribe(), inner.drops.subscribe());
    let news = inner
        .js
        .client()
        .subscribe(inner.config.membership_subject())
        .await
        .map_err(|e| unavailable("cannot subscribe to membership news", e))?;
    // A flush only writes the subscription out; the answer to a request sent after it on
    // this connection says the server has processed it: news published from then on
    // reaches it (on this server at once, on the others of a NATS cluster as soon as the
    // interest has spread).
    inner.js.query_account().await.map_err(|e| unavailable("cannot subscribe to membership news", e))?;
    let state = (news, misses, drops);
    Ok(Box::pin(futures::stream::unfold(state, |(mut news, mut misses, mut drops)| async move {
        let word = tokio::select! {
            Ok(()) = misses.changed() => MembershipWord::Missed,
            Ok(()) = drops.changed() => MembershipWord::Missed,
            message = news.next() => {
                let message = message?;
                match std::str::from_utf8(&message.payload).ok().and_then(|s| s.parse().ok()) {
                    Some(chat) => MembershipWord::Changed(Id(chat)),
                    // Not a chat id (a newer release's word?): any chat may have changed.
                    None => MembershipWord::Missed,
                }
            }
        };
        Some((word, (news, misses, drops)))
    })))
}
