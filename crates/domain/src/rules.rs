//! Validation rules that need no I/O: limits, usernames, texts, emoji, nonces.

use crate::ErrorCode;
use crate::error::{Error, Result};

/// Limits a deployment may tune. Defaults are safe for a public server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest message text, in characters (Unicode scalar values).
    pub max_text_chars: usize,
    /// Largest group, creator included.
    pub max_group_members: usize,
    /// Longest group title, in characters.
    pub max_title_chars: usize,
    /// Largest uploaded file, in bytes.
    pub max_upload_bytes: u64,
    /// Lifetime of a presigned download URL of the object store, in seconds.
    pub download_url_secs: u64,
    /// How long a call rings before it ends as missed, in milliseconds.
    pub call_ring_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_chars: 4000,
            max_group_members: 1000,
            max_title_chars: 200,
            max_upload_bytes: 25 * 1024 * 1024,
            download_url_secs: 300,
            call_ring_ms: crate::call::DEFAULT_RING_MS,
        }
    }
}

/// Usernames: 1..=64 characters of `a-z 0-9 . _ -` (they come from the identity provider's
/// `preferred_username`, which Keycloak lowercases).
pub fn validate_username(username: &str) -> Result<()> {
    let ok = !username.is_empty() && username.len() <= MAX_USERNAME_CHARS && username.bytes().all(username_byte);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            ErrorCode::InvalidUsername,
            "a username is 1 to 64 characters of a-z, 0-9, '.', '_', '-' and '@'",
        ))
    }
}

/// The longest username (its characters are ASCII: as many bytes).
pub const MAX_USERNAME_CHARS: usize = 64;

fn username_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@')
}

/// A username prefix as a person typed it, trimmed: 1 to [`MAX_USERNAME_CHARS`]
/// characters. It is compared as it is, like an exact username: usernames are lowercase,
/// so a prefix with capitals (or any character a username cannot hold) finds nobody.
pub fn username_prefix(prefix: &str) -> Result<&str> {
    let prefix = prefix.trim();
    let chars = prefix.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(Error::invalid(ErrorCode::InvalidUsernamePrefix, "a username prefix is 1 to 64 characters"));
    }
    Ok(prefix)
}

/// Whether some username can start with `prefix` (each character is one a username holds).
pub fn could_start_a_username(prefix: &str) -> bool {
    prefix.len() <= MAX_USERNAME_CHARS && prefix.bytes().all(username_byte)
}

/// The least string above every string that starts with `prefix`, in the order of their
/// bytes (UTF-8 keeps the order of code points): the prefix with its last character
/// replaced by the next one (dropping trailing `char::MAX`s first). `None` when there is
/// no such string (an empty prefix, or one of `char::MAX` only). So "starts with
/// `prefix`" is the range `prefix <= s < prefix_upper_bound(prefix)`, which an ordered
/// index answers without reading the prefix as a pattern (no wildcard in it means
/// anything but itself).
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value; the surrogates (U+D800..=U+DFFF) are not characters.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Longest display name, in characters once trimmed.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// A display name a person sets, trimmed: 1 to [`MAX_DISPLAY_NAME_CHARS`] characters.
pub fn display_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(Error::invalid(ErrorCode::InvalidDisplayName, "a display name is 1 to 100 characters"));
    }
    Ok(name)
}

/// A message text: not blank, at most `max` characters.
pub fn validate_text(text: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(ErrorCode::EmptyText, "a message needs some text"));
    }
    if text.chars().count() > max {
        return Err(Error::invalid(ErrorCode::TextTooLong, format!("a message is at most {max} characters")));
    }
    Ok(())
}

/// A group title: not blank, at most `max` characters.
pub fn validate_title(title: &str, max: usize) -> Result<()> {
    if title.trim().is_empty() {
        return Err(Error::invalid(ErrorCode::EmptyTitle, "a group needs a title"));
    }
    if title.chars().count() > max {
        return Err(Error::invalid(ErrorCode::TitleTooLong, format!("a title is at most {max} characters")));
    }
    Ok(())
}

