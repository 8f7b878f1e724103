//! Checks of the chat-event log: consumer groups, workers sharing a group, per-chat order,
//! redelivery of what was not acknowledged, lag.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{ChatEvent, Id};
use futures::StreamExt;
use ports::{Bus, ChatEventStream, Delivery};

use crate::{WAIT, publish_key, random_id, receipt};

/// A consumer group of its own for one check.
fn random_group() -> String {
    format!("check_{:08x}", rand::random::<u32>())
}

/// The `n`th event of `chat`.
fn event(chat: Id, n: u64) -> ChatEvent {
    ChatEvent { chat_id: chat, event: receipt(Id(1), n), also_notify: vec![] }
}

fn n_of(event: &ChatEvent) -> u64 {
    match &event.event {
        domain::Event::ReceiptUpdated { read_up_to, .. } => read_up_to.0,
        other => panic!("not an event of this suite: {other:?}"),
    }
}

async fn take(events: &mut ChatEventStream) -> Delivery {
    tokio::time::timeout(WAIT, events.next()).await.expect("no chat event in time").expect("stream ended").unwrap()
}

/// Nothing comes within `wait`.
async fn quiet(events: &mut ChatEventStream, wait: Duration) {
    if let Ok(Some(item)) = tokio::time::timeout(wait, events.next()).await {
        panic!("unexpected chat event {:?}", item.map(|d| d.event));
    }
}

pub async fn every_group_receives_every_event(bus: &dyn Bus) {
    let (g1, g2) = (random_group(), random_group());
    bus.declare_group(&g1, ports::Interest::Every.into()).await.unwrap();
    bus.declare_group(&g2, ports::Interest::Every.into()).await.unwrap();
    let chats: Vec<Id> = (0..5).map(|_| random_id()).collect();
    let mut published = BTreeSet::new();
    for n in 1..=4 {
        for chat in &chats {
            bus.publish_chat_event(&event(*chat, n), &publish_key()).await.unwrap();
            published.insert((*chat, n));
        }
    }
    for group in [&g1, &g2] {
        let mut events = bus.chat_events(group, ports::Interest::Every.into()).await.unwrap();
        let mut seen = BTreeSet::new();
        while seen.len() < published.len() {
            let d = take(&mut events).await;
            assert!(seen.insert((d.event.chat_id, n_of(&d.event))), "group {group} got {:?} twice", d.event);
            (d.ack)().await.unwrap();
        }
        assert_eq!(seen, published, "group {group} receives every event");
        quiet(&mut events, Duration::from_millis(300)).await;
    }
}

/// A worker of a group: its name, how long it is busy with an event before acknowledging
/// it, and after.
struct Worker {
    name: &'static str,
    before_ack: Duration,
    after_ack: Duration,
}

/// Runs the workers on a new group, publishes one event to each of `chats` new chats, and
/// returns, per chat, the workers that handled its event (waiting `settle` past the last
/// one for anything handed out again).
async fn share(bus: &dyn Bus, workers: [Worker; 2], chats: usize, settle: Duration) -> Vec<Vec<&'static str>> {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = vec![];
    for worker in workers {
        let tx = tx.clone();
        let mut events = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(delivery)) = events.next().await {
                tokio::time::sleep(worker.before_ack).await;
                let chat = delivery.event.chat_id;
                (delivery.ack)().await.unwrap();
                if tx.send((worker.name, chat)).is_err() {
                    break;
                }
                tokio::time::sleep(worker.after_ack).await;
            }
        }));
    }
    let chats: Vec<Id> = (0..chats).map(|_| random_id()).collect();
    for chat in &chats {
        bus.publish_chat_event(&event(*chat, 1), &publish_key()).await.unwrap();
    }
    let mut handled: HashMap<Id, Vec<&str>> = HashMap::new();
    while handled.len() < chats.len() {
        let (worker, chat) = tokio::time::timeout(WAIT, rx.recv()).await.expect("events missing").unwrap();
        handled.entry(chat).or_default().push(worker);
    }
    tokio::time::sleep(settle).await;
    while let Ok((worker, chat)) = rx.try_recv() {
        handled.entry(chat).or_default().push(worker);
    }
    for task in tasks {
        task.abort();
    }
    chats.iter().map(|chat| handled.remove(chat).unwrap_or_default()).collect()
}

