//! The Bus conformance suite and the NATS adapter's own guarantees, against the stack's NATS
//! (`scripts/stack up nats`; URL from `PETIT_CHAT_STACK_NATS_URL`, which
//! `eval "$(scripts/stack env)"` sets). Without it these tests fail; they never pass
//! silently. Each test uses its own stream prefix, so runs can share one server, and
//! deletes its streams at the end.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

use std::sync::Arc;
use std::time::Duration;

use bus_conformance::publish_key;
use bus_nats::{NatsBus, NatsConfig};
use domain::{ChatEvent, Event, Id};
use futures::StreamExt;
use ports::{
    Bus, ChatEventBus, MembershipNews, MembershipWord, PresenceBus, UserEventBus, UserEventStream, UserSubscription,
};

const WAIT: Duration = Duration::from_secs(20);

fn config(test: &str) -> NatsConfig {
    let url = std::env::var("PETIT_CHAT_STACK_NATS_URL")
        .expect("PETIT_CHAT_STACK_NATS_URL is unset: start NATS with `scripts/stack up nats`, then `eval \"$(scripts/stack env)\"`");
    NatsConfig {
        servers: vec![url],
        prefix: format!("test_{test}_{:08x}", rand::random::<u32>()),
        connection_name: format!("bus-nats test {test}"),
        connect_wait_secs: 10,
        ..NatsConfig::default()
    }
}

async fn connect(config: &NatsConfig) -> NatsBus {
    NatsBus::connect(config).await.expect("the stack's NATS must answer")
}

/// A raw JetStream handle, to do to the streams what an operator or a failure would.
async fn jetstream(config: &NatsConfig) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(config.servers.as_slice()).await.unwrap())
}

async fn delete_streams(config: &NatsConfig) {
    NatsBus::delete_streams(config).await.expect("delete the test's streams");
}

/// The consumers of the per-user stream, once a node that has caught up has had the time
/// to delete its own: a node's follower has one only while catching up.
async fn live_consumers(config: &NatsConfig) -> usize {
    let js = jetstream(config).await;
    let stream = js.get_stream(config.user_events_stream()).await.unwrap();
    let mut count = 0;
    for _ in 0..20 {
        count = stream.consumer_names().count().await;
        if count == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count
}

/// The per-user stream's configuration as the server has it now.
async fn user_stream_settings(
    js: &async_nats::jetstream::Context,
    config: &NatsConfig,
) -> async_nats::jetstream::stream::Config {
    js.get_stream(config.user_events_stream()).await.unwrap().cached_info().config.clone()
}

/// Runs `publish` while the per-user stream does not republish what it stores: the live
/// streams miss those events, as when their connection loses them.
async fn unrepublished<F: std::future::Future<Output = ()>>(config: &NatsConfig, publish: F) {
    let js = jetstream(config).await;
    let mut settings = user_stream_settings(&js, config).await;
    let rule = settings.republish.take().expect("the per-user stream republishes");
    js.update_stream(settings.clone()).await.unwrap();
    publish.await;
    settings.republish = Some(rule);
    js.update_stream(settings).await.unwrap();
}

async fn purge_user_events(config: &NatsConfig) {
    let js = jetstream(config).await;
    js.get_stream(config.user_events_stream()).await.unwrap().purge().await.unwrap();
}

fn random_id() -> Id {
    Id(rand::random::<u64>() >> 2)
}

fn receipt(user: Id, n: u64) -> Event {
    Event::ReceiptUpdated { chat_id: Id(7), user_id: user, read_up_to: Id(n), unread: None }
}

async fn next(stream: &mut UserEventStream) -> (String, Event) {
    let (id, event) = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .expect("stream error");
    (id.expect("a durable event has an id"), event)
}

async fn nothing_more(stream: &mut UserEventStream) {
    if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
        panic!("unexpected item {:?}", item.map(|(_, e)| e));
    }
}

