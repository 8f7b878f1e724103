//! Full-text search rules that need no engine: what a person's query means (words, quoted
//! phrases, the word still being typed), how words fold (case, accents), which words of a
//! text a query matches (for the highlight), and what counts as a link. Both index adapters
//! take the parsed query, never the raw text, so nothing a person types is read as an
//! engine's query syntax.

use serde::{Deserialize, Serialize};

use crate::{Error, ErrorCode, Result};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Words of at least this many characters (once folded) match with one typo.
pub const TYPO_MIN_CHARS: usize = 5;

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrder {
    /// Best match first (then newest).
    #[default]
    Relevance,
    /// Newest first.
    Recent,
}

/// What a searched message must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchHas {
    /// At least one attachment.
    Attachment,
    /// A web link in its text.
    Link,
}

/// One part of a query: a word, or words that must follow each other (typed in quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPart {
    Word(String),
    Phrase(String),
}

/// A person's query as the index adapters take it. Every part must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedQuery {
    pub parts: Vec<QueryPart>,
    /// The last part is a word still being typed: it also matches as a prefix.
    pub prefix_last: bool,
}

impl ParsedQuery {
    /// Parses what a person typed: words split on white space, `"quoted words"` as a
    /// phrase (an unclosed quote runs to the end). Empty or white space only, or longer than
    /// [`MAX_QUERY_CHARS`]: 422 `invalid_query`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid(
                ErrorCode::InvalidQuery,
                format!("a search query has at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        if text.trim().is_empty() {
            return Err(Error::invalid(ErrorCode::InvalidQuery, "the search query is empty"));
        }
        let mut parts = vec![];
        for (i, segment) in text.split('"').enumerate() {
            if i % 2 == 1 {
                if !segment.trim().is_empty() {
                    parts.push(QueryPart::Phrase(segment.trim().to_string()));
                }
            } else {
                parts.extend(segment.split_whitespace().map(|w| QueryPart::Word(w.to_string())));
            }
        }
        let ends_open = !text.ends_with(char::is_whitespace) && !text.ends_with('"');
        let prefix_last = ends_open && matches!(parts.last(), Some(QueryPart::Word(_)));
        Ok(Self { parts, prefix_last })
    }

    /// The folded words of the query, each with how it may match (for highlights).
    fn matchers(&self) -> Vec<Vec<Matcher>> {
        let last = self.parts.len().saturating_sub(1);
        self.parts
            .iter()
            .enumerate()
            .map(|(i, part)| match part {
                QueryPart::Word(w) => {
                    let words = words(w).map(|(_, t)| fold(t)).collect::<Vec<_>>();
                    let n = words.len();
                    words
                        .into_iter()
                        .enumerate()
                        .map(|(j, word)| Matcher { prefix: self.prefix_last && i == last && j + 1 == n, word })
                        .collect()
                }
                QueryPart::Phrase(p) => words(p).map(|(_, t)| Matcher { word: fold(t), prefix: false }).collect(),
            })
            .filter(|m: &Vec<Matcher>| !m.is_empty())
            .collect()
    }
}

/// How one folded query word matches a folded word of a text.
#[derive(Debug)]
struct Matcher {
    word: String,
    prefix: bool,
}

impl Matcher {
    fn matches(&self, token: &str) -> bool {
        token == self.word
            || (self.prefix && token.starts_with(&self.word))
            || (self.word.chars().count() >= TYPO_MIN_CHARS && within_one_edit(token, &self.word))
    }
}

/// The words of a text as the tokenizers see them: runs of letters and digits, with their
/// byte offsets.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some((_, c)) = rest.peek() {
            if c.is_alphanumeric() {
                break;
            }
            rest.next();
        }
        let (start, _) = *rest.peek()?;
        let mut end = start;
        while let Some((i, c)) = rest.peek() {
            if !c.is_alphanumeric() {
                break;
            }
            end = i + c.len_utf8();
            rest.next();
        }
        Some((start, &text[start..end]))
    })
}

/// A word as the index compares it: lower case, accents and ligatures folded to ASCII
/// (`Café` → `cafe`, `Straße` → `strasse`); characters with no ASCII form are kept.
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let lower: String = c.to_lowercase().collect();
        match deunicode::deunicode_char(lower.chars().next().unwrap_or(c)) {
            Some(ascii) if !ascii.is_empty() && ascii.chars().all(|a| a.is_ascii_alphanumeric()) => {
                out.extend(ascii.chars().map(|a| a.to_ascii_lowercase()));
            }
            _ => out.push_str(&lower),
        }
    }
    out
}

