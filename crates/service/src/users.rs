//! Users: just-in-time provisioning from a verified identity, lookups, profile changes.

use domain::{Error, ErrorCode, Result, User, UserId, id::now_ms, rules};
use ports::{CreateUserOutcome, RenameOutcome, VerifiedIdentity};

use crate::ChatService;

/// What [`ChatService::provision`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    Created,
    Updated,
    Unchanged,
}

impl ChatService {
    /// The user a verified identity belongs to, created on first sight. Answered from
    /// memory when this node provisioned the same claims within a minute
    /// ([`crate::known_users`]).
    pub async fn user_for_identity(&self, identity: &VerifiedIdentity) -> Result<User> {
        if let Some(user) = self.known_users.get(identity) {
            return Ok(user);
        }
        Ok(self.provision(identity).await?.0)
    }

    /// The user of a verified identity, created on first sight; a later login (or sync)
    /// with a changed username or display name updates them. The person is (issuer,
    /// subject): a username held by someone else is a conflict, never a takeover. A rename
    /// to a username someone else holds keeps the old username (and is logged).
    pub async fn provision(&self, identity: &VerifiedIdentity) -> Result<(User, Provisioned)> {
        let (user, outcome) = self.provision_in_store(identity).await?;
        self.known_users.put(&user);
        Ok((user, outcome))
    }

    async fn provision_in_store(&self, identity: &VerifiedIdentity) -> Result<(User, Provisioned)> {
        if let Some(mut user) = self.store.user_by_subject(&identity.issuer, &identity.subject).await? {
            let mut outcome = Provisioned::Unchanged;
            if let Some(name) = identity.display_name.as_deref().filter(|n| *n != user.display_name) {
                self.store.set_display_name(user.id, name).await?;
                user.display_name = name.to_string();
                outcome = Provisioned::Updated;
            }
            if identity.username != user.username && rules::validate_username(&identity.username).is_ok() {
                match self.store.rename_user(user.id, &user.username, &identity.username).await? {
                    RenameOutcome::Renamed => {
                        tracing::info!(user_id = %user.id, from = %user.username, to = %identity.username, "user renamed");
                        user.username = identity.username.clone();
                        outcome = Provisioned::Updated;
                    }
                    RenameOutcome::UsernameTaken => tracing::warn!(
                        user_id = %user.id, wanted = %identity.username,
                        "the provider renamed this user to a username another account holds; keeping the old one"
                    ),
                }
            }
            return Ok((user, outcome));
        }
        rules::validate_username(&identity.username)?;
        let user = User {
            id: self.ids.next_id(),
            username: identity.username.clone(),
            display_name: identity.display_name.clone().unwrap_or_else(|| identity.username.clone()),
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            created_at: now_ms() as i64,
        };
        match self.store.create_user(&user).await? {
            CreateUserOutcome::Created => {
                tracing::info!(user_id = %user.id, username = %user.username, "user created");
                Ok((user, Provisioned::Created))
            }
            // Two first requests of the same person raced: the other one won.
            CreateUserOutcome::SubjectTaken(existing) => Ok((existing, Provisioned::Unchanged)),
            CreateUserOutcome::UsernameTaken => {
                Err(Error::conflict(ErrorCode::UsernameTaken, "this username belongs to another account"))
            }
        }
    }

    pub async fn user(&self, id: UserId) -> Result<User> {
        self.store.user(id).await?.ok_or_else(Error::user_not_found)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        if rules::validate_username(username).is_err() {
            return Ok(None);
        }
        self.store.user_by_username(username).await
    }

    /// Up to `limit` users whose username starts with `prefix` (trimmed: 1 to 64
    /// characters, else `invalid_username_prefix`), by username. Compared as typed, like an
    /// exact username: a prefix no username can start with (capitals, spaces, `%`…) finds
    /// nobody, without asking the store.
    pub async fn users_by_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<User>> {
        let prefix = rules::username_prefix(prefix)?;
        if !rules::could_start_a_username(prefix) {
            return Ok(vec![]);
        }
        self.store.find_users_by_prefix(prefix, limit).await
    }

    /// Changes the actor's display name.
    pub async fn set_display_name(&self, actor: &User, display_name: &str) -> Result<User> {
        let name = rules::display_name(display_name)?;
        self.store.set_display_name(actor.id, name).await?;
        let user = User { display_name: name.to_string(), ..actor.clone() };
        self.known_users.put(&user);
        Ok(user)
    }
}
