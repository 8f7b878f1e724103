//! Service tests over the embedded adapters: the domain rules that are about concurrency,
//! provisioning and what each change announces (the HTTP tests cover the rest end to end).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::sync::Arc;
use std::time::Duration;

use bus_local::{LocalBus, LocalBusConfig};
use domain::{ChatKind, ErrorCode, ErrorKind, Event, Id, IdGenerator, Limits, Role, SignalKind, User};
use futures::StreamExt;
use ports::{Bus, ChatEventBus, PresenceBus, UserEventBus, UserSubscription, VerifiedIdentity};
use service::signals::NewMessage;
use service::{ChatService, SignalQuery};
use store_sqlite::{Durability, SqliteStore};

struct Harness {
    service: ChatService,
    bus: Arc<dyn Bus>,
    _dir: tempfile::TempDir,
}

fn blobs(dir: &tempfile::TempDir) -> Arc<dyn ports::Blobs> {
    Arc::new(blobs::LocalBlobs::open(dir.path().join("blobs")).unwrap())
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db"), Durability::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(LocalBusConfig::default()));
    let service =
        ChatService::new(store.clone(), bus.clone(), blobs(&dir), Arc::new(IdGenerator::new(1)), Limits::default());
    let blobs = service.blobs().clone();
    service::Workers::start_all(store, bus.clone(), blobs).await.unwrap();
    Harness { service, bus, _dir: dir }
}

fn identity(issuer: &str, subject: &str, username: &str, name: Option<&str>) -> VerifiedIdentity {
    VerifiedIdentity {
        issuer: issuer.into(),
        subject: subject.into(),
        username: username.into(),
        display_name: name.map(str::to_string),
    }
}

impl Harness {
    async fn user(&self, name: &str) -> User {
        self.service.user_for_identity(&identity("test", name, name, None)).await.unwrap()
    }

    async fn events(&self, user: &User) -> ports::UserEventStream {
        match self.bus.subscribe_user(user.id, None).await.unwrap() {
            UserSubscription::Complete(s) => s,
            UserSubscription::Gap(_) => panic!("a fresh subscription has no gap"),
        }
    }
}

async fn drain(stream: &mut ports::UserEventStream) -> Vec<Event> {
    let mut out = vec![];
    while let Ok(Some(item)) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        out.push(item.unwrap().1);
    }
    out
}

