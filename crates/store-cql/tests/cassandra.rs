//! The Store conformance suite and the migration rules against a real CQL server: the
//! Cassandra node `scripts/stack up cassandra` runs (contact points from
//! `PETIT_CHAT_STACK_CQL_CONTACT_POINTS`, default 127.0.0.1:9042). Without it these tests
//! fail; they never pass silently.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::sync::Arc;

use bus_local::{LocalBus, LocalBusConfig};
use domain::id::{BUCKET_MS, now_ms};
use domain::{Id, IdGenerator, Signal, SignalBody, User};
use ports::{ChatStore, CreateUserOutcome, InsertSignalOutcome, ReactionStore, SignalRange, TimelineStore, UserStore};
use ports::{NonceClaim, NonceFence};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use store_cql::{CqlConfig, CqlStore, MIGRATIONS};

const CONFORMANCE_KEYSPACE: &str = "petit_chat_conformance";

fn config(keyspace: &str) -> CqlConfig {
    let points = std::env::var("PETIT_CHAT_STACK_CQL_CONTACT_POINTS").unwrap_or_else(|_| "127.0.0.1:9042".into());
    CqlConfig {
        contact_points: points.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        keyspace: keyspace.into(),
        local_datacenter: std::env::var("PETIT_CHAT_STACK_CQL_LOCAL_DATACENTER").ok(),
        connect_wait_secs: 20,
        ..CqlConfig::default()
    }
}

mod conformance {
    use super::*;

    store_conformance::store_conformance_tests!(store_conformance::Fixture::new(Arc::new(
        CqlStore::connect(&config(CONFORMANCE_KEYSPACE)).await.expect("the stack's Cassandra must answer")
    )));
}

/// The suite again on a store whose send nonces are claimed at a nonce fence (the local
/// bus's, which passes the bus conformance suite as the NATS bus's does).
mod fenced_conformance {
    use super::*;

    store_conformance::store_conformance_tests!(store_conformance::Fixture::new(Arc::new(
        Nonces::Fenced.store().await
    )));
}

/// How a store under test claims send nonces.
#[derive(Debug, Clone, Copy)]
enum Nonces {
    /// By a lightweight transaction (no fence).
    Lwt,
    /// At a nonce fence, which remembers them for its window; Cassandra keeps nothing.
    Fenced,
}

impl Nonces {
    /// A store on the conformance keyspace, with a fence of its own if fenced.
    async fn store(self) -> CqlStore {
        self.store_and_fence().await.0
    }

    async fn store_and_fence(self) -> (CqlStore, Option<Arc<LocalBus>>) {
        let store = CqlStore::connect(&config(CONFORMANCE_KEYSPACE)).await.expect("the stack's Cassandra must answer");
        match self {
            Nonces::Lwt => (store, None),
            Nonces::Fenced => {
                let fence = Arc::new(LocalBus::new(LocalBusConfig::default()));
                (store.with_nonce_fence(fence.clone()), Some(fence))
            }
        }
    }
}

/// Expands to a test per check and way of claiming nonces (`lwt::check`, `fenced::check`).
macro_rules! on_both_nonce_paths {
    ($($check:ident),* $(,)?) => {
        mod lwt {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Nonces::Lwt).await
                }
            )*
        }
        mod fenced {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Nonces::Fenced).await
                }
            )*
        }
    };
}

on_both_nonce_paths!(
    a_retry_completes_a_nonce_claimed_without_its_signal,
    a_repeated_claim_that_finds_its_own_value_is_the_same_claim,
    a_retry_lists_the_bucket_of_a_signal_stored_without_it,
);

/// The store on the conformance keyspace, a raw session on it to write what a failed or
/// interrupted send leaves behind, and the fence the store claims nonces at, if any.
struct Harness {
    store: CqlStore,
    session: Session,
    fence: Option<Arc<LocalBus>>,
}

impl Harness {
    async fn new(nonces: Nonces) -> Self {
        let cfg = config(CONFORMANCE_KEYSPACE);
        let (store, fence) = nonces.store_and_fence().await;
        let session = SessionBuilder::new()
            .known_nodes(&cfg.contact_points)
            .keyspaces_to_fetch([CONFORMANCE_KEYSPACE])
            .use_keyspace(CONFORMANCE_KEYSPACE, false)
            .build()
            .await
            .unwrap();
        Self { store, session, fence }
    }

