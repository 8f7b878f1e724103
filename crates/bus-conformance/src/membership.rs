//! Membership news: every subscriber hears of every change published after it subscribed,
//! in order, and nothing from before.

use domain::ChatId;
use futures::StreamExt;
use ports::{Bus, MembershipNewsStream, MembershipWord};

use crate::{WAIT, random_id};

/// The next word about one of `chats`: other checks sharing the server publish theirs, and
/// a word that some may have been missed fails the check (nothing was lost here).
async fn next_about(news: &mut MembershipNewsStream, chats: &[ChatId]) -> ChatId {
    loop {
        let word = tokio::time::timeout(WAIT, news.next()).await.expect("no word in time").expect("news ended");
        match word {
            MembershipWord::Changed(chat) if chats.contains(&chat) => return chat,
            MembershipWord::Changed(_) => {}
            MembershipWord::Missed => panic!("news said it missed some, with nothing lost"),
        }
    }
}

pub async fn membership_news_reaches_every_subscriber_in_order(bus: &dyn Bus) {
    let (before, first, second) = (random_id(), random_id(), random_id());
    bus.membership_changed(before).await.unwrap();
    let mut one = bus.membership_news().await.unwrap();
    let mut other = bus.membership_news().await.unwrap();
    bus.membership_changed(first).await.unwrap();
    bus.membership_changed(second).await.unwrap();
    let chats = [before, first, second];
    for news in [&mut one, &mut other] {
        assert_eq!(next_about(news, &chats).await, first, "news from before subscribing is not told");
        assert_eq!(next_about(news, &chats).await, second);
    }
}
