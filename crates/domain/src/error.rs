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

/// An error with a stable `code` (snake_case, never changes once shipped) and a human
/// readable `detail` safe to show to the caller.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub detail: Cow<'static, str>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, code, detail: detail.into() }
    }

    pub fn invalid(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidInput, code, detail)
    }

    pub fn not_found(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, code, detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, code, detail)
    }

    pub fn unauthenticated(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "unauthenticated", detail)
    }

    /// A dependency failed in a way a retry may fix. The detail is for logs only.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, "unavailable", detail)
    }

    /// An unexpected failure. The detail is for logs only.
    pub fn internal(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, "internal", detail)
    }

    /// The chat does not exist or the caller is not a member: the two are not told apart.
    pub fn chat_not_found() -> Self {
        Self::not_found("chat_not_found", "no such chat")
    }

    pub fn signal_not_found() -> Self {
        Self::not_found("signal_not_found", "no such signal in this chat")
    }

    pub fn user_not_found() -> Self {
        Self::not_found("user_not_found", "no such user")
    }
}
