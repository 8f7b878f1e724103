//! What a person types in the search box (`domain::search::ParsedQuery::parse`, which the
//! index adapters get instead of the raw text), and the highlight of a message's text for
//! that query (`domain::search::highlight`, HTML sent to the browser).
//!
//! Input: the query, a 0xFF byte (never in UTF-8), the text of a message.
//!
//! Asserts: a query is refused (422 `invalid_query`) exactly when it is white space only or
//! longer than `MAX_QUERY_CHARS` characters; otherwise its parts are non-empty pieces of it,
//! words without white space or quotes, phrases trimmed and without quotes; the last part
//! is a prefix only when it is a word the query ends with; writing the parts back (phrases
//! quoted) parses to the same parts. `words` gives the maximal runs of letters and digits
//! at their byte offsets, and each folds to a non-empty word without ASCII capitals. A
//! highlight has only `<mark>`/`</mark>` as markup, never nested, everything else escaped,
//! marks only around words, and unescaped it is the text (a short one) or a piece of it
//! with `…` where it was cut.

#![no_main]

use domain::ErrorCode;
use domain::search::{MAX_QUERY_CHARS, ParsedQuery, QueryPart, fold, highlight, words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, text) = match data.iter().position(|b| *b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(query) = std::str::from_utf8(query) else { return };
    let parsed = check_query(query);
    let Ok(text) = std::str::from_utf8(text) else { return };
    check_words(text);
    if let Some(parsed) = parsed {
        check_highlight(text, &parsed);
    }
});

fn check_query(query: &str) -> Option<ParsedQuery> {
    let refused = query.chars().count() > MAX_QUERY_CHARS || query.trim().is_empty();
    let parsed = match ParsedQuery::parse(query) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert_eq!(e.code, ErrorCode::InvalidQuery, "{query:?}: {e:?}");
            assert!(refused, "{query:?} refused: {e:?}");
            return None;
        }
    };
    assert!(!refused, "{query:?} accepted as {parsed:?}");
    for part in &parsed.parts {
        match part {
            QueryPart::Word(word) => {
                assert!(!word.is_empty() && query.contains(word.as_str()), "{query:?}: {part:?}");
                assert!(!word.contains(char::is_whitespace) && !word.contains('"'), "{query:?}: {part:?}");
            }
            QueryPart::Phrase(phrase) => {
                assert!(!phrase.is_empty() && query.contains(phrase.as_str()), "{query:?}: {part:?}");
                assert!(phrase.trim() == phrase && !phrase.contains('"'), "{query:?}: {part:?}");
            }
        }
    }
    if parsed.prefix_last {
        match parsed.parts.last() {
            Some(QueryPart::Word(word)) => assert!(query.ends_with(word.as_str()), "{query:?}: {parsed:?}"),
            last => panic!("{query:?}: the last part {last:?} is not a word, yet a prefix"),
        }
    }
    let written: Vec<String> = parsed
        .parts
        .iter()
        .map(|part| match part {
            QueryPart::Word(word) => word.clone(),
            QueryPart::Phrase(phrase) => format!("\"{phrase}\""),
        })
        .collect();
    let written = written.join(" ");
    if !written.is_empty() && written.chars().count() <= MAX_QUERY_CHARS {
        let again = ParsedQuery::parse(&written).map(|q| q.parts).ok();
        assert_eq!(again.as_ref(), Some(&parsed.parts), "{query:?} written back as {written:?}");
    }
    Some(parsed)
}

fn check_words(text: &str) {
    let mut end = 0;
    for (start, word) in words(text) {
        assert!(start >= end && !word.is_empty(), "{text:?}: {word:?} at {start}");
        assert_eq!(&text[start..start + word.len()], word);
        assert!(word.chars().all(char::is_alphanumeric), "{text:?}: {word:?}");
        assert!(!text[end..start].chars().any(char::is_alphanumeric), "{text:?}: a word skipped before {start}");
        let after = text[start + word.len()..].chars().next();
        assert!(!after.is_some_and(char::is_alphanumeric), "{text:?}: {word:?} at {start} stops inside a word");
        let folded = fold(word);
        assert!(!folded.is_empty() && !folded.bytes().any(|b| b.is_ascii_uppercase()), "{word:?} folds to {folded:?}");
        end = start + word.len();
    }
    assert!(!text[end..].chars().any(char::is_alphanumeric), "{text:?}: a word skipped at the end");
}

/// Characters of text a highlight shows at most (`HIGHLIGHT_CHARS` in domain::search).
const HIGHLIGHT_CHARS: usize = 300;

fn check_highlight(text: &str, query: &ParsedQuery) {
    let html = highlight(text, query);
    let mut shown = String::new();
    let mut marked = String::new();
    let mut in_mark = false;
    let mut rest = html.as_str();
    while let Some(at) = rest.find(['<', '>', '&', '"', '\'']) {
        let plain = &rest[..at];
        shown.push_str(plain);
        if in_mark {
            marked.push_str(plain);
        }
        rest = &rest[at..];
        let (piece, len) =
            if let Some(entity) = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().find(|e| rest.starts_with(**e)) {
                let c = match *entity {
                    "&amp;" => "&",
                    "&lt;" => "<",
                    "&gt;" => ">",
                    "&quot;" => "\"",
                    _ => "'",
                };
                (c, entity.len())
            } else if rest.starts_with("<mark>") {
                assert!(!in_mark, "{html:?}: a mark inside a mark");
                in_mark = true;
                ("", "<mark>".len())
            } else if rest.starts_with("</mark>") {
                assert!(in_mark && !marked.is_empty(), "{html:?}: an empty or unopened mark");
                assert!(marked.chars().all(char::is_alphanumeric), "{html:?}: {marked:?} marked, not a word");
                in_mark = false;
                marked.clear();
                ("", "</mark>".len())
            } else {
                panic!("{html:?}: {:?} not escaped (text {text:?}, query {query:?})", &rest[..1]);
            };
        shown.push_str(piece);
        if in_mark {
            marked.push_str(piece);
        }
        rest = &rest[len..];
    }
    shown.push_str(rest);
    assert!(!in_mark, "{html:?}: a mark not closed");
    if text.chars().count() <= HIGHLIGHT_CHARS {
        assert_eq!(shown, text, "{html:?}");
    } else {
        let piece = shown.strip_prefix('…').unwrap_or(&shown);
        let piece = piece.strip_suffix('…').unwrap_or(piece);
        assert!(text.contains(piece), "{html:?} shows what {text:?} does not say");
        assert!(piece.chars().count() <= HIGHLIGHT_CHARS, "{html:?}: more than {HIGHLIGHT_CHARS} characters");
    }
}
