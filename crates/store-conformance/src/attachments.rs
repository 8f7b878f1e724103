//! Attachments: upload records, claims by sends (once, on any node), messages that carry
//! them, and a chat's files newest first by kind.

use std::sync::Arc;

use domain::{Attachment, AttachmentKind, BlobKey, Id, Signal, SignalBody, Thumbnail};
use ports::{FilePosition, InsertSignalOutcome};

use crate::Fixture;

fn upload(f: &Fixture, chat: Id, uploader: Id, kind: AttachmentKind) -> Attachment {
    let (content_type, width, height) = match kind {
        AttachmentKind::Image => ("image/png", Some(640), Some(480)),
        AttachmentKind::Video => ("video/mp4", None, None),
        AttachmentKind::Audio => ("audio/ogg", None, None),
        AttachmentKind::File => ("application/pdf", None, None),
    };
    Attachment {
        id: f.id(),
        chat_id: chat,
        uploader_id: uploader,
        filename: f.unique("fïlé «1»") + ".bin",
        content_type: content_type.into(),
        size: 12_345_678_901,
        sha256: BlobKey::from_digest(&rand::random::<[u8; 32]>()),
        kind,
        width,
        height,
        created_at: 1_700_000_000_123,
    }
}

/// A message carrying `attachments`, stored.
async fn send(f: &Fixture, chat: Id, author: Id, attachments: Vec<Attachment>) -> Signal {
    let signal = Signal {
        id: f.id(),
        chat_id: chat,
        author_id: author,
        body: SignalBody::Msg { text: String::new(), reply_to: None, attachments, mentions: vec![], everyone: false },
        edited_at: None,
    };
    assert_eq!(f.store.insert_signal(&signal, None).await.unwrap(), InsertSignalOutcome::Inserted);
    signal
}

pub async fn uploads_are_kept_per_chat_until_claimed(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let other = f.group(&[a]).await;
    let image = upload(f, chat.id, a, AttachmentKind::Image);
    let file = upload(f, chat.id, a, AttachmentKind::File);
    for x in [&image, &file] {
        f.store.insert_attachment(x).await.unwrap();
    }
    f.store.insert_attachment(&image).await.unwrap(); // idempotent
    let mut got = f.store.attachments(chat.id, &[image.id, file.id, f.id()]).await.unwrap();
    got.sort_by_key(|s| s.attachment.id);
    assert_eq!(got.len(), 2, "the unknown id is left out");
    assert_eq!(got[0].attachment, image);
    assert_eq!(got[1].attachment, file);
    assert!(got.iter().all(|s| s.claimed_by.is_none() && s.signal_id.is_none()));
    assert!(f.store.attachments(other.id, &[image.id]).await.unwrap().is_empty(), "an upload belongs to its chat");
    assert!(f.store.attachments(chat.id, &[]).await.unwrap().is_empty());
}