#[tokio::test]
async fn users_are_provisioned_once_renamed_at_login_and_usernames_never_taken_over() {
    let h = harness().await;
    let first = h.service.user_for_identity(&identity("kc", "sub-1", "alice", Some("Alice"))).await.unwrap();
    let again = h.service.user_for_identity(&identity("kc", "sub-1", "alice", Some("Alice L."))).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(again.display_name, "Alice L.", "a rename at the provider shows at the next login");
    assert_eq!(h.service.user(first.id).await.unwrap().display_name, "Alice L.");
    // Another person (or another issuer) claiming the username gets a conflict, not the account.
    for other in [identity("kc", "sub-2", "alice", None), identity("evil", "sub-1", "alice", None)] {
        let err = h.service.user_for_identity(&other).await.unwrap_err();
        assert_eq!((err.kind, err.code), (ErrorKind::Conflict, ErrorCode::UsernameTaken));
    }
    // Concurrent first logins of one person create one user.
    let bob = identity("kc", "sub-3", "bob", None);
    let logins = futures::future::join_all((0..8).map(|_| h.service.user_for_identity(&bob))).await;
    let ids: Vec<Id> = logins.into_iter().map(|u| u.unwrap().id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn concurrent_direct_chat_requests_from_both_sides_make_one_chat_announced_once() {
    let h = harness().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let mut bob_events = h.events(&bob).await;
    let opens = futures::future::join_all((0..10).map(|i| {
        let (svc, me, other) = if i % 2 == 0 { (&h.service, &alice, bob.id) } else { (&h.service, &bob, alice.id) };
        svc.open_direct(me, other)
    }))
    .await;
    let results: Vec<_> = opens.into_iter().map(Result::unwrap).collect();
    assert!(results.iter().all(|(c, _)| c.id == results[0].0.id));
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1, "exactly one call created it");
    let chat = &results[0].0;
    assert_eq!(chat.kind, ChatKind::Direct);
    assert_eq!(h.service.members_of(&alice, chat.id).await.unwrap().len(), 2);
    let announced = drain(&mut bob_events).await;
    assert_eq!(announced.iter().filter(|e| matches!(e, Event::ChatCreated { .. })).count(), 1);
    let err = h.service.open_direct(&alice, alice.id).await.unwrap_err();
    assert_eq!(err.code, "direct_with_self");
}

#[tokio::test]
async fn concurrent_sends_with_one_nonce_store_and_announce_one_message() {
    let h = harness().await;
    let (alice, bob) = (h.user("alice").await, h.user("bob").await);
    let chat = h.service.create_group(&alice, "g", &[bob.id], None).await.unwrap().0;
    let mut bob_events = h.events(&bob).await;
    let sends = futures::future::join_all((0..8).map(|_| {
        h.service.send_message(
            &alice,
            chat.id,
            NewMessage {
                text: "once".into(),
                nonce: "same".into(),
                reply_to: None,
                attachments: vec![],
                mentions: vec![],
                everyone: false,
            },
        )
    }))
    .await;
    let sends: Vec<_> = sends.into_iter().map(Result::unwrap).collect();
    assert_eq!(sends.iter().filter(|(_, created)| *created).count(), 1);
    assert!(sends.iter().all(|(v, _)| v.signal.id == sends[0].0.signal.id));
    let page = h.service.signals(&bob, chat.id, &SignalQuery::default()).await.unwrap();
    assert_eq!(page.items.iter().filter(|v| v.signal.kind() == SignalKind::Msg).count(), 1);
    let created: Vec<_> = drain(&mut bob_events)
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::SignalCreated { signal, .. } if signal.signal.kind() == SignalKind::Msg))
        .collect();
    assert_eq!(created.len(), 1, "a retried send is announced once");
}

#[tokio::test]
async fn reaction_counts_stay_exact_under_concurrent_toggles() {
    let h = harness().await;
    let owner = h.user("owner").await;
    let mut people = vec![];
    for i in 0..10 {
        people.push(h.user(&format!("u{i}")).await);
    }
    let ids: Vec<Id> = people.iter().map(|p| p.id).collect();
    let chat = h.service.create_group(&owner, "g", &ids, None).await.unwrap().0;
    let msg = NewMessage {
        text: "vote".into(),
        nonce: "v".into(),
        reply_to: None,
        attachments: vec![],
        mentions: vec![],
        everyone: false,
    };
    let (signal, _) = h.service.send_message(&owner, chat.id, msg).await.unwrap();
    let sid = signal.signal.id;
    // Everyone adds twice at once; the even ones then remove twice at once.
    let adds = people.iter().flat_map(|p| [p, p]).map(|p| h.service.react(p, chat.id, sid, "🗳️", true));
    futures::future::join_all(adds).await.into_iter().for_each(|r| {
        r.unwrap();
    });
    let removes = people.iter().step_by(2).flat_map(|p| [p, p]).map(|p| h.service.react(p, chat.id, sid, "🗳️", false));
    futures::future::join_all(removes).await.into_iter().for_each(|r| {
        r.unwrap();
    });
    let view = h.service.signal(&people[1], chat.id, sid).await.unwrap();
    assert_eq!(view.reactions.len(), 1);
    assert_eq!((view.reactions[0].count, view.reactions[0].me), (5, true));
    let who = h.service.reactors(&owner, chat.id, sid, "🗳️", None, None).await.unwrap();
    assert_eq!(who.items.len(), 5);
}

