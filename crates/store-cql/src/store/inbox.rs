//! The Store's the inbox: a user's chats, most recently active first (`ports::InboxStore`).

use super::*;
use ports::InboxStore;

#[async_trait]
impl InboxStore for CqlStore {
    async fn record_activity(&self, chat: ChatId, activity: SignalId, members: &[UserId]) -> Result<()> {
        // Blind writes, the newest activity winning by its write timestamp. A row written for
        // someone removed meanwhile (and so left only with `activity`) is harmless: readers
        // check the membership of every chat they list.
        let ts = activity_timestamp(activity);
        let values: Vec<(i64, i64, i64, i64)> =
            members.iter().map(|u| (ts, activity.as_i64(), u.as_i64(), chat.as_i64())).collect();
        self.run_batched(&self.st.set_user_chat_activity, values).await
    }

    async fn inbox(&self, user: UserId, after: Option<(SignalId, ChatId)>, limit: usize) -> Result<Vec<InboxEntry>> {
        // One partition: every chat of the user with its last activity, ordered here. A
        // user's chats number in the hundreds or thousands, not millions.
        let mut entries: Vec<InboxEntry> =
            rows::<(i64, Option<i64>)>(self.run(&self.st.user_chats, (user.as_i64(),)).await?)?
                .into_iter()
                .map(|(chat, activity)| InboxEntry {
                    chat_id: Id::from_i64(chat),
                    activity: Id::from_i64(activity.unwrap_or(chat)),
                })
                .filter(|e| after.is_none_or(|(a, c)| (e.activity, e.chat_id) < (a, c)))
                .collect();
        entries.sort_unstable_by_key(|e| std::cmp::Reverse((e.activity, e.chat_id)));
        entries.truncate(limit);
        Ok(entries)
    }
}