pub async fn the_workers_of_a_group_share_its_events_each_handled_once(bus: &dyn Bus) {
    // Each worker is busy for a while with each event, after acknowledging it: 120 events
    // keep one worker busy for 12 s, time for a bus that shares a group's partitions out
    // among its workers to hand the late one its share (a second or two on NATS; 60
    // events, 6 s, were once too few with the suite's other tests running on 2 cores).
    let busy = |name| Worker { name, before_ack: Duration::ZERO, after_ack: Duration::from_millis(100) };
    // Acknowledged events do not come again, even past the acknowledgement deadline.
    let handled = share(bus, [busy("a"), busy("b")], 120, Duration::from_millis(2_500)).await;
    for workers in &handled {
        assert_eq!(workers.len(), 1, "an event handled by {workers:?}");
    }
    let by_a = handled.iter().filter(|w| w[0] == "a").count();
    assert!(by_a > 0 && by_a < handled.len(), "both workers take events ({by_a} of {} by a)", handled.len());
}

/// A worker slower than the acknowledgement deadline over all it has to do (but not on any
/// one event) gets each event once: events waiting for it to take them are not handed to
/// the group's other, idle, worker. (The suites run with an `ack_wait` of about a second.)
pub async fn events_waiting_for_a_slow_worker_are_not_handed_out_again(bus: &dyn Bus) {
    let slow = Worker { name: "slow", before_ack: Duration::from_millis(600), after_ack: Duration::ZERO };
    let quick = Worker { name: "quick", before_ack: Duration::ZERO, after_ack: Duration::ZERO };
    for workers in share(bus, [slow, quick], 20, Duration::from_millis(1_500)).await {
        assert_eq!(workers.len(), 1, "an event handled by {workers:?}");
    }
}

/// A group that takes events in any order (the indexer's) still gets each event of a chat
/// once it is acknowledged, none lost, and one dropped unacknowledged comes back.
pub async fn a_group_in_any_order_gets_every_event_once(bus: &dyn Bus) {
    let spec = ports::GroupSpec { interest: ports::Interest::Every, order: ports::EventOrder::Any };
    let group = random_group();
    bus.declare_group(&group, spec).await.unwrap();
    let chat = random_id();
    for n in 1..=40 {
        bus.publish_chat_event(&event(chat, n), &publish_key()).await.unwrap();
    }
    let a = bus.chat_events(&group, spec).await.unwrap();
    let b = bus.chat_events(&group, spec).await.unwrap();
    let mut events = futures::stream::select(a, b);
    let (mut handled, mut dropped) = (BTreeSet::new(), false);
    while handled.len() < 40 {
        let delivery = tokio::time::timeout(WAIT, events.next()).await.expect("events missing").unwrap().unwrap();
        let n = n_of(&delivery.event);
        if n == 7 && !dropped {
            dropped = true;
            drop(delivery);
            continue;
        }
        (delivery.ack)().await.unwrap();
        assert!(handled.insert(n), "event {n} handled twice");
    }
    assert!(dropped);
    // Past the acknowledgement deadline (about a second in the suites): nothing again.
    if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(1_500), events.next()).await {
        panic!("an acknowledged event came again: {:?}", item.map(|d| d.event));
    }
}

pub async fn the_events_of_a_chat_come_in_order_to_one_worker_at_a_time(bus: &dyn Bus) {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    let chat = random_id();
    let count = 30;
    for n in 1..=count {
        bus.publish_chat_event(&event(chat, n), &publish_key()).await.unwrap();
    }
    let log: Arc<Mutex<Vec<u64>>> = Arc::default();
    let holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = vec![];
    for _ in 0..2 {
        let mut events = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
        let (log, holding) = (log.clone(), holding.clone());
        workers.push(tokio::spawn(async move {
            while let Some(Ok(delivery)) = events.next().await {
                let was_held = holding.swap(true, std::sync::atomic::Ordering::SeqCst);
                assert!(!was_held, "an event of the chat was handed out while another was held");
                log.lock().unwrap().push(n_of(&delivery.event));
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 8)).await;
                holding.store(false, std::sync::atomic::Ordering::SeqCst);
                (delivery.ack)().await.unwrap();
            }
        }));
    }
    run_until(workers, || log.lock().unwrap().len() >= count as usize).await;
    assert_eq!(*log.lock().unwrap(), (1..=count).collect::<Vec<_>>(), "in order, each once");
}

