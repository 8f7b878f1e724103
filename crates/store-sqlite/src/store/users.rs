//! The Store's users: accounts, usernames, identities and statuses (`ports::UserStore`).

use super::*;
use ports::UserStore;

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        let user = user.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE issuer = ?1 AND subject = ?2"),
                    params![user.issuer, user.subject],
                    rows::user,
                )
                .optional()?;
            if let Some(existing) = existing {
                return Ok(CreateUserOutcome::SubjectTaken(existing));
            }
            let taken: bool =
                tx.query_row("SELECT EXISTS(SELECT 1 FROM users WHERE username = ?1)", [&user.username], |r| r.get(0))?;
            if taken {
                return Ok(CreateUserOutcome::UsernameTaken);
            }
            tx.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![user.id.as_i64(), user.username, user.display_name, user.issuer, user.subject, user.created_at],
            )?;
            tx.commit()?;
            Ok(CreateUserOutcome::Created)
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        self.read_point(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([id.as_i64()], rows::user)
                .optional()
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))?
                .query_row([username], rows::user)
                .optional()
        })
        .await
    }

    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let (issuer, subject) = (issuer.to_string(), subject.to_string());
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE issuer = ?1 AND subject = ?2"))?
                .query_row([issuer, subject], rows::user)
                .optional()
        })
        .await
    }

    /// A range of the username index (`users.username` is UNIQUE, so indexed, compared by
    /// bytes): `username >= prefix AND username < upper bound`, never `LIKE`, whose `%` and
    /// `_` in the prefix would be wildcards.
    async fn find_users_by_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<User>> {
        if prefix.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let (from, below) = (prefix.to_string(), domain::rules::prefix_upper_bound(prefix));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| match below {
            Some(below) => {
                c.prepare_cached(&prefix_query(true))?.query_map(params![from, below, limit], rows::user)?.collect()
            }
            None => c.prepare_cached(&prefix_query(false))?.query_map(params![from, limit], rows::user)?.collect(),
        })
        .await
    }

    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()> {
        let name = display_name.to_string();
        self.write(move |c| {
            c.execute("UPDATE users SET display_name = ?1 WHERE id = ?2", params![name, id.as_i64()]).map(drop)
        })
        .await
    }

    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome> {
        let _ = old; // one row holds the username here: nothing else to free
        let new = new.to_string();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let holder: Option<i64> =
                tx.query_row("SELECT id FROM users WHERE username = ?1", [&new], |r| r.get(0)).optional()?;
            match holder {
                Some(holder) if holder != id.as_i64() => return Ok(RenameOutcome::UsernameTaken),
                Some(_) => return Ok(RenameOutcome::Renamed),
                None => {}
            }
            tx.execute("UPDATE users SET username = ?1 WHERE id = ?2", params![new, id.as_i64()])?;
            tx.commit()?;
            Ok(RenameOutcome::Renamed)
        })
        .await
    }

    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()> {
        let status = status.cloned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            match status {
                Some(s) => {
                    tx.execute(
                        "INSERT INTO user_statuses (user_id, availability, text, clears_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (user_id) DO UPDATE SET availability = ?2, text = ?3, clears_at = ?4",
                        params![user.as_i64(), s.availability.as_str(), s.text, s.clears_at],
                    )?;
                    if let Some(at) = s.clears_at {
                        tx.execute(
                            "INSERT OR IGNORE INTO status_clears (clears_at, user_id) VALUES (?1, ?2)",
                            params![at, user.as_i64()],
                        )?;
                    }
                }
                None => {
                    tx.execute("DELETE FROM user_statuses WHERE user_id = ?1", [user.as_i64()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn due_status_clears(&self, now_ms: i64, limit: usize) -> Result<Vec<(UserId, i64)>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, clears_at FROM status_clears WHERE clears_at <= ?1 ORDER BY clears_at LIMIT ?2",
            )?
            .query_map(params![now_ms, limit as i64], |r| Ok((Id::from_i64(r.get(0)?), r.get(1)?)))?
            .collect()
        })
        .await
    }

    async fn take_status_clear(&self, user: UserId, clears_at: i64) -> Result<bool> {
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM status_clears WHERE clears_at = ?1 AND user_id = ?2")?
                .execute(params![clears_at, user.as_i64()])?
                == 1)
        })
        .await
    }

    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        self.read(move |c| {
            c.prepare_cached("SELECT availability, text, clears_at FROM user_statuses WHERE user_id = ?1")?
                .query_row([user.as_i64()], rows::status)
                .optional()
        })
        .await
    }
}

/// Users from `?1` on, below `?2` when `bounded`, by username, at most `?2` or `?3`.
fn prefix_query(bounded: bool) -> String {
    let (below, limit) = if bounded { (" AND username < ?2", "?3") } else { ("", "?2") };
    format!("SELECT {USER_COLUMNS} FROM users WHERE username >= ?1{below} ORDER BY username LIMIT {limit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix is a search of the username index, in its order (no scan, no sort).
    #[test]
    fn a_prefix_is_a_range_of_the_username_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.db");
        crate::SqliteStore::migrate(&path).expect("migrate");
        let c = rusqlite::Connection::open(&path).expect("open");
        for bounded in [true, false] {
            let values: Vec<rusqlite::types::Value> = if bounded {
                vec!["al".to_string().into(), "am".to_string().into(), 10.into()]
            } else {
                vec!["al".to_string().into(), 10.into()]
            };
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {}", prefix_query(bounded)))
                .expect("explain")
                .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
                .expect("plan")
                .collect::<rusqlite::Result<_>>()
                .expect("plan rows");
            let expected = if bounded { "(username>? AND username<?)" } else { "(username>?)" };
            assert_eq!(plan, vec![format!("SEARCH users USING INDEX sqlite_autoindex_users_1 {expected}")]);
        }
    }
}