#[tokio::test]
async fn admins_manage_members_the_owner_role_passes_on_and_outsiders_see_nothing() {
    let h = harness().await;
    let (owner, admin, member, outsider) =
        (h.user("owner").await, h.user("admin").await, h.user("member").await, h.user("outsider").await);
    let chat = h.service.create_group(&owner, "g", &[admin.id, member.id], None).await.unwrap().0;
    h.service.store().set_role(chat.id, admin.id, Role::Admin).await.unwrap();
    // An admin adds and removes members, but not the owner nor another admin.
    h.service.add_members(&admin, chat.id, &[outsider.id]).await.unwrap();
    h.service.remove_member(&admin, chat.id, outsider.id).await.unwrap();
    assert_eq!(h.service.remove_member(&admin, chat.id, owner.id).await.unwrap_err().code, "not_allowed");
    assert_eq!(h.service.remove_member(&member, chat.id, admin.id).await.unwrap_err().code, "not_allowed");
    // The outsider, removed, sees nothing: not the chat, not its timeline.
    for err in [
        h.service.chat_for(&outsider, chat.id).await.map(drop).unwrap_err(),
        h.service.signals(&outsider, chat.id, &SignalQuery::default()).await.map(drop).unwrap_err(),
    ] {
        assert_eq!((err.kind, err.code), (ErrorKind::NotFound, ErrorCode::ChatNotFound));
    }
    // The owner leaves: the admin (highest remaining role) becomes owner.
    h.service.remove_member(&owner, chat.id, owner.id).await.unwrap();
    let (_, me) = h.service.chat_for(&admin, chat.id).await.unwrap();
    assert_eq!(me.role, Role::Owner);
    // joined (creation), joined (outsider), left (outsider), left (owner)
    let page = h.service.signals(&admin, chat.id, &SignalQuery::default()).await.unwrap();
    let kinds: Vec<SignalKind> = page.items.iter().rev().map(|v| v.signal.kind()).collect();
    assert_eq!(kinds, [SignalKind::Joined, SignalKind::Joined, SignalKind::Left, SignalKind::Left]);
}

#[tokio::test]
async fn receipts_come_from_watermarks_and_exclude_the_author() {
    let h = harness().await;
    let (alice, bob, carol) = (h.user("alice").await, h.user("bob").await, h.user("carol").await);
    let chat = h.service.create_group(&alice, "g", &[bob.id, carol.id], None).await.unwrap().0;
    let send = |text: &str, nonce: &str| NewMessage {
        text: text.into(),
        nonce: nonce.into(),
        reply_to: None,
        attachments: vec![],
        mentions: vec![],
        everyone: false,
    };
    let (m1, _) = h.service.send_message(&alice, chat.id, send("one", "1")).await.unwrap();
    let (m2, _) = h.service.send_message(&alice, chat.id, send("two", "2")).await.unwrap();
    h.service.mark_delivered(&[(chat.id, carol.id, m2.signal.id)]).await.unwrap();
    h.service.mark_read(&bob, chat.id, m1.signal.id).await.unwrap();
    let r1 = h.service.receipts(&alice, chat.id, m1.signal.id).await.unwrap();
    let mut both = vec![bob.id, carol.id];
    both.sort();
    assert_eq!(r1.delivered_to, both);
    assert_eq!(r1.seen_by, vec![bob.id]);
    let r2 = h.service.receipts(&alice, chat.id, m2.signal.id).await.unwrap();
    assert_eq!((r2.delivered_to, r2.seen_by), (vec![carol.id], vec![]));
    // A delivery note for someone who is not a member is ignored.
    h.service.mark_delivered(&[(chat.id, Id(12345), m2.signal.id)]).await.unwrap();
}

/// The local bus, refusing the next chat event of the kind `refuse` names (once).
struct RefusingBus {
    inner: Arc<dyn Bus>,
    refuse: std::sync::Mutex<Option<&'static str>>,
}

impl RefusingBus {
    fn refuse_next(&self, kind: &'static str) {
        *self.refuse.lock().unwrap() = Some(kind);
    }
}

#[async_trait::async_trait]
impl ports::NonceFence for RefusingBus {
    async fn claim_nonce(
        &self,
        chat: domain::ChatId,
        author: domain::UserId,
        nonce: &str,
        id: domain::SignalId,
    ) -> domain::Result<ports::NonceClaim> {
        self.inner.claim_nonce(chat, author, nonce, id).await
    }
}

#[async_trait::async_trait]
impl ports::MembershipNews for RefusingBus {
    async fn membership_changed(&self, chat: domain::ChatId) -> domain::Result<()> {
        self.inner.membership_changed(chat).await
    }
    async fn membership_news(&self) -> domain::Result<ports::MembershipNewsStream> {
        self.inner.membership_news().await
    }
}

