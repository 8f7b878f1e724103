//! The nonce fence: the first attempt of a send claims its nonce, every other attempt
//! learns which one did.

use std::collections::HashSet;

use domain::Id;
use ports::{Bus, NonceClaim};

use crate::random_id;

pub async fn a_nonce_is_claimed_once_per_chat_and_author(bus: &dyn Bus) {
    let (chat, author, first, retry) = (random_id(), random_id(), random_id(), random_id());
    // A nonce is any visible ASCII, dots and wildcards included.
    let nonce = "n-1.*>~";
    assert_eq!(bus.claim_nonce(chat, author, nonce, first).await.unwrap(), NonceClaim::Ours);
    assert_eq!(bus.claim_nonce(chat, author, nonce, retry).await.unwrap(), NonceClaim::Theirs(first));
    assert_eq!(
        bus.claim_nonce(chat, author, nonce, first).await.unwrap(),
        NonceClaim::Ours,
        "the first attempt's request repeated is still its claim"
    );
    // Another author, chat or nonce is another send.
    assert_eq!(bus.claim_nonce(chat, random_id(), nonce, retry).await.unwrap(), NonceClaim::Ours);
    assert_eq!(bus.claim_nonce(random_id(), author, nonce, retry).await.unwrap(), NonceClaim::Ours);
    assert_eq!(bus.claim_nonce(chat, author, "n-2", retry).await.unwrap(), NonceClaim::Ours);
    assert_eq!(bus.claim_nonce(chat, author, "n-1", retry).await.unwrap(), NonceClaim::Ours, "n-1 is not n-1.*>~");
}

pub async fn concurrent_attempts_agree_on_one(bus: &dyn Bus) {
    let (chat, author) = (random_id(), random_id());
    let attempts: Vec<Id> = (0..16).map(|_| random_id()).collect();
    let claims =
        futures::future::join_all(attempts.iter().map(|id| bus.claim_nonce(chat, author, "racing", *id))).await;
    let claims: Vec<NonceClaim> = claims.into_iter().map(Result::unwrap).collect();
    let winners: Vec<Id> =
        attempts.iter().zip(&claims).filter(|(_, c)| **c == NonceClaim::Ours).map(|(id, _)| *id).collect();
    assert_eq!(winners.len(), 1, "{claims:?}");
    let named: HashSet<NonceClaim> = claims.iter().filter(|c| **c != NonceClaim::Ours).copied().collect();
    assert_eq!(named, HashSet::from([NonceClaim::Theirs(winners[0])]), "every other attempt names the winner");
}
