//! Attachments: files uploaded to a chat, stored once per content (the SHA-256 of their
//! bytes names the stored object), sent with a message.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};
use crate::id::{ChatId, Id, UserId};

/// An attachment's id (an [`Id`] like every other).
pub type AttachmentId = Id;

/// Longest kept filename, in bytes (what most file systems allow).
pub const MAX_FILENAME_BYTES: usize = 255;

/// What a file is, from its sniffed content type: how clients show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Video,
    Audio,
    File,
}

impl AttachmentKind {
    pub const ALL: [AttachmentKind; 4] =
        [AttachmentKind::Image, AttachmentKind::Video, AttachmentKind::Audio, AttachmentKind::File];

    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Video => "video",
            AttachmentKind::Audio => "audio",
            AttachmentKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of a (sniffed) content type.
    pub fn of_content_type(content_type: &str) -> Self {
        match content_type.split('/').next() {
            Some("image") => AttachmentKind::Image,
            Some("video") => AttachmentKind::Video,
            Some("audio") => AttachmentKind::Audio,
            _ => AttachmentKind::File,
        }
    }
}

/// The SHA-256 of a blob's bytes, as 64 lowercase hex digits: the blob's name in storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of a digest.
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        use std::fmt::Write;
        let mut hex = String::with_capacity(64);
        for b in digest {
            let _ = write!(hex, "{b:02x}");
        }
        Self(hex)
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobKey {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("not a SHA-256 in hex: {s:?}"))
    }
}

impl From<BlobKey> for String {
    fn from(k: BlobKey) -> String {
        k.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file uploaded to a chat. What a message carries and what clients show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub chat_id: ChatId,
    pub uploader_id: UserId,
    /// The name the uploader gave it (sanitized: see [`clean_filename`]).
    pub filename: String,
    /// Sniffed from the bytes, never taken from the client.
    pub content_type: String,
    pub size: u64,
    /// The SHA-256 of the bytes, which names the stored blob.
    pub sha256: BlobKey,
    pub kind: AttachmentKind,
    /// Of the original, for images whose header gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// An attachment as the store keeps it: with the send that took it, if one did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    pub attachment: Attachment,
    /// The nonce of the send that claimed it: an attachment goes in one message only, and a
    /// retry of that send (same nonce) may claim it again.
    pub claimed_by: Option<String>,
    /// The message it was sent in, once that message is stored.
    pub signal_id: Option<crate::SignalId>,
}

/// The thumbnail of an image blob, made once per blob (whoever uploaded it, wherever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thumbnail {
    /// A small JPEG of it, itself a blob; its size in pixels and bytes.
    Made { blob: BlobKey, width: u32, height: u32, size: u64 },
    /// The image cannot be decoded, or is refused (a decompression bomb, huge dimensions).
    Impossible,
}

/// A filename as kept: the last path component, without control characters nor invisible
/// format characters (bidirectional overrides, zero-width characters: `invoice\u{202E}gpj.exe`
/// would show as `invoiceexe.jpg`), at most [`MAX_FILENAME_BYTES`] (cut on a character
/// boundary, keeping the extension when it is short), trimmed after the cut as before it, so
/// that cleaning a kept name changes nothing; `file` when nothing is left.
pub fn clean_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control() && !is_invisible_format(*c)).collect();
    let cleaned = kept_or_file(cleaned.trim());
    if cleaned.len() <= MAX_FILENAME_BYTES {
        return cleaned.to_string();
    }
    let ext = cleaned.rfind('.').map(|i| &cleaned[i..]).filter(|e| e.len() <= 16).unwrap_or("");
    let mut stem_end = MAX_FILENAME_BYTES - ext.len();
    while !cleaned.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    let stem = cleaned[..stem_end].trim_end();
    kept_or_file(format!("{stem}{ext}").trim()).to_string()
}

fn kept_or_file(name: &str) -> &str {
    if name.is_empty() || name == "." || name == ".." { "file" } else { name }
}

/// Unicode format characters (category Cf) that change how a name reads without showing:
/// the bidirectional controls, zero-width characters, the soft hyphen and the byte order
/// mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// At most this many attachments in one message.
pub const MAX_ATTACHMENTS_PER_MESSAGE: usize = 10;

/// The attachment ids of a send: at most [`MAX_ATTACHMENTS_PER_MESSAGE`], no repeats.
pub fn validate_attachment_ids(ids: &[AttachmentId]) -> Result<()> {
    if ids.len() > MAX_ATTACHMENTS_PER_MESSAGE {
        return Err(Error::invalid(
            ErrorCode::TooManyAttachments,
            format!("a message carries at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if !ids.iter().all(|id| seen.insert(*id)) {
        return Err(Error::invalid(ErrorCode::AttachmentUnavailable, "an attachment is named twice"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_control_characters() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\me\\photo.jpg"), "photo.jpg");
        assert_eq!(clean_filename("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_filename(""), "file");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(clean_filename("  été.pdf "), "été.pdf");
        let long = format!("{}.jpeg", "é".repeat(200));
        let cut = clean_filename(&long);
        assert!(cut.len() <= MAX_FILENAME_BYTES && cut.ends_with(".jpeg"), "{cut}");
    }

    #[test]
    fn filenames_lose_invisible_format_characters_and_keep_no_trailing_space_when_cut() {
        assert_eq!(clean_filename("invoice\u{202E}gpj.exe"), "invoicegpj.exe");
        assert_eq!(clean_filename("\u{FEFF}a\u{200B}b.txt\u{2066}"), "ab.txt");
        assert_eq!(clean_filename("\u{200B}"), "file");
        let spaced = format!("a{}b", " ".repeat(300));
        assert_eq!(clean_filename(&spaced), "a");
        for name in [spaced, format!("{}.jpeg", "é".repeat(200)), "x.".repeat(200)] {
            let kept = clean_filename(&name);
            assert_eq!(clean_filename(&kept), kept, "cleaning a kept name changes nothing");
        }
    }

    #[test]
    fn kinds_follow_the_content_type() {
        assert_eq!(AttachmentKind::of_content_type("image/png"), AttachmentKind::Image);
        assert_eq!(AttachmentKind::of_content_type("video/mp4"), AttachmentKind::Video);
        assert_eq!(AttachmentKind::of_content_type("audio/ogg"), AttachmentKind::Audio);
        assert_eq!(AttachmentKind::of_content_type("application/pdf"), AttachmentKind::File);
        for k in AttachmentKind::ALL {
            assert_eq!(AttachmentKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn blob_keys_are_lowercase_sha256_hex() {
        let key = BlobKey::from_digest(&[0xab; 32]);
        assert_eq!(key.as_str(), "ab".repeat(32));
        assert_eq!(BlobKey::parse(key.as_str()), Some(key));
        assert_eq!(BlobKey::parse(&"AB".repeat(32)), None);
        assert_eq!(BlobKey::parse("abc"), None);
        assert_eq!(BlobKey::parse(&format!("{}/x", "a".repeat(62))), None);
    }

    #[test]
    fn a_send_names_each_attachment_once_and_at_most_ten() {
        assert!(validate_attachment_ids(&[Id(1), Id(2)]).is_ok());
        assert_eq!(validate_attachment_ids(&[Id(1), Id(1)]).unwrap_err().code, ErrorCode::AttachmentUnavailable);
        let many: Vec<_> = (0..11).map(Id).collect();
        assert_eq!(validate_attachment_ids(&many).unwrap_err().code, ErrorCode::TooManyAttachments);
    }
}
