//! The input rules as the OpenAPI document states them: a JSON Schema (`pattern`, lengths,
//! bounds, `format`) for each value the server checks, equal to the check. The server's
//! validators (`domain::rules`, the service's) stay the source of truth; the tests below
//! hold each pattern to its validator on the same inputs. The wire types and query
//! parameters name them (`#[schema(value_type = rules::Title)]`, `#[param(value_type =
//! rules::IdString, inline)]`); a new chat and a signal's change, two shapes each, have
//! their whole schema here.
//!
//! Patterns are written for the regex dialects in use (ECMA-262, Python's, Rust's): only
//! `\uXXXX` escapes and classes, counting characters as code points.

use domain::rules::{MAX_DISPLAY_NAME_CHARS, MAX_EMOJI_CHARS, MAX_USERNAME_CHARS};
use service::presence::MAX_STATUS_TEXT_CHARS;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Object, RefOr, Schema};

/// Rust's white space (`char::is_whitespace`: what `str::trim` removes), as the body of a
/// character class.
const WHITE_SPACE: &str = r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (`char::is_control`), as the body of a character class.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// An id: a decimal string of a number from 0 to 2^63 − 1 (`domain::Id`'s `FromStr`): up
/// to 18 digits, or 19 digits up to `9223372036854775807`.
fn id_pattern() -> String {
    let max = i64::MAX.to_string();
    let mut alternatives = vec![format!("[0-9]{{1,{}}}", max.len() - 1)];
    // Of as many digits as the maximum: equal to it up to some digit, then a smaller digit
    // there and any digits after (the last position: up to and including its digit).
    for (i, digit) in max.bytes().enumerate() {
        let last = i + 1 == max.len();
        let top = if last { digit } else { digit.wrapping_sub(1) };
        if digit == b'0' && !last {
            continue;
        }
        let rest = max.len() - i - 1;
        let class = if top == b'0' { "0".to_string() } else { format!("[0-{}]", top as char) };
        let tail = if rest == 0 { String::new() } else { format!("[0-9]{{{rest}}}") };
        alternatives.push(format!("{}{class}{tail}", &max[..i]));
    }
    format!("^(?:{})$", alternatives.join("|"))
}

/// Text that is not blank once trimmed and then has 1 to `max` characters (at least 2).
fn trimmed_pattern(max: usize) -> String {
    format!("^[{WHITE_SPACE}]*[^{WHITE_SPACE}](?:[\\s\\S]{{0,{}}}[^{WHITE_SPACE}])?[{WHITE_SPACE}]*$", max - 2)
}

/// Text that, once trimmed, is empty or one line (no control character) of at most `max`
/// characters (at least 2).
fn trimmed_line_pattern(max: usize) -> String {
    let edge = format!("[^{WHITE_SPACE}{CONTROL}]");
    format!("^[{WHITE_SPACE}]*(?:{edge}(?:[^{CONTROL}]{{0,{}}}{edge})?)?[{WHITE_SPACE}]*$", max - 2)
}

fn username_pattern() -> String {
    format!("^[a-z0-9._@-]{{1,{MAX_USERNAME_CHARS}}}$")
}

/// A username prefix: 1 to 64 characters once trimmed (`domain::rules::username_prefix`).
fn username_prefix_pattern() -> String {
    trimmed_pattern(MAX_USERNAME_CHARS)
}

/// A nonce: 1 to 64 visible ASCII characters (`domain::rules::validate_nonce`).
const NONCE_PATTERN: &str = "^[!-~]{1,64}$";

/// An emoji's characters: none ASCII, a control character or white space (its length is
/// stated apart, in characters: `minLength` / `maxLength`).
const EMOJI_PATTERN: &str = r"^[^\u0000-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$";

/// A location's label: blank (none), or at most 200 characters without a control character
/// (`domain::rules::validate_location`).
fn location_label_pattern() -> String {
    let max = domain::rules::MAX_LOCATION_LABEL_CHARS;
    format!("^(?:[{WHITE_SPACE}]*|[^{CONTROL}]{{0,{max}}})$")
}

fn display_name_pattern() -> String {
    trimmed_pattern(MAX_DISPLAY_NAME_CHARS)
}

fn title_pattern() -> String {
    trimmed_pattern(domain::rules::Limits::default().max_title_chars)
}

fn status_text_pattern() -> String {
    trimmed_line_pattern(MAX_STATUS_TEXT_CHARS)
}

fn string(pattern: String, description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description))
}

