//! The notification queue: the work-queue stream `<PREFIX>_NOTIFY`. A job due now is
//! published on its user's subject `<prefix>.notify.<partition>.<user id>`; the push
//! workers share the durable consumers `push_<partition>` (one job in flight each, so a
//! user's jobs go out in order, users of different partitions in parallel), and the stream
//! forgets a job once acknowledged. A delayed job is a JetStream message schedule (NATS ≥
//! 2.12): a message on `<prefix>.notify_later.<user id>.<delay key>` (the chat, or for a
//! retry the target, job and attempt) with `Nats-Schedule: @at <time>` that the server
//! publishes to the user's subject at that time; it is written only if that subject holds
//! no schedule yet (`Nats-Expected-Last-Subject-Sequence: 0`), so a burst in a chat
//! schedules one job and a retry queued twice runs once.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, message::PublishMessage, stream};
use domain::{Error, NotifyJob, Result};
use ports::NotifyJobStream;

use crate::chat_events::{self, EVENT_VERSION_HEADER};
use crate::{Inner, unavailable};

/// The version of a job's encoding this build writes and reads (in the chat events'
/// version header).
const JOB_VERSION: u32 = 1;
/// How long the stream deduplicates a job published twice (its message id).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub(crate) fn stream_config(inner: &Inner) -> stream::Config {
    let c = &inner.config;
    stream::Config {
        name: c.notify_stream(),
        description: Some("Petit chat: notification jobs, a subject per user, until a push worker has them".into()),
        subjects: vec![format!("{}.notify.*.*", c.prefix), format!("{}.notify_later.*.*", c.prefix)],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: c.replicas,
        max_age: Duration::from_secs(c.chat_events_max_age_secs),
        duplicate_window: DUPLICATE_WINDOW,
        allow_message_schedules: true,
        ..Default::default()
    }
}

/// Creates or updates the push consumers, one per partition.
pub(crate) async fn declare_consumers(inner: &Inner) -> Result<()> {
    let c = &inner.config;
    let consumers = (0..c.partition_count()).map(|partition| {
        let config = pull::Config {
            durable_name: Some(push_consumer(partition)),
            description: Some(format!("Petit chat push workers, partition {partition}")),
            filter_subject: format!("{}.notify.{partition}.*", c.prefix),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: c.notify_ack_wait(),
            max_deliver: -1,
            // One job in flight per partition: a user's jobs keep their order.
            max_ack_pending: 1,
            num_replicas: c.replicas,
            ..Default::default()
        };
        async move {
            inner
                .js
                .create_consumer_on_stream(config, c.notify_stream())
                .await
                .map_err(|e| unavailable("cannot create or update the push consumers", e))
        }
    });
    futures::future::try_join_all(consumers).await?;
    Ok(())
}

fn push_consumer(partition: u32) -> String {
    format!("push_{partition}")
}

pub(crate) async fn queue(inner: &Inner, job: &NotifyJob, delay: Option<Duration>) -> Result<()> {
    let c = &inner.config;
    let payload = serde_json::to_vec(job).map_err(|e| Error::internal(format!("cannot encode a job: {e}")))?;
    let partition = ports::chat_partition(job.user_id, c.partition_count());
    let due_subject = format!("{}.notify.{partition}.{}", c.prefix, job.user_id.0);
    let mut message =
        PublishMessage::build().payload(payload.into()).header(EVENT_VERSION_HEADER, JOB_VERSION.to_string().as_str());
    let subject = match delay {
        None => {
            message = message.message_id(format!("{}-{}", job.user_id.0, job.key()));
            due_subject
        }
        Some(delay) => {
            // Whole seconds, rounded up: never sooner than asked.
            let at =
                humantime::format_rfc3339_seconds(std::time::SystemTime::now() + delay + Duration::from_millis(999));
            message = message
                .header("Nats-Schedule", format!("@at {at}").as_str())
                .header("Nats-Schedule-Target", due_subject.as_str())
                .expected_last_subject_sequence(0);
            format!("{}.notify_later.{}.{}", c.prefix, job.user_id.0, job.delay_key())
        }
    };
    let ack = inner.js.send_publish(subject, message).await.map_err(|e| unavailable("cannot queue a job", e))?;
    match ack.await {
        Ok(_) => Ok(()),
        // A schedule of this user and chat is waiting already.
        Err(e) if matches!(e.kind(), jetstream::context::PublishErrorKind::WrongLastSequence) => Ok(()),
        Err(e) => Err(unavailable("the notification stream did not acknowledge a job", e)),
    }
}

pub(crate) fn jobs(inner: Arc<Inner>) -> NotifyJobStream {
    let consumers = (0..inner.config.partition_count()).map(push_consumer).collect();
    let stream = inner.config.notify_stream();
    chat_events::merged(
        inner,
        stream,
        consumers,
        1,
        |message| chat_events::decode_version(message, JOB_VERSION),
        chat_events::Partitions::All,
    )
}
