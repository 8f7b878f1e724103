//! The Store's calls (`ports::CallStore`): one JSON record per call, written over its
//! version only; `ringing` lists the calls still ringing.

use super::*;
use domain::{Call, CallId, CallState};
use ports::CallStore;

fn record(call: &Call) -> rusqlite::Result<String> {
    serde_json::to_string(call).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn insert_call(&self, call: &Call) -> Result<()> {
        let call = call.clone();
        self.write(move |c| {
            c.prepare_cached("INSERT OR IGNORE INTO calls (id, record, version, ringing) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![call.id.as_i64(), record(&call)?, call.version, call.state() == CallState::Ringing])?;
            Ok(())
        })
        .await
    }

    async fn call(&self, id: CallId) -> Result<Option<Call>> {
        self.read(move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT record FROM calls WHERE id = ?1")?
                .query_row([id.as_i64()], |r| r.get(0))
                .optional()?;
            text.map(|t| serde_json::from_str(&t).map_err(|_| rows::bad(0, "call record"))).transpose()
        })
        .await
    }

    async fn update_call(&self, call: &Call, expected: i64) -> Result<bool> {
        let call = call.clone();
        self.write(move |c| {
            let written = c
                .prepare_cached(
                    "UPDATE calls SET record = ?2, version = ?3, ringing = ?4 WHERE id = ?1 AND version = ?5",
                )?
                .execute(params![
                    call.id.as_i64(),
                    record(&call)?,
                    call.version,
                    call.state() == CallState::Ringing,
                    expected
                ])?;
            Ok(written == 1)
        })
        .await
    }

    async fn ringing_calls(&self, limit: usize) -> Result<Vec<CallId>> {
        self.read(move |c| {
            c.prepare_cached("SELECT id FROM calls WHERE ringing = 1 LIMIT ?1")?
                .query_map([limit as i64], |r| r.get::<_, i64>(0).map(Id::from_i64))?
                .collect()
        })
        .await
    }
}