/// Declares a schema of the document, named `$name` there, for a wire field or a query
/// parameter: `#[schema(value_type = rules::X)]` (a `$ref`) or `#[param(value_type =
/// rules::X, inline)]`, which keep the field's own description and whether it is required.
macro_rules! stated {
    ($(#[$doc:meta])* $type:ident as $name:literal = $schema:expr) => {
        $(#[$doc])*
        pub struct $type;

        impl utoipa::PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
        }
    };
}

stated!(
    /// An id (`domain::Id`).
    IdString as "Id" = id()
);
stated!(
    /// A username (`domain::rules::validate_username`).
    Username as "Username" = string(username_pattern(), "1 to 64 characters of a-z, 0-9, `.`, `_`, `-` and `@`.")
);
stated!(
    /// A username prefix (`domain::rules::username_prefix`).
    UsernamePrefix as "UsernamePrefix" = string(username_prefix_pattern(), "1 to 64 characters once trimmed.")
);
stated!(
    /// A client's nonce (`domain::rules::validate_nonce`).
    Nonce as "Nonce" = nonce()
);
stated!(
    /// A display name (`domain::rules::display_name`).
    DisplayName as "DisplayName" = string(display_name_pattern(), "1 to 100 characters once trimmed.")
);
stated!(
    /// A group's title (`domain::rules::validate_title`).
    Title as "Title" = title()
);
stated!(
    /// A status text (`service::presence`).
    StatusText as "StatusText" =
        string(status_text_pattern(), "Once trimmed, one line of at most 100 characters; blank: none.")
);
stated!(
    /// A location's label (`domain::rules::validate_location`).
    LocationLabel as "LocationLabel" =
        string(location_label_pattern(), "A name for the place: one line of at most 200 characters; blank: none.")
);
stated!(
    /// A message's text (`domain::rules::validate_text`).
    MessageText as "MessageText" = message_text()
);
stated!(
    /// An RFC 3339 date-time (`wire::time::parse_date_time`).
    DateTime as "DateTime" = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some("An RFC 3339 date-time: any offset, any fraction of a second."))
);
stated!(
    /// A date or a date-time (`routes::search`).
    DateOrDateTime as "DateOrDateTime" = date_or_date_time()
);
stated!(
    /// A search query (`domain::search::ParsedQuery::parse`).
    SearchText as "SearchText" = string(format!("[^{WHITE_SPACE}]"), "1 to 256 characters, not all white space.")
        .min_length(Some(1))
        .max_length(Some(domain::search::MAX_QUERY_CHARS))
);

pub fn id() -> Object {
    string(id_pattern(), "An id: a decimal string of a number from 0 to 2^63 − 1.").build()
}

fn nonce() -> ObjectBuilder {
    string(NONCE_PATTERN.to_string(), "1 to 64 visible ASCII characters.")
}

fn title() -> ObjectBuilder {
    string(title_pattern(), "1 to 200 characters once trimmed.")
}

pub fn emoji() -> Object {
    string(
        EMOJI_PATTERN.to_string(),
        "One emoji: 1 to 8 characters, none of them ASCII, a control character or white space.",
    )
    .min_length(Some(1))
    .max_length(Some(MAX_EMOJI_CHARS))
    .build()
}

/// A message's text: at most `limits.max_text_chars` characters (the default is stated).
fn message_text() -> ObjectBuilder {
    let max = domain::rules::Limits::default().max_text_chars;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(max))
        .description(Some(format!("At most {max} characters (the server's `limits.max_text_chars`, by default).")))
}

/// An RFC 3339 date-time, or a full date (its midnight, UTC).
fn date_or_date_time() -> AnyOfBuilder {
    let format = |f| ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(f)));
    AnyOfBuilder::new()
        .item(format(KnownFormat::Date))
        .item(format(KnownFormat::DateTime))
        .description(Some("An RFC 3339 date (its midnight, UTC) or date-time."))
}

/// A change to a signal: exactly one of new text (with its mentions), a moved location, or
/// `live: false`; what is not part of the change is absent or null.
pub fn patch_signal() -> RefOr<Schema> {
    let null = || ObjectBuilder::new().schema_type(Type::Null);
    let change = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
    };
    let mentions = ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(id())
        .max_items(Some(service::signals::MAX_MENTIONS))
        .description(Some("The members the new text mentions (at most 100, each a member of the chat)."));
    let text = change("New text of a message, with its mentions, which replace the old ones.")
        .property("text", message_text())
        .property("mentions", mentions)
        .property(
            "mention_everyone",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null]))
                .description(Some("`@everyone` (owners and admins only).")),
        )
        .property("location", null())
        .property("live", null())
        .required("text");
    let quiet = |object: ObjectBuilder| {
        object.property("text", null()).property("mentions", null()).property("mention_everyone", null())
    };
    let moved = quiet(change("A live location's new point."))
        .property("location", <super::LocationWire as utoipa::PartialSchema>::schema())
        .property("live", null())
        .required("location");
    let stopped = quiet(change("Stops sharing a live location now."))
        .property("location", null())
        .property(
            "live",
            ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([serde_json::Value::Bool(false)])),
        )
        .required("live");
    OneOfBuilder::new()
        .item(text)
        .item(moved)
        .item(stopped)
        .description(Some(
            "A change to a signal of the caller's: exactly one of `text` (a message; with its mentions, which \
             replace the old ones), `location` (move a live location) or `live: false` (stop sharing it live).",
        ))
        .into()
}