    /// Claims `nonce` for `signal` where the store claims it (its fence, or the
    /// `signal_nonces` row of an LWT), as an attempt that stopped right after its claim.
    async fn claim_nonce_only(&self, chat: Id, author: Id, nonce: &str, signal: Id) {
        match &self.fence {
            Some(fence) => assert_eq!(fence.claim_nonce(chat, author, nonce, signal).await.unwrap(), NonceClaim::Ours),
            None => {
                self.session
                    .query_unpaged(
                        "INSERT INTO signal_nonces (chat_id, author_id, nonce, signal_id) VALUES (?, ?, ?, ?)",
                        (chat.as_i64(), author.as_i64(), nonce, signal.as_i64()),
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

fn msg(chat: Id, id: Id, author: Id, text: &str) -> Signal {
    Signal {
        id,
        chat_id: chat,
        author_id: author,
        body: SignalBody::Msg {
            text: text.into(),
            reply_to: None,
            attachments: vec![],
            mentions: vec![],
            everyone: false,
        },
        edited_at: None,
    }
}

fn ids_of(page: Vec<Signal>) -> Vec<Id> {
    page.into_iter().map(|s| s.id).collect()
}

/// A claim whose signal was never written (the claim's LWT timed out but applied later, or
/// the process stopped between the claim and the write): the next retry stores the message
/// under the claimed id instead of answering `Duplicate` of a signal nobody can read.
async fn a_retry_completes_a_nonce_claimed_without_its_signal(nonces: Nonces) {
    let harness = Harness::new(nonces).await;
    let store = &harness.store;
    let ids = IdGenerator::with_random_node();
    let (chat, author, first) = (ids.next_id(), ids.next_id(), ids.next_id());
    harness.claim_nonce_only(chat, author, "n-lost", first).await;
    assert_eq!(store.signal(chat, first).await.unwrap(), None);

    let retry = msg(chat, ids.next_id(), author, "sent once, stored late");
    assert_eq!(store.insert_signal(&retry, Some("n-lost")).await.unwrap(), InsertSignalOutcome::Duplicate(first));
    let completed = Signal { id: first, ..retry.clone() };
    assert_eq!(store.signal(chat, first).await.unwrap(), Some(completed.clone()));
    assert_eq!(store.signal(chat, retry.id).await.unwrap(), None, "nothing is stored under the retry's id");
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![completed.clone()]);

    // Once stored, the signal is never rewritten by a later retry, whatever it carries.
    let other = msg(chat, ids.next_id(), author, "another text under the same nonce");
    assert_eq!(store.insert_signal(&other, Some("n-lost")).await.unwrap(), InsertSignalOutcome::Duplicate(first));
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![completed]);
}

/// The driver repeats a claim whose answer was lost (a connection broken, a timeout: claims
/// are idempotent statements). The repeat finds the row the first try wrote, holding this
/// attempt's own value: that is this attempt's claim, not someone else's, so the send is
/// stored and answered `Inserted`, the direct chat and group are the attempt's own.
async fn a_repeated_claim_that_finds_its_own_value_is_the_same_claim(nonces: Nonces) {
    let harness = Harness::new(nonces).await;
    let store = &harness.store;
    let ids = IdGenerator::with_random_node();
    let (chat, author) = (ids.next_id(), ids.next_id());
    let sent = msg(chat, ids.next_id(), author, "claimed, answer lost");
    harness.claim_nonce_only(chat, author, "n-repeated", sent.id).await;
    assert_eq!(store.insert_signal(&sent, Some("n-repeated")).await.unwrap(), InsertSignalOutcome::Inserted);
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![sent.clone()]);
    // Another attempt under the same nonce is still a duplicate of it.
    let retry = msg(chat, ids.next_id(), author, "a client's retry");
    assert_eq!(store.insert_signal(&retry, Some("n-repeated")).await.unwrap(), InsertSignalOutcome::Duplicate(sent.id));
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![sent]);

    let (a, b, direct) = (ids.next_id(), ids.next_id(), ids.next_id());
    assert_eq!(store.claim_direct_chat(a, b, direct).await.unwrap(), direct);
    assert_eq!(store.claim_direct_chat(b, a, direct).await.unwrap(), direct, "the same claim, repeated");
    assert_eq!(store.claim_direct_chat(a, b, ids.next_id()).await.unwrap(), direct, "another attempt's");
    let group = ids.next_id();
    assert_eq!(store.claim_group_nonce(a, "g-repeated", group).await.unwrap(), group);
    assert_eq!(store.claim_group_nonce(a, "g-repeated", group).await.unwrap(), group);
    assert_eq!(store.claim_group_nonce(a, "g-repeated", ids.next_id()).await.unwrap(), group);
}

/// A send that stopped after the signal row but before its `chat_buckets` row: the signal
/// is readable by id but in no page, until a retry with the nonce lists its bucket.
async fn a_retry_lists_the_bucket_of_a_signal_stored_without_it(nonces: Nonces) {
    let harness = Harness::new(nonces).await;
    let store = &harness.store;
    let ids = IdGenerator::with_random_node();
    let (chat, author) = (ids.next_id(), ids.next_id());
    let first = msg(chat, ids.next_id(), author, "stored, not listed");
    harness.claim_nonce_only(chat, author, "n-unlisted", first.id).await;
    harness
        .session
        .query_unpaged(
            "INSERT INTO signals (bucket, chat_id, signal_id, author_id, kind, text) VALUES (?, ?, ?, ?, 'msg', ?)",
            (first.id.bucket(), chat.as_i64(), first.id.as_i64(), author.as_i64(), first.body.to_row().text),
        )
        .await
        .unwrap();
    assert_eq!(store.signal(chat, first.id).await.unwrap(), Some(first.clone()));
    assert!(store.signals(chat, SignalRange::Latest, 10).await.unwrap().is_empty());

    let retry = msg(chat, ids.next_id(), author, "stored, not listed");
    assert_eq!(
        store.insert_signal(&retry, Some("n-unlisted")).await.unwrap(),
        InsertSignalOutcome::Duplicate(first.id)
    );
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![first]);
}

