//! The blob collector's view: what holds a blob, uploads that expire unless sent, and
//! condemnations that never win against a hold (on any node).

use std::sync::Arc;

use domain::{Attachment, AttachmentKind, BlobKey, Id, Thumbnail};
use ports::{BlobHolder, UnsentUpload};

use crate::Fixture;

fn blob() -> BlobKey {
    BlobKey::from_digest(&rand::random::<[u8; 32]>())
}

/// An upload of `sha256` to `chat`, made at a moment of its own.
fn upload(f: &Fixture, chat: Id, uploader: Id, sha256: &BlobKey) -> Attachment {
    Attachment {
        id: f.id(),
        chat_id: chat,
        uploader_id: uploader,
        filename: "a.pdf".into(),
        content_type: "application/pdf".into(),
        size: 10,
        sha256: sha256.clone(),
        kind: AttachmentKind::File,
        width: None,
        height: None,
        // Some day of 2001-2027, to the millisecond: its own place among the unsent.
        created_at: 978_307_200_000 + rand::random_range(0..820_000_000_000),
    }
}

/// Holds, then records, an upload, as the service does.
async fn hold_and_record(f: &Fixture, a: &Attachment) {
    assert!(f.store.hold_upload(&UnsentUpload::from(a)).await.unwrap());
    f.store.insert_attachment(a).await.unwrap();
}

/// Whether `a` is among the unsent uploads made before it plus one millisecond.
async fn listed(f: &Fixture, a: &Attachment) -> bool {
    let unsent = f.store.unsent_uploads(a.created_at + 1, 100_000).await.unwrap();
    assert!(unsent.windows(2).all(|w| w[0].created_at <= w[1].created_at), "oldest first");
    assert!(unsent.iter().all(|u| u.created_at <= a.created_at), "none made after the cut-off");
    unsent.iter().any(|u| u.attachment_id == a.id)
}

pub async fn an_unsent_upload_expires_and_frees_its_blob(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let sha = blob();
    let x = upload(f, chat.id, a, &sha);
    hold_and_record(f, &x).await;
    assert!(listed(f, &x).await);
    assert!(!f.store.unsent_uploads(x.created_at, 100_000).await.unwrap().iter().any(|u| u.attachment_id == x.id));
    assert!(!f.store.condemn_blob(&sha).await.unwrap(), "the upload holds its blob");

    assert!(f.store.expire_upload(&UnsentUpload::from(&x)).await.unwrap());
    assert!(f.store.attachments(chat.id, &[x.id]).await.unwrap().is_empty(), "the record is gone");
    assert!(!listed(f, &x).await);
    assert!(!f.store.claim_attachment(chat.id, x.id, "late").await.unwrap(), "no send takes an expired upload");
    assert!(f.store.attachments(chat.id, &[x.id]).await.unwrap().is_empty(), "and the claim made no record");

    assert!(f.store.condemn_blob(&sha).await.unwrap(), "nothing holds the blob now");
    assert!(f.store.condemned_blobs(100_000).await.unwrap().contains(&sha));
    assert!(f.store.condemn_blob(&sha).await.unwrap(), "a blob being deleted stays condemned");
    let again = upload(f, chat.id, a, &sha);
    assert!(!f.store.hold_upload(&UnsentUpload::from(&again)).await.unwrap(), "no hold while it is deleted");
    assert_eq!(f.store.forget_blob(&sha).await.unwrap(), None);
    assert!(!f.store.condemned_blobs(100_000).await.unwrap().contains(&sha));
    hold_and_record(f, &again).await;
    assert!(!f.store.condemn_blob(&sha).await.unwrap(), "held again once forgotten");
    assert!(f.store.expire_upload(&UnsentUpload::from(&again)).await.unwrap());
    assert!(f.store.condemn_blob(&sha).await.unwrap());
    f.store.forget_blob(&sha).await.unwrap();
}

pub async fn sent_and_claimed_uploads_do_not_expire(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let sha = blob();
    let (sent, claimed, twin) =
        (upload(f, chat.id, a, &sha), upload(f, chat.id, a, &blob()), upload(f, chat.id, a, &sha));
    for x in [&sent, &claimed, &twin] {
        hold_and_record(f, x).await;
    }
    assert!(f.store.claim_attachment(chat.id, sent.id, "n1").await.unwrap());
    f.store.record_sent(chat.id, f.id(), std::slice::from_ref(&sent)).await.unwrap();
    assert!(!listed(f, &sent).await, "a sent upload is no longer pending");
    assert!(f.store.claim_attachment(chat.id, claimed.id, "n2").await.unwrap());

    for x in [&sent, &claimed] {
        assert!(!f.store.expire_upload(&UnsentUpload::from(x)).await.unwrap(), "taken by a send");
        assert_eq!(f.store.attachments(chat.id, &[x.id]).await.unwrap().len(), 1, "kept");
        assert!(!listed(f, x).await);
    }
    // The same bytes uploaded twice: the one that expires leaves the blob to the sent one.
    assert!(f.store.expire_upload(&UnsentUpload::from(&twin)).await.unwrap());
    assert!(!f.store.condemn_blob(&sha).await.unwrap(), "the sent upload still holds it");
    assert!(!f.store.condemn_blob(&claimed.sha256).await.unwrap());
}

