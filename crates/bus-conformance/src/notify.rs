//! Checks of the notification queue: a user's jobs in order, one at a time, shared by the
//! workers; what is not acknowledged comes again; delayed jobs wait, a burst makes one, and
//! a retry waits on its own.

use std::time::{Duration, Instant};

use domain::{Id, NotifyAction, NotifyJob, PushRetry};
use futures::StreamExt;
use ports::{Bus, Delivery, NotifyJobStream};

use crate::{WAIT, random_id};

fn job(user: Id, chat: Id, n: u64) -> NotifyJob {
    NotifyJob {
        user_id: user,
        chat_id: chat,
        signal_id: Id(n),
        action: NotifyAction::Message,
        mentioned: false,
        retry: None,
    }
}

async fn take(jobs: &mut NotifyJobStream) -> Delivery<NotifyJob> {
    tokio::time::timeout(WAIT, jobs.next()).await.expect("no job in time").expect("stream ended").unwrap()
}

async fn quiet(jobs: &mut NotifyJobStream, wait: Duration) {
    if let Ok(Some(item)) = tokio::time::timeout(wait, jobs.next()).await {
        panic!("unexpected job {:?}", item.map(|d| d.event));
    }
}

pub async fn a_users_jobs_come_in_order_one_at_a_time_to_any_worker(bus: &dyn Bus) {
    let (user, other) = (random_id(), random_id());
    let chat = random_id();
    for n in 1..=4 {
        bus.queue_notification(&job(user, chat, n), None).await.unwrap();
    }
    bus.queue_notification(&job(other, chat, 1), None).await.unwrap();
    // Two workers, whichever the bus picks for each job.
    let mut workers: NotifyJobStream = Box::pin(futures::stream::select(
        bus.notification_jobs().await.unwrap(),
        bus.notification_jobs().await.unwrap(),
    ));
    let (mut seen, mut others) = (vec![], 0);
    while seen.len() < 4 || others < 1 {
        let d = take(&mut workers).await;
        if d.event.user_id == other {
            others += 1;
            (d.ack)().await.unwrap();
            continue;
        }
        seen.push(d.event.signal_id.0);
        // While it is held, the user's next job goes to no worker.
        if let Ok(Some(Ok(n))) = tokio::time::timeout(Duration::from_millis(500), workers.next()).await {
            assert_ne!(n.event.user_id, user, "a user's next job came while the previous was held");
            others += 1;
            (n.ack)().await.unwrap();
        }
        (d.ack)().await.unwrap();
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(others, 1);
    quiet(&mut workers, Duration::from_millis(300)).await;
}

pub async fn an_unacknowledged_job_comes_again(bus: &dyn Bus) {
    let (user, chat) = (random_id(), random_id());
    bus.queue_notification(&job(user, chat, 1), None).await.unwrap();
    let mut jobs = bus.notification_jobs().await.unwrap();
    let first = take(&mut jobs).await;
    assert_eq!(first.redeliveries, 0);
    drop(first);
    let again = take(&mut jobs).await;
    assert_eq!((again.event.user_id, again.event.signal_id), (user, Id(1)));
    assert!(again.redeliveries >= 1);
    (again.ack)().await.unwrap();
    quiet(&mut jobs, Duration::from_millis(500)).await;
}

pub async fn a_delayed_job_waits_and_a_burst_in_a_chat_makes_one(bus: &dyn Bus) {
    let (user, chat, other_chat) = (random_id(), random_id(), random_id());
    let mut jobs = bus.notification_jobs().await.unwrap();
    let queued = Instant::now();
    bus.queue_notification(&job(user, chat, 1), Some(Duration::from_secs(1))).await.unwrap();
    bus.queue_notification(&job(user, chat, 2), Some(Duration::from_secs(1))).await.unwrap();
    bus.queue_notification(&job(user, other_chat, 3), Some(Duration::from_secs(1))).await.unwrap();
    // A retry waits on its own (not held back by the chat's burst), once however often queued.
    let retry = NotifyJob { retry: Some(PushRetry { target_id: random_id(), attempt: 2 }), ..job(user, chat, 9) };
    bus.queue_notification(&retry, Some(Duration::from_secs(1))).await.unwrap();
    bus.queue_notification(&retry, Some(Duration::from_secs(1))).await.unwrap();
    let mut got = vec![];
    for _ in 0..3 {
        let d = take(&mut jobs).await;
        assert!(queued.elapsed() >= Duration::from_secs(1), "a delayed job came after {:?}", queued.elapsed());
        got.push((d.event.chat_id, d.event.signal_id.0));
        (d.ack)().await.unwrap();
    }
    got.sort();
    let mut expected = vec![(chat, 1), (chat, 9), (other_chat, 3)];
    expected.sort();
    assert_eq!(got, expected, "the burst's first job, once, the retry, once, and the other chat's");
    quiet(&mut jobs, Duration::from_millis(1500)).await;
    // Once it went out, the chat can be scheduled again.
    bus.queue_notification(&job(user, chat, 4), Some(Duration::from_secs(1))).await.unwrap();
    let d = take(&mut jobs).await;
    assert_eq!((d.event.chat_id, d.event.signal_id.0), (chat, 4));
    (d.ack)().await.unwrap();
}
