//! Attachments: uploads (streamed to the blob storage while hashed, the content type
//! sniffed from the bytes), the claims a send makes on them, "all files of a chat" and
//! downloads.

use std::time::Duration;

use bytes::Bytes;
use domain::{
    Attachment, AttachmentId, AttachmentKind, BlobKey, ChatId, Error, ErrorCode, Page, Result, Thumbnail, User,
    clean_filename,
};
use futures::{Stream, StreamExt};
use ports::{BlobBytes, ChatFile, DownloadHeaders, FilePosition};
use sha2::{Digest, Sha256};

use crate::{ChatService, cursor, page_limit};

/// The bytes kept from the start of an upload to sniff its type and read an image's size
/// from its header (a JPEG's can come after a large EXIF block).
const SNIFF_BYTES: usize = 256 * 1024;

/// How often, and how far apart, an upload tries to hold a blob the collector is deleting.
const HOLD_ATTEMPTS: u32 = 50;
const HOLD_RETRY: Duration = Duration::from_millis(200);

/// Default and largest page of a chat's files.
pub const DEFAULT_FILE_PAGE: usize = 50;
pub const MAX_FILE_PAGE: usize = 100;

/// Content types shown in the page (`Content-Disposition: inline`); every other type is
/// downloaded as a file, so no upload can run as a page of this origin (no HTML, no SVG).
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/x-wav",
    "audio/webm",
    "audio/flac",
    "audio/x-flac",
    "audio/aac",
    "audio/mp4",
    "audio/m4a",
    "audio/x-m4a",
];

/// A blob as a download serves it.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub key: BlobKey,
    pub size: u64,
    pub content_type: String,
    pub disposition: String,
}

/// How a member gets a file's bytes (an attachment, or its thumbnail).
pub enum Download {
    /// From the object store directly: a presigned URL that expires.
    Redirect(String),
    /// Through this server.
    Bytes(BlobFile),
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Download::Redirect(_) => f.write_str("Download::Redirect"),
            Download::Bytes(file) => write!(f, "Download::Bytes({})", file.key),
        }
    }
}