/// A new chat, by kind: a direct chat names the one other person and has no title (a
/// nonce is ignored); a group names at least one other person and has a title.
pub fn create_chat() -> RefOr<Schema> {
    let kind = |kind: &str| {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some([serde_json::Value::from(kind)])).build()
    };
    let ids = || ArrayBuilder::new().items(id()).min_items(Some(1));
    let direct = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("A direct chat: with the one other person, one per pair. No title; a nonce is ignored."))
        .property("kind", kind("direct"))
        .property("members", ids().max_items(Some(1)))
        .property("title", ObjectBuilder::new().schema_type(Type::Null))
        .property("nonce", ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])))
        .required("kind")
        .required("members")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    let group = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A group: the caller (its owner) and the others named. A `nonce` (a client-chosen id of this \
             creation) makes a retry return the first group instead of creating another.",
        ))
        .property("kind", kind("group"))
        .property("members", ids())
        .property("title", title())
        .property("nonce", nonce().schema_type(SchemaType::from_iter([Type::String, Type::Null])))
        .required("kind")
        .required("members")
        .required("title")
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    OneOfBuilder::new()
        .item(direct)
        .item(group)
        .description(Some(
            "A new chat: a direct chat (the one other person; no title) or a group (the others, at least one; a \
             title). The caller is always a member.",
        ))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rules;

    /// Whether `text` matches `pattern` as a JSON Schema validator reads it.
    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")).is_match(text)
    }

    /// Texts to hold every pattern to its validator with: edges of white space, control
    /// characters, lengths around each limit.
    fn samples() -> Vec<String> {
        let mut texts: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "\t\n",
            "a\nb",
            "a\u{1c}",
            "\u{1c}",
            "\u{85}a",
            "a\u{a0}",
            "\u{3000}",
            "\u{0}",
            "\u{7f}",
            "\u{9f}x",
            "é",
            "👍",
            "👍 ",
            "❤️",
            "👩🏽‍💻",
            "é\u{200b}",
            ":)",
            "al%",
            "Al",
            "alice",
            "me@example.org",
            "a_b-c.d",
            "0",
            "00",
            "-1",
            "+1",
            "1.0",
            "１",
            "9223372036854775807",
            "9223372036854775808",
            "9223372036854775799",
            "9223372036854775817",
            "9223372036854775810",
            "0000000000000000000",
            "8999999999999999999",
            "9999999999999999999",
            "99999999999999999999",
            "922337203685477580",
            "9223372036854775806",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [7, 8, 9, 63, 64, 65, 98, 99, 100, 101, 199, 200, 201] {
            for unit in ["a", "é", "👍", " ", "a\n"] {
                texts.push(unit.repeat(n));
                texts.push(format!(" {} ", unit.repeat(n)));
                texts.push(format!("{}\u{3000}", unit.repeat(n)));
            }
        }
        texts
    }

    fn check(name: &str, pattern: &str, valid: impl Fn(&str) -> bool) {
        for text in samples() {
            assert_eq!(matches(pattern, &text), valid(&text), "{name}: {text:?} against {pattern}");
        }
    }

    #[test]
    fn patterns_state_the_rules() {
        check("id", &id_pattern(), |t| t.parse::<domain::Id>().is_ok());
        check("username", &username_pattern(), |t| rules::validate_username(t).is_ok());
        check("username prefix", &username_prefix_pattern(), |t| rules::username_prefix(t).is_ok());
        check("nonce", NONCE_PATTERN, |t| rules::validate_nonce(t).is_ok());
        let emoji = |t: &str| {
            let chars = t.chars().count();
            (1..=MAX_EMOJI_CHARS).contains(&chars) && matches(EMOJI_PATTERN, t)
        };
        for text in samples() {
            assert_eq!(emoji(&text), rules::validate_emoji(&text).is_ok(), "emoji: {text:?}");
        }
        let search = |t: &str| {
            (1..=domain::search::MAX_QUERY_CHARS).contains(&t.chars().count())
                && matches(&format!("[^{WHITE_SPACE}]"), t)
        };
        for text in samples() {
            assert_eq!(search(&text), domain::search::ParsedQuery::parse(&text).is_ok(), "search: {text:?}");
        }
        check("location label", &location_label_pattern(), |t| {
            let at = domain::Location { lat: 0.0, lon: 0.0, accuracy_m: None, label: Some(t.to_string()) };
            rules::validate_location(at).is_ok()
        });
        let title = |t: &str| rules::validate_title(t.trim(), rules::Limits::default().max_title_chars).is_ok();
        check("title", &title_pattern(), title);
        check("display name", &display_name_pattern(), |t| rules::display_name(t).is_ok());
        check("status text", &status_text_pattern(), |t| {
            let t = t.trim();
            t.chars().count() <= MAX_STATUS_TEXT_CHARS && !t.chars().any(char::is_control)
        });
    }

    #[test]
    fn white_space_is_rusts() {
        let class = regex::Regex::new(&format!("^[{WHITE_SPACE}]$")).unwrap();
        let control = regex::Regex::new(&format!("^[{CONTROL}]$")).unwrap();
        for c in (0..=0x3000).chain([0xfeff, 0x1_f44d]).filter_map(char::from_u32) {
            assert_eq!(class.is_match(c.encode_utf8(&mut [0; 4])), c.is_whitespace(), "{c:?}");
            assert_eq!(control.is_match(c.encode_utf8(&mut [0; 4])), c.is_control(), "{c:?}");
        }
    }
}