/// Workers that take what they can before acknowledging (the bus may hand a worker several
/// events of a chat at once): what a worker holds of a chat, no other worker holds, and the
/// chat's events are handled in the order published, each once.
pub async fn the_events_of_a_chat_held_together_are_with_one_worker_in_order(bus: &dyn Bus) {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    let chats: Vec<Id> = (0..3).map(|_| random_id()).collect();
    let count = 40;
    let log: Arc<Mutex<HashMap<Id, Vec<u64>>>> = Arc::default();
    // Per chat: the worker holding some of its events, and how many.
    let holders: Arc<Mutex<HashMap<Id, (usize, usize)>>> = Arc::default();
    let mut workers = vec![];
    for worker in 0..2 {
        let mut events = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
        let (log, holders) = (log.clone(), holders.clone());
        workers.push(tokio::spawn(async move {
            loop {
                // Takes what comes within 30 ms (at least one), holds it, then handles it.
                let mut held = vec![events.next().await.unwrap().unwrap()];
                while let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(30), events.next()).await {
                    held.push(d.unwrap());
                }
                for d in &held {
                    let mut holders = holders.lock().unwrap();
                    let (holder, n) = holders.entry(d.event.chat_id).or_insert((worker, 0));
                    assert!(*n == 0 || *holder == worker, "two workers hold events of one chat");
                    *holder = worker;
                    *n += 1;
                }
                tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 10)).await;
                for d in held {
                    log.lock().unwrap().entry(d.event.chat_id).or_default().push(n_of(&d.event));
                    holders.lock().unwrap().get_mut(&d.event.chat_id).unwrap().1 -= 1;
                    (d.ack)().await.unwrap();
                }
            }
        }));
    }
    for n in 1..=count {
        for chat in &chats {
            bus.publish_chat_event(&event(*chat, n), &publish_key()).await.unwrap();
        }
    }
    let done =
        |log: &HashMap<Id, Vec<u64>>| chats.iter().all(|c| log.get(c).is_some_and(|l| l.len() >= count as usize));
    run_until(workers, || done(&log.lock().unwrap())).await;
    let log = log.lock().unwrap();
    for chat in &chats {
        assert_eq!(log.get(chat).cloned().unwrap_or_default(), (1..=count).collect::<Vec<_>>(), "in order, each once");
    }
}

/// Lets `workers` (which panic on a failed check) run until `done` or [`WAIT`], and a
/// moment more for anything handed out twice to show, then checks none failed and stops them.
async fn run_until(workers: Vec<tokio::task::JoinHandle<()>>, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for worker in &workers {
        assert!(!worker.is_finished(), "a worker failed a check");
    }
    for worker in workers {
        worker.abort();
    }
}

pub async fn an_unacknowledged_event_comes_back(bus: &dyn Bus) {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    let mut events = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
    let sent = ChatEvent { chat_id: random_id(), event: receipt(random_id(), 1), also_notify: vec![random_id()] };
    bus.publish_chat_event(&sent, &publish_key()).await.unwrap();
    let first = take(&mut events).await;
    assert_eq!((&first.event, first.redeliveries), (&sent, 0));
    drop(first); // given up without an acknowledgement: must come again
    let again = take(&mut events).await;
    assert_eq!(again.event, sent);
    assert!(again.redeliveries >= 1, "a redelivery says so");
    (again.ack)().await.unwrap();
    quiet(&mut events, Duration::from_millis(2_500)).await;
}

pub async fn an_event_whose_worker_died_goes_to_another_worker(bus: &dyn Bus) {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    let chat = random_id();
    let mut dying = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
    bus.publish_chat_event(&event(chat, 1), &publish_key()).await.unwrap();
    bus.publish_chat_event(&event(chat, 2), &publish_key()).await.unwrap();
    let first = take(&mut dying).await;
    assert_eq!(n_of(&first.event), 1);
    // The worker dies without a word: neither an acknowledgement nor a hand-back.
    std::mem::forget(first);
    drop(dying);
    let mut other = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
    let again = take(&mut other).await;
    assert_eq!((again.event.chat_id, n_of(&again.event)), (chat, 1), "the held event first, then the next");
    assert!(again.redeliveries >= 1);
    (again.ack)().await.unwrap();
    let next = take(&mut other).await;
    assert_eq!(n_of(&next.event), 2);
    (next.ack)().await.unwrap();
    quiet(&mut other, Duration::from_millis(2_500)).await;
}