#[async_trait::async_trait]
impl Bus for RefusingBus {
    async fn ping(&self) -> domain::Result<()> {
        self.inner.ping().await
    }
}

#[async_trait::async_trait]
impl ChatEventBus for RefusingBus {
    async fn publish_chat_event(&self, event: &domain::ChatEvent, key: &str) -> domain::Result<()> {
        {
            let mut refuse = self.refuse.lock().unwrap();
            if *refuse == Some(event.event.name()) {
                *refuse = None;
                return Err(domain::Error::unavailable("the bus is down for this test"));
            }
        }
        self.inner.publish_chat_event(event, key).await
    }
    async fn declare_group(&self, group: &str, spec: ports::GroupSpec) -> domain::Result<()> {
        self.inner.declare_group(group, spec).await
    }
    async fn chat_events(&self, group: &str, spec: ports::GroupSpec) -> domain::Result<ports::ChatEventStream> {
        self.inner.chat_events(group, spec).await
    }
    async fn group_lag(&self, group: &str) -> domain::Result<u64> {
        self.inner.group_lag(group).await
    }
}

#[async_trait::async_trait]
impl UserEventBus for RefusingBus {
    async fn publish_user_event(&self, users: &[Id], event: &Event) -> domain::Result<()> {
        self.inner.publish_user_event(users, event).await
    }
    async fn subscribe_user(&self, user: Id, after: Option<&str>) -> domain::Result<UserSubscription> {
        self.inner.subscribe_user(user, after).await
    }
    async fn publish_ephemeral(&self, users: &[Id], event: &Event) -> domain::Result<()> {
        self.inner.publish_ephemeral(users, event).await
    }
}

#[async_trait::async_trait]
impl ports::NotifyQueue for RefusingBus {
    async fn queue_notification(&self, job: &domain::NotifyJob, delay: Option<Duration>) -> domain::Result<()> {
        self.inner.queue_notification(job, delay).await
    }
    async fn notification_jobs(&self) -> domain::Result<ports::NotifyJobStream> {
        self.inner.notification_jobs().await
    }
}

#[async_trait::async_trait]
impl PresenceBus for RefusingBus {
    async fn heartbeat(&self, user: Id, connection: &str, ttl: Duration) -> domain::Result<bool> {
        self.inner.heartbeat(user, connection, ttl).await
    }
    async fn connection_closed(&self, user: Id, connection: &str) -> domain::Result<bool> {
        self.inner.connection_closed(user, connection).await
    }
    async fn online(&self, users: &[Id]) -> domain::Result<Vec<Id>> {
        self.inner.online(users).await
    }
    async fn presence_expiries(&self) -> domain::Result<ports::PresenceExpiryStream> {
        self.inner.presence_expiries().await
    }
}

#[tokio::test]
async fn an_owner_leaving_when_the_bus_fails_half_way_finishes_on_retry_with_one_left_line() {
    let (h, bus) = refusing_harness().await;
    let (owner, admin) = (h.user("owner").await, h.user("admin").await);
    let chat = h.service.create_group(&owner, "g", &[admin.id], None).await.unwrap().0;
    h.service.store().set_role(chat.id, admin.id, Role::Admin).await.unwrap();

    bus.refuse_next("member.left");
    let refused = h.service.remove_member(&owner, chat.id, owner.id).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Unavailable);
    // Half-way, the owner is still in: the retry can finish.
    h.service.chat_for(&owner, chat.id).await.expect("the owner is still a member after the failure");
    h.service.remove_member(&owner, chat.id, owner.id).await.unwrap();

    assert_eq!(h.service.chat_for(&owner, chat.id).await.unwrap_err().code, ErrorCode::ChatNotFound);
    let (_, me) = h.service.chat_for(&admin, chat.id).await.unwrap();
    assert_eq!(me.role, Role::Owner, "the ownership passed on");
    let page = h.service.signals(&admin, chat.id, &SignalQuery::default()).await.unwrap();
    let kinds: Vec<SignalKind> = page.items.iter().rev().map(|v| v.signal.kind()).collect();
    assert_eq!(kinds, [SignalKind::Joined, SignalKind::Left], "one `left` line for one leave");
}

