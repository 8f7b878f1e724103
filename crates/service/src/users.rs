//! Users: just-in-time provisioning from a verified identity, lookups, profile changes.

use domain::{Error, Result, User, UserId, id::now_ms, rules};
use ports::{CreateUserOutcome, VerifiedIdentity};

use crate::ChatService;

impl ChatService {
    /// The user a verified identity belongs to, created on first sight. A later login with
    /// a changed display name updates it. The username is only ever taken from the first
    /// login; a username held by someone else is a conflict, not a takeover.
    pub async fn user_for_identity(&self, identity: &VerifiedIdentity) -> Result<User> {
        if let Some(mut user) = self.store.user_by_subject(&identity.issuer, &identity.subject).await? {
            if let Some(name) = identity.display_name.as_deref().filter(|n| *n != user.display_name) {
                self.store.set_display_name(user.id, name).await?;
                user.display_name = name.to_string();
            }
            return Ok(user);
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
                Ok(user)
            }
            // Two first requests of the same person raced: the other one won.
            CreateUserOutcome::SubjectTaken(existing) => Ok(existing),
            CreateUserOutcome::UsernameTaken => {
                Err(Error::conflict("username_taken", "this username belongs to another account"))
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

    /// Changes the actor's display name.
    pub async fn set_display_name(&self, actor: &User, display_name: &str) -> Result<User> {
        let name = display_name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid("invalid_display_name", "a display name is 1 to 100 characters"));
        }
        self.store.set_display_name(actor.id, name).await?;
        Ok(User { display_name: name.to_string(), ..actor.clone() })
    }
}
