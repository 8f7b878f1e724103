//! The Store's inbox: a user's chats, most recently active first (`ports::InboxStore`).

use super::*;
use ports::InboxStore;

#[async_trait]
impl InboxStore for CqlStore {
    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        // The user's chats (one partition; they number in the hundreds or thousands, not
        // millions), then their activity, 100 chats a query, side by side; ordered here.
        let chats = rows::<(i64, Option<i64>)>(self.run(&self.st.user_chats, (user.as_i64(),)).await?)?;
        let ids: Vec<i64> = chats.iter().map(|(chat, _)| *chat).collect();
        let pages =
            try_join_all(ids.chunks(100).map(|chunk| async move {
                rows::<(i64, Option<i64>)>(self.run(&self.st.chat_activity, (chunk,)).await?)
            }))
            .await?;
        let recorded: HashMap<i64, i64> =
            pages.into_iter().flatten().filter_map(|(chat, activity)| Some((chat, activity?))).collect();
        let mut entries: Vec<InboxEntry> = chats
            .into_iter()
            .map(|(chat, before)| {
                // `user_chats.activity` was moved per member before `chat_activity` existed.
                let activity = chat.max(before.unwrap_or(chat)).max(recorded.get(&chat).copied().unwrap_or(chat));
                InboxEntry { chat_id: Id::from_i64(chat), activity: Id::from_i64(activity) }
            })
            .filter(|e| after.is_none_or(|(a, c)| (e.activity, e.chat_id) < (a, c)))
            .collect();
        entries.sort_unstable_by_key(|e| std::cmp::Reverse((e.activity, e.chat_id)));
        entries.truncate(limit);
        Ok(entries)
    }
}
