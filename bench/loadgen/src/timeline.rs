//! What happened in each second of a run: requests acknowledged, requests refused (by
//! request kind and reason), streams resumed. A fault run lines these up with the times
//! its faults were made (`--timeline`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::api::Refusal;

/// One second of the run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Second {
    /// Seconds since the Unix epoch (the start of this second).
    pub unix: u64,
    /// Posts acknowledged (201, or 200 for a retry of one already stored).
    pub posts_acked: u64,
    /// Of those, retries answered 200: an earlier attempt had been stored after all.
    pub posts_replayed: u64,
    /// Reactions acknowledged.
    pub reactions_acked: u64,
    /// Failed attempts, by `kind:reason` (`post:http_503`, `react:connect`, `stream:broken`...).
    pub refused: BTreeMap<String, u64>,
    /// Streams opened again after theirs ended.
    pub streams_resumed: u64,
}

/// Per-second counts since the timeline was made.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    start_unix: u64,
    seconds: Mutex<Vec<Second>>,
}

impl Default for Timeline {
    fn default() -> Self {
        let start_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { start: Instant::now(), start_unix, seconds: Mutex::new(vec![]) }
    }
}

impl Timeline {
    fn with_now(&self, f: impl FnOnce(&mut Second)) {
        let i = self.start.elapsed().as_secs() as usize;
        let mut seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        while seconds.len() <= i {
            let unix = self.start_unix + seconds.len() as u64;
            seconds.push(Second { unix, ..Second::default() });
        }
        f(&mut seconds[i]);
    }

    pub fn post_acked(&self, replayed: bool) {
        self.with_now(|s| {
            s.posts_acked += 1;
            s.posts_replayed += u64::from(replayed);
        });
    }

    pub fn reaction_acked(&self) {
        self.with_now(|s| s.reactions_acked += 1);
    }

    pub fn refused(&self, kind: &str, why: Refusal) {
        self.with_now(|s| *s.refused.entry(format!("{kind}:{why}")).or_default() += 1);
    }

    pub fn stream_resumed(&self) {
        self.with_now(|s| s.streams_resumed += 1);
    }

    /// Every attempt refused so far, by `kind:reason`.
    pub fn refusals(&self) -> BTreeMap<String, u64> {
        let seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = BTreeMap::new();
        for (k, n) in seconds.iter().flat_map(|s| s.refused.iter()) {
            *all.entry(k.clone()).or_default() += n;
        }
        all
    }

    /// Writes one JSON line per second to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let seconds = self.seconds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for s in &seconds {
            serde_json::to_writer(&mut out, s)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_kind_and_reason() {
        let t = Timeline::default();
        t.post_acked(false);
        t.refused("post", Refusal::Status(503));
        t.refused("post", Refusal::Status(503));
        t.refused("stream", Refusal::Connect);
        let all = t.refusals();
        assert_eq!(all.get("post:http_503"), Some(&2));
        assert_eq!(all.get("stream:connect"), Some(&1));
        let seconds = t.seconds.lock().unwrap();
        assert_eq!(seconds.iter().map(|s| s.posts_acked).sum::<u64>(), 1);
    }
}