/// Whether `a` becomes `b` by at most one insertion, deletion, substitution or swap of two
/// neighbours.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == a.len() && common == b.len() {
        return true;
    }
    let (ra, rb) = (&a[common..], &b[common..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => {
            ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

/// Characters of text around the first match a highlight keeps, at most.
const HIGHLIGHT_CHARS: usize = 300;

/// `text` HTML-escaped, with the words `query` matches in `<mark>…</mark>`. A long text is
/// cut to about [`HIGHLIGHT_CHARS`] around its first match, with `…` where it was cut.
pub fn highlight(text: &str, query: &ParsedQuery) -> String {
    let matchers = query.matchers();
    let tokens: Vec<(usize, &str)> = words(text).collect();
    let folded: Vec<String> = tokens.iter().map(|(_, t)| fold(t)).collect();
    let mut marked = vec![false; tokens.len()];
    for part in &matchers {
        for start in 0..tokens.len() {
            let run = part.iter().enumerate().all(|(k, m)| folded.get(start + k).is_some_and(|t| m.matches(t)));
            if run {
                marked[start..start + part.len()].iter_mut().for_each(|m| *m = true);
            }
        }
    }
    let first = marked.iter().position(|m| *m).map_or(0, |i| tokens[i].0);
    let (from, to) = window(text, first);
    let mut out = String::with_capacity(text.len() + 32);
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for ((offset, token), mark) in tokens.iter().zip(&marked) {
        let end = offset + token.len();
        if !mark || *offset < from || end > to {
            continue;
        }
        escape_into(&mut out, &text[at..*offset]);
        out.push_str("<mark>");
        escape_into(&mut out, token);
        out.push_str("</mark>");
        at = end;
    }
    escape_into(&mut out, &text[at..to]);
    if to < text.len() {
        out.push('…');
    }
    out
}

/// The byte range of `text` a highlight shows: all of it when short, else about
/// [`HIGHLIGHT_CHARS`] starting a little before `first`, on character boundaries.
fn window(text: &str, first: usize) -> (usize, usize) {
    if text.chars().count() <= HIGHLIGHT_CHARS {
        return (0, text.len());
    }
    let before = text[..first].chars().rev().take(HIGHLIGHT_CHARS / 5).map(char::len_utf8).sum::<usize>();
    let from = first - before;
    let to = from + text[from..].chars().take(HIGHLIGHT_CHARS).map(char::len_utf8).sum::<usize>();
    (from, to)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Whether a text carries a web link (`http://`, `https://` or `www.`).
pub fn has_link(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("http://") || lower.contains("https://") || lower.contains("www.")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn q(text: &str) -> ParsedQuery {
        ParsedQuery::parse(text).unwrap()
    }

    #[test]
    fn queries_are_words_and_phrases_and_the_last_word_is_a_prefix_while_typed() {
        let parsed = q(r#"lunch "next friday" caf"#);
        assert_eq!(
            parsed.parts,
            vec![
                QueryPart::Word("lunch".into()),
                QueryPart::Phrase("next friday".into()),
                QueryPart::Word("caf".into())
            ]
        );
        assert!(parsed.prefix_last);
        assert!(!q("caf ").prefix_last);
        assert!(!q(r#"a "b c""#).prefix_last);
        assert_eq!(q(r#""unclosed phrase"#).parts, vec![QueryPart::Phrase("unclosed phrase".into())]);
        for bad in ["", "   ", "\t\n"] {
            assert_eq!(ParsedQuery::parse(bad).unwrap_err().code, ErrorCode::InvalidQuery, "{bad:?}");
        }
        assert!(ParsedQuery::parse(&"a".repeat(256)).is_ok());
        assert_eq!(ParsedQuery::parse(&"é".repeat(257)).unwrap_err().code, ErrorCode::InvalidQuery);
    }

    #[test]
    fn words_fold_case_accents_and_ligatures() {
        assert_eq!(fold("Café"), "cafe");
        assert_eq!(fold("ÉLÈVE"), "eleve");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Œuvre"), "oeuvre");
        assert_eq!(fold("日本"), "日本".to_lowercase().chars().map(|c| fold(&c.to_string())).collect::<String>());
    }

    #[test]
    fn one_edit_at_most() {
        for (a, b, yes) in [
            ("meeting", "meeting", true),
            ("meeting", "meting", true),
            ("meeting", "meetting", true),
            ("meeting", "meetinh", true),
            ("meeting", "emeting", true),
            ("meeting", "metting", true),
            ("meeting", "mteeign", false),
            ("meeting", "meet", false),
        ] {
            assert_eq!(within_one_edit(a, b), yes, "{a} / {b}");
        }
    }

    #[test]
    fn highlights_mark_matches_and_escape_the_rest() {
        let text = "<b>Rendez-vous</b> au Café & au cafe-bar demain";
        assert_eq!(
            highlight(text, &q("cafe")),
            "&lt;b&gt;Rendez-vous&lt;/b&gt; au <mark>Café</mark> &amp; au <mark>cafe</mark>-bar demain"
        );
        assert_eq!(highlight("the meeting moved", &q("meting")), "the <mark>meeting</mark> moved");
        assert_eq!(highlight("dem demain", &q("dema")), "dem <mark>demain</mark>");
        assert_eq!(
            highlight("next friday, not friday next", &q(r#""next friday""#)),
            "<mark>next</mark> <mark>friday</mark>, not friday next"
        );
        let long = format!("{} the needle {}", "hay ".repeat(200), "hay ".repeat(200));
        let cut = highlight(&long, &q("needle"));
        assert!(cut.starts_with('…') && cut.ends_with('…') && cut.contains("<mark>needle</mark>"), "{cut}");
        assert!(cut.chars().count() < 340, "{}", cut.chars().count());
    }

    #[test]
    fn links_are_found() {
        assert!(has_link("see https://example.org/x"));
        assert!(has_link("WWW.example.org"));
        assert!(!has_link("no link here, just http"));
    }
}
