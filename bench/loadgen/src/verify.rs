//! After a run (`--verify`): every acknowledged post is in its group's history exactly
//! once, and every reaction count there is the number of reactions acknowledged. Read
//! through the API, as a user would see it.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use serde::Serialize;

use crate::api::Api;
use crate::drive::EMOJI;
use crate::setup::Group;
use crate::stream::parse_seq;
use crate::tally::Tally;

/// The reactions the load made, by signal id.
#[derive(Debug, Default)]
pub struct Reactions {
    by_signal: Mutex<HashMap<String, Expected>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Expected {
    group: u32,
    tried: u64,
    acked: u64,
}

impl Reactions {
    fn with(&self, signal: &str, f: impl FnOnce(&mut Expected)) {
        let mut map = self.by_signal.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(signal.to_string()).or_default());
    }

    /// A member of `group` is about to react to `signal`.
    pub fn tried(&self, signal: &str, group: u32) {
        self.with(signal, |e| {
            e.group = group;
            e.tried += 1;
        });
    }

    /// ... and was acknowledged.
    pub fn acked(&self, signal: &str) {
        self.with(signal, |e| e.acked += 1);
    }
}

/// What the histories showed.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub posts_acked: u64,
    /// Acknowledged posts not in their group's history.
    pub posts_missing: u64,
    /// Posts found more than once (each extra copy counts).
    pub posts_duplicated: u64,
    /// Posts in a history that were never acknowledged (refused to the end, or unanswered):
    /// allowed, since the client could not know.
    pub posts_stored_unacked: u64,
    pub reactions_acked: u64,
    /// Signals whose count is not the number of reactions acknowledged (beyond the ones
    /// whose outcome the client could not know).
    pub reaction_counts_wrong: u64,
    /// Deliveries to the members' streams of acknowledged posts that never came, and ones
    /// that came twice (or to a stream outside the group), all phases together.
    pub deliveries_lost: u64,
    pub deliveries_duplicated: u64,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        self.posts_missing == 0
            && self.posts_duplicated == 0
            && self.reaction_counts_wrong == 0
            && self.deliveries_lost == 0
            && self.deliveries_duplicated == 0
    }
}

/// Reads every group's whole history through the first node that answers.
pub async fn check(apis: &[Api], groups: &[Group], tally: &Tally, reactions: &Reactions) -> anyhow::Result<Verdict> {
    let outcomes = tally.outcomes();
    let expected = reactions.by_signal.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut verdict = Verdict {
        posts_acked: outcomes.iter().filter(|(_, o)| *o == Some(true)).count() as u64,
        reactions_acked: expected.values().map(|e| e.acked).sum(),
        ..Verdict::default()
    };
    let mut seen = vec![0u32; outcomes.len()];
    let mut counted: HashMap<String, i64> = HashMap::new();
    for (g, group) in groups.iter().enumerate() {
        let items = history(apis, group).await.with_context(|| format!("history of group {g}"))?;
        for item in items {
            let Some(seq) = item["text"].as_str().and_then(parse_seq) else { continue };
            let Some(slot) = seen.get_mut(seq as usize) else { continue };
            if outcomes[seq as usize].0 as usize != g {
                anyhow::bail!("post {seq} is in the history of group {g}, not of its own");
            }
            *slot += 1;
            let id = item["id"].as_str().unwrap_or_default().to_string();
            let count = item["reactions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["emoji"] == EMOJI)
                .and_then(|r| r["count"].as_i64())
                .unwrap_or(0);
            counted.insert(id, count);
        }
    }
    for (seq, (_, outcome)) in outcomes.iter().enumerate() {
        match (seen[seq], outcome) {
            (0, Some(true)) => verdict.posts_missing += 1,
            (0, _) => {}
            (n, acked) => {
                verdict.posts_duplicated += u64::from(n - 1);
                if *acked != Some(true) {
                    verdict.posts_stored_unacked += 1;
                }
            }
        }
    }
    for (signal, e) in &expected {
        let got = counted.get(signal).copied().unwrap_or(0);
        // Between what was acknowledged and what was tried (refused or unanswered ones may
        // have been stored).
        let (low, high) = (e.acked as i64, e.tried as i64);
        if got < low || got > high {
            eprintln!("verify: signal {signal} of group {} shows {got} {EMOJI}, {} acknowledged", e.group, e.acked);
            verdict.reaction_counts_wrong += 1;
        }
    }
    Ok(verdict)
}

async fn history(apis: &[Api], group: &Group) -> anyhow::Result<Vec<serde_json::Value>> {
    let owner = &group.members[0];
    let mut last_error = None;
    'nodes: for api in apis {
        let (mut all, mut cursor) = (vec![], None);
        loop {
            match api.history_page(owner, &group.id, cursor.as_deref()).await {
                Ok((items, next)) => {
                    all.extend(items);
                    match next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(all),
                    }
                }
                Err(e) => {
                    last_error = Some(e);
                    continue 'nodes;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no node")))
}
