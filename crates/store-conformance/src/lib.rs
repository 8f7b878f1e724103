//! The Store conformance suite. An adapter's test calls [`run_all`] with a store; every
//! check uses fresh random ids and names, so the suite can share one database (a CQL
//! keyspace, an SQLite file) with other runs. Checks panic with a message on failure, as
//! tests do.

#![allow(clippy::unwrap_used)] // this is test code: a failed unwrap is a failed check

mod chats;
mod signals;
mod users;

use std::sync::Arc;

use domain::{Chat, ChatKind, Id, IdGenerator, Member, Role, User};
use ports::Store;

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn Store>) {
    let f = Fixture::new(store);
    f.store.ping().await.expect("ping");
    users::run(&f).await;
    chats::run(&f).await;
    signals::run(&f).await;
}

/// Fresh ids and entities for the checks.
pub(crate) struct Fixture {
    pub store: Arc<dyn Store>,
    pub ids: IdGenerator,
}

impl Fixture {
    fn new(store: Arc<dyn Store>) -> Self {
        Self { store, ids: IdGenerator::with_random_node() }
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
