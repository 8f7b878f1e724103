//! The Store's chats and their members (`ports::ChatStore`).

use super::*;
use ports::ChatStore;

#[async_trait]
impl ChatStore for SqliteStore {
    async fn create_chat(&self, chat: &Chat, members: &[Member]) -> Result<()> {
        let (chat, members) = (chat.clone(), members.to_vec());
        self.write(move |c| {
            let tx = c.savepoint()?;
            tx.execute(
                &format!("INSERT OR IGNORE INTO chats ({CHAT_COLUMNS}, activity) VALUES (?1, ?2, ?3, ?4, ?5, ?1)"),
                params![chat.id.as_i64(), chat.kind.as_str(), chat.title, chat.created_by.as_i64(), chat.created_at],
            )?;
            insert_members(&tx, &members, chat.id)?;
            tx.commit()
        })
        .await
    }

    async fn claim_direct_chat(&self, a: UserId, b: UserId, chat: ChatId) -> Result<ChatId> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO direct_pairs (user_lo, user_hi, chat_id) VALUES (?1, ?2, ?3)",
                params![lo.as_i64(), hi.as_i64(), chat.as_i64()],
            )?;
            c.query_row(
                "SELECT chat_id FROM direct_pairs WHERE user_lo = ?1 AND user_hi = ?2",
                params![lo.as_i64(), hi.as_i64()],
                |r| r.get::<_, i64>(0).map(Id::from_i64),
            )
        })
        .await
    }

    async fn claim_group_nonce(&self, creator: UserId, nonce: &str, chat: ChatId) -> Result<ChatId> {
        let nonce = nonce.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO group_nonces (creator_id, nonce, chat_id) VALUES (?1, ?2, ?3)",
                params![creator.as_i64(), nonce, chat.as_i64()],
            )?;
            c.query_row(
                "SELECT chat_id FROM group_nonces WHERE creator_id = ?1 AND nonce = ?2",
                params![creator.as_i64(), nonce],
                |r| r.get::<_, i64>(0).map(Id::from_i64),
            )
        })
        .await
    }

    async fn chat(&self, id: ChatId) -> Result<Option<Chat>> {
        self.read_point(move |c| {
            c.prepare_cached(&format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = ?1"))?
                .query_row([id.as_i64()], rows::chat)
                .optional()
        })
        .await
    }

    async fn chat_ids(&self, after: Option<ChatId>, limit: usize) -> Result<Vec<ChatId>> {
        let after = after.map_or(i64::MIN, |a| a.as_i64());
        self.read(move |c| {
            let mut st = c.prepare_cached("SELECT id FROM chats WHERE id > ?1 ORDER BY id LIMIT ?2")?;
            let ids = st.query_map(params![after, limit as i64], |r| r.get::<_, i64>(0))?;
            ids.map(|id| id.map(Id::from_i64)).collect()
        })
        .await
    }

    async fn set_chat_title(&self, id: ChatId, title: &str) -> Result<()> {
        let title = title.to_string();
        self.write(move |c| {
            c.execute("UPDATE chats SET title = ?1 WHERE id = ?2", params![title, id.as_i64()]).map(drop)
        })
        .await
    }

    async fn member(&self, chat: ChatId, user: UserId) -> Result<Option<Member>> {
        self.read_point(move |c| {
            c.prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?1 AND user_id = ?2"))?
                .query_row([chat.as_i64(), user.as_i64()], rows::member)
                .optional()
        })
        .await
    }

    async fn role(&self, chat: ChatId, user: UserId) -> Result<Option<Role>> {
        self.read_point(move |c| {
            c.prepare_cached("SELECT role FROM chat_members WHERE chat_id = ?1 AND user_id = ?2")?
                .query_row([chat.as_i64(), user.as_i64()], |row| {
                    let role: String = row.get(0)?;
                    Role::parse(&role).ok_or_else(|| rows::bad(0, "role"))
                })
                .optional()
        })
        .await
    }

    async fn members(&self, chat: ChatId) -> Result<Vec<Member>> {
        self.read_point(move |c| {
            c.prepare_cached(&format!("SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?1 ORDER BY user_id"))?
                .query_map([chat.as_i64()], rows::member)?
                .collect()
        })
        .await
    }

    async fn read_marks(&self, chat: ChatId) -> Result<Vec<(UserId, SignalId)>> {
        self.read_point(move |c| {
            c.prepare_cached("SELECT user_id, read_up_to FROM chat_members WHERE chat_id = ?1 ORDER BY user_id")?
                .query_map([chat.as_i64()], |r| {
                    Ok((Id::from_i64(r.get::<_, i64>(0)?), Id::from_i64(r.get::<_, i64>(1)?)))
                })?
                .collect()
        })
        .await
    }

    async fn member_ids(&self, chat: ChatId) -> Result<Vec<UserId>> {
        self.read_point(move |c| {
            c.prepare_cached("SELECT user_id FROM chat_members WHERE chat_id = ?1 ORDER BY user_id")?
                .query_map([chat.as_i64()], |r| r.get::<_, i64>(0).map(Id::from_i64))?
                .collect()
        })
        .await
    }

    async fn add_members(&self, chat: ChatId, members: &[Member]) -> Result<()> {
        let members = members.to_vec();
        self.write(move |c| {
            let tx = c.savepoint()?;
            insert_members(&tx, &members, chat)?;
            tx.commit()
        })
        .await
    }

    async fn remove_member(&self, chat: ChatId, user: UserId) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM chat_members WHERE chat_id = ?1 AND user_id = ?2", [chat.as_i64(), user.as_i64()])
                .map(drop)
        })
        .await
    }

    async fn set_role(&self, chat: ChatId, user: UserId, role: Role) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "UPDATE chat_members SET role = ?1 WHERE chat_id = ?2 AND user_id = ?3",
                params![role.as_str(), chat.as_i64(), user.as_i64()],
            )
            .map(drop)
        })
        .await
    }
}
