//! Users: creation with unique usernames and subjects, lookups, display names.

use domain::User;
use ports::CreateUserOutcome;

use crate::Fixture;

pub(crate) async fn run(f: &Fixture) {
    create_and_find(f).await;
    usernames_and_subjects_are_unique(f).await;
    display_name_changes(f).await;
}

async fn create_and_find(f: &Fixture) {
    let user = f.user().await;
    let s = &f.store;
    assert_eq!(s.user(user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_username(&user.username).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user_by_subject(&user.issuer, &user.subject).await.unwrap().as_ref(), Some(&user));
    assert_eq!(s.user(f.id()).await.unwrap(), None);
    assert_eq!(s.user_by_username(&f.unique("nobody")).await.unwrap(), None);
    assert_eq!(s.user_by_subject("another-issuer", &user.subject).await.unwrap(), None);
}

async fn usernames_and_subjects_are_unique(f: &Fixture) {
    let first = f.user().await;
    let same_username = User { id: f.id(), subject: f.unique("sub"), ..first.clone() };
    assert_eq!(f.store.create_user(&same_username).await.unwrap(), CreateUserOutcome::UsernameTaken);
    assert_eq!(f.store.user(same_username.id).await.unwrap(), None, "a refused user must not be stored");

    let same_subject = User { id: f.id(), username: f.unique("user"), ..first.clone() };
    assert_eq!(f.store.create_user(&same_subject).await.unwrap(), CreateUserOutcome::SubjectTaken(first.clone()));
    assert_eq!(f.store.user_by_username(&same_subject.username).await.unwrap(), None);

    // The same subject at another issuer is another person.
    let other_issuer = User { id: f.id(), username: f.unique("user"), issuer: "elsewhere".into(), ..first };
    assert_eq!(f.store.create_user(&other_issuer).await.unwrap(), CreateUserOutcome::Created);
}

async fn display_name_changes(f: &Fixture) {
    let user = f.user().await;
    f.store.set_display_name(user.id, "Alice Liddell").await.unwrap();
    assert_eq!(f.store.user(user.id).await.unwrap().unwrap().display_name, "Alice Liddell");
    assert_eq!(f.store.user_by_username(&user.username).await.unwrap().unwrap().display_name, "Alice Liddell");
}
