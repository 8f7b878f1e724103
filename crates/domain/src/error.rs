//! The transport-neutral error of every layer: a kind (which the API maps to an HTTP status
//! in one place) and a stable, machine-readable code that clients may switch on.

use std::borrow::Cow;

/// What went wrong, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No credentials, or credentials that do not verify.
    Unauthenticated,
    /// Authenticated, but not allowed to do this (only used where revealing existence is fine).
    Forbidden,
    /// The thing does not exist, or the caller may not know that it does.
    NotFound,
    /// The request is malformed or breaks a rule.
    InvalidInput,
    /// The request conflicts with the current state.
    Conflict,
    /// The request body is larger than allowed.
    PayloadTooLarge,
    /// A dependency (database, bus) is unavailable; retrying later may succeed.
    Unavailable,
    /// A bug or an unexpected failure. Details are logged, never sent.
    Internal,
}

/// Declares [`ErrorCode`] with its wire names.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Every stable, machine-readable error code (`code` of a problem document). A code
        /// never changes once shipped; clients switch on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order (the OpenAPI document lists them).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code on the wire, snake_case.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    /// No credentials, or credentials that do not verify.
    Unauthenticated => "unauthenticated",
    /// A service Petit chat depends on is unavailable; retry shortly.
    Unavailable => "unavailable",
    /// An unexpected failure on the server; it was logged.
    Internal => "internal",
    /// The configuration is refused (at start only, never on a request).
    InvalidConfig => "invalid_config",
    /// No route has this path and method.
    NoSuchRoute => "no_such_route",
    /// The path exists, but not with this method.
    MethodNotAllowed => "method_not_allowed",
    /// Too many requests of one kind too fast (per user or per client address); retry
    /// after the `Retry-After` header's seconds.
    RateLimited => "rate_limited",
    /// Too many event streams open (the caller's, or the server's in total).
    TooManyStreams => "too_many_streams",
    /// A path parameter is malformed (e.g. an id that is not one).
    InvalidPath => "invalid_path",
    /// A query parameter is malformed.
    InvalidQuery => "invalid_query",
    /// The request body is not JSON.
    MalformedJson => "malformed_json",
    /// The JSON body does not have the documented shape.
    InvalidBody => "invalid_body",
    /// The request body could not be read.
    UnreadableBody => "unreadable_body",
    /// The body is not of the documented content type.
    UnsupportedMediaType => "unsupported_media_type",
    /// The request body is larger than allowed.
    PayloadTooLarge => "payload_too_large",
    /// The cursor is not one this server gave.
    InvalidCursor => "invalid_cursor",
    /// More than one of cursor, before, after and around.
    ConflictingPosition => "conflicting_position",
    /// The chat does not exist or the caller is not a member (not told apart).
    ChatNotFound => "chat_not_found",
    /// No such signal in this chat.
    SignalNotFound => "signal_not_found",
    /// No such user.
    UserNotFound => "user_not_found",
    /// The user is not a member of the chat.
    MemberNotFound => "member_not_found",
    /// A username breaks the username rules.
    InvalidUsername => "invalid_username",
    /// A username prefix to search by is empty or longer than a username.
    InvalidUsernamePrefix => "invalid_username_prefix",
    /// Finding users takes exactly one of `username` (exact) and `prefix`.
    OneOfUsernameOrPrefix => "one_of_username_or_prefix",
    /// Another user has this username.
    UsernameTaken => "username_taken",
    /// A display name breaks the display-name rules.
    InvalidDisplayName => "invalid_display_name",
    /// A group title is empty.
    EmptyTitle => "empty_title",
    /// A group title is too long.
    TitleTooLong => "title_too_long",
    /// A direct chat takes no title.
    DirectHasNoTitle => "direct_has_no_title",
    /// A direct chat is created with exactly one other user.
    DirectNeedsOneOther => "direct_needs_one_other",
    /// A direct chat with oneself.
    DirectWithSelf => "direct_with_self",
    /// A message mentions someone who is not a member of its chat.
    MentionNotMember => "mention_not_member",
    /// A message mentions more members than allowed.
    TooManyMentions => "too_many_mentions",
    /// A direct chat always has the same two people.
    DirectChatIsFixed => "direct_chat_is_fixed",
    /// The operation is for groups only.
    NotAGroup => "not_a_group",
    /// A group needs more members than that.
    TooFewMembers => "too_few_members",
    /// A group would have more members than allowed.
    TooManyMembers => "too_many_members",
    /// No user was named.
    NoUsers => "no_users",
    /// Only an owner or admin of the chat may do this.
    NotAnAdmin => "not_an_admin",
    /// The caller's role does not allow this change.
    NotAllowed => "not_allowed",
    /// No such role (of a chat member or a worker).
    UnknownRole => "unknown_role",
    /// A message without text.
    EmptyText => "empty_text",
    /// A message text is too long.
    TextTooLong => "text_too_long",
    /// A nonce breaks the nonce rules.
    InvalidNonce => "invalid_nonce",
    /// The signal replied to is not in this chat.
    ReplyToUnknown => "reply_to_unknown",
    /// Only messages take reactions.
    NotReactable => "not_reactable",
    /// Only the author may do this to a signal.
    NotTheAuthor => "not_the_author",
    /// This kind of signal, or this signal now, cannot be changed that way (a deleted
    /// signal, a server-written one, a live location past its end).
    NotEditable => "not_editable",
    /// No such call, or not one of a chat of the caller's.
    CallNotFound => "call_not_found",
    /// The call has ended.
    CallEnded => "call_ended",
    /// Only people in the call (joined, not left) may do this.
    NotInCall => "not_in_call",
    /// The chat has more members than a call takes.
    CallTooLarge => "call_too_large",
    /// A `call.signal` payload larger than allowed.
    CallSignalTooLarge => "call_signal_too_large",
    /// A shared location out of range (latitude, longitude, accuracy, label or end).
    InvalidLocation => "invalid_location",
    /// A reaction is not one emoji.
    InvalidEmoji => "invalid_emoji",
    /// A status text has control characters.
    InvalidStatusText => "invalid_status_text",
    /// A status text is too long.
    StatusTextTooLong => "status_text_too_long",
    /// A status expiry out of range.
    InvalidClearAfter => "invalid_clear_after",
    /// Not a consumer group name (internal).
    InvalidGroup => "invalid_group",
    /// No such attachment in this chat (or not one the caller may see).
    AttachmentNotFound => "attachment_not_found",
    /// A send names an attachment that is not the sender's upload to this chat, or that
    /// another message took.
    AttachmentUnavailable => "attachment_unavailable",
    /// A message names more attachments than allowed.
    TooManyAttachments => "too_many_attachments",
    /// An upload form without a part named `file`.
    MissingFile => "missing_file",
    /// A byte range beyond the end of the file.
    RangeNotSatisfiable => "range_not_satisfiable",
    /// An attachment has no thumbnail (not an image, not decodable, or not made yet).
    ThumbnailNotFound => "thumbnail_not_found",
    /// An attachment's bytes are missing from the blob storage.
    BlobNotFound => "blob_not_found",
    /// A push target's URL, keys or secret are not acceptable.
    InvalidPushTarget => "invalid_push_target",
    /// A push target's URL points where the server never sends (link-local, cloud
    /// metadata, or, outside development, loopback and private addresses).
    ForbiddenPushAddress => "forbidden_push_address",
    /// No such push target among the caller's.
    PushTargetNotFound => "push_target_not_found",
    /// The user has as many push targets as allowed.
    TooManyPushTargets => "too_many_push_targets",
    /// A mute's end is not a time in the future within a year.
    InvalidMutedUntil => "invalid_muted_until",
    /// This server sends no push notifications of that kind.
    PushNotConfigured => "push_not_configured",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An error with a stable `code` (snake_case, never changes once shipped) and a human
/// readable `detail` safe to show to the caller.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Error {
    pub kind: ErrorKind,
    pub code: ErrorCode,
    pub detail: Cow<'static, str>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, code, detail: detail.into() }
    }

    pub fn invalid(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidInput, code, detail)
    }

    pub fn not_found(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }

    pub fn forbidden(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, code, detail)
    }

    pub fn conflict(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, code, detail)
    }

    pub fn unauthenticated(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unauthenticated, ErrorCode::Unauthenticated, detail)
    }

    /// A dependency failed in a way a retry may fix. The detail is for logs only.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, ErrorCode::Unavailable, detail)
    }

    /// An unexpected failure. The detail is for logs only.
    pub fn internal(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, ErrorCode::Internal, detail)
    }

    /// The chat does not exist or the caller is not a member: the two are not told apart.
    pub fn chat_not_found() -> Self {
        Self::not_found(ErrorCode::ChatNotFound, "no such chat")
    }

    pub fn signal_not_found() -> Self {
        Self::not_found(ErrorCode::SignalNotFound, "no such signal in this chat")
    }

    pub fn user_not_found() -> Self {
        Self::not_found(ErrorCode::UserNotFound, "no such user")
    }
}
