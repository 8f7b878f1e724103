//! The Bus conformance suite. An adapter's tests expand [`bus_conformance_tests!`] with an
//! expression that builds a bus: one `#[tokio::test]` per check, so a failure names its
//! check and the others still run. Every check uses fresh random user, chat and consumer
//! group ids, so checks can share one server. The bus under test must hand an event held
//! unacknowledged to another worker within 2 s (its acknowledgement deadline).

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

pub mod chat_log;
pub mod fence;
pub mod membership;
pub mod notify;
pub mod presence;
pub mod user_events;

pub use ports;

use std::time::Duration;

use domain::{Event, Id};
use futures::StreamExt;
use ports::{UserEventStream, UserSubscription};

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Expands to one test per check, each on a bus built by `$make` (an expression, which may
/// `.await`, of type `Arc<B>` for a `B: Bus`), then given to `$cleanup` (an async closure
/// taking `&Arc<B>`, e.g. deleting what the check left on a server) when the check passed.
#[macro_export]
macro_rules! bus_conformance_tests {
    ($make:expr) => {
        $crate::bus_conformance_tests!($make, |_bus| async {});
    };
    ($make:expr, $cleanup:expr) => {
        $crate::__bus_checks!($make; $cleanup;
            user_events::live_events_reach_only_their_users,
            user_events::resuming_replays_exactly_the_gap,
            user_events::an_unknown_position_is_a_gap,
            user_events::resuming_from_the_latest_event_continues_live,
            user_events::publishing_to_nobody_is_fine,
            chat_log::every_group_receives_every_event,
            chat_log::the_workers_of_a_group_share_its_events_each_handled_once,
            chat_log::events_waiting_for_a_slow_worker_are_not_handed_out_again,
            chat_log::the_events_of_a_chat_come_in_order_to_one_worker_at_a_time,
            chat_log::the_events_of_a_chat_held_together_are_with_one_worker_in_order,
            chat_log::a_group_in_any_order_gets_every_event_once,
            chat_log::an_unacknowledged_event_comes_back,
            chat_log::an_event_whose_worker_died_goes_to_another_worker,
            chat_log::lag_counts_the_events_not_acknowledged,
            chat_log::a_bad_group_name_is_refused,
            chat_log::a_group_of_some_topics_receives_only_those_in_order,
            notify::a_users_jobs_come_in_order_one_at_a_time_to_any_worker,
            notify::an_unacknowledged_job_comes_again,
            notify::a_delayed_job_waits_and_a_burst_in_a_chat_makes_one,
            presence::ephemeral_events_reach_open_streams_only_without_an_id_and_are_never_replayed,
            presence::presence_follows_the_open_connections_of_a_user_on_any_node,
            presence::an_unclosed_connection_expires_by_itself_and_is_reported_once,
            fence::a_nonce_is_claimed_once_per_chat_and_author,
            fence::concurrent_attempts_agree_on_one,
            membership::membership_news_reaches_every_subscriber_in_order,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bus_checks {
    ($make:expr; $cleanup:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let bus = $make;
                $crate::$module::$check(&*bus).await;
                ($cleanup)(&bus).await;
            }
        )*
    };
}

/// A key no other publication uses ([`ports::ChatEventBus::publish_chat_event`]).
pub fn publish_key() -> String {
    format!("test-{:032x}", rand::random::<u128>())
}

pub(crate) fn random_id() -> Id {
    Id(rand::random::<u64>() >> 2)
}

pub(crate) fn receipt(user: Id, n: u64) -> Event {
    Event::ReceiptUpdated { chat_id: Id(7), user_id: user, read_up_to: Id(n), unread: None }
}

/// The next item of a stream, durable (with an id) or ephemeral.
pub(crate) async fn next_item(stream: &mut UserEventStream) -> (Option<String>, Event) {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("no event in time")
        .expect("stream ended")
        .expect("stream error")
}

/// The next event of a stream, which must be a durable one.
pub(crate) async fn next(stream: &mut UserEventStream) -> (String, Event) {
    let (id, event) = next_item(stream).await;
    (id.unwrap_or_else(|| panic!("a durable event without an id: {event:?}")), event)
}

pub(crate) async fn nothing_more(stream: &mut UserEventStream) {
    if let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("unexpected event {:?}", item.map(|(_, e)| e));
    }
}

pub(crate) fn complete(sub: UserSubscription) -> UserEventStream {
    match sub {
        UserSubscription::Complete(s) => s,
        UserSubscription::Gap(_) => panic!("expected a complete subscription"),
    }
}