/// The type of a file from its first bytes: what `infer` recognises, else UTF-8 text,
/// else `application/octet-stream`.
pub fn sniff_content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut by the end of the sniffed bytes.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if !head.is_empty() && text && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// `Content-Disposition` of a download: inline for the [`INLINE_TYPES`], attachment
/// otherwise, with the filename as RFC 6266 says (an ASCII fallback and `filename*`).
pub fn content_disposition(content_type: &str, filename: &str) -> String {
    let disposition = if INLINE_TYPES.contains(&content_type) { "inline" } else { "attachment" };
    let fallback: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' { c } else { '_' })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(filename, RFC5987).to_string();
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Characters `filename*` (RFC 8187 `attr-char`) keeps as they are.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn unavailable_attachment() -> Error {
    Error::invalid(
        ErrorCode::AttachmentUnavailable,
        "an attachment is not one you uploaded to this chat, or it was sent already",
    )
}

impl ChatService {
    /// Stores an upload to a chat by a member: the bytes stream to the blob storage while
    /// they are hashed (memory stays flat whatever the size); more than the upload limit
    /// is refused (413) and leaves nothing. The same bytes uploaded again by anyone add a
    /// record, not a blob.
    pub async fn upload(
        &self,
        actor: &User,
        chat_id: ChatId,
        filename: &str,
        mut body: impl Stream<Item = Result<Bytes>> + Unpin + Send,
    ) -> Result<Attachment> {
        self.membership(actor, chat_id).await?;
        let max = self.limits.max_upload_bytes;
        let mut staged = self.blobs.stage().await?;
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    staged.abort().await;
                    return Err(e);
                }
            };
            size += chunk.len() as u64;
            if size > max {
                staged.abort().await;
                return Err(Error::new(
                    domain::ErrorKind::PayloadTooLarge,
                    ErrorCode::PayloadTooLarge,
                    format!("a file is at most {max} bytes"),
                ));
            }
            hasher.update(&chunk);
            if head.len() < SNIFF_BYTES {
                head.extend_from_slice(&chunk[..chunk.len().min(SNIFF_BYTES - head.len())]);
            }
            if let Err(e) = staged.write(chunk).await {
                staged.abort().await;
                return Err(e);
            }
        }
        let sha256 = BlobKey::from_digest(&hasher.finalize().into());
        let content_type = sniff_content_type(&head);
        let kind = AttachmentKind::of_content_type(&content_type);
        let dimensions = (kind == AttachmentKind::Image).then(|| imagesize::blob_size(&head).ok()).flatten();
        let attachment = Attachment {
            id: self.ids.next_id(),
            chat_id,
            uploader_id: actor.id,
            filename: clean_filename(filename),
            content_type,
            size,
            sha256,
            kind,
            width: dimensions.and_then(|d| u32::try_from(d.width).ok()),
            height: dimensions.and_then(|d| u32::try_from(d.height).ok()),
            created_at: domain::id::now_ms() as i64,
        };
        // The hold comes before the bytes: the collector then leaves the blob alone (or, if
        // it is deleting those very bytes now, the commit below stores them again once it
        // is done). An upload whose record never comes expires with its hold.
        if let Err(e) = self.hold_upload(&attachment).await {
            staged.abort().await;
            return Err(e);
        }
        staged.commit(&attachment.sha256).await?;
        self.store.insert_attachment(&attachment).await?;
        Ok(attachment)
    }

    /// Holds the blob of `attachment` for it, waiting while the collector deletes the same
    /// bytes (it takes a moment), then 503.
    async fn hold_upload(&self, attachment: &Attachment) -> Result<()> {
        let upload = ports::UnsentUpload::from(attachment);
        for _ in 0..HOLD_ATTEMPTS {
            if self.store.hold_upload(&upload).await? {
                return Ok(());
            }
            tokio::time::sleep(HOLD_RETRY).await;
        }
        Err(Error::unavailable("the same bytes are being deleted right now: try again"))
    }

    /// Takes the attachments `ids` for the send of `nonce` by `actor`: each must be an
    /// upload of the actor to this chat not taken by another send (a retry of the same
    /// send takes them again). In the order given.
    pub(crate) async fn claim_attachments(
        &self,
        actor: &User,
        chat_id: ChatId,
        ids: &[AttachmentId],
        nonce: &str,
    ) -> Result<Vec<Attachment>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut stored = self.store.attachments(chat_id, ids).await?;
        let mut files = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(i) = stored.iter().position(|s| s.attachment.id == *id) else {
                return Err(unavailable_attachment());
            };
            let s = stored.swap_remove(i);
            if s.attachment.uploader_id != actor.id || s.claimed_by.as_deref().is_some_and(|c| c != nonce) {
                return Err(unavailable_attachment());
            }
            files.push(s.attachment);
        }
        let claims =
            futures::future::try_join_all(ids.iter().map(|id| self.store.claim_attachment(chat_id, *id, nonce)))
                .await?;
        if claims.iter().all(|c| *c) { Ok(files) } else { Err(unavailable_attachment()) }
    }

    /// A page of the chat's sent files, newest first, of one kind or all.
    pub async fn files(
        &self,
        actor: &User,
        chat_id: ChatId,
        kind: Option<AttachmentKind>,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Page<ChatFile>> {
        let before = cursor.map(cursor::parse_file_cursor).transpose()?;
        let limit = page_limit(limit, DEFAULT_FILE_PAGE, MAX_FILE_PAGE);
        self.membership(actor, chat_id).await?;
        let mut items = self.store.chat_files(chat_id, kind, before, limit + 1).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items
                .last()
                .map(|f| cursor::file_cursor(FilePosition { signal_id: f.signal_id, attachment_id: f.attachment.id }))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// An attachment a member may see: one sent in the chat, or their own upload not
    /// sent yet. Anything else is 404, as for a chat they are not in.
    pub async fn attachment(&self, actor: &User, chat_id: ChatId, id: AttachmentId) -> Result<Attachment> {
        self.membership(actor, chat_id).await?;
        let stored = self.store.attachments(chat_id, &[id]).await?.into_iter().next();
        match stored {
            Some(s) if s.signal_id.is_some() || s.attachment.uploader_id == actor.id => Ok(s.attachment),
            _ => Err(Error::not_found(ErrorCode::AttachmentNotFound, "no such attachment in this chat")),
        }
    }

    /// How the actor downloads an attachment: a short-lived URL of the object store when it
    /// has them, else through this server.
    pub async fn download(&self, actor: &User, chat_id: ChatId, id: AttachmentId) -> Result<Download> {
        let a = self.attachment(actor, chat_id, id).await?;
        let disposition = content_disposition(&a.content_type, &a.filename);
        self.serve(BlobFile { key: a.sha256, size: a.size, content_type: a.content_type, disposition }).await
    }

    /// How the actor downloads an image attachment's thumbnail (a JPEG, inline), once the
    /// `thumbnails` workers made it; 404 before that, or for what is not an image.
    pub async fn thumbnail(&self, actor: &User, chat_id: ChatId, id: AttachmentId) -> Result<Download> {
        let a = self.attachment(actor, chat_id, id).await?;
        let (key, size) = match (a.kind, self.store.thumbnail(&a.sha256).await?) {
            (AttachmentKind::Image, Some(Thumbnail::Made { blob, size, .. })) => (blob, size),
            _ => {
                return Err(Error::not_found(
                    ErrorCode::ThumbnailNotFound,
                    "no thumbnail: not an image, not one that can be decoded, or not made yet",
                ));
            }
        };
        let stem = a.filename.rsplit_once('.').map_or(a.filename.as_str(), |(stem, _)| stem);
        let content_type = "image/jpeg".to_string();
        let disposition = content_disposition(&content_type, &format!("{stem}.jpg"));
        self.serve(BlobFile { key, size, content_type, disposition }).await
    }

    /// A presigned URL of `file` when the blob storage has them, else the file itself.
    async fn serve(&self, file: BlobFile) -> Result<Download> {
        let headers =
            DownloadHeaders { content_type: file.content_type.clone(), content_disposition: file.disposition.clone() };
        let expires = Duration::from_secs(self.limits.download_url_secs);
        Ok(match self.blobs.download_url(&file.key, expires, &headers).await? {
            Some(url) => Download::Redirect(url),
            None => Download::Bytes(file),
        })
    }

    /// The bytes of a file a [`Download::Bytes`] names, all or a range.
    pub async fn file_bytes(&self, file: &BlobFile, range: Option<std::ops::Range<u64>>) -> Result<BlobBytes> {
        self.blobs.read(&file.key, range).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_come_from_the_bytes() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
        assert_eq!(sniff_content_type(png), "image/png");
        assert_eq!(sniff_content_type(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff_content_type("héllo".as_bytes()), "text/plain; charset=utf-8");
        // Cut in the middle of a character, still text.
        assert_eq!(sniff_content_type(&"é".as_bytes()[..1]), "text/plain; charset=utf-8");
        assert_eq!(sniff_content_type(&[0, 159, 146, 150]), "application/octet-stream");
        assert_eq!(sniff_content_type(b""), "application/octet-stream");
    }

    #[test]
    fn only_media_is_inline_and_filenames_are_encoded() {
        assert_eq!(
            content_disposition("image/png", "été 2026.png"),
            "inline; filename=\"_t_ 2026.png\"; filename*=UTF-8''%C3%A9t%C3%A9%202026.png"
        );
        assert!(content_disposition("text/html", "a.html").starts_with("attachment;"));
        assert!(content_disposition("image/svg+xml", "a.svg").starts_with("attachment;"));
        assert_eq!(
            content_disposition("application/pdf", "a\"b%.pdf"),
            "attachment; filename=\"a_b_.pdf\"; filename*=UTF-8''a%22b%25.pdf"
        );
    }
}
