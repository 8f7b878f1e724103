//! Ids and the other values the domain parses from text a client sends: `domain::Id` (path
//! segments, JSON strings) and the `parse(s) -> Option<Self>` of the domain's enums and of
//! `BlobKey`.
//!
//! Asserts: an id parses exactly when it is 1 to 19 ASCII digits worth at most `i64::MAX`
//! (what the stores keep), its `Display` parses back to it (the same text but for leading
//! zeros), and its time bucket brackets it; any 8 bytes as an id print to text that parses
//! back exactly when the id is storable. Each enum's `parse` accepts exactly the texts of
//! its `as_str` and gives back the variant of that text; a `BlobKey` is exactly 64
//! lowercase hex digits and shows as what it was parsed from.

#![no_main]

use domain::{
    AttachmentKind, Availability, BlobKey, CallMedia, CallState, ChatKind, Id, NotifyLevel, Role, SignalKind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(bytes) = data.first_chunk::<8>() {
        check_id_from_number(u64::from_le_bytes(*bytes));
    }
    if let Some(digest) = data.first_chunk::<32>() {
        check_blob_key_from_digest(digest);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_id_text(text);
    check_enums(text);
    check_blob_key_text(text);
});

/// What `Id::from_str` promises ("a decimal string of at most 19 digits"), storable.
fn is_id_text(text: &str) -> bool {
    (1..=19).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u128>().is_ok_and(|v| v <= i64::MAX as u128)
}

fn check_id_text(text: &str) {
    match text.parse::<Id>() {
        Ok(id) => {
            assert!(is_id_text(text), "{text:?} parsed as {id:?}");
            let shown = id.to_string();
            let canonical = match text.trim_start_matches('0') {
                "" => "0",
                digits => digits,
            };
            assert_eq!(shown, canonical, "{text:?}");
            assert_eq!(shown.parse::<Id>().ok(), Some(id));
            assert!(id.as_i64() >= 0);
            assert_eq!(Id::from_i64(id.as_i64()), id);
            check_bucket(id);
        }
        Err(_) => assert!(!is_id_text(text), "{text:?} refused"),
    }
}

fn check_id_from_number(v: u64) {
    let id = Id(v);
    let back = id.to_string().parse::<Id>().ok();
    if v <= i64::MAX as u64 {
        assert_eq!(back, Some(id));
        check_bucket(id);
    } else {
        assert_eq!(back, None, "{v} is not storable as a signed 64-bit integer");
    }
}

/// An id is in its bucket: at or after the bucket's first id, before the next bucket's.
fn check_bucket(id: Id) {
    let bucket = id.bucket();
    assert!(bucket >= 0);
    assert!(Id::first_of_bucket(bucket) <= id, "{id:?} before its bucket {bucket}");
    assert!(id < Id::first_of_bucket(bucket + 1), "{id:?} after its bucket {bucket}");
    assert!(id.unix_ms() >= domain::id::EPOCH_MS);
}

/// `parse` of each enum against its variants' `as_str`.
macro_rules! check_enum {
    ($text:expr, $ty:ty, $all:expr) => {{
        let all: &[$ty] = &$all;
        for v in all {
            assert_eq!(<$ty>::parse(v.as_str()), Some(*v));
        }
        match <$ty>::parse($text) {
            Some(v) => assert_eq!(v.as_str(), $text),
            None => assert!(all.iter().all(|v| v.as_str() != $text), "{:?} refused", $text),
        }
    }};
}

fn check_enums(text: &str) {
    check_enum!(text, ChatKind, [ChatKind::Direct, ChatKind::Group]);
    check_enum!(text, Role, [Role::Member, Role::Admin, Role::Owner]);
    check_enum!(
        text,
        SignalKind,
        [SignalKind::Msg, SignalKind::Joined, SignalKind::Left, SignalKind::Location, SignalKind::Call]
    );
    check_enum!(
        text,
        Availability,
        [Availability::Online, Availability::Away, Availability::Dnd, Availability::Invisible]
    );
    check_enum!(text, CallMedia, [CallMedia::Audio, CallMedia::Video]);
    check_enum!(text, CallState, [CallState::Ringing, CallState::Ongoing, CallState::Ended]);
    check_enum!(text, AttachmentKind, AttachmentKind::ALL);
    check_enum!(text, NotifyLevel, NotifyLevel::ALL);
}

fn check_blob_key_text(text: &str) {
    let is_key = text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match BlobKey::parse(text) {
        Some(key) => {
            assert!(is_key, "{text:?} parsed as a blob key");
            assert_eq!(key.as_str(), text);
            assert_eq!(key.to_string(), text);
            assert_eq!(BlobKey::try_from(text.to_string()).ok(), Some(key));
        }
        None => {
            assert!(!is_key, "{text:?} refused");
            assert!(BlobKey::try_from(text.to_string()).is_err());
        }
    }
}

fn check_blob_key_from_digest(digest: &[u8; 32]) {
    let key = BlobKey::from_digest(digest);
    assert_eq!(BlobKey::parse(key.as_str()).as_ref(), Some(&key));
    let decoded: Vec<u8> = key
        .as_str()
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok()))
        .collect::<Option<_>>()
        .unwrap_or_default();
    assert_eq!(decoded, digest, "{key}");
}
