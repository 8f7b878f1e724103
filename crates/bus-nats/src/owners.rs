//! Which worker of an in-order consumer group pulls which partitions.
//!
//! An in-order group's partition consumers are pinned-client consumers (NATS ≥ 2.11): the
//! server hands a partition's events to one pull stream at a time (the pinned one), up to
//! `max_ack_pending` of them before the first is acknowledged, so a busy chat's events
//! reach one worker together and in order. Pinning alone would hand every partition to
//! whichever worker pulled first, so the workers also share the partitions out: each
//! worker of a group keeps a key `<group>.<worker>` in the KV bucket `<PREFIX>_WORKERS`
//! (refreshed every [`REFRESH`], gone [`WORKER_TTL`] after its worker stopped refreshing
//! it), and pulls only the partitions it wins by rendezvous hashing over the live keys.
//! Every worker computes the same split from the same keys; while two views differ (a
//! worker just came or went), the pin still lets one pull stream have a partition.
//!
//! A worker that loses a partition stops pulling it, lets the events of it in hand finish,
//! and unpins it: at once if the server has none of its events unacknowledged, else after
//! `ack_wait` (by when those, sent to it but never seen, are due again), so the next owner
//! gets them first, in order. A worker that dies keeps its pins until the pin's timeout
//! ([`crate::NatsConfig::pin_ttl`]), with the same effect.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;

use crate::{Inner, unavailable};

/// How often a worker refreshes its key and looks at the others'.
pub(crate) const REFRESH: Duration = Duration::from_secs(1);
/// How long a new worker waits, registered, before it pulls.
pub(crate) const SETTLE: Duration = Duration::from_millis(500);
/// How long a worker's key outlives its last refresh.
pub(crate) const WORKER_TTL: Duration = Duration::from_secs(3);
/// The priority group the pull streams of an in-order group's consumers name.
pub(crate) const PIN_GROUP: &str = "owner";

/// The bucket of live workers.
pub(crate) fn bucket(config: &crate::NatsConfig) -> kv::Config {
    kv::Config {
        bucket: config.workers_bucket(),
        description: "Petit chat: the live workers of each in-order consumer group".into(),
        history: 1,
        max_age: WORKER_TTL,
        // File storage, as presence's: a memory stream is gone after a NATS restart, and a
        // worker could then neither register nor see the others.
        storage: jetstream::stream::StorageType::File,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// One worker's place among the workers of its group.
pub(crate) struct Registration {
    group: String,
    /// This worker's key.
    key: String,
}

impl Registration {
    pub(crate) fn new(group: &str) -> Self {
        let id: u64 = rand::random();
        Self { group: group.to_string(), key: format!("{group}.{id:016x}") }
    }

    /// Refreshes this worker's key and answers the partitions (of `partitions`) it owns now.
    /// A bucket that is gone (deleted, or lost with the server's storage) is created again,
    /// so the workers that are left share out the partitions of those that are not.
    pub(crate) async fn refresh(&self, inner: &Inner, partitions: u32) -> crate::Result<BTreeSet<u32>> {
        if inner.workers.put(&self.key, bytes::Bytes::new()).await.is_err() {
            crate::key_value(&inner.js, bucket(&inner.config)).await?;
            inner
                .workers
                .put(&self.key, bytes::Bytes::new())
                .await
                .map_err(|e| unavailable("cannot register a worker", e))?;
        }
        let prefix = format!("{}.", self.group);
        let workers: Vec<String> = inner
            .workers
            .keys()
            .await
            .map_err(|e| unavailable("cannot list the workers", e))?
            .try_filter(|key| futures::future::ready(key.starts_with(&prefix)))
            .try_collect()
            .await
            .map_err(|e| unavailable("cannot list the workers", e))?;
        Ok(owned(&workers, &self.key, partitions))
    }

    /// Removes this worker's key, so the others take its partitions at their next refresh.
    pub(crate) async fn leave(&self, inner: &Inner) {
        if let Err(error) = inner.workers.delete(&self.key).await {
            tracing::debug!(%error, "nats: cannot remove a worker's key; it expires");
        }
    }
}

/// The partitions `me` wins among `workers` (rendezvous hashing: a partition goes to the
/// worker with the highest weight for it, so a worker coming or going moves only its share).
pub(crate) fn owned(workers: &[String], me: &str, partitions: u32) -> BTreeSet<u32> {
    let mut workers: Vec<&str> = workers.iter().map(String::as_str).collect();
    if !workers.contains(&me) {
        workers.push(me);
    }
    (0..partitions).filter(|&p| workers.iter().max_by_key(|w| (weight(w, p), **w)).is_some_and(|w| *w == me)).collect()
}

/// A worker's weight for a partition: FNV-1a of the key, mixed with the partition
/// (splitmix64's finaliser). The same in every build, so workers of two versions agree.
fn weight(worker: &str, partition: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in worker.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h ^ u64::from(partition).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("fanout.{i:016x}")).collect()
    }

    #[test]
    fn every_partition_has_exactly_one_owner_and_the_shares_are_even() {
        for n in 1..=5 {
            let workers = keys(n);
            let shares: Vec<BTreeSet<u32>> = workers.iter().map(|w| owned(&workers, w, 64)).collect();
            for p in 0..64 {
                assert_eq!(shares.iter().filter(|s| s.contains(&p)).count(), 1, "partition {p} with {n} workers");
            }
            for share in &shares {
                assert!(share.len() >= 64 / n / 2, "{n} workers: a share of {} is too small", share.len());
            }
        }
    }

    #[test]
    fn a_worker_coming_moves_only_what_it_takes() {
        let before = keys(2);
        let after = keys(3);
        for w in &before {
            let (was, is) = (owned(&before, w, 64), owned(&after, w, 64));
            assert!(is.is_subset(&was), "{w} gained partitions when another worker came");
        }
    }

    #[test]
    fn a_worker_not_listed_yet_counts_itself() {
        let others = keys(1);
        let me = "fanout.ffffffffffffffff";
        let mine = owned(&others, me, 64);
        let theirs = owned(&others, &others[0], 64);
        assert!(!mine.is_empty() && mine.len() < 64);
        // The other does not know of me yet: it still pulls them all, and the pins decide.
        assert_eq!(theirs.len(), 64);
    }
}
