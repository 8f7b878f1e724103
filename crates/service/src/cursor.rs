//! Opaque cursors for paged lists and the timeline query. A cursor is base64url text the
//! client hands back unchanged; a cursor that does not decode is a 400, never a panic.
//!
//! Public only for the fuzz targets (`fuzz/fuzz_targets/cursors.rs`, which check that
//! every cursor made here parses back to what it was made of, and that any other text is an
//! `invalid_cursor` error); the rest of the workspace goes through the service's methods.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{ChatId, Error, ErrorCode, Id, Result, SignalId};
use ports::SignalRange;

fn encode(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn decode(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(invalid_cursor)
}

fn invalid_cursor() -> Error {
    Error::invalid(ErrorCode::InvalidCursor, "the cursor is not one this server gave")
}

fn parse_id(s: &str) -> Result<Id> {
    s.parse().map_err(|_| invalid_cursor())
}

pub fn inbox_cursor(activity: SignalId, chat: ChatId) -> String {
    encode(&format!("i:{activity}:{chat}"))
}

pub fn parse_inbox_cursor(cursor: &str) -> Result<(SignalId, ChatId)> {
    let text = decode(cursor)?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("i"), Some(a), Some(c), None) => Ok((parse_id(a)?, parse_id(c)?)),
        _ => Err(invalid_cursor()),
    }
}

pub fn id_cursor(id: Id) -> String {
    encode(&format!("u:{id}"))
}

pub fn parse_id_cursor(cursor: &str) -> Result<Id> {
    match decode(cursor)?.split_once(':') {
        Some(("u", id)) => parse_id(id),
        _ => Err(invalid_cursor()),
    }
}

/// A position in a list read by offset (search results).
pub fn offset_cursor(offset: usize) -> String {
    encode(&format!("o:{offset}"))
}

pub fn parse_offset_cursor(cursor: &str) -> Result<usize> {
    match decode(cursor)?.split_once(':') {
        Some(("o", n)) => n.parse().map_err(|_| invalid_cursor()),
        _ => Err(invalid_cursor()),
    }
}

pub fn file_cursor(p: ports::FilePosition) -> String {
    encode(&format!("f:{}:{}", p.signal_id, p.attachment_id))
}

pub fn parse_file_cursor(cursor: &str) -> Result<ports::FilePosition> {
    let text = decode(cursor)?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("f"), Some(s), Some(a), None) => {
            Ok(ports::FilePosition { signal_id: parse_id(s)?, attachment_id: parse_id(a)? })
        }
        _ => Err(invalid_cursor()),
    }
}

pub fn older_cursor(id: SignalId) -> String {
    encode(&format!("b:{id}"))
}

pub fn newer_cursor(id: SignalId) -> String {
    encode(&format!("a:{id}"))
}

/// Which part of a timeline a client asks for. At most one of the positions may be given.
#[derive(Debug, Clone, Default)]
pub struct SignalQuery {
    pub cursor: Option<String>,
    pub before: Option<SignalId>,
    pub after: Option<SignalId>,
    pub around: Option<SignalId>,
    pub limit: Option<usize>,
}

/// A resolved timeline position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Range(SignalRange),
    Around(SignalId),
}

impl SignalQuery {
    pub fn position(&self) -> Result<Position> {
        let given = [self.cursor.is_some(), self.before.is_some(), self.after.is_some(), self.around.is_some()]
            .iter()
            .filter(|g| **g)
            .count();
        if given > 1 {
            return Err(Error::invalid(
                ErrorCode::ConflictingPosition,
                "give at most one of cursor, before, after and around",
            ));
        }
        if let Some(cursor) = &self.cursor {
            let text = decode(cursor)?;
            return match text.split_once(':') {
                Some(("b", id)) => Ok(Position::Range(SignalRange::Before(parse_id(id)?))),
                Some(("a", id)) => Ok(Position::Range(SignalRange::After(parse_id(id)?))),
                _ => Err(invalid_cursor()),
            };
        }
        Ok(match (self.before, self.after, self.around) {
            (Some(id), _, _) => Position::Range(SignalRange::Before(id)),
            (_, Some(id), _) => Position::Range(SignalRange::After(id)),
            (_, _, Some(id)) => Position::Around(id),
            _ => Position::Range(SignalRange::Latest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_invalid() {
        let (a, c) = (Id(42), Id(7));
        assert_eq!(parse_inbox_cursor(&inbox_cursor(a, c)).unwrap(), (a, c));
        assert_eq!(parse_id_cursor(&id_cursor(a)).unwrap(), a);
        let file = ports::FilePosition { signal_id: a, attachment_id: c };
        assert_eq!(parse_file_cursor(&file_cursor(file)).unwrap(), file);
        let q = SignalQuery { cursor: Some(older_cursor(a)), ..Default::default() };
        assert_eq!(q.position().unwrap(), Position::Range(SignalRange::Before(a)));
        let q = SignalQuery { cursor: Some(newer_cursor(a)), ..Default::default() };
        assert_eq!(q.position().unwrap(), Position::Range(SignalRange::After(a)));
        for garbage in ["", "!!", "Zm9v", &encode("b:x"), &encode("i:1")] {
            let q = SignalQuery { cursor: Some(garbage.to_string()), ..Default::default() };
            assert_eq!(q.position().unwrap_err().code, "invalid_cursor", "{garbage}");
            assert!(parse_inbox_cursor(garbage).is_err());
            assert!(parse_file_cursor(garbage).is_err());
        }
        assert!(parse_file_cursor(&inbox_cursor(a, c)).is_err());
    }

    #[test]
    fn two_positions_conflict() {
        let q = SignalQuery { before: Some(Id(1)), after: Some(Id(2)), ..Default::default() };
        assert_eq!(q.position().unwrap_err().code, "conflicting_position");
    }
}
