//! Checks of the ephemeral side of the bus: ephemeral events, presence and statuses.

use std::time::Duration;

use domain::{Event, Id};
use futures::StreamExt;
use ports::{Bus, PresenceExpiryStream};

use crate::{WAIT, complete, next, next_item, nothing_more, random_id, receipt};

fn typing(user: Id) -> Event {
    Event::Typing { chat_id: Id(7), user_id: user, expires_in_ms: 5000 }
}

pub async fn ephemeral_events_reach_open_streams_only_without_an_id_and_are_never_replayed(bus: &dyn Bus) {
    let (a, b, offline) = (random_id(), random_id(), random_id());
    let mut sa = complete(bus.subscribe_user(a, None).await.unwrap());
    let mut sa2 = complete(bus.subscribe_user(a, None).await.unwrap());
    let mut sb = complete(bus.subscribe_user(b, None).await.unwrap());
    bus.publish_user_event(&[a], &receipt(a, 1)).await.unwrap();
    bus.publish_ephemeral(&[a, offline], &typing(b)).await.unwrap();
    bus.publish_user_event(&[a], &receipt(a, 2)).await.unwrap();
    let mut first = None;
    for stream in [&mut sa, &mut sa2] {
        // Ephemeral and durable events may interleave either way; each comes once.
        let mut durable = vec![];
        let mut ephemeral = vec![];
        for _ in 0..3 {
            match next_item(stream).await {
                (Some(id), event) => durable.push((id, event)),
                (None, event) => ephemeral.push(event),
            }
        }
        assert_eq!(ephemeral, vec![typing(b)], "an ephemeral event comes once, without an id");
        assert_eq!(durable.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(), vec![receipt(a, 1), receipt(a, 2)]);
        first = Some(durable[0].0.clone());
        nothing_more(stream).await;
    }
    drop((sa, sa2));
    // Resuming replays the durable events only.
    let mut resumed = complete(bus.subscribe_user(a, first.as_deref()).await.unwrap());
    assert_eq!(next(&mut resumed).await.1, receipt(a, 2));
    nothing_more(&mut resumed).await;
    // Then the live ones, ephemeral included.
    bus.publish_ephemeral(&[a], &typing(b)).await.unwrap();
    assert_eq!(next_item(&mut resumed).await, (None, typing(b)));
    // Others' streams got nothing, and a stream opened later gets nothing of the past.
    nothing_more(&mut sb).await;
    let mut later = complete(bus.subscribe_user(offline, None).await.unwrap());
    nothing_more(&mut later).await;
    bus.publish_ephemeral(&[], &typing(b)).await.unwrap();
}

pub async fn presence_follows_the_open_connections_of_a_user_on_any_node(bus: &dyn Bus) {
    let (u, v) = (random_id(), random_id());
    let ttl = Duration::from_secs(30);
    assert!(bus.online(&[u, v]).await.unwrap().is_empty());
    assert!(bus.heartbeat(u, "c1", ttl).await.unwrap(), "the first connection brings the user online");
    assert!(!bus.heartbeat(u, "c2", ttl).await.unwrap(), "a second connection changes nothing");
    assert!(!bus.heartbeat(u, "c1", ttl).await.unwrap(), "a renewal changes nothing");
    assert!(bus.heartbeat(v, "c1", ttl).await.unwrap(), "connection ids are per user");
    assert_eq!(bus.online(&[v, random_id(), u]).await.unwrap(), vec![v, u], "in the order asked");
    assert!(!bus.connection_closed(u, "c1").await.unwrap(), "another connection is still open");
    assert_eq!(bus.online(&[u]).await.unwrap(), vec![u]);
    assert!(bus.connection_closed(u, "c2").await.unwrap(), "the last connection takes the user offline");
    assert!(bus.online(&[u]).await.unwrap().is_empty());
    assert!(!bus.connection_closed(u, "c2").await.unwrap(), "closing twice reports nothing more");
    assert!(!bus.connection_closed(random_id(), "c9").await.unwrap(), "an unknown connection is nothing");
    assert!(bus.heartbeat(u, "c3", ttl).await.unwrap(), "coming back is news again");
    assert!(bus.connection_closed(u, "c3").await.unwrap());
    assert!(bus.connection_closed(v, "c1").await.unwrap());
}

/// Waits for the expiry of `user`, acknowledging those of other users.
async fn expiry_of(expiries: &mut PresenceExpiryStream, user: Id, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let Ok(item) = tokio::time::timeout_at(deadline, expiries.next()).await else { return false };
        let expiry = item.expect("the expiry stream ended").expect("expiry stream error");
        let found = expiry.user == user;
        (expiry.ack)().await.unwrap();
        if found {
            return true;
        }
    }
}

pub async fn an_unclosed_connection_expires_by_itself_and_is_reported_once(bus: &dyn Bus) {
    let mut expiries = bus.presence_expiries().await.unwrap();
    let (gone, closed) = (random_id(), random_id());
    let ttl = Duration::from_secs(1);
    assert!(bus.heartbeat(gone, "dies", ttl).await.unwrap());
    assert!(bus.heartbeat(closed, "closes", ttl).await.unwrap());
    assert!(bus.connection_closed(closed, "closes").await.unwrap());
    assert_eq!(bus.online(&[gone, closed]).await.unwrap(), vec![gone]);
    // Its node dies: no more heartbeats, no close.
    let started = tokio::time::Instant::now();
    while !bus.online(&[gone]).await.unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "a connection outlived its ttl");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(expiry_of(&mut expiries, gone, WAIT).await, "the expiry was not reported");
    assert!(!bus.connection_closed(gone, "dies").await.unwrap(), "an expiry is reported once, not again at close");
    assert!(!expiry_of(&mut expiries, gone, Duration::from_secs(2)).await, "an expiry was reported twice");
    assert!(!expiry_of(&mut expiries, closed, Duration::from_millis(500)).await, "a closed connection is no expiry");
    // Renewed connections do not expire.
    let kept = random_id();
    assert!(bus.heartbeat(kept, "kept", ttl).await.unwrap());
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!bus.heartbeat(kept, "kept", ttl).await.unwrap());
    }
    assert_eq!(bus.online(&[kept]).await.unwrap(), vec![kept]);
    assert!(bus.connection_closed(kept, "kept").await.unwrap());
    assert!(!expiry_of(&mut expiries, kept, Duration::from_millis(1500)).await, "a renewed connection expired");
}
