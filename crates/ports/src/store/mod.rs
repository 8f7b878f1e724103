//! The Store port: durable state. Every method is a query a CQL table can answer without
//! secondary indexes, materialized views or `ALLOW FILTERING` (see DESIGN.md's data model),
//! so the SQLite and CQL adapters can offer the same contract.
//!
//! One trait per aggregate, in a file of its own (users, tickets, chats and members, the
//! inbox, the timeline, reactions, receipts, attachments, the blob collector's), composed by [`Store`]; adapters implement
//! each in a file of their own too. Code that needs one aggregate can ask for its trait.

mod attachments;
mod blob_gc;
mod calls;
mod chats;
mod inbox;
mod notifications;
mod reactions;
mod receipts;
mod tickets;
mod timeline;
mod users;

pub use attachments::{AttachmentStore, ChatFile, FilePosition};
pub use blob_gc::{BlobGcStore, BlobHolder, UnsentUpload};
pub use calls::CallStore;
pub use chats::ChatStore;
pub use inbox::InboxStore;
pub use notifications::NotificationStore;
pub use reactions::ReactionStore;
pub use receipts::ReceiptStore;
pub use tickets::TicketStore;
pub use timeline::{InsertSignalOutcome, SignalRange, TimelineStore};
pub use users::{CreateUserOutcome, RenameOutcome, UserStore};

use async_trait::async_trait;
use domain::Result;

/// The whole store: every aggregate's trait, and a readiness probe.
#[async_trait]
pub trait Store:
    UserStore
    + TicketStore
    + ChatStore
    + InboxStore
    + TimelineStore
    + ReactionStore
    + ReceiptStore
    + AttachmentStore
    + BlobGcStore
    + NotificationStore
    + CallStore
{
    /// Checks the store answers (for readiness probes).
    async fn ping(&self) -> Result<()>;
}
