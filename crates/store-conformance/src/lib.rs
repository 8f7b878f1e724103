//! The Store conformance suite. An adapter's tests expand [`store_conformance_tests!`]
//! with an expression that builds a [`Fixture`] on its store: one `#[tokio::test]` per
//! check, so a failure names its check and the others still run. Every check uses fresh
//! random ids and names, so the checks can share one database (a CQL keyspace, an SQLite
//! file). Checks panic with a message on failure, as tests do.

#![allow(clippy::unwrap_used)] // this is test code: a failed unwrap is a failed check

pub mod attachments;
pub mod blob_gc;
pub mod calls;
pub mod chats;
pub mod notifications;
pub mod signals;
pub mod users;

pub use ports;

use std::sync::Arc;

use domain::{Chat, ChatKind, Id, IdGenerator, Member, Role, User};
use ports::Store;

/// Expands to one test per check, each on a fixture built by `$make` (an expression, which
/// may `.await`, of type [`Fixture`]).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::__store_checks!($make;
            users::create_and_find,
            users::usernames_and_subjects_are_unique,
            users::display_name_changes,
            users::renames_move_the_username,
            users::users_are_found_by_username_prefix,
            users::event_tickets_are_single_use_and_expire,
            users::statuses_are_kept_per_user_until_reset,
            users::a_status_that_clears_is_listed_until_one_caller_takes_it,
            chats::chat_and_members,
            chats::every_chat_is_listed_once_by_pages,
            chats::membership_changes,
            chats::one_direct_chat_per_pair,
            chats::a_group_nonce_names_one_chat_per_creator,
            chats::inbox_orders_by_activity_and_pages,
            chats::watermarks_only_move_forward,
            signals::insert_and_read,
            signals::a_new_signal_moves_its_chat_to_the_top_of_the_inbox,
            signals::edits_rewrite_a_signal_and_a_tombstone_stays_one,
            signals::nonces_make_sends_idempotent,
            signals::pages_walk_buckets_newest_first,
            signals::empty_and_oversized_limits,
            signals::reactions_count_exactly_once,
            signals::concurrent_reactions_keep_exact_counts,
            attachments::uploads_are_kept_per_chat_until_claimed,
            attachments::one_send_claims_an_attachment_and_its_retries_may_again,
            attachments::a_message_keeps_its_attachments_in_order,
            attachments::a_chats_files_are_its_sent_ones_newest_first_by_kind,
            attachments::a_blobs_thumbnail_is_recorded_once_for_all,
            blob_gc::an_unsent_upload_expires_and_frees_its_blob,
            blob_gc::sent_and_claimed_uploads_do_not_expire,
            blob_gc::an_upload_that_never_recorded_expires_too,
            blob_gc::a_thumbnail_is_held_by_its_image,
            blob_gc::a_hold_and_a_condemnation_never_both_win,
            blob_gc::a_deleted_messages_files_are_released,
            calls::a_call_changes_over_its_version_only_and_leaves_the_ringing_list_when_answered,
            notifications::settings_are_kept_per_member_and_chat,
            notifications::push_targets_belong_to_their_user,
            notifications::members_with_push_targets_are_those_a_notification_can_reach,
            notifications::a_sent_push_is_remembered_per_target_and_key,
            notifications::dead_letters_list_newest_first,
            notifications::a_server_key_is_the_first_one_stored,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_checks {
    ($make:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fixture: $crate::Fixture = $make;
                fixture.store.ping().await.expect("the store answers");
                $crate::$module::$check(&fixture).await;
            }
        )*
    };
}

/// Fresh ids and entities for the checks.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub ids: IdGenerator,
    /// What must outlive the store (a temporary directory).
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, ids: IdGenerator::with_random_node(), _keep: None }
    }

    /// A fixture on `store`, keeping `keep` alive as long as it.
    pub fn keeping(store: Arc<dyn Store>, keep: impl std::any::Any + Send + Sync) -> Self {
        Self { _keep: Some(Box::new(keep)), ..Self::new(store) }
    }

    pub fn id(&self) -> Id {
        self.ids.next_id()
    }

    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{:x}", rand::random::<u64>())
    }

    pub async fn user(&self) -> User {
        let user = User {
            id: self.id(),
            username: self.unique("user"),
            display_name: "Someone".into(),
            issuer: "conformance".into(),
            subject: self.unique("sub"),
            created_at: 1_700_000_000_000,
        };
        assert_eq!(self.store.create_user(&user).await.unwrap(), ports::CreateUserOutcome::Created);
        user
    }

    /// A group chat with these members (the first is the owner).
    pub async fn group(&self, members: &[Id]) -> Chat {
        let chat = Chat {
            id: self.id(),
            kind: ChatKind::Group,
            title: Some("a group".into()),
            created_by: members[0],
            created_at: 1_700_000_000_000,
        };
        let rows: Vec<Member> = members
            .iter()
            .enumerate()
            .map(|(i, u)| member(chat.id, *u, if i == 0 { Role::Owner } else { Role::Member }))
            .collect();
        self.store.create_chat(&chat, &rows).await.unwrap();
        chat
    }
}

pub(crate) fn member(chat: Id, user: Id, role: Role) -> Member {
    Member {
        chat_id: chat,
        user_id: user,
        role,
        joined_at: 1_700_000_000_000,
        delivered_up_to: Id::ZERO,
        read_up_to: Id::ZERO,
    }
}
