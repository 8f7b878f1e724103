//! The Store's calls (`ports::CallStore`): `calls (id)` holds one JSON record per call,
//! changed by lightweight transactions on its version; `ringing_calls ((shard), id)` lists
//! the calls still ringing, for the sweeper that ends those nobody answered.

use super::*;
use domain::{Call, CallId, CallState};
use ports::CallStore;

use crate::timeline::cql_limit;

fn record(call: &Call) -> Result<String> {
    serde_json::to_string(call).map_err(|e| Error::internal(format!("cql: cannot encode a call: {e}")))
}

#[async_trait]
impl CallStore for CqlStore {
    async fn insert_call(&self, call: &Call) -> Result<()> {
        self.run(&self.st.insert_call, (call.id.as_i64(), record(call)?, call.version)).await?;
        if call.state() == CallState::Ringing {
            self.run(&self.st.insert_ringing_call, (call.id.as_i64(),)).await?;
        }
        Ok(())
    }

    async fn call(&self, id: CallId) -> Result<Option<Call>> {
        let Some((text,)) = first::<(String,)>(self.run(&self.st.call, (id.as_i64(),)).await?)? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|_| corrupt("calls"))
    }

    async fn update_call(&self, call: &Call, expected: i64) -> Result<bool> {
        let (applied, _) =
            lwt(self.run(&self.st.update_call, (record(call)?, call.version, call.id.as_i64(), expected)).await?)?;
        if applied && call.state() != CallState::Ringing {
            self.run(&self.st.delete_ringing_call, (call.id.as_i64(),)).await?;
        }
        Ok(applied)
    }

    async fn ringing_calls(&self, limit: usize) -> Result<Vec<CallId>> {
        let rows = rows::<(i64,)>(self.run(&self.st.ringing_calls, (cql_limit(limit),)).await?)?;
        Ok(rows.into_iter().map(|(id,)| Id::from_i64(id)).collect())
    }
}