pub async fn one_send_claims_an_attachment_and_its_retries_may_again(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let x = upload(f, chat.id, a, AttachmentKind::Image);
    f.store.insert_attachment(&x).await.unwrap();
    assert!(f.store.claim_attachment(chat.id, x.id, "nonce-1").await.unwrap());
    assert!(f.store.claim_attachment(chat.id, x.id, "nonce-1").await.unwrap(), "the same send again");
    assert!(!f.store.claim_attachment(chat.id, x.id, "nonce-2").await.unwrap(), "another send");
    let stored = f.store.attachments(chat.id, &[x.id]).await.unwrap().remove(0);
    assert_eq!(stored.claimed_by.as_deref(), Some("nonce-1"));

    // Many sends at once: exactly one wins.
    let y = upload(f, chat.id, a, AttachmentKind::File);
    f.store.insert_attachment(&y).await.unwrap();
    let store = f.store.clone();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_attachment(chat.id, y.id, &format!("racer-{i}")).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn a_message_keeps_its_attachments_in_order(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let files: Vec<Attachment> = [AttachmentKind::File, AttachmentKind::Image, AttachmentKind::Audio]
        .into_iter()
        .map(|k| upload(f, chat.id, a, k))
        .collect();
    let signal = send(f, chat.id, a, files.clone()).await;
    assert_eq!(f.store.signal(chat.id, signal.id).await.unwrap().as_ref(), Some(&signal));
    let page = f.store.signals(chat.id, ports::SignalRange::Latest, 5).await.unwrap();
    assert_eq!(page, vec![signal]);
    let SignalBody::Msg { attachments, .. } = &page[0].body else { panic!("a message") };
    assert_eq!(attachments, &files);
}

pub async fn a_chats_files_are_its_sent_ones_newest_first_by_kind(f: &Fixture) {
    let a = f.user().await.id;
    let chat = f.group(&[a]).await;
    let mut sent = vec![];
    for kinds in [[AttachmentKind::Image, AttachmentKind::File], [AttachmentKind::Video, AttachmentKind::Image]] {
        let files: Vec<Attachment> = kinds.into_iter().map(|k| upload(f, chat.id, a, k)).collect();
        for x in &files {
            f.store.insert_attachment(x).await.unwrap();
        }
        let signal = send(f, chat.id, a, files.clone()).await;
        f.store.record_sent(chat.id, signal.id, &files).await.unwrap();
        f.store.record_sent(chat.id, signal.id, &files).await.unwrap(); // idempotent
        sent.push((signal.id, files));
    }
    // Uploaded, never sent: not a file of the chat.
    let draft = upload(f, chat.id, a, AttachmentKind::Image);
    f.store.insert_attachment(&draft).await.unwrap();

    let ids = |files: &[ports::ChatFile]| files.iter().map(|x| x.attachment.id).collect::<Vec<_>>();
    let all = f.store.chat_files(chat.id, None, None, 10).await.unwrap();
    let (s0, f0) = &sent[0];
    let (s1, f1) = &sent[1];
    assert_eq!(ids(&all), [f1[1].id, f1[0].id, f0[1].id, f0[0].id]);
    assert_eq!(all.iter().map(|x| x.signal_id).collect::<Vec<_>>(), [*s1, *s1, *s0, *s0]);
    assert_eq!(all[3].attachment, f0[0]);

    let images = f.store.chat_files(chat.id, Some(AttachmentKind::Image), None, 10).await.unwrap();
    assert_eq!(ids(&images), [f1[1].id, f0[0].id]);
    assert!(f.store.chat_files(chat.id, Some(AttachmentKind::Audio), None, 10).await.unwrap().is_empty());

    // Paging: strictly older than the position, within a message too.
    let first = f.store.chat_files(chat.id, None, None, 1).await.unwrap();
    assert_eq!(ids(&first), [f1[1].id]);
    let after = |x: &ports::ChatFile| Some(FilePosition { signal_id: x.signal_id, attachment_id: x.attachment.id });
    let next = f.store.chat_files(chat.id, None, after(&first[0]), 2).await.unwrap();
    assert_eq!(ids(&next), [f1[0].id, f0[1].id]);
    let last = f.store.chat_files(chat.id, None, after(&next[1]), 2).await.unwrap();
    assert_eq!(ids(&last), [f0[0].id]);
    assert!(f.store.chat_files(chat.id, None, after(&last[0]), 2).await.unwrap().is_empty());
    assert!(f.store.chat_files(chat.id, None, None, 0).await.unwrap().is_empty());

    let stored = f.store.attachments(chat.id, &[f0[0].id, draft.id]).await.unwrap();
    let sent_to = |id: Id| stored.iter().find(|s| s.attachment.id == id).unwrap().signal_id;
    assert_eq!((sent_to(f0[0].id), sent_to(draft.id)), (Some(*s0), None));
}

pub async fn a_blobs_thumbnail_is_recorded_once_for_all(f: &Fixture) {
    let image = BlobKey::from_digest(&rand::random::<[u8; 32]>());
    assert_eq!(f.store.thumbnail(&image).await.unwrap(), None);
    let made = Thumbnail::Made {
        blob: BlobKey::from_digest(&rand::random::<[u8; 32]>()),
        width: 400,
        height: 225,
        size: 12_345,
    };
    f.store.set_thumbnail(&image, &made).await.unwrap();
    f.store.set_thumbnail(&image, &made).await.unwrap();
    assert_eq!(f.store.thumbnail(&image).await.unwrap(), Some(made));
    let bomb = BlobKey::from_digest(&rand::random::<[u8; 32]>());
    f.store.set_thumbnail(&bomb, &Thumbnail::Impossible).await.unwrap();
    assert_eq!(f.store.thumbnail(&bomb).await.unwrap(), Some(Thumbnail::Impossible));
}
