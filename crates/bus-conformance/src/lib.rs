//! The Bus conformance suite. An adapter's test calls [`run_all`] with a bus; every check
//! uses fresh random user and chat ids so runs can share one server.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

mod presence;

use std::sync::Arc;
use std::time::Duration;

use domain::{ChatEvent, Event, Id};
use futures::StreamExt;
use ports::{Bus, UserEventStream, UserSubscription};

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Runs every check against `bus`.
pub async fn run_all(bus: Arc<dyn Bus>) {
    bus.ping().await.unwrap();
    live_events_reach_only_their_users(&*bus).await;
    resuming_replays_exactly_the_gap(&*bus).await;
    an_unknown_position_is_a_gap(&*bus).await;
    resuming_from_the_latest_event_continues_live(&*bus).await;
    publishing_to_nobody_is_fine(&*bus).await;
    chat_events_reach_a_worker_and_come_back_until_acked(&*bus).await;
    presence::run_all(&*bus).await;
}

fn random_id() -> Id {
    Id(rand::random::<u64>() >> 2)
}

fn receipt(user: Id, n: u64) -> Event {
    Event::ReceiptUpdated { chat_id: Id(7), user_id: user, read_up_to: Id(n) }
}

/// The next item of a stream, durable (with an id) or ephemeral.
async fn next_item(stream: &mut UserEventStream) -> (Option<String>, Event) {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .expect("stream error")
}

/// The next event of a stream, which must be a durable one.
async fn next(stream: &mut UserEventStream) -> (String, Event) {
    let (id, event) = next_item(stream).await;
    (id.unwrap_or_else(|| panic!("a durable event without an id: {event:?}")), event)
}

async fn nothing_more(stream: &mut UserEventStream) {
    if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("unexpected event {:?}", item.map(|(_, e)| e));
    }
}

fn complete(sub: UserSubscription) -> UserEventStream {
    match sub {
        UserSubscription::Complete(s) => s,
        UserSubscription::Gap(_) => panic!("expected a complete subscription"),
    }
}

async fn live_events_reach_only_their_users(bus: &dyn Bus) {
    let (a, b) = (random_id(), random_id());
    let mut sa = complete(bus.subscribe_user(a, None).await.unwrap());
    let mut sb = complete(bus.subscribe_user(b, None).await.unwrap());
    let mut sa2 = complete(bus.subscribe_user(a, None).await.unwrap());
    for n in 1..=3 {
        bus.publish_user_event(&[a], &receipt(a, n)).await.unwrap();
    }
    bus.publish_user_event(&[a, b], &receipt(b, 4)).await.unwrap();
    for stream in [&mut sa, &mut sa2] {
        let mut ids = vec![];
        for n in 1..=4 {
            let (id, e) = next(stream).await;
            assert_eq!(e, if n < 4 { receipt(a, n) } else { receipt(b, 4) });
            ids.push(id);
        }
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), 4, "event ids are distinct");
    }
    assert_eq!(next(&mut sb).await.1, receipt(b, 4));
    nothing_more(&mut sb).await;
}

async fn resuming_replays_exactly_the_gap(bus: &dyn Bus) {
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap();
    let _ = next(&mut live).await;
    let (second, _) = next(&mut live).await;
    drop(live); // the client disconnects
    for n in 3..=5 {
        bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
    }
    let mut resumed = complete(bus.subscribe_user(user, Some(&second)).await.unwrap());
    for n in 3..=5 {
        assert_eq!(next(&mut resumed).await.1, receipt(user, n));
    }
    // Then live, without a gap or a duplicate.
    bus.publish_user_event(&[user], &receipt(user, 6)).await.unwrap();
    assert_eq!(next(&mut resumed).await.1, receipt(user, 6));
    nothing_more(&mut resumed).await;
}

async fn an_unknown_position_is_a_gap(bus: &dyn Bus) {
    for garbage in ["not-an-id", "", "0-0-0", "ffffffff-1"] {
        let user = random_id();
        match bus.subscribe_user(user, Some(garbage)).await.unwrap() {
            UserSubscription::Gap(mut live) => {
                // A gap still carries the live events.
                bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
                assert_eq!(next(&mut live).await.1, receipt(user, 1));
            }
            UserSubscription::Complete(_) => panic!("{garbage:?} is no position this bus gave"),
        }
    }
}

async fn resuming_from_the_latest_event_continues_live(bus: &dyn Bus) {
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    let (latest, _) = next(&mut live).await;
    drop(live);
    let mut resumed = complete(bus.subscribe_user(user, Some(&latest)).await.unwrap());
    nothing_more(&mut resumed).await;
    bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap();
    let (id, event) = next(&mut resumed).await;
    assert_eq!(event, receipt(user, 2));
    assert_ne!(id, latest, "event ids are distinct");
    nothing_more(&mut resumed).await;
}

async fn publishing_to_nobody_is_fine(bus: &dyn Bus) {
    bus.publish_user_event(&[], &receipt(random_id(), 1)).await.unwrap();
}

/// The next chat event of `chat`, acknowledging events of other runs sharing the bus.
async fn take_event_of(events: &mut ports::ChatEventStream, chat: Id) -> ports::Delivery {
    loop {
        let d = tokio::time::timeout(WAIT, events.next()).await.expect("no chat event").unwrap().unwrap();
        if d.event.chat_id == chat {
            return d;
        }
        (d.ack)().await.unwrap();
    }
}

async fn chat_events_reach_a_worker_and_come_back_until_acked(bus: &dyn Bus) {
    let mut events = bus.chat_events().await.unwrap();
    let chat = random_id();
    let event = ChatEvent { chat_id: chat, event: receipt(random_id(), 1), also_notify: vec![random_id()] };
    bus.publish_chat_event(&event).await.unwrap();
    let first = take_event_of(&mut events, chat).await;
    assert_eq!(first.event, event);
    drop(first); // not acknowledged: must come again
    let again = take_event_of(&mut events, chat).await;
    assert_eq!(again.event, event);
    (again.ack)().await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(500), events.next()).await;
    if let Ok(Some(Ok(d))) = quiet {
        assert_ne!(d.event.chat_id, chat, "an acknowledged event came again");
    }
}