/// A service on SQLite and the local bus behind a [`RefusingBus`], with its workers.
async fn refusing_harness() -> (Harness, Arc<RefusingBus>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("db"), Durability::Normal).unwrap());
    let local: Arc<dyn Bus> = Arc::new(LocalBus::new(LocalBusConfig::default()));
    let bus = Arc::new(RefusingBus { inner: local, refuse: Default::default() });
    let service =
        ChatService::new(store.clone(), bus.clone(), blobs(&dir), Arc::new(IdGenerator::new(1)), Limits::default());
    let blobs = service.blobs().clone();
    service::Workers::start_all(store, bus.clone(), blobs).await.unwrap();
    (Harness { service, bus: bus.clone(), _dir: dir }, bus)
}

/// The kinds of a chat's timeline, oldest first, as `user` reads it.
async fn timeline_kinds(h: &Harness, user: &User, chat: Id) -> Vec<SignalKind> {
    let page = h.service.signals(user, chat, &SignalQuery::default()).await.unwrap();
    page.items.iter().rev().map(|v| v.signal.kind()).collect()
}

#[tokio::test]
async fn a_group_created_when_the_bus_fails_is_one_group_after_retries_with_its_nonce() {
    let (h, bus) = refusing_harness().await;
    let (owner, bob) = (h.user("owner").await, h.user("bob").await);
    bus.refuse_next("chat.created");
    let refused = h.service.create_group(&owner, "g", &[bob.id], Some("create-1")).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Unavailable);

    let (chat, created) = h.service.create_group(&owner, "g", &[bob.id], Some("create-1")).await.unwrap();
    assert!(!created, "the retry finishes the first attempt's group");
    let (again, created) = h.service.create_group(&owner, "g", &[bob.id], Some("create-1")).await.unwrap();
    assert_eq!((again.id, created), (chat.id, false));
    let mine = h.service.my_chats(&owner, None, 10).await.unwrap();
    assert_eq!(mine.items.iter().map(|c| c.chat.id).collect::<Vec<_>>(), vec![chat.id], "one group, not three");
    assert_eq!(timeline_kinds(&h, &bob, chat.id).await, [SignalKind::Joined], "one `joined` line");

    // Another nonce is another group.
    let (other, created) = h.service.create_group(&owner, "g", &[bob.id], Some("create-2")).await.unwrap();
    assert!(created && other.id != chat.id);

    // A repeat after someone left does not bring them back.
    h.service.remove_member(&bob, other.id, bob.id).await.unwrap();
    let (again, created) = h.service.create_group(&owner, "g", &[bob.id], Some("create-2")).await.unwrap();
    assert_eq!((again.id, created), (other.id, false));
    assert_eq!(h.service.chat_for(&bob, other.id).await.unwrap_err().code, ErrorCode::ChatNotFound);
    assert_eq!(timeline_kinds(&h, &owner, other.id).await, [SignalKind::Joined, SignalKind::Left]);
}

#[tokio::test]
async fn people_added_when_the_bus_fails_get_their_joined_line_once_on_retry() {
    let (h, bus) = refusing_harness().await;
    let (owner, bob, carol) = (h.user("owner").await, h.user("bob").await, h.user("carol").await);
    let chat = h.service.create_group(&owner, "g", &[bob.id], None).await.unwrap().0;
    bus.refuse_next("member.joined");
    let refused = h.service.add_members(&owner, chat.id, &[carol.id]).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Unavailable);
    h.service.add_members(&owner, chat.id, &[carol.id]).await.unwrap();
    h.service.add_members(&owner, chat.id, &[carol.id]).await.unwrap();
    assert_eq!(timeline_kinds(&h, &carol, chat.id).await, [SignalKind::Joined, SignalKind::Joined]);
    let page = h.service.signals(&carol, chat.id, &SignalQuery::default()).await.unwrap();
    assert!(matches!(&page.items[0].signal.body, domain::SignalBody::Joined { users } if users == &vec![carol.id]));
    // Naming people already in, with someone new, adds one line for the newcomer only.
    let dave = h.user("dave").await;
    h.service.add_members(&owner, chat.id, &[bob.id, dave.id]).await.unwrap();
    assert_eq!(timeline_kinds(&h, &dave, chat.id).await.len(), 3);
}
