//! Checks of the per-user events: live delivery, replay from a position, gaps.

use ports::{Bus, UserSubscription};

use crate::{complete, next, nothing_more, random_id, receipt};

pub async fn live_events_reach_only_their_users(bus: &dyn Bus) {
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

pub async fn resuming_replays_exactly_the_gap(bus: &dyn Bus) {
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

pub async fn an_unknown_position_is_a_gap(bus: &dyn Bus) {
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

pub async fn resuming_from_the_latest_event_continues_live(bus: &dyn Bus) {
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

pub async fn publishing_to_nobody_is_fine(bus: &dyn Bus) {
    bus.publish_user_event(&[], &receipt(random_id(), 1)).await.unwrap();
}