/// Behind the fence, Cassandra keeps nothing of a nonce: a retry later than the fence's
/// window (a fence made anew knows no claim, as one whose window has passed) is a new
/// message. That is the promise README's "The nonce fence" documents; the author's
/// `signal.created` carries the nonce so a client need not resend that late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_the_fence_forgot_is_a_new_message() {
    let store = Nonces::Fenced.store().await;
    let ids = IdGenerator::with_random_node();
    let (chat, author) = (ids.next_id(), ids.next_id());
    let first = msg(chat, ids.next_id(), author, "sent once");
    assert_eq!(store.insert_signal(&first, Some("n-late")).await.unwrap(), InsertSignalOutcome::Inserted);
    let within = msg(chat, ids.next_id(), author, "sent once, retried at once");
    assert_eq!(store.insert_signal(&within, Some("n-late")).await.unwrap(), InsertSignalOutcome::Duplicate(first.id));

    let late = msg(chat, ids.next_id(), author, "sent once, retried late");
    let outcome = Nonces::Fenced.store().await.insert_signal(&late, Some("n-late")).await.unwrap();
    assert_eq!(outcome, InsertSignalOutcome::Inserted);
    assert_eq!(store.signals(chat, SignalRange::Latest, 10).await.unwrap(), vec![late, first]);
}

