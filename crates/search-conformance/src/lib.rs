//! The TextIndex conformance suite. An adapter's tests expand [`search_conformance_tests!`]
//! with an expression that builds the adapter: one `#[tokio::test]` per check, so a failure
//! names its check and the others still run. Every check works in chats of fresh random
//! ids, so checks can share one index. An index may make writes searchable a moment after
//! they return (at OpenSearch's next refresh): checks wait for what they expect, up to
//! [`VISIBLE_WITHIN`], and check what must not be found only once a write made with it is
//! visible.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failed unwrap is a failed check

use std::time::{Duration, Instant};

use domain::{ChatId, Id, ParsedQuery, SearchHas, SearchOrder, SignalId, UserId};
use ports::{IndexedSignal, RemovedSignal, TextIndex, TextQuery};

pub use ports;

/// How long a write may take to become searchable.
pub const VISIBLE_WITHIN: Duration = Duration::from_secs(15);

/// Expands to one test per check, each on the adapter built by `$make` (an expression,
/// which may `.await`, of a type that derefs to a `TextIndex`).
#[macro_export]
macro_rules! search_conformance_tests {
    ($make:expr) => {
        $crate::__search_checks!($make;
            case_and_accents_are_folded,
            the_last_word_matches_as_a_prefix_while_typed,
            long_words_match_with_one_typo,
            every_word_must_match_and_phrases_keep_their_order,
            search_stays_within_the_chats_asked_for,
            filters_by_author_attachment_link_and_time,
            pages_in_recent_order_are_newest_first_without_overlap,
            exact_words_rank_above_typos,
            indexing_again_replaces_and_is_idempotent,
            removed_messages_are_no_longer_found,
            an_older_revision_never_replaces_a_newer_one,
            query_syntax_is_searched_as_text,
            the_index_answers_a_ping,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __search_checks {
    ($make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let index = $make;
                $crate::$check(&*index).await;
            }
        )*
    };
}

/// A fresh id, far from the others a check makes.
fn fresh() -> Id {
    Id(rand::random::<u64>() >> 2)
}

/// A message of `chat` whose id orders after `n` earlier ones.
fn msg(chat: ChatId, author: UserId, n: u64, text: &str) -> IndexedSignal {
    IndexedSignal {
        chat_id: chat,
        signal_id: Id(chat.0.wrapping_add(n + 1) & (u64::MAX >> 2)),
        author_id: author,
        text: text.to_string(),
        has_attachment: false,
        has_link: domain::search::has_link(text),
        revision: 2,
    }
}

fn removal(signal: &IndexedSignal, revision: u64) -> RemovedSignal {
    RemovedSignal { chat_id: signal.chat_id, signal_id: signal.signal_id, revision }
}

fn query(text: &str, chats: &[ChatId]) -> TextQuery {
    TextQuery::new(ParsedQuery::parse(text).unwrap(), chats.to_vec(), 50)
}

/// The ids `q` finds, in order.
async fn found(index: &dyn TextIndex, q: &TextQuery) -> Vec<SignalId> {
    index.search(q).await.unwrap().into_iter().map(|h| h.signal_id).collect()
}

/// Waits until `q` finds exactly `expected` (as a set), and returns the ids in order.
async fn eventually(index: &dyn TextIndex, q: &TextQuery, expected: &[SignalId]) -> Vec<SignalId> {
    let started = Instant::now();
    let mut want = expected.to_vec();
    want.sort();
    loop {
        let got = found(index, q).await;
        let mut sorted = got.clone();
        sorted.sort();
        if sorted == want {
            return got;
        }
        if started.elapsed() > VISIBLE_WITHIN {
            panic!("{:?} found {got:?}, expected {expected:?}", q.query);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(signals: &[&IndexedSignal]) -> Vec<SignalId> {
    signals.iter().map(|s| s.signal_id).collect()
}

pub async fn case_and_accents_are_folded(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let cafe = msg(chat, author, 0, "On se retrouve au Café de l'Élysée à midi");
    let other = msg(chat, author, 1, "Rien à voir");
    index.index(&[cafe.clone(), other]).await.unwrap();
    for q in ["cafe", "CAFÉ", "café", "elysee", "ÉLYSÉE"] {
        eventually(index, &query(q, &[chat]), &ids(&[&cafe])).await;
    }
}

pub async fn the_last_word_matches_as_a_prefix_while_typed(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let demain = msg(chat, author, 0, "à demain matin");
    let dem = msg(chat, author, 1, "dem");
    index.index(&[demain.clone(), dem.clone()]).await.unwrap();
    eventually(index, &query("dem", &[chat]), &ids(&[&demain, &dem])).await;
    eventually(index, &query("dem ", &[chat]), &ids(&[&dem])).await;
    eventually(index, &query("matin dem", &[chat]), &ids(&[&demain])).await;
    // Only the last word is a prefix.
    eventually(index, &query("dem matin", &[chat]), &[]).await;
}

pub async fn long_words_match_with_one_typo(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let meeting = msg(chat, author, 0, "the meeting moved to room four");
    let cat = msg(chat, author, 1, "the cat sleeps");
    index.index(&[meeting.clone(), cat.clone()]).await.unwrap();
    eventually(index, &query("meeting ", &[chat]), &ids(&[&meeting])).await;
    for typo in ["meetinh ", "meting ", "meettng ", "emeting "] {
        eventually(index, &query(typo, &[chat]), &ids(&[&meeting])).await;
    }
    // Two typos, or one in a word shorter than five letters: nothing.
    assert_eq!(found(index, &query("mxxting ", &[chat])).await, vec![]);
    assert_eq!(found(index, &query("cot ", &[chat])).await, vec![]);
    assert_eq!(found(index, &query("rom ", &[chat])).await, vec![]);
}

pub async fn every_word_must_match_and_phrases_keep_their_order(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let both = msg(chat, author, 0, "lunch next friday with the team");
    let reversed = msg(chat, author, 1, "friday next we have lunch");
    let lunch = msg(chat, author, 2, "lunch is ready");
    index.index(&[both.clone(), reversed.clone(), lunch.clone()]).await.unwrap();
    eventually(index, &query("lunch ", &[chat]), &ids(&[&both, &reversed, &lunch])).await;
    eventually(index, &query("lunch friday ", &[chat]), &ids(&[&both, &reversed])).await;
    eventually(index, &query(r#""next friday""#, &[chat]), &ids(&[&both])).await;
    eventually(index, &query(r#"lunch "friday next""#, &[chat]), &ids(&[&reversed])).await;
}

pub async fn search_stays_within_the_chats_asked_for(index: &dyn TextIndex) {
    let (mine, other, third, author) = (fresh(), fresh(), fresh(), fresh());
    let a = msg(mine, author, 0, "quarterly budget review");
    let b = msg(other, author, 0, "quarterly budget draft");
    let c = msg(third, author, 0, "quarterly budget final");
    index.index(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
    eventually(index, &query("budget ", &[mine, other, third]), &ids(&[&a, &b, &c])).await;
    eventually(index, &query("budget ", &[mine]), &ids(&[&a])).await;
    eventually(index, &query("budget ", &[mine, third]), &ids(&[&a, &c])).await;
    let hits = index.search(&query("budget ", &[other])).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].chat_id, hits[0].signal_id), (other, b.signal_id), "a hit names its chat");
    assert_eq!(found(index, &query("budget ", &[])).await, vec![], "no chat: no hit");
}

pub async fn filters_by_author_attachment_link_and_time(index: &dyn TextIndex) {
    let (chat, alice, bob) = (fresh(), fresh(), fresh());
    let first = msg(chat, alice, 0, "report draft");
    let mut file = msg(chat, bob, 1, "report attached");
    file.has_attachment = true;
    let link = msg(chat, alice, 2, "report at https://example.org/r");
    let last = msg(chat, bob, 3, "report final");
    index.index(&[first.clone(), file.clone(), link.clone(), last.clone()]).await.unwrap();
    let all = query("report ", &[chat]);
    eventually(index, &all, &ids(&[&first, &file, &link, &last])).await;
    assert_eq!(
        sorted(found(index, &TextQuery { from: Some(alice), ..all.clone() }).await),
        sorted(ids(&[&first, &link]))
    );
    let has = |h| TextQuery { has: Some(h), ..all.clone() };
    assert_eq!(found(index, &has(SearchHas::Attachment)).await, ids(&[&file]));
    assert_eq!(found(index, &has(SearchHas::Link)).await, ids(&[&link]));
    let window = TextQuery { after: Some(first.signal_id), before: Some(last.signal_id), ..all.clone() };
    assert_eq!(sorted(found(index, &window).await), sorted(ids(&[&file, &link])), "bounds are exclusive");
    let after = TextQuery { after: Some(link.signal_id), ..all.clone() };
    assert_eq!(found(index, &after).await, ids(&[&last]));
}

fn sorted(mut ids: Vec<SignalId>) -> Vec<SignalId> {
    ids.sort();
    ids
}

pub async fn pages_in_recent_order_are_newest_first_without_overlap(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let all: Vec<IndexedSignal> = (0..25).map(|n| msg(chat, author, n, &format!("status update number {n}"))).collect();
    index.index(&all).await.unwrap();
    let everything: Vec<SignalId> = all.iter().map(|s| s.signal_id).collect();
    let q = TextQuery { order: SearchOrder::Recent, limit: 10, ..query("update ", &[chat]) };
    eventually(index, &TextQuery { limit: 50, ..q.clone() }, &everything).await;
    let mut pages = vec![];
    for page in 0..3 {
        pages.extend(found(index, &TextQuery { offset: page * 10, ..q.clone() }).await);
    }
    let mut newest_first = everything;
    newest_first.reverse();
    assert_eq!(pages, newest_first);
    assert_eq!(found(index, &TextQuery { offset: 30, ..q }).await, vec![]);
}

pub async fn exact_words_rank_above_typos(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let typo = msg(chat, author, 0, "the printer is brokn again");
    let exact = msg(chat, author, 1, "the printer is broken again");
    let later_typo = msg(chat, author, 2, "is it brocen");
    index.index(&[typo.clone(), exact.clone(), later_typo.clone()]).await.unwrap();
    let order = eventually(index, &query("broken ", &[chat]), &ids(&[&typo, &exact, &later_typo])).await;
    assert_eq!(order[0], exact.signal_id, "the exact word first: {order:?}");
}

pub async fn indexing_again_replaces_and_is_idempotent(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let first = msg(chat, author, 0, "see you at the station");
    index.index(std::slice::from_ref(&first)).await.unwrap();
    eventually(index, &query("station ", &[chat]), &ids(&[&first])).await;
    index.index(&[first.clone(), first.clone()]).await.unwrap();
    let edited = IndexedSignal { text: "see you at the airport".into(), revision: 4, ..first.clone() };
    index.index(std::slice::from_ref(&edited)).await.unwrap();
    eventually(index, &query("airport ", &[chat]), &ids(&[&edited])).await;
    assert_eq!(found(index, &query("station ", &[chat])).await, vec![], "the old text is gone");
    assert_eq!(found(index, &query("see ", &[chat])).await, ids(&[&edited]), "one document per message");
}

pub async fn removed_messages_are_no_longer_found(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let kept = msg(chat, author, 0, "invoice for march");
    let gone = msg(chat, author, 1, "invoice for april");
    index.index(&[kept.clone(), gone.clone()]).await.unwrap();
    eventually(index, &query("invoice ", &[chat]), &ids(&[&kept, &gone])).await;
    let never_indexed = msg(chat, author, 2, "invoice for may");
    index.remove(&[removal(&gone, 3), removal(&never_indexed, 3)]).await.unwrap();
    eventually(index, &query("invoice ", &[chat]), &ids(&[&kept])).await;
    index.remove(&[removal(&gone, 3)]).await.unwrap();
    index.remove(&[]).await.unwrap();
    eventually(index, &query("invoice ", &[chat]), &ids(&[&kept])).await;
}

pub async fn an_older_revision_never_replaces_a_newer_one(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let sent = IndexedSignal { revision: 10, ..msg(chat, author, 0, "lunch at noon") };
    let edited = IndexedSignal { text: "lunch at one".into(), revision: 20, ..sent.clone() };
    // The edit's event came first (a redelivery, or many events of a chat at once).
    index.index(std::slice::from_ref(&edited)).await.unwrap();
    index.index(std::slice::from_ref(&sent)).await.unwrap();
    // Both in one write, the older last.
    let other = IndexedSignal { revision: 10, ..msg(chat, author, 1, "dinner at eight") };
    let other_edited = IndexedSignal { text: "dinner at nine".into(), revision: 20, ..other.clone() };
    index.index(&[other_edited.clone(), other.clone()]).await.unwrap();
    // Removed before its creation is indexed: it never appears.
    let gone = IndexedSignal { revision: 10, ..msg(chat, author, 2, "breakfast at seven") };
    index.remove(&[removal(&gone, 30)]).await.unwrap();
    index.index(std::slice::from_ref(&gone)).await.unwrap();
    // A marker written last: once it is searchable, so is everything before it.
    let marker = msg(chat, author, 3, "marker");
    index.index(std::slice::from_ref(&marker)).await.unwrap();
    eventually(index, &query("marker", &[chat]), &ids(&[&marker])).await;
    assert_eq!(found(index, &query("at", &[chat])).await.len(), 2, "one document per message, the removed one gone");
    assert_eq!(found(index, &query("one", &[chat])).await, ids(&[&edited]), "the edit stays");
    assert_eq!(found(index, &query("noon", &[chat])).await, vec![], "the older text came later and was refused");
    assert_eq!(found(index, &query("nine", &[chat])).await, ids(&[&other_edited]));
    assert_eq!(found(index, &query("eight", &[chat])).await, vec![]);
    assert_eq!(found(index, &query("breakfast", &[chat])).await, vec![], "a removal outranks its older writes");
    // A newer revision still replaces, after the older ones were refused; an equal one too.
    let again = IndexedSignal { text: "lunch at two".into(), revision: 40, ..sent.clone() };
    index.index(std::slice::from_ref(&again)).await.unwrap();
    eventually(index, &query("two", &[chat]), &ids(&[&again])).await;
    let same = IndexedSignal { text: "lunch at three".into(), ..again.clone() };
    index.index(std::slice::from_ref(&same)).await.unwrap();
    eventually(index, &query("three", &[chat]), &ids(&[&same])).await;
    assert_eq!(found(index, &query("two", &[chat])).await, vec![]);
}

pub async fn query_syntax_is_searched_as_text(index: &dyn TextIndex) {
    let (chat, author) = (fresh(), fresh());
    let literal = msg(chat, author, 0, "the field is chat_id:123 in the log");
    let plain = msg(chat, author, 1, "nothing special here");
    let star = msg(chat, author, 2, "rate it 5 stars");
    index.index(&[literal.clone(), plain.clone(), star]).await.unwrap();
    eventually(index, &query("chat_id:123", &[chat]), &ids(&[&literal])).await;
    for attack in [
        "*:*",
        "*",
        "?",
        "text:*",
        "nothing OR special",
        "special || 1",
        "/.*/",
        "n*",
        r#"{"match_all":{}}"#,
        "chat_id:* OR author_id:*",
        "(special) AND (NOT here)",
        "here^100",
        "nothing~2",
    ] {
        let hits = found(index, &query(attack, &[chat])).await;
        assert!(!hits.contains(&literal.signal_id) || attack.contains("chat_id"), "{attack:?} found {hits:?}");
        assert!(hits.len() <= 1, "{attack:?} is read as syntax: it found {hits:?}");
    }
    assert_eq!(found(index, &query("nothing OR special", &[chat])).await, vec![], "OR is a word that must match");
    assert_eq!(found(index, &query("*:*", &[chat])).await, vec![], "punctuation alone matches nothing");
}

pub async fn the_index_answers_a_ping(index: &dyn TextIndex) {
    index.ping().await.unwrap();
}
