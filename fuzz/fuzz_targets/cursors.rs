//! The opaque cursors of paged lists and of the timeline (`service::cursor`): what a client
//! hands back in `?cursor=`.
//!
//! Asserts: any text given to a cursor parser is a value or an `invalid_cursor` error, and a
//! value parsed from it makes a cursor that parses back to that value; one text is a cursor
//! of one kind at most. Every cursor made from storable ids (at most `i64::MAX`) and any
//! offset is base64url text (no padding) that parses back to what it was made of, and is
//! refused by the parsers of the other kinds.

#![no_main]

mod input;

use domain::{ErrorCode, Id, Result};
use libfuzzer_sys::fuzz_target;
use ports::{FilePosition, SignalRange};
use service::SignalQuery;
use service::cursor::{
    Position, file_cursor, id_cursor, inbox_cursor, newer_cursor, offset_cursor, older_cursor, parse_file_cursor,
    parse_id_cursor, parse_inbox_cursor, parse_offset_cursor,
};

fuzz_target!(|data: &[u8]| {
    let number = |at: usize| input::u64_at(data, at);
    check_made(number(0), number(8));
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
});

/// The timeline's position for a `?cursor=`.
fn position(cursor: &str) -> Result<Position> {
    SignalQuery { cursor: Some(cursor.to_string()), ..Default::default() }.position()
}

fn invalid<T: std::fmt::Debug>(parsed: Result<T>, cursor: &str) {
    match parsed {
        Ok(value) => panic!("{cursor:?} is not a cursor of this kind, parsed as {value:?}"),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor, "{cursor:?}: {e:?}"),
    }
}

/// A cursor the server made: base64url, parses back as its kind only.
fn check_cursor<T: PartialEq + std::fmt::Debug>(cursor: &str, parse: fn(&str) -> Result<T>, value: T) {
    assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor:?}");
    assert_eq!(parse(cursor).ok(), Some(value), "{cursor:?}");
    let accepted = accepted_by(cursor);
    assert_eq!(accepted, 1, "{cursor:?} is a cursor of {accepted} kinds");
}

/// How many kinds of cursor take `cursor`.
fn accepted_by(cursor: &str) -> usize {
    [
        parse_inbox_cursor(cursor).is_ok(),
        parse_id_cursor(cursor).is_ok(),
        parse_offset_cursor(cursor).is_ok(),
        parse_file_cursor(cursor).is_ok(),
        position(cursor).is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}

fn check_made(a: u64, b: u64) {
    // Ids the server hands out are storable (signed 64-bit in SQLite and CQL).
    let (a_id, b_id) = (Id(a & i64::MAX as u64), Id(b & i64::MAX as u64));
    check_cursor(&inbox_cursor(a_id, b_id), parse_inbox_cursor, (a_id, b_id));
    check_cursor(&id_cursor(a_id), parse_id_cursor, a_id);
    check_cursor(&offset_cursor(a as usize), parse_offset_cursor, a as usize);
    let file = FilePosition { signal_id: a_id, attachment_id: b_id };
    check_cursor(&file_cursor(file), parse_file_cursor, file);
    check_cursor(&older_cursor(a_id), position, Position::Range(SignalRange::Before(a_id)));
    check_cursor(&newer_cursor(a_id), position, Position::Range(SignalRange::After(a_id)));
    // An id past i64::MAX is never made, and a cursor naming one is refused, not misread.
    if a > i64::MAX as u64 {
        invalid(parse_id_cursor(&id_cursor(Id(a))), "an id cursor past i64::MAX");
        invalid(parse_inbox_cursor(&inbox_cursor(Id(a), b_id)), "an inbox cursor past i64::MAX");
        invalid(position(&older_cursor(Id(a))), "a timeline cursor past i64::MAX");
    }
}

fn check_text(text: &str) {
    match parse_inbox_cursor(text) {
        Ok((activity, chat)) => {
            assert_eq!(parse_inbox_cursor(&inbox_cursor(activity, chat)).ok(), Some((activity, chat)))
        }
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor),
    }
    match parse_id_cursor(text) {
        Ok(id) => assert_eq!(parse_id_cursor(&id_cursor(id)).ok(), Some(id)),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor),
    }
    match parse_offset_cursor(text) {
        Ok(offset) => assert_eq!(parse_offset_cursor(&offset_cursor(offset)).ok(), Some(offset)),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor),
    }
    match parse_file_cursor(text) {
        Ok(file) => assert_eq!(parse_file_cursor(&file_cursor(file)).ok(), Some(file)),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor),
    }
    match position(text) {
        Ok(Position::Range(SignalRange::Before(id))) => {
            assert_eq!(position(&older_cursor(id)).ok(), Some(Position::Range(SignalRange::Before(id))))
        }
        Ok(Position::Range(SignalRange::After(id))) => {
            assert_eq!(position(&newer_cursor(id)).ok(), Some(Position::Range(SignalRange::After(id))))
        }
        Ok(other) => panic!("{text:?}: a cursor gave {other:?}, which only before/after/around give"),
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidCursor),
    }
    let accepted = accepted_by(text);
    assert!(accepted <= 1, "{text:?} is a cursor of {accepted} kinds");
}