/// `chat_buckets` can list a bucket with no signal (a send whose bucket row landed but not
/// its signal row). Bucket lists are bounded by the page size, so pages must go on listing
/// past such buckets rather than come back short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_past_buckets_that_hold_no_signal() {
    let Harness { store, session, .. } = Harness::new(Nonces::Lwt).await;
    let ids = IdGenerator::with_random_node();
    let (chat, author) = (ids.next_id(), ids.next_id());
    let base = Id::first_at(now_ms() - 30 * BUCKET_MS).bucket();
    let at = |bucket: i64| Id(Id::first_of_bucket(bucket).0 + (u64::from(ids.node()) << 12) + 1);
    let (old, new) = (at(base), at(base + 6));
    for id in [old, new] {
        store.insert_signal(&msg(chat, id, author, "between empty buckets"), None).await.unwrap();
    }
    for bucket in (base + 1..base + 6).chain(base + 7..base + 10) {
        session
            .query_unpaged("INSERT INTO chat_buckets (chat_id, bucket) VALUES (?, ?)", (chat.as_i64(), bucket))
            .await
            .unwrap();
    }
    let cases = [
        (SignalRange::Latest, 1, vec![new]),
        (SignalRange::Latest, 2, vec![new, old]),
        (SignalRange::Latest, 10, vec![new, old]),
        (SignalRange::Before(new), 1, vec![old]),
        (SignalRange::Before(at(base + 9)), 2, vec![new, old]),
        (SignalRange::After(old), 1, vec![new]),
        (SignalRange::After(Id::ZERO), 1, vec![old]),
        (SignalRange::After(Id::ZERO), 2, vec![new, old]),
        (SignalRange::After(new), 5, vec![]),
        (SignalRange::Before(old), 5, vec![]),
    ];
    for (range, limit, expected) in cases {
        assert_eq!(ids_of(store.signals(chat, range, limit).await.unwrap()), expected, "{range:?}, limit {limit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_recorded_and_safe_to_run_again_and_concurrently() {
    let keyspace = format!("petit_chat_migrate_{:x}", rand_suffix());
    let cfg = config(&keyspace);
    // Two nodes migrating at once: one applies, the other waits for the lease and finds
    // nothing left to do.
    let (a, b) = tokio::join!(CqlStore::migrate(&cfg), CqlStore::migrate(&cfg));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    a.append(&mut b);
    assert_eq!(a, MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>());
    assert_eq!(CqlStore::migrate(&cfg).await.unwrap(), Vec::<i32>::new());
    // The schema works after it.
    let store = CqlStore::connect(&cfg).await.unwrap();
    ports::Store::ping(&store).await.unwrap();
    CqlStore::drop_keyspace(&cfg).await.unwrap();
}

/// Users written before migration 15 (no `users_by_initial` rows) are found by prefix once
/// it ran: the migration runner backfills the table from `users`, and doing it again
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_from_before_the_prefix_table_are_found_by_prefix_after_its_migration() {
    // As before migration 15: users rows, and no table to list them by prefix.
    let before = BeforeMigration::new(15, "users_by_initial").await;
    let session = &before.session;
    let ids = IdGenerator::with_random_node();
    let old_user = |username: &str| User {
        id: ids.next_id(),
        username: username.into(),
        display_name: username.into(),
        issuer: "before".into(),
        subject: username.into(),
        created_at: 1_700_000_000_000,
    };
    let (alice, alan, bob) = (old_user("alice"), old_user("alan"), old_user("bob"));
    for u in [&alice, &alan, &bob] {
        session
            .query_unpaged(
                "INSERT INTO users (id, username, display_name, issuer, subject, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (u.id.as_i64(), &u.username, &u.display_name, &u.issuer, &u.subject, u.created_at),
            )
            .await
            .unwrap();
    }

    for run in 0..2 {
        let store = before.migrate(run).await;
        assert_eq!(store.find_users_by_prefix("al", 10).await.unwrap(), vec![alan.clone(), alice.clone()]);
        assert_eq!(store.find_users_by_prefix("b", 10).await.unwrap(), vec![bob.clone()]);
    }
    before.drop().await;
}

/// Reactions written before migration 16 (rows of `reactions` only) count once it ran: the
/// migration runner copies them into `reactions_by_bucket`, and doing it again changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_from_before_the_bucketed_table_count_after_its_migration() {
    let before = BeforeMigration::new(16, "reactions_by_bucket").await;
    let session = &before.session;
    let ids = IdGenerator::with_random_node();
    let (chat, signal, other) = (ids.next_id(), ids.next_id(), ids.next_id());
    let (ann, bob) = (ids.next_id(), ids.next_id());
    for (s, emoji, user) in [(signal, "👍", ann), (signal, "👍", bob), (signal, "🎉", bob), (other, "👍", ann)]
    {
        session
            .query_unpaged(
                "INSERT INTO reactions (chat_id, signal_id, emoji, user_id) VALUES (?, ?, ?, ?)",
                (chat.as_i64(), s.as_i64(), emoji, user.as_i64()),
            )
            .await
            .unwrap();
    }
    for run in 0..2 {
        let store = before.migrate(run).await;
        let mut counts = store.reaction_counts(chat, &[signal, other]).await.unwrap();
        counts.sort();
        let mut expected =
            vec![(signal, "👍".to_string(), 2), (signal, "🎉".to_string(), 1), (other, "👍".to_string(), 1)];
        expected.sort();
        assert_eq!(counts, expected, "run {run}");
        let mut bobs = store.reactions_by_user(chat, bob, &[signal, other]).await.unwrap();
        bobs.sort();
        assert_eq!(bobs, [(signal, "🎉".to_string()), (signal, "👍".to_string())], "run {run}");
    }
    before.drop().await;
}

/// A fresh keyspace set back to before migration `version`: migrated, then the migration's
/// `table` dropped and its record deleted, with a raw session to write old rows through.
struct BeforeMigration {
    cfg: CqlConfig,
    session: Session,
    version: i32,
}