pub async fn lag_counts_the_events_not_acknowledged(bus: &dyn Bus) {
    let group = random_group();
    bus.declare_group(&group, ports::Interest::Every.into()).await.unwrap();
    assert_eq!(bus.group_lag(&group).await.unwrap(), 0, "a new group has nothing to do");
    for _ in 0..3 {
        bus.publish_chat_event(&event(random_id(), 1), &publish_key()).await.unwrap();
    }
    assert_eq!(bus.group_lag(&group).await.unwrap(), 3);
    let mut events = bus.chat_events(&group, ports::Interest::Every.into()).await.unwrap();
    let held = take(&mut events).await;
    assert_eq!(bus.group_lag(&group).await.unwrap(), 3, "a held event is not done");
    (held.ack)().await.unwrap();
    assert_eq!(bus.group_lag(&group).await.unwrap(), 2);
}

pub async fn a_bad_group_name_is_refused(bus: &dyn Bus) {
    for bad in ["", "Fan-out", "a.b", "a*", "x y", &"g".repeat(33)] {
        assert!(bus.declare_group(bad, ports::Interest::Every.into()).await.is_err(), "{bad:?} must be refused");
        assert!(bus.chat_events(bad, ports::Interest::Every.into()).await.is_err(), "{bad:?} must be refused");
    }
}

/// A new message in `chat`, with an image attachment or none.
fn message(chat: Id, n: u64, image: bool) -> ChatEvent {
    let attachments = if image {
        vec![domain::Attachment {
            id: Id(n),
            chat_id: chat,
            uploader_id: Id(1),
            filename: "p.png".into(),
            content_type: "image/png".into(),
            size: 1,
            sha256: domain::BlobKey::from_digest(&[7; 32]),
            kind: domain::AttachmentKind::Image,
            width: None,
            height: None,
            created_at: 0,
        }]
    } else {
        vec![]
    };
    let signal = domain::Signal {
        id: Id(n),
        chat_id: chat,
        author_id: Id(1),
        body: domain::SignalBody::Msg {
            text: format!("{n}"),
            reply_to: None,
            attachments,
            mentions: vec![],
            everyone: false,
        },
        edited_at: None,
    };
    let signal = domain::SignalView { signal, reactions: vec![] };
    ChatEvent { chat_id: chat, event: domain::Event::SignalCreated { signal, nonce: None }, also_notify: vec![] }
}

pub async fn a_group_of_some_topics_receives_only_those_in_order(bus: &dyn Bus) {
    let images = ports::Interest::Only(&[domain::EventTopic::ImageMessage]);
    let (only, every) = (random_group(), random_group());
    bus.declare_group(&only, images.into()).await.unwrap();
    bus.declare_group(&every, ports::Interest::Every.into()).await.unwrap();
    let chat = random_id();
    let mut sent = vec![];
    for n in 1..=9 {
        let e = match n % 3 {
            0 => message(chat, n, true),
            1 => message(chat, n, false),
            _ => event(chat, n),
        };
        bus.publish_chat_event(&e, &publish_key()).await.unwrap();
        sent.push(e);
    }
    let mut events = bus.chat_events(&only, images.into()).await.unwrap();
    for n in [3, 6, 9] {
        let d = take(&mut events).await;
        assert_eq!(d.event, sent[n - 1], "the image messages only, in order");
        (d.ack)().await.unwrap();
    }
    quiet(&mut events, Duration::from_millis(300)).await;
    assert_eq!(bus.group_lag(&only).await.unwrap(), 0, "it never held the others");
    let mut events = bus.chat_events(&every, ports::Interest::Every.into()).await.unwrap();
    for e in &sent {
        let d = take(&mut events).await;
        assert_eq!(&d.event, e, "a group of every topic gets all nine");
        (d.ack)().await.unwrap();
    }
}
