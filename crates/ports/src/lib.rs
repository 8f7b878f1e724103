//! Ports: the traits the service layer is written against. Each has one adapter per
//! technology (SQLite and CQL for [`Store`], in-process and NATS for [`Bus`], a directory
//! and S3 for [`Blobs`], dev and OIDC for [`Identity`], tantivy and OpenSearch for [`TextIndex`]), and every adapter of a port passes that port's conformance suite.
//! This crate names no technology.

pub mod blobs;
pub mod bus;
pub mod identity;
pub mod push;
pub mod search;
pub mod store;

pub use blobs::{BlobBytes, Blobs, DownloadHeaders, StagedBlob};
pub use bus::{
    Bus, ChatEventBus, ChatEventStream, Delivery, EventId, EventOrder, FANOUT_GROUP, GroupSpec, Interest,
    MembershipNews, MembershipNewsStream, MembershipWord, NONCE_FENCE_WINDOW, NOTIFY_GROUP, NonceClaim, NonceFence,
    NotifyJobStream, NotifyQueue, PresenceBus, PresenceExpiry, PresenceExpiryStream, UserEventBus, UserEventStream,
    UserSubscription, chat_partition, valid_group_name,
};
pub use identity::{Identity, VerifiedIdentity};
pub use push::{PushGateway, PushMessage, PushOutcome};
pub use search::{IndexedSignal, RemovedSignal, TextHit, TextIndex, TextQuery};
pub use store::{
    AttachmentStore, BlobGcStore, BlobHolder, CallStore, ChatFile, ChatStore, CreateUserOutcome, FilePosition,
    InboxStore, InsertSignalOutcome, NotificationStore, ReactionStore, ReceiptStore, RenameOutcome, SignalRange, Store,
    TicketStore, TimelineStore, UnsentUpload, UserStore,
};
