//! The Store's users: accounts, usernames, identities and statuses (`ports::UserStore`).

use super::*;
use crate::initial;
use crate::timeline::cql_limit;

#[async_trait]
impl UserStore for CqlStore {
    /// Claims the (issuer, subject), then the username, then writes the username's
    /// `users_by_initial` row and the user row. A crash between the claims and the row
    /// leaves a claim with no user: the next login of that subject then answers
    /// `unavailable` until the claim row is deleted by hand (known gap); a prefix row
    /// without its user is skipped by readers.
    async fn create_user(&self, user: &User) -> Result<CreateUserOutcome> {
        let id = user.id.as_i64();
        let subject = self.run(&self.st.claim_subject, (&user.issuer, &user.subject, id)).await?;
        if let Claim::Theirs(existing) = claim(subject, "user_id", id)? {
            return Ok(CreateUserOutcome::SubjectTaken(self.user_eventually(existing).await?));
        }
        let username = self.run(&self.st.claim_username, (&user.username, id)).await?;
        if let Claim::Theirs(_) = claim(username, "user_id", id)? {
            self.run(&self.st.release_subject, (&user.issuer, &user.subject, id)).await?;
            return Ok(CreateUserOutcome::UsernameTaken);
        }
        self.index_username(&user.username, id).await?;
        self.run(
            &self.st.insert_user,
            (id, &user.username, &user.display_name, &user.issuer, &user.subject, user.created_at),
        )
        .await?;
        Ok(CreateUserOutcome::Created)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(first::<UserRow>(self.run(&self.st.user, (id.as_i64(),)).await?)?.map(to_user))
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        match first::<(i64,)>(self.run(&self.st.user_by_username, (username,)).await?)? {
            Some((id,)) => self.user(Id::from_i64(id)).await,
            None => Ok(None),
        }
    }

    async fn user_by_subject(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        match first::<(i64,)>(self.run(&self.st.user_by_subject, (issuer, subject)).await?)? {
            Some((id,)) => self.user(Id::from_i64(id)).await,
            None => Ok(None),
        }
    }

    /// A clustering range of the prefix's initial in `users_by_initial`, each row checked
    /// against its user: a row whose user now has another username (a rename cut short, or
    /// made by an older build) or none yet (a creation under way) is skipped, and when rows
    /// were skipped the range is read again with a larger limit.
    async fn find_users_by_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<User>> {
        if prefix.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let below = domain::rules::prefix_upper_bound(prefix);
        let mut fetch = limit;
        loop {
            let result = match &below {
                Some(below) => {
                    self.run(&self.st.users_by_prefix, (initial(prefix), prefix, below, cql_limit(fetch))).await?
                }
                None => self.run(&self.st.users_from, (initial(prefix), prefix, cql_limit(fetch))).await?,
            };
            let listed = rows::<(String, i64)>(result)?;
            let users = try_join_all(listed.iter().map(|(username, id)| async move {
                Ok::<_, Error>(self.user(Id::from_i64(*id)).await?.filter(|u| u.username == *username))
            }))
            .await?;
            let mut users: Vec<User> = users.into_iter().flatten().collect();
            if users.len() >= limit || listed.len() < fetch {
                users.truncate(limit);
                return Ok(users);
            }
            fetch = fetch.saturating_mul(2);
        }
    }

    async fn set_display_name(&self, id: UserId, display_name: &str) -> Result<()> {
        self.run(&self.st.set_display_name, (display_name, id.as_i64())).await.map(drop)
    }

    /// Claims the new username (LWT), lists it in `users_by_initial`, points the user at it,
    /// then unlists and frees the old one (the old row only if it is still this user's: a
    /// repeat may come after someone else took the old username). Every step is safe to
    /// repeat: a claim this user already holds counts as claimed. Cut short, it leaves rows
    /// readers skip (their user has another username).
    async fn rename_user(&self, id: UserId, old: &str, new: &str) -> Result<RenameOutcome> {
        let uid = id.as_i64();
        if let Claim::Theirs(_) = claim(self.run(&self.st.claim_username, (new, uid)).await?, "user_id", uid)? {
            return Ok(RenameOutcome::UsernameTaken);
        }
        self.index_username(new, uid).await?;
        self.run(&self.st.set_username, (new, uid)).await?;
        if old != new {
            if !old.is_empty() {
                self.run(&self.st.delete_user_initial, (initial(old), old, uid)).await?;
            }
            self.run(&self.st.release_username, (old, uid)).await?;
        }
        Ok(RenameOutcome::Renamed)
    }

    async fn set_status(&self, user: UserId, status: Option<&UserStatus>) -> Result<()> {
        match status {
            Some(s) => {
                // The listing first: a clear never goes unlisted (a stale one is harmless).
                if let Some(at) = s.clears_at {
                    self.run(&self.st.insert_status_clear, (at, user.as_i64())).await?;
                }
                let values = (user.as_i64(), s.availability.as_str(), s.text.as_deref(), s.clears_at);
                self.run(&self.st.set_status, values).await.map(drop)
            }
            None => self.run(&self.st.delete_status, (user.as_i64(),)).await.map(drop),
        }
    }

    async fn due_status_clears(&self, now_ms: i64, limit: usize) -> Result<Vec<(UserId, i64)>> {
        let found = rows::<(i64, i64)>(
            self.run(&self.st.due_status_clears, (now_ms, crate::timeline::cql_limit(limit))).await?,
        )?;
        Ok(found.into_iter().map(|(user, at)| (Id::from_i64(user), at)).collect())
    }

    async fn take_status_clear(&self, user: UserId, clears_at: i64) -> Result<bool> {
        let (applied, _) = lwt(self.run(&self.st.take_status_clear, (clears_at, user.as_i64())).await?)?;
        Ok(applied)
    }

    async fn status(&self, user: UserId) -> Result<Option<UserStatus>> {
        let row = first::<(String, Option<String>, Option<i64>)>(self.run(&self.st.status, (user.as_i64(),)).await?)?;
        row.map(|(availability, text, clears_at)| {
            let availability = Availability::parse(&availability).ok_or_else(|| corrupt("user status"))?;
            Ok(UserStatus { availability, text, clears_at })
        })
        .transpose()
    }
}

impl CqlStore {
    /// Lists a username this user holds in `users_by_initial` (an empty one has no initial,
    /// so no row: no prefix finds it).
    async fn index_username(&self, username: &str, user: i64) -> Result<()> {
        if username.is_empty() {
            return Ok(());
        }
        self.run(&self.st.insert_user_initial, (initial(username), username, user)).await.map(drop)
    }
}
