//! The Store's chats and their members (`ports::ChatStore`).

use super::*;
use ports::ChatStore;

#[async_trait]
impl ChatStore for CqlStore {
    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()> {
        // The members first: a chat row that reads back means they are all in.
        self.insert_members(chat.id, members).await?;
        self.run(
            &self.st.insert_chat,
            (chat.id.as_i64(), chat.kind.as_str(), chat.title.as_deref(), chat.created_by.as_i64(), chat.created_at),
        )
        .await
        .map(drop)
    }

    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let result = self.run(&self.st.claim_pair, (lo.as_i64(), hi.as_i64(), chat.as_i64())).await?;
        Ok(match claim(result, "chat_id", chat.as_i64())? {
            Claim::Ours => chat,
            Claim::Theirs(other) => Id::from_i64(other),
        })
    }

    async fn claim_group_nonce(&self, creator: UserId, nonce: &str, chat: ChatId) -> Result<ChatId> {
        let result = self.run(&self.st.claim_group_nonce, (creator.as_i64(), nonce, chat.as_i64())).await?;
        Ok(match claim(result, "chat_id", chat.as_i64())? {
            Claim::Ours => chat,
            Claim::Theirs(other) => Id::from_i64(other),
        })
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>> {
        first::<ChatRow>(self.run(&self.st.chat, (id.as_i64(),)).await?)?.map(to_chat).transpose()
    }

    async fn chat_ids(&self, after: Option<ChatId>, limit: usize) -> Result<Vec<ChatId>> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let limit = crate::timeline::cql_limit(limit);
        let result = match after {
            None => self.run(&self.st.chat_ids, (limit,)).await?,
            Some(after) => self.run(&self.st.chat_ids_after, (after.as_i64(), limit)).await?,
        };
        Ok(rows::<(i64,)>(result)?.into_iter().map(|(id,)| Id::from_i64(id)).collect())
    }

    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()> {
        self.run(&self.st.set_title, (title, id.as_i64())).await.map(drop)
    }

    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>> {
        let key = (chat.as_i64(), user.as_i64());
        let (row, delivered) = tokio::try_join!(self.run(&self.st.member, key), self.run(&self.st.delivered_of, key))?;
        let delivered = first::<(Option<i64>,)>(delivered)?.and_then(|r| r.0);
        first::<MemberRow>(row)?.map(|row| to_member(row, delivered)).transpose()
    }

    async fn role(&self, chat: ChatId, user: UserId) -> Result<Option<Role>> {
        first::<(String,)>(self.run(&self.st.role, (chat.as_i64(), user.as_i64())).await?)?
            .map(|(role,)| Role::parse(&role).ok_or_else(|| corrupt("member")))
            .transpose()
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>> {
        let (rows_of_members, delivered) =
            tokio::try_join!(self.run(&self.st.members, (chat.as_i64(),)), self.delivered(chat))?;
        rows::<MemberRow>(rows_of_members)?
            .into_iter()
            .map(|row| {
                let up_to = delivered.get(&row.1).copied();
                to_member(row, up_to)
            })
            .collect()
    }

    async fn read_marks(&self, chat: ChatId) -> Result<Vec<(UserId, SignalId)>> {
        Ok(rows::<(i64, i64)>(self.run(&self.st.read_marks, (chat.as_i64(),)).await?)?
            .into_iter()
            .map(|(user, read)| (Id::from_i64(user), Id::from_i64(read)))
            .collect())
    }

    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>> {
        let ids = rows::<(i64,)>(self.run(&self.st.member_ids, (chat.as_i64(),)).await?)?;
        Ok(ids.into_iter().map(|(id,)| Id::from_i64(id)).collect())
    }

    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        self.insert_members(chat, members).await
    }

    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        self.run(&self.st.delete_member, (chat.as_i64(), user.as_i64())).await?;
        self.run(&self.st.delete_user_chat, (user.as_i64(), chat.as_i64())).await?;
        self.run(&self.st.delete_delivered, (chat.as_i64(), user.as_i64())).await?;
        Ok(())
    }

    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()> {
        self.run(&self.st.set_role, (role.as_str(), chat.as_i64(), user.as_i64())).await.map(drop)
    }
}