/// A client nonce: 1..=64 visible ASCII characters.
pub fn validate_nonce(nonce: &str) -> Result<()> {
    if nonce.is_empty() || nonce.len() > 64 || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(ErrorCode::InvalidNonce, "a nonce is 1 to 64 visible ASCII characters"));
    }
    Ok(())
}

/// The most characters (Unicode scalar values) of a reaction: enough for every emoji
/// sequence of 8 code points (a family, a flag of a subdivision, a couple with a heart and
/// skin tones), and, at 4 bytes a character at most, never more than 32 bytes.
pub const MAX_EMOJI_CHARS: usize = 8;

/// A reaction: one emoji (possibly a sequence with modifiers and joiners), 1 to
/// [`MAX_EMOJI_CHARS`] characters, none of them ASCII, a control character or white space.
/// (A rule in characters only, so the OpenAPI document states it exactly.)
pub fn validate_emoji(emoji: &str) -> Result<()> {
    let chars = emoji.chars().count();
    let ok = (1..=MAX_EMOJI_CHARS).contains(&chars)
        && emoji.chars().all(|c| !c.is_ascii() && !c.is_control() && !c.is_whitespace());
    debug_assert!(!ok || emoji.len() <= 4 * MAX_EMOJI_CHARS);
    if ok { Ok(()) } else { Err(Error::invalid(ErrorCode::InvalidEmoji, "a reaction is a single emoji")) }
}

/// Longest label of a shared location, in characters.
pub const MAX_LOCATION_LABEL_CHARS: usize = 200;
/// Longest a location stays live, in milliseconds (8 hours).
pub const MAX_LIVE_LOCATION_MS: i64 = 8 * 3600 * 1000;
/// Largest accuracy radius taken, in metres (beyond it a point says nothing).
pub const MAX_LOCATION_ACCURACY_M: f64 = 1_000_000.0;

/// A shared point: finite latitude in [-90, 90], longitude in [-180, 180], accuracy (if
/// any) finite in [0, 1,000 km], label (if any) one line of at most 200 characters; a
/// blank label becomes none.
pub fn validate_location(mut location: crate::Location) -> Result<crate::Location> {
    let bad = |detail: &'static str| Err(Error::invalid(ErrorCode::InvalidLocation, detail));
    if !(location.lat.is_finite() && (-90.0..=90.0).contains(&location.lat)) {
        return bad("lat is a number of degrees from -90 to 90");
    }
    if !(location.lon.is_finite() && (-180.0..=180.0).contains(&location.lon)) {
        return bad("lon is a number of degrees from -180 to 180");
    }
    if let Some(a) = location.accuracy_m
        && !(a.is_finite() && (0.0..=MAX_LOCATION_ACCURACY_M).contains(&a))
    {
        return bad("accuracy_m is a number of metres from 0 to 1,000,000");
    }
    location.label = location.label.filter(|l| !l.trim().is_empty());
    if let Some(label) = &location.label
        && (label.chars().count() > MAX_LOCATION_LABEL_CHARS || label.chars().any(char::is_control))
    {
        return bad("a label is one line of at most 200 characters");
    }
    // -0.0 and 0.0 are one point.
    location.lat += 0.0;
    location.lon += 0.0;
    Ok(location)
}

