//! The users this node provisioned lately, by identity: an authenticated request whose
//! identity says what the store said a moment ago does not read the store again for its
//! caller (two reads on the CQL store, on every request).
//!
//! An entry is used for [`KnownUsers::TTL`] at most, and only while the identity's claims
//! match it (a login with a new username or display name goes through provisioning). What
//! another node changes (a display name set through its API) shows here within the TTL;
//! this node's own changes replace the entry at once. Users are never deleted, so a stale
//! entry can only be a stale name, never access that should be gone: the token verified
//! just before is what grants access.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::User;
use ports::VerifiedIdentity;

/// Keyed by subject; the issuer is checked on the entry.
#[derive(Default)]
pub(crate) struct KnownUsers(Mutex<HashMap<String, (User, Instant)>>);

impl KnownUsers {
    pub(crate) const TTL: Duration = Duration::from_secs(60);
    /// Entries kept at most; past it the stale ones go, and if none is stale, all.
    const CAPACITY: usize = 50_000;

    /// The user of `identity`, if provisioned within the TTL with the same claims.
    pub(crate) fn get(&self, identity: &VerifiedIdentity) -> Option<User> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (user, at) = known.get(&identity.subject)?;
        let same_claims = user.issuer == identity.issuer
            && user.username == identity.username
            && identity.display_name.as_deref().is_none_or(|name| name == user.display_name);
        (same_claims && at.elapsed() < Self::TTL).then(|| user.clone())
    }

    /// Remembers `user` as the store has it now.
    pub(crate) fn put(&self, user: &User) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= Self::CAPACITY {
            known.retain(|_, (_, at)| at.elapsed() < Self::TTL);
            if known.len() >= Self::CAPACITY {
                known.clear();
            }
        }
        known.insert(user.subject.clone(), (user.clone(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str, display_name: &str) -> User {
        User {
            id: domain::Id(7),
            username: username.into(),
            display_name: display_name.into(),
            issuer: "kc".into(),
            subject: "sub-7".into(),
            created_at: 0,
        }
    }

    fn identity(username: &str, display_name: Option<&str>) -> VerifiedIdentity {
        VerifiedIdentity {
            issuer: "kc".into(),
            subject: "sub-7".into(),
            username: username.into(),
            display_name: display_name.map(Into::into),
        }
    }

    #[test]
    fn an_identity_with_other_claims_is_not_answered_from_memory() {
        let known = KnownUsers::default();
        known.put(&user("alice", "Alice"));
        assert_eq!(known.get(&identity("alice", Some("Alice"))).map(|u| u.id), Some(domain::Id(7)));
        assert_eq!(known.get(&identity("alice", None)).map(|u| u.display_name), Some("Alice".into()));
        assert!(known.get(&identity("alice", Some("Alice L."))).is_none(), "a new display name is provisioned");
        assert!(known.get(&identity("alicia", Some("Alice"))).is_none(), "a new username is provisioned");
        let other = VerifiedIdentity { subject: "sub-8".into(), ..identity("alice", Some("Alice")) };
        assert!(known.get(&other).is_none(), "another person with the same claims");
        let elsewhere = VerifiedIdentity { issuer: "other".into(), ..identity("alice", Some("Alice")) };
        assert!(known.get(&elsewhere).is_none(), "the same subject at another provider");
    }

    #[test]
    fn a_full_memory_keeps_what_is_fresh() {
        let known = KnownUsers::default();
        for i in 0..KnownUsers::CAPACITY + 1 {
            known.put(&User { subject: format!("sub-{i}"), ..user("alice", "Alice") });
        }
        // Every entry was fresh at the overflow, so all went; the last one is there.
        let known = known.0.lock().unwrap();
        assert_eq!(known.len(), 1);
        assert!(known.contains_key(&format!("sub-{}", KnownUsers::CAPACITY)));
    }
}
