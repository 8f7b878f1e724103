//! Calls: a record read back whole, changes only over the version they were made from
//! (one of many racing wins), and the list of calls still ringing.

use std::sync::Arc;

use domain::{Call, CallAction, CallMedia, CallState};

use crate::Fixture;

pub async fn a_call_changes_over_its_version_only_and_leaves_the_ringing_list_when_answered(f: &Fixture) {
    let (a, b, c) = (f.user().await.id, f.user().await.id, f.user().await.id);
    let chat = f.group(&[a, b, c]).await;
    let call = Call::start(f.id(), chat.id, a, &[a, b, c], CallMedia::Video, 1_700_000_000_000, 45_000);
    f.store.insert_call(&call).await.unwrap();
    assert_eq!(f.store.call(call.id).await.unwrap().as_ref(), Some(&call));
    assert_eq!(f.store.call(f.id()).await.unwrap(), None);
    assert!(f.store.ringing_calls(100_000).await.unwrap().contains(&call.id));

    // Two changes made from version 1 at once: exactly one is written.
    let joined = call.apply(b, CallAction::Join, 1_700_000_001_000).unwrap().unwrap();
    let declined = call.apply(c, CallAction::Decline, 1_700_000_001_000).unwrap().unwrap();
    let outcomes = futures::future::join_all([joined.clone(), declined.clone()].map(|next| {
        let store = Arc::clone(&f.store);
        async move { store.update_call(&next, 1).await.unwrap() }
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|won| **won).count(), 1, "{outcomes:?}");
    let stored = f.store.call(call.id).await.unwrap().unwrap();
    assert!(stored == joined || stored == declined);
    assert!(!f.store.update_call(&joined, 1).await.unwrap(), "a change over a stale version is refused");

    // From what is stored: answered, then ended.
    let now = 1_700_000_002_000;
    let answered = match stored.apply(b, CallAction::Join, now).unwrap() {
        Some(next) => next,
        None => stored.clone(),
    };
    if answered != stored {
        assert!(f.store.update_call(&answered, stored.version).await.unwrap());
    }
    assert_eq!(f.store.call(call.id).await.unwrap().unwrap().state(), CallState::Ongoing);
    assert!(!f.store.ringing_calls(100_000).await.unwrap().contains(&call.id), "an answered call no longer rings");
    let ended = answered.apply(a, CallAction::End, now + 1).unwrap().unwrap();
    assert!(f.store.update_call(&ended, answered.version).await.unwrap());
    assert_eq!(f.store.call(call.id).await.unwrap().as_ref(), Some(&ended));
}