pub async fn an_upload_that_never_recorded_expires_too(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let x = upload(f, chat.id, a, &blob());
    // Held, then the process died before the bytes or the record were stored.
    assert!(f.store.hold_upload(&UnsentUpload::from(&x)).await.unwrap());
    assert!(listed(f, &x).await);
    assert!(f.store.expire_upload(&UnsentUpload::from(&x)).await.unwrap());
    assert!(f.store.condemn_blob(&x.sha256).await.unwrap());
    f.store.forget_blob(&x.sha256).await.unwrap();
}

pub async fn a_thumbnail_is_held_by_its_image(f: &Fixture) {
    let (image, thumb) = (blob(), blob());
    assert!(f.store.hold_blob(&thumb, &BlobHolder::ThumbnailOf(image.clone())).await.unwrap());
    assert!(f.store.hold_blob(&thumb, &BlobHolder::ThumbnailOf(image.clone())).await.unwrap(), "idempotent");
    let made = Thumbnail::Made { blob: thumb.clone(), width: 40, height: 30, size: 900 };
    f.store.set_thumbnail(&image, &made).await.unwrap();
    assert!(!f.store.condemn_blob(&thumb).await.unwrap());

    assert!(f.store.condemn_blob(&image).await.unwrap(), "nothing holds the image");
    assert_eq!(f.store.forget_blob(&image).await.unwrap(), Some(thumb.clone()), "its thumbnail is released");
    assert_eq!(f.store.thumbnail(&image).await.unwrap(), None, "and its record gone");
    assert!(f.store.condemn_blob(&thumb).await.unwrap());
    assert_eq!(f.store.forget_blob(&thumb).await.unwrap(), None);
}

pub async fn a_hold_and_a_condemnation_never_both_win(f: &Fixture) {
    let store = f.store.clone();
    for round in 0..20 {
        let sha = blob();
        let holder = BlobHolder::ThumbnailOf(blob());
        let (s1, s2) = (Arc::clone(&store), Arc::clone(&store));
        let (b1, b2) = (sha.clone(), sha.clone());
        let hold = tokio::spawn(async move { s1.hold_blob(&b1, &holder).await.unwrap() });
        let condemn = tokio::spawn(async move { s2.condemn_blob(&b2).await.unwrap() });
        let (held, condemned) = (hold.await.unwrap(), condemn.await.unwrap());
        assert!(held != condemned, "round {round}: held {held}, condemned {condemned}: exactly one wins");
        if condemned {
            store.forget_blob(&sha).await.unwrap();
        }
    }
}

pub async fn a_deleted_messages_files_are_released(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let shared = blob();
    let (x, y, kept) = (upload(f, chat.id, a, &shared), upload(f, chat.id, a, &blob()), upload(f, chat.id, a, &shared));
    for u in [&x, &y, &kept] {
        hold_and_record(f, u).await;
        assert!(f.store.claim_attachment(chat.id, u.id, "n").await.unwrap());
    }
    let (deleted, other) = (f.id(), f.id());
    f.store.record_sent(chat.id, deleted, &[x.clone(), y.clone()]).await.unwrap();
    f.store.record_sent(chat.id, other, std::slice::from_ref(&kept)).await.unwrap();

    for _ in 0..2 {
        f.store.release_sent(chat.id, deleted, &[x.clone(), y.clone()]).await.unwrap();
    }
    assert!(f.store.attachments(chat.id, &[x.id, y.id]).await.unwrap().is_empty(), "their records are gone");
    assert_eq!(f.store.attachments(chat.id, &[kept.id]).await.unwrap().len(), 1);
    let files = f.store.chat_files(chat.id, None, None, 10).await.unwrap();
    assert_eq!(
        files.iter().map(|c| c.attachment.id).collect::<Vec<_>>(),
        vec![kept.id],
        "only the kept file is listed"
    );
    assert!(f.store.chat_files(chat.id, Some(AttachmentKind::File), None, 10).await.unwrap().len() == 1);
    let due = f.store.unsent_uploads(1, 100_000).await.unwrap();
    for u in [&x, &y] {
        let listed = due.iter().find(|d| d.attachment_id == u.id).expect("listed as due at once");
        assert_eq!((listed.chat_id, &listed.sha256, listed.created_at), (chat.id, &u.sha256, 0));
        f.store.expire_upload(listed).await.unwrap();
    }
    assert!(
        !f.store
            .unsent_uploads(1, 100_000)
            .await
            .unwrap()
            .iter()
            .any(|d| d.attachment_id == x.id || d.attachment_id == y.id)
    );
    assert!(f.store.condemn_blob(&y.sha256).await.unwrap(), "nothing holds a released file's blob");
    assert!(!f.store.condemn_blob(&shared).await.unwrap(), "the same bytes sent in another message stay");
    assert!(!f.store.claim_attachment(chat.id, x.id, "later").await.unwrap(), "no send takes a released file");
    f.store.forget_blob(&y.sha256).await.unwrap();
}