impl BeforeMigration {
    async fn new(version: i32, table: &str) -> Self {
        let keyspace = format!("petit_chat_backfill_{:x}", rand_suffix());
        let cfg = config(&keyspace);
        CqlStore::migrate(&cfg).await.unwrap();
        let session = SessionBuilder::new()
            .known_nodes(&cfg.contact_points)
            .keyspaces_to_fetch([keyspace.as_str()])
            .use_keyspace(&keyspace, false)
            .build()
            .await
            .unwrap();
        session.query_unpaged(format!("DROP TABLE {table}"), &[]).await.unwrap();
        let before = Self { cfg, session, version };
        before.unrecord().await;
        before
    }

    async fn unrecord(&self) {
        let delete = "DELETE FROM schema_migrations WHERE version = ?";
        self.session.query_unpaged(delete, (self.version,)).await.unwrap();
    }

    /// Runs the migration (run 0), or runs it again (run 1: unrecorded first, its table
    /// kept), asserts it was the one applied, and opens the store.
    async fn migrate(&self, run: usize) -> CqlStore {
        if run > 0 {
            self.unrecord().await;
        }
        assert_eq!(CqlStore::migrate(&self.cfg).await.unwrap(), vec![self.version], "run {run}");
        CqlStore::connect(&self.cfg).await.unwrap()
    }

    async fn drop(self) {
        CqlStore::drop_keyspace(&self.cfg).await.unwrap();
    }
}

/// A `users_by_initial` row whose user has another username (a rename cut short, or made by
/// an older build) or does not exist (a creation cut short) is skipped, and the limit
/// counts the users found, not the rows passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_rows_that_do_not_match_their_user_are_skipped() {
    let Harness { store, session, .. } = Harness::new(Nonces::Lwt).await;
    let ids = IdGenerator::with_random_node();
    let tag = format!("s{:x}-", rand_suffix());
    let carol = User {
        id: ids.next_id(),
        username: format!("{tag}carol"),
        display_name: "Carol".into(),
        issuer: "conformance".into(),
        subject: format!("{tag}carol"),
        created_at: 1_700_000_000_000,
    };
    assert_eq!(store.create_user(&carol).await.unwrap(), CreateUserOutcome::Created);
    for (username, id) in [(format!("{tag}ann"), ids.next_id()), (format!("{tag}bob"), carol.id)] {
        session
            .query_unpaged(
                "INSERT INTO users_by_initial (initial, username, user_id) VALUES ('s', ?, ?)",
                (username, id.as_i64()),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.find_users_by_prefix(&tag, 1).await.unwrap(), vec![carol.clone()]);
    assert_eq!(store.find_users_by_prefix(&tag, 10).await.unwrap(), vec![carol]);
    assert_eq!(store.find_users_by_prefix(&format!("{tag}b"), 10).await.unwrap(), vec![]);
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

/// `store.tls`: the stack's nodes take TLS (with a dev-only authority, whose certificate
/// `scripts/stack env` names). A store that trusts that authority connects and stores; one
/// that trusts only the system's roots is refused at the handshake: the node's certificate
/// is checked, not just the channel encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connects_with_the_nodes_authority_and_refuses_an_unknown_one() {
    let ca = std::env::var("PETIT_CHAT_STACK_TLS_CA_FILE")
        .expect("PETIT_CHAT_STACK_TLS_CA_FILE (eval \"$(scripts/stack env)\") names the stack's TLS authority");
    let trusted = CqlConfig { tls: true, tls_ca_file: Some(ca.into()), ..config(CONFORMANCE_KEYSPACE) };
    let store = CqlStore::connect(&trusted).await.expect("a TLS session with the nodes' authority");
    let ids = IdGenerator::with_random_node();
    let sent = msg(ids.next_id(), ids.next_id(), ids.next_id(), "over TLS");
    assert_eq!(store.insert_signal(&sent, Some("n-tls")).await.unwrap(), InsertSignalOutcome::Inserted);
    assert_eq!(store.signal(sent.chat_id, sent.id).await.unwrap(), Some(sent));

    let untrusted = CqlConfig { tls: true, connect_wait_secs: 0, ..config(CONFORMANCE_KEYSPACE) };
    let refused = CqlStore::connect(&untrusted).await.expect_err("the dev authority is not a system root");
    assert_eq!(refused.code, domain::ErrorCode::Unavailable, "{refused}");
    assert!(refused.detail.contains("invalid peer certificate: UnknownIssuer"), "{refused}");
}