fn complete(sub: UserSubscription) -> UserEventStream {
    match sub {
        UserSubscription::Complete(s) => s,
        UserSubscription::Gap(_) => panic!("expected a complete subscription"),
    }
}

fn gap(sub: UserSubscription) -> UserEventStream {
    match sub {
        UserSubscription::Gap(s) => s,
        UserSubscription::Complete(_) => panic!("expected a gap"),
    }
}

/// The conformance suite, one test per check, each on a bus of its own prefix, whose
/// streams and buckets are deleted after it (left behind, a few hundred runs' worth of
/// consumers kept the stack's NATS busy).
mod conformance {
    use super::*;
    bus_conformance::bus_conformance_tests!(
        Arc::new(connect(&NatsConfig { ack_wait_ms: 1_000, ..config("conf") }).await),
        |bus: &Arc<NatsBus>| {
            let config = bus.config().clone();
            async move { delete_streams(&config).await }
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_from_one_node_resumes_on_another_with_exactly_the_gap() {
    let cfg = config("two_nodes");
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let user = random_id();
    let mut on_a = complete(a.subscribe_user(user, None).await.unwrap());
    let mut live_on_b = complete(b.subscribe_user(user, None).await.unwrap());
    for n in 1..=2 {
        a.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
    }
    let _ = next(&mut on_a).await;
    let (second, _) = next(&mut on_a).await;
    drop(on_a); // the client leaves node A
    for n in 3..=5 {
        b.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
    }
    // ... and comes back to node B.
    let mut on_b = complete(b.subscribe_user(user, Some(&second)).await.unwrap());
    let mut ids = vec![];
    for n in 3..=5 {
        let (id, event) = next(&mut on_b).await;
        assert_eq!(event, receipt(user, n));
        ids.push(id);
    }
    a.publish_user_event(&[user], &receipt(user, 6)).await.unwrap();
    let (sixth, event) = next(&mut on_b).await;
    assert_eq!(event, receipt(user, 6));
    nothing_more(&mut on_b).await;
    // Both nodes name every event alike.
    for (n, expected_id) in (1..=6).zip([None, Some(second.clone()), None, None, None, Some(sixth)]) {
        let (id, event) = next(&mut live_on_b).await;
        assert_eq!(event, receipt(user, n));
        if let Some(expected) = expected_id {
            assert_eq!(id, expected);
        }
        if (3..=5).contains(&n) {
            assert_eq!(id, ids[n as usize - 3]);
        }
    }
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_left_alone_after_the_registry_of_workers_was_deleted_reads_every_chat() {
    let cfg = config("registry");
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let spec = ports::GroupSpec::from(ports::Interest::Every);
    a.declare_group("registry", spec).await.unwrap();
    let mut on_a = a.chat_events("registry", spec).await.unwrap();
    let on_b = b.chat_events("registry", spec).await.unwrap();
    // Both registered and the partitions shared out; then the bucket goes, and so does B.
    tokio::time::sleep(Duration::from_secs(3)).await;
    jetstream(&cfg).await.delete_stream(format!("KV_{}", cfg.workers_bucket())).await.unwrap();
    drop(on_b);
    let user = random_id();
    let sent: Vec<ChatEvent> =
        (0..40).map(|n| ChatEvent { chat_id: random_id(), event: receipt(user, n), also_notify: vec![] }).collect();
    for event in &sent {
        a.publish_chat_event(event, &publish_key()).await.unwrap();
    }
    // A takes B's partitions too: every chat's event reaches it.
    let mut got = vec![];
    while got.len() < sent.len() {
        let delivery = tokio::time::timeout(WAIT, on_a.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {} events within {WAIT:?}", got.len(), sent.len()))
            .unwrap()
            .unwrap();
        got.push(delivery.event.chat_id);
        (delivery.ack)().await.unwrap();
    }
    let mut expected: Vec<_> = sent.iter().map(|e| e.chat_id).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_event_fanned_out_twice_after_a_missed_ack_deadline_reaches_each_user_once() {
    let cfg = NatsConfig { ack_wait_ms: 1_000, ..config("slowworker") };
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let user = random_id();
    let mut stream = match b.subscribe_user(user, None).await.unwrap() {
        UserSubscription::Complete(s) => s,
        UserSubscription::Gap(_) => panic!("a new subscription is complete"),
    };
    let event = ChatEvent { chat_id: random_id(), event: receipt(user, 1), also_notify: vec![] };
    a.declare_group(ports::FANOUT_GROUP, ports::Interest::Every.into()).await.unwrap();
    a.publish_chat_event(&event, &publish_key()).await.unwrap();
    // A slow worker fans it out but misses the ack deadline; the event goes to another
    // worker, which fans it out again. Both carry the same origin.
    let mut on_a = a.chat_events(ports::FANOUT_GROUP, ports::Interest::Every.into()).await.unwrap();
    let first = tokio::time::timeout(WAIT, on_a.next()).await.unwrap().unwrap().unwrap();
    let origin = first.origin.clone().expect("a JetStream delivery has an origin");
    a.publish_fanned_out(&[user], &first.event.event, &origin).await.unwrap();
    std::mem::forget(first);
    drop(on_a);
    let mut on_b = b.chat_events(ports::FANOUT_GROUP, ports::Interest::Every.into()).await.unwrap();
    let again = tokio::time::timeout(WAIT, on_b.next()).await.expect("the event comes back").unwrap().unwrap();
    assert_eq!(again.origin.as_deref(), Some(origin.as_str()), "the origin is stable across redeliveries");
    b.publish_fanned_out(&[user], &again.event.event, again.origin.as_deref().unwrap()).await.unwrap();
    (again.ack)().await.unwrap();
    assert_eq!(next(&mut stream).await.1, event.event);
    nothing_more(&mut stream).await;
    // Another chat event is another origin: it is delivered.
    b.publish_fanned_out(&[user], &receipt(user, 2), "ce-another").await.unwrap();
    assert_eq!(next(&mut stream).await.1, receipt(user, 2));
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_the_retention_removed_is_a_gap_that_continues_live() {
    let cfg = config("retention");
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    let (first, _) = next(&mut live).await;
    drop(live);
    bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap();
    purge_user_events(&cfg).await; // event 2 is gone before the client came back
    let mut resumed = gap(bus.subscribe_user(user, Some(&first)).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 3)).await.unwrap();
    let (third, event) = next(&mut resumed).await;
    assert_eq!(event, receipt(user, 3), "a gap carries live events, not the removed ones");
    nothing_more(&mut resumed).await;
    drop(resumed);
    // Removing only events the client has seen is no gap.
    purge_user_events(&cfg).await;
    let mut from_latest = complete(bus.subscribe_user(user, Some(&third)).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 4)).await.unwrap();
    assert_eq!(next(&mut from_latest).await.1, receipt(user, 4));
    nothing_more(&mut from_latest).await;
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_needs_no_consumer_and_catches_up_on_what_it_missed_without_a_gap_or_a_duplicate() {
    let cfg = config("catch_up");
    let bus = connect(&cfg).await;
    let (user, other) = (random_id(), random_id());
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    // Other users' events between a user's do not look like missed ones.
    for n in 1..=3 {
        bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
        bus.publish_user_event(&[other], &receipt(other, n)).await.unwrap();
    }
    for n in 1..=3 {
        assert_eq!(next(&mut live).await.1, receipt(user, n));
    }
    assert_eq!(live_consumers(&cfg).await, 0, "a live stream reads what the stream republishes");
    unrepublished(&cfg, async {
        for n in 4..=6 {
            bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
        }
    })
    .await;
    // The next republished event names the user's previous one, which this stream lacks.
    bus.publish_user_event(&[user], &receipt(user, 7)).await.unwrap();
    for n in 4..=7 {
        assert_eq!(next(&mut live).await.1, receipt(user, n));
    }
    bus.publish_user_event(&[user], &receipt(user, 8)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 8));
    nothing_more(&mut live).await;
    assert_eq!(live_consumers(&cfg).await, 0, "caught up, the stream is live again");
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_catches_up_after_its_connection_was_lost_without_waiting_for_another_event() {
    let cfg = config("reconnect");
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 1));
    unrepublished(&cfg, async { bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap() }).await;
    bus.force_reconnect().await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 2));
    bus.publish_user_event(&[user], &receipt(user, 3)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 3));
    nothing_more(&mut live).await;
    delete_streams(&cfg).await;
}

/// The next membership word, whatever it is (a test's prefix is its own: nobody else's).
async fn next_word(news: &mut ports::MembershipNewsStream, what: &str) -> MembershipWord {
    tokio::time::timeout(WAIT, news.next())
        .await
        .unwrap_or_else(|_| panic!("no word in time: {what}"))
        .expect("news ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_news_from_one_node_reaches_the_other_and_a_reconnection_says_some_was_missed() {
    let cfg = config("membership");
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let mut on_b = b.membership_news().await.unwrap();
    let chat = random_id();
    a.membership_changed(chat).await.unwrap();
    assert_eq!(next_word(&mut on_b, "the change").await, MembershipWord::Changed(chat));
    // What is published while b reconnects never reaches it: b is told it may have missed
    // some, and hears what comes after.
    b.force_reconnect().await.unwrap();
    assert_eq!(next_word(&mut on_b, "the reconnection").await, MembershipWord::Missed);
    // b's subscription is back on the server a moment after the reconnection is told: news
    // is published until it arrives.
    let later = random_id();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "b never heard of the change after reconnecting");
        a.membership_changed(later).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), on_b.next()).await {
            Ok(Some(MembershipWord::Changed(c))) => break assert_eq!(c, later),
            Ok(Some(MembershipWord::Missed)) | Err(_) => {}
            Ok(None) => panic!("news ended"),
        }
    }
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republish_rule_an_older_node_removed_is_put_back_and_live_streams_catch_up() {
    let cfg = NatsConfig { stream_check_secs: 1, ..config("older_node") };
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    // An older node starts: the stream's configuration becomes its, without the rule.
    let js = jetstream(&cfg).await;
    let mut settings = user_stream_settings(&js, &cfg).await;
    settings.republish = None;
    js.update_stream(settings).await.unwrap();
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 1), "the rule is put back and the stream catches up");
    assert!(user_stream_settings(&js, &cfg).await.republish.is_some(), "the rule is back");
    bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 2));
    nothing_more(&mut live).await;
    assert_eq!(live_consumers(&cfg).await, 0, "caught up, the stream is live again");
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_comes_from_the_nodes_window_and_a_position_before_it_is_a_gap() {
    let cfg = NatsConfig { replay_window_events: 3, ..config("window") };
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let user = random_id();
    let mut live = complete(a.subscribe_user(user, None).await.unwrap());
    // Node B follows the stream too (the user has another device there), so its window
    // holds the last three events.
    let mut on_b = complete(b.subscribe_user(user, None).await.unwrap());
    let mut ids = vec![];
    for n in 1..=5 {
        a.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
        ids.push(next(&mut live).await.0);
        assert_eq!(next(&mut on_b).await.0, ids[n as usize - 1], "both nodes name events alike");
    }
    drop(live);
    // After the first event: the second is no longer in the window.
    let mut resumed = gap(b.subscribe_user(user, Some(&ids[0])).await.unwrap());
    a.publish_user_event(&[user], &receipt(user, 6)).await.unwrap();
    assert_eq!(next(&mut resumed).await.1, receipt(user, 6), "a gap carries live events");
    assert_eq!(next(&mut on_b).await.1, receipt(user, 6));
    drop(resumed);
    // After the third: the fourth, fifth and sixth are, so from memory, with no consumer.
    let mut resumed = complete(b.subscribe_user(user, Some(&ids[2])).await.unwrap());
    for n in 4..=6 {
        assert_eq!(next(&mut resumed).await.1, receipt(user, n));
    }
    assert_eq!(live_consumers(&cfg).await, 0, "a replay reads the node's window");
    a.publish_user_event(&[user], &receipt(user, 7)).await.unwrap();
    assert_eq!(next(&mut resumed).await.1, receipt(user, 7));
    nothing_more(&mut resumed).await;
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_that_cannot_catch_up_without_a_gap_ends_with_an_error() {
    let cfg = config("lost");
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 1));
    // An event the stream misses expires before the next one comes.
    unrepublished(&cfg, async { bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap() }).await;
    purge_user_events(&cfg).await;
    bus.publish_user_event(&[user], &receipt(user, 3)).await.unwrap();
    let item = tokio::time::timeout(WAIT, live.next()).await.expect("no news in time").expect("stream ended");
    assert!(item.is_err(), "a missed event must be reported, got {:?}", item.map(|(_, e)| e));
    assert!(tokio::time::timeout(WAIT, live.next()).await.unwrap().is_none(), "the stream ends after the error");
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_live_stream_keeps_its_position_current_so_an_expired_last_event_is_not_missed() {
    // A short retention makes the position refresh every second.
    let cfg = NatsConfig { user_events_max_age_secs: 4, ..config("idle") };
    let bus = connect(&cfg).await;
    let (user, other) = (random_id(), random_id());
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    assert_eq!(next(&mut live).await.1, receipt(user, 1));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = live.next().await {
            if tx.send(item).is_err() {
                break;
            }
        }
    });
    for n in 1..=5 {
        bus.publish_user_event(&[other], &receipt(other, n)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await; // the position moves past them
    purge_user_events(&cfg).await; // ... and the user's last event is gone
    bus.publish_user_event(&[user], &receipt(user, 2)).await.unwrap();
    let item = tokio::time::timeout(WAIT, rx.recv()).await.expect("no news in time").expect("stream ended");
    assert_eq!(item.expect("an idle stream goes on without a gap").1, receipt(user, 2));
    assert_eq!(live_consumers(&cfg).await, 0, "nor does it take the expired event for a missed one");
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_from_a_deleted_and_recreated_stream_is_a_gap() {
    let cfg = config("recreated");
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut live = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    let (old_id, _) = next(&mut live).await;
    drop(live);
    jetstream(&cfg).await.delete_stream(cfg.user_events_stream()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let bus = connect(&cfg).await; // a node starting recreates it
    // The new stream's sequences pass the old id's.
    for n in 1..=3 {
        bus.publish_user_event(&[user], &receipt(user, n)).await.unwrap();
    }
    drop(gap(bus.subscribe_user(user, Some(&old_id)).await.unwrap()));
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_and_a_bad_configuration_is_refused() {
    let cfg = config("ping");
    let bus = connect(&cfg).await;
    bus.ping().await.unwrap();
    let bad = NatsConfig { prefix: "Not.Valid".into(), ..cfg.clone() };
    assert_eq!(NatsBus::connect(&bad).await.unwrap_err().code, "invalid_config");
    let nowhere = NatsConfig { servers: vec!["nats://127.0.0.1:1".into()], connect_wait_secs: 0, ..cfg.clone() };
    assert_eq!(NatsBus::connect(&nowhere).await.unwrap_err().kind, domain::ErrorKind::Unavailable);
    delete_streams(&cfg).await;
}

/// The chat log records its partition count: a new deployment gets
/// `NEW_DEPLOYMENT_PARTITIONS` unless set, a node set to another count than the recorded
/// one is refused and changes nothing, and a chat log made before the count was recorded
/// keeps the 64 partitions it was made with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partition_count_is_the_deployments_and_another_is_refused() {
    let recorded = |cfg: NatsConfig| async move {
        let stream = jetstream(&cfg).await.get_stream(cfg.chat_log_stream()).await.unwrap();
        stream.cached_info().config.metadata.get("petit_chat.partitions").cloned()
    };
    let cfg = config("partitions");
    let bus = connect(&cfg).await;
    let n = bus_nats::NEW_DEPLOYMENT_PARTITIONS;
    assert_eq!(bus.config().partitions, Some(n));
    assert_eq!(recorded(cfg.clone()).await, Some(n.to_string()));
    let other = NatsConfig { partitions: Some(64), ..cfg.clone() };
    let refused = NatsBus::connect(&other).await.unwrap_err();
    assert_eq!(refused.code, "invalid_config");
    assert!(refused.detail.contains(&format!("has {n} partitions")), "{}", refused.detail);
    assert_eq!(recorded(cfg.clone()).await, Some(n.to_string()), "the refused node changed the record");
    let same = NatsConfig { partitions: Some(n), ..cfg.clone() };
    assert_eq!(connect(&same).await.config().partitions, Some(n));
    delete_streams(&cfg).await;

    // A chat log from before the record: made here as that build made it, with no metadata.
    let old = config("partitions_old");
    jetstream(&old)
        .await
        .create_stream(async_nats::jetstream::stream::Config {
            name: old.chat_log_stream(),
            subjects: vec![format!("{}.events.>", old.prefix)],
            retention: async_nats::jetstream::stream::RetentionPolicy::Interest,
            ..Default::default()
        })
        .await
        .unwrap();
    let bus = connect(&old).await;
    assert_eq!(bus.config().partitions, Some(64));
    assert_eq!(recorded(old.clone()).await.as_deref(), Some("64"));
    let fewer = NatsConfig { partitions: Some(16), ..old.clone() };
    assert_eq!(NatsBus::connect(&fewer).await.unwrap_err().code, "invalid_config");
    delete_streams(&old).await;
}

/// A publication repeated under its key (its acknowledgement was lost, or the client held
/// it while disconnected and sent it again with the retry) is received once; the same
/// event under another key (a reaction added, removed and added again) is another event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_repeated_under_its_key_is_received_once() {
    let cfg = config("dedup");
    let bus = connect(&cfg).await;
    let chat = random_id();
    let signal = domain::Signal {
        id: random_id(),
        chat_id: chat,
        author_id: random_id(),
        body: domain::SignalBody::Msg {
            text: "hello".into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            everyone: false,
        },
        edited_at: None,
    };
    let created = |signal: domain::Signal| ChatEvent {
        chat_id: chat,
        event: Event::SignalCreated { signal: domain::SignalView { signal, reactions: vec![] }, nonce: None },
        also_notify: vec![],
    };
    let read = ChatEvent { chat_id: chat, event: receipt(random_id(), 1), also_notify: vec![] };
    bus.declare_group(ports::FANOUT_GROUP, ports::Interest::Every.into()).await.unwrap();
    let (signal_key, read_key) = (format!("signal-{}", signal.id), publish_key());
    bus.publish_chat_event(&created(signal.clone()), &signal_key).await.unwrap();
    bus.publish_chat_event(&created(signal.clone()), &signal_key).await.unwrap();
    bus.publish_chat_event(&read, &read_key).await.unwrap();
    bus.publish_chat_event(&read, &read_key).await.unwrap();
    bus.publish_chat_event(&read, &publish_key()).await.unwrap();
    let other = domain::Signal { id: random_id(), ..signal.clone() };
    bus.publish_chat_event(&created(other.clone()), &format!("signal-{}", other.id)).await.unwrap();
    let mut events = bus.chat_events(ports::FANOUT_GROUP, ports::Interest::Every.into()).await.unwrap();
    let mut got = vec![];
    for _ in 0..4 {
        let d = tokio::time::timeout(WAIT, events.next()).await.unwrap().unwrap().unwrap();
        got.push(d.event.clone());
        (d.ack)().await.unwrap();
    }
    assert_eq!(got, vec![created(signal), read.clone(), read, created(other)], "in order, each once");
    assert!(tokio::time::timeout(Duration::from_millis(500), events.next()).await.is_err(), "a duplicate came");
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_events_and_presence_cross_nodes_and_an_expiry_goes_to_one_node() {
    let cfg = config("presence");
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let (user, friend) = (random_id(), random_id());
    let mut on_a = complete(a.subscribe_user(friend, None).await.unwrap());
    let typing = Event::Typing { chat_id: Id(7), user_id: user, expires_in_ms: 5000 };
    b.publish_ephemeral(&[friend], &typing).await.unwrap();
    let item = tokio::time::timeout(WAIT, on_a.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(item, (None, typing), "an ephemeral event published on B reaches a stream on A");

    let tag = |node: &'static str, stream: ports::PresenceExpiryStream| stream.map(move |item| (node, item));
    let mut expiries = futures::stream::select(
        tag("a", a.presence_expiries().await.unwrap()),
        tag("b", b.presence_expiries().await.unwrap()),
    );
    assert!(a.heartbeat(user, "on-a", Duration::from_secs(1)).await.unwrap());
    assert!(!b.heartbeat(user, "on-b", Duration::from_secs(30)).await.unwrap(), "a second node's stream is no news");
    assert!(!b.connection_closed(user, "on-b").await.unwrap(), "the stream on A is still open");
    assert_eq!(b.online(&[user]).await.unwrap(), vec![user]);
    // Node A dies: its stream is neither renewed nor closed.
    let mut reported = vec![];
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some((node, item))) = tokio::time::timeout_at(deadline, expiries.next()).await {
        let expiry = item.unwrap();
        let mine = expiry.user == user;
        (expiry.ack)().await.unwrap();
        if mine {
            reported.push(node);
            if reported.len() == 1 {
                // Anything more would come within the ack wait.
                let more = tokio::time::Instant::now() + Duration::from_millis(cfg.ack_wait_ms + 1000);
                while let Ok(Some((node, item))) = tokio::time::timeout_at(more, expiries.next()).await {
                    let expiry = item.unwrap();
                    if expiry.user == user {
                        reported.push(node);
                    }
                    (expiry.ack)().await.unwrap();
                }
                break;
            }
        }
    }
    assert_eq!(reported.len(), 1, "one node handles an expiry, once: {reported:?}");
    assert!(a.online(&[user]).await.unwrap().is_empty());
    delete_streams(&cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_connections_on_two_nodes_make_one_online_and_one_offline_transition() {
    let cfg = config("presence_race");
    let (a, b) = (connect(&cfg).await, connect(&cfg).await);
    let user = random_id();
    let nodes = [a.clone(), b.clone()];
    let connections: Vec<String> = (0..16).map(|n| format!("c{n}")).collect();
    let opened = futures::future::join_all(
        connections.iter().enumerate().map(|(n, c)| nodes[n % 2].heartbeat(user, c, Duration::from_secs(30))),
    )
    .await;
    let came_online = opened.into_iter().map(|r| r.unwrap()).filter(|b| *b).count();
    assert_eq!(came_online, 1, "exactly one connection brings the user online");
    assert_eq!(a.online(&[user]).await.unwrap(), vec![user]);
    let closed =
        futures::future::join_all(connections.iter().enumerate().map(|(n, c)| nodes[n % 2].connection_closed(user, c)))
            .await;
    let went_offline = closed.into_iter().map(|r| r.unwrap()).filter(|b| *b).count();
    assert_eq!(went_offline, 1, "exactly one close takes the user offline");
    assert!(b.online(&[user]).await.unwrap().is_empty());
    delete_streams(&cfg).await;
}

/// Rolling upgrades: a chat event written by a newer build (a higher event version, or
/// content this build cannot read) is handed back, never dropped, so a worker of the newer
/// build handles it; this build's workers go on with the other partitions meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_event_from_a_newer_build_waits_for_a_newer_worker_and_is_never_dropped() {
    let cfg = NatsConfig { ack_wait_ms: 1_000, partitions: Some(2), ..config("upgrade") };
    let bus = connect(&cfg).await;
    let group = "upgrade";
    bus.declare_group(group, ports::Interest::Every.into()).await.unwrap();
    let (newer_chat, other_chat) = loop {
        let (a, b) = (random_id(), random_id());
        if ports::chat_partition(a, 2) != ports::chat_partition(b, 2) {
            break (a, b);
        }
    };
    let partition = ports::chat_partition(newer_chat, 2);
    let js = jetstream(&cfg).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(bus_nats::EVENT_VERSION_HEADER, (bus_nats::EVENT_VERSION + 1).to_string().as_str());
    let subject = format!("{}.events.{partition}.{}", cfg.prefix, newer_chat.0);
    let future_event = r#"{"chat_id":"1","event":{"type":"poll_created","poll":{}}}"#;
    js.publish_with_headers(subject, headers, future_event.into()).await.unwrap().await.unwrap();
    let readable = ChatEvent { chat_id: other_chat, event: receipt(random_id(), 1), also_notify: vec![] };
    bus.publish_chat_event(&readable, &publish_key()).await.unwrap();

    // This build's worker hands out only what it can read.
    let mut events = bus.chat_events(group, ports::Interest::Every.into()).await.unwrap();
    let d = tokio::time::timeout(WAIT, events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(d.event, readable);
    (d.ack)().await.unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(3), events.next()).await.is_err(), "the unreadable one came out");
    drop(events);

    // A newer worker (here a raw pull on the group's consumer of that partition) gets it.
    let stream = js.get_stream(cfg.chat_log_stream()).await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(&format!("{group}_{partition}")).await.unwrap();
    // In-order groups are pinned-client consumers, pulled in the priority group "owner".
    let mut pull = consumer.stream().group("owner").max_messages_per_batch(1).messages().await.unwrap();
    let message = tokio::time::timeout(WAIT, pull.next()).await.expect("the newer event was dropped").unwrap().unwrap();
    assert_eq!(&message.payload[..], future_event.as_bytes());
    message.double_ack().await.unwrap();
    assert_eq!(bus.group_lag(group).await.unwrap(), 0);
    delete_streams(&cfg).await;
}

/// `bus.tls_required` with `bus.tls_ca_file`: the stack's NATS takes TLS (with a dev-only
/// authority, whose certificate `scripts/stack env` names). A bus that trusts that authority
/// connects and carries events; one that trusts only the system's roots is refused at the
/// handshake: the server's certificate is checked, not just the channel encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connects_with_the_servers_authority_and_refuses_an_unknown_one() {
    let ca = std::env::var("PETIT_CHAT_STACK_TLS_CA_FILE")
        .expect("PETIT_CHAT_STACK_TLS_CA_FILE (eval \"$(scripts/stack env)\") names the stack's TLS authority");
    let cfg = NatsConfig { tls_required: true, tls_ca_file: Some(ca.into()), ..config("tls") };
    let bus = connect(&cfg).await;
    let user = random_id();
    let mut stream = complete(bus.subscribe_user(user, None).await.unwrap());
    bus.publish_user_event(&[user], &receipt(user, 1)).await.unwrap();
    assert_eq!(next(&mut stream).await.1, receipt(user, 1));
    delete_streams(&cfg).await;

    let untrusted = NatsConfig { tls_required: true, connect_wait_secs: 0, ..config("tls_untrusted") };
    let refused = NatsBus::connect(&untrusted).await.expect_err("the dev authority is not a system root");
    assert_eq!(refused.code, domain::ErrorCode::Unavailable, "{refused}");
    assert!(refused.detail.contains("invalid peer certificate: UnknownIssuer"), "{refused}");
}