/// The end of a live location starting at `now_ms`: in the future, at most 8 hours away.
pub fn validate_live_until(live_until: i64, now_ms: i64) -> Result<i64> {
    if live_until <= now_ms || live_until > now_ms + MAX_LIVE_LOCATION_MS {
        return Err(Error::invalid(ErrorCode::InvalidLocation, "live_until is a time in the next 8 hours"));
    }
    Ok(live_until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let at = |lat, lon| crate::Location { lat, lon, accuracy_m: None, label: None };
        for good in [at(0.0, 0.0), at(90.0, 180.0), at(-90.0, -180.0), at(48.8566, 2.3522)] {
            assert!(validate_location(good).is_ok());
        }
        for bad in [at(90.1, 0.0), at(0.0, -180.5), at(f64::NAN, 0.0), at(0.0, f64::INFINITY)] {
            assert_eq!(validate_location(bad).unwrap_err().code, "invalid_location");
        }
        let label = |l: &str| crate::Location { label: Some(l.into()), ..at(1.0, 1.0) };
        assert!(validate_location(label(&"é".repeat(200))).is_ok());
        assert_eq!(validate_location(label(&"é".repeat(201))).unwrap_err().code, "invalid_location");
        assert_eq!(validate_location(label("a\nb")).unwrap_err().code, "invalid_location");
        assert_eq!(validate_location(label("  ")).unwrap().label, None);
        let accuracy = |a| crate::Location { accuracy_m: Some(a), ..at(1.0, 1.0) };
        assert!(validate_location(accuracy(5.0)).is_ok());
        assert_eq!(validate_location(accuracy(-1.0)).unwrap_err().code, "invalid_location");
        assert_eq!(validate_location(accuracy(f64::NAN)).unwrap_err().code, "invalid_location");
        assert!(validate_live_until(1_001, 1_000).is_ok());
        assert!(validate_live_until(1_000 + MAX_LIVE_LOCATION_MS, 1_000).is_ok());
        assert!(validate_live_until(1_000, 1_000).is_err());
        assert!(validate_live_until(1_001 + MAX_LIVE_LOCATION_MS, 1_000).is_err());
    }

    #[test]
    fn username_prefixes() {
        assert_eq!(username_prefix("  al ").unwrap(), "al");
        assert_eq!(username_prefix(&"é".repeat(64)).unwrap(), "é".repeat(64));
        for bad in ["", "   ", &"a".repeat(65)] {
            assert_eq!(username_prefix(bad).unwrap_err().code, "invalid_username_prefix", "{bad:?}");
        }
        for (prefix, could) in [("al", true), ("a_b.c-d@e", true), ("Al", false), ("al%", false), ("*", false)] {
            assert_eq!(could_start_a_username(prefix), could, "{prefix}");
        }
    }

    #[test]
    fn prefix_upper_bounds() {
        let max = char::MAX.to_string();
        let a_max_max = format!("a{max}{max}");
        let cases = [
            ("al", Some("am")),
            ("az", Some("a{")),
            ("a%", Some("a&")),
            ("a\u{7f}", Some("a\u{80}")),
            ("a\u{d7ff}", Some("a\u{e000}")),
            (&a_max_max, Some("b")),
            (&max, None),
            ("", None),
        ];
        for (prefix, bound) in cases {
            assert_eq!(prefix_upper_bound(prefix).as_deref(), bound, "{prefix:?}");
            if let Some(bound) = bound {
                assert!(prefix.as_bytes() < bound.as_bytes());
                assert!(format!("{prefix}{max}{max}").as_bytes() < bound.as_bytes(), "{prefix:?}");
            }
        }
    }

    #[test]
    fn usernames() {
        for good in ["alice", "bob.smith", "x", "a_b-c", "me@example.org"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "with space", "é", &"a".repeat(65)] {
            assert_eq!(validate_username(bad).unwrap_err().code, "invalid_username", "{bad}");
        }
    }

    #[test]
    fn texts_count_characters_not_bytes() {
        assert!(validate_text(&"é".repeat(10), 10).is_ok());
        assert_eq!(validate_text(&"é".repeat(11), 10).unwrap_err().code, "text_too_long");
        assert_eq!(validate_text("  \n", 10).unwrap_err().code, "empty_text");
    }

    #[test]
    fn emoji() {
        // A family (7 characters), a couple with a heart and skin tones (8), England's flag (7).
        for good in [
            "👍",
            "❤️",
            "👩🏽‍💻",
            "🇫🇷",
            "👨‍👩‍👧‍👦",
            "👩🏻‍❤️‍👨🏼",
            "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}",
            &"👍".repeat(8),
        ] {
            assert!(validate_emoji(good).is_ok(), "{good}");
        }
        for bad in ["", "a", ":)", "👍 ", "👍\n", "\u{85}", "\u{a0}", &"👍".repeat(9), &"é".repeat(9)] {
            assert_eq!(validate_emoji(bad).unwrap_err().code, "invalid_emoji", "{bad:?}");
        }
    }

    #[test]
    fn nonces() {
        assert!(validate_nonce("3f2a-11").is_ok());
        for bad in ["", "with space", &"n".repeat(65), "é"] {
            assert_eq!(validate_nonce(bad).unwrap_err().code, "invalid_nonce");
        }
    }
}
