//! HTTP tests through the real router, served on a loopback port, with the embedded
//! adapters (SQLite in a temp dir, in-process bus, dev login).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

mod api {
    mod access;
    mod admin;
    mod attachments;
    mod auth;
    mod calls;
    mod changes;
    mod chats;
    mod crash;
    mod errors;
    mod events;
    pub mod harness;
    mod headers;
    mod limits;
    mod notifications;
    mod ops;
    mod presence;
    mod receipts;
    #[allow(dead_code)] // the cluster tests use the rest
    pub mod receivers;
    mod search;
    mod signals;
    mod users;
    mod web;
}
