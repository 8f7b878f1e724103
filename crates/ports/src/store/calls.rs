//! Calls: each call's record, changed by compare-and-set, and the calls still ringing (so
//! one that nobody answers ends as missed even if the node that started it died).

use async_trait::async_trait;
use domain::{Call, CallId, Result};

#[async_trait]
pub trait CallStore: Send + Sync + 'static {
    /// Records a new call (version 1); a ringing one is listed among the ringing calls.
    async fn insert_call(&self, call: &Call) -> Result<()>;
    async fn call(&self, id: CallId) -> Result<Option<Call>>;
    /// Writes `call` over the stored version `expected` (and no other): false, writing
    /// nothing, when another change came first (read it again and retry). A call no longer
    /// ringing leaves the ringing calls.
    async fn update_call(&self, call: &Call, expected: i64) -> Result<bool>;
    /// Up to `limit` calls listed as ringing, in no particular order (a call that stopped
    /// ringing may still be listed for a moment: callers check its state).
    async fn ringing_calls(&self, limit: usize) -> Result<Vec<CallId>>;
}
