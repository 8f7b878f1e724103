//! The domain of Petit chat: identifiers, entities, the rules that do not need I/O, and the
//! transport-neutral error type. This crate performs no I/O and knows nothing of HTTP,
//! SQL or queues; every other crate depends on it.

pub mod attachment;
pub mod call;
pub mod error;
pub mod event;
pub mod id;
pub mod model;
pub mod notify;
pub mod rules;
pub mod search;

pub use attachment::{
    Attachment, AttachmentId, AttachmentKind, BlobKey, MAX_ATTACHMENTS_PER_MESSAGE, StoredAttachment, Thumbnail,
    clean_filename, validate_attachment_ids,
};
pub use call::{Call, CallAction, CallId, CallMedia, CallState, CallSummary};
pub use error::{Error, ErrorCode, ErrorKind, Result};
pub use event::{CallSignalKind, ChatEvent, Event, EventTopic};
pub use id::{ChatId, Id, IdGenerator, SignalId, UserId};
pub use model::*;
pub use notify::{
    DeadLetter, NotifyAction, NotifyJob, NotifyLevel, NotifySettings, PushRetry, PushTarget, PushTargetId,
    PushTargetSpec,
};
pub use rules::Limits;
pub use search::{ParsedQuery, QueryPart, SearchHas, SearchOrder};
