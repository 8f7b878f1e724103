//! 64-bit, time-ordered identifiers.
//!
//! Layout (most significant first): 42 bits of milliseconds since [`EPOCH_MS`], 10 bits of
//! node id, 12 bits of per-node sequence. Ids from one generator are strictly increasing;
//! ids from generators with different node ids never collide, and no step of generating an
//! id talks to another process. The node id comes from configuration in a cluster (one
//! per process) and is random when unset (safe for the single process of the embedded
//! shape). Ids travel in JSON as decimal strings because JavaScript loses precision past
//! 2^53.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// 2025-01-01T00:00:00Z in Unix milliseconds: the zero of the id clock.
pub const EPOCH_MS: u64 = 1_735_689_600_000;
const NODE_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
const TIME_SHIFT: u32 = NODE_BITS + SEQUENCE_BITS;
/// The largest node id a generator accepts.
pub const MAX_NODE_ID: u16 = (1 << NODE_BITS) - 1;
const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;
/// Width of a signal bucket: 10 days, as Discord does, so a partition stays bounded.
pub const BUCKET_MS: u64 = 10 * 24 * 3600 * 1000;

/// A raw 64-bit id. The typed aliases below say what it names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Id(pub u64);

pub type UserId = Id;
pub type ChatId = Id;
pub type SignalId = Id;

impl Id {
    /// The smallest id; used as "nothing yet" for watermarks.
    pub const ZERO: Id = Id(0);

    /// Unix milliseconds at which the id was generated.
    pub fn unix_ms(self) -> u64 {
        (self.0 >> TIME_SHIFT) + EPOCH_MS
    }

    /// The time bucket of the id (see [`BUCKET_MS`]).
    pub fn bucket(self) -> i64 {
        ((self.0 >> TIME_SHIFT) / BUCKET_MS) as i64
    }

    /// The smallest id that can be generated at `unix_ms`.
    pub fn first_at(unix_ms: u64) -> Id {
        Id(unix_ms.saturating_sub(EPOCH_MS) << TIME_SHIFT)
    }

    /// The first id of a bucket.
    pub fn first_of_bucket(bucket: i64) -> Id {
        Id(((bucket.max(0) as u64) * BUCKET_MS) << TIME_SHIFT)
    }

    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub fn from_i64(v: i64) -> Id {
        Id(v as u64)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

/// The error of parsing an id from text.
#[derive(Debug, thiserror::Error)]
#[error("an id is a decimal string of at most 19 digits")]
pub struct ParseIdError;

impl FromStr for Id {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseIdError);
        }
        let v: u64 = s.parse().map_err(|_| ParseIdError)?;
        // Ids are stored as signed 64-bit integers by SQLite and CQL.
        if v > i64::MAX as u64 {
            return Err(ParseIdError);
        }
        Ok(Id(v))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Generates ids for one process. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct IdGenerator {
    node: u64,
    /// (last millisecond used, last sequence used in it)
    state: Mutex<(u64, u64)>,
}

impl IdGenerator {
    /// A generator with an explicit node id (`0..=MAX_NODE_ID`); out of range values are
    /// reduced modulo 1024.
    pub fn new(node: u16) -> Self {
        Self { node: u64::from(node & MAX_NODE_ID), state: Mutex::new((0, 0)) }
    }

    /// A generator with a random node id.
    pub fn with_random_node() -> Self {
        Self::new(rand::random::<u16>() & MAX_NODE_ID)
    }

    pub fn node(&self) -> u16 {
        self.node as u16
    }

    /// The next id: strictly greater than every id this generator returned before, even if
    /// the wall clock steps back (the generator then runs on its own clock until the wall
    /// clock catches up).
    pub fn next_id(&self) -> Id {
        let now = now_ms().saturating_sub(EPOCH_MS);
        // A poisoned lock only means another thread panicked between two plain integer
        // writes; the state is still consistent.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (mut ms, mut seq) = *state;
        if now > ms {
            ms = now;
            seq = 0;
        } else if seq < MAX_SEQUENCE {
            seq += 1;
        } else {
            ms += 1;
            seq = 0;
        }
        *state = (ms, seq);
        Id((ms << TIME_SHIFT) | (self.node << SEQUENCE_BITS) | seq)
    }
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_from_one_generator_strictly_increase() {
        let g = IdGenerator::new(7);
        let mut last = Id::ZERO;
        for _ in 0..20_000 {
            let id = g.next_id();
            assert!(id > last);
            last = id;
        }
    }

    #[test]
    fn generators_with_distinct_nodes_never_collide() {
        let a = IdGenerator::new(1);
        let b = IdGenerator::new(2);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(a.next_id()));
            assert!(seen.insert(b.next_id()));
        }
    }

    #[test]
    fn id_time_is_now_and_bucket_follows_it() {
        let g = IdGenerator::new(0);
        let before = now_ms();
        let id = g.next_id();
        let after = now_ms();
        assert!(id.unix_ms() >= before && id.unix_ms() <= after + 5);
        assert_eq!(id.bucket(), ((id.unix_ms() - EPOCH_MS) / BUCKET_MS) as i64);
        assert!(Id::first_of_bucket(id.bucket()) <= id);
        assert!(Id::first_of_bucket(id.bucket() + 1) > id);
    }

    #[test]
    fn ids_are_json_strings() {
        let id = Id(9_007_199_254_740_993); // 2^53 + 1: a JS number would round it
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"9007199254740993\"");
        let back: Id = serde_json::from_str("\"9007199254740993\"").unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn parsing_rejects_what_is_not_an_id() {
        for bad in ["", "-1", "12a", "1.5", " 1", "99999999999999999999", "9223372036854775808"] {
            assert!(bad.parse::<Id>().is_err(), "{bad:?} parsed");
        }
        assert_eq!("9223372036854775807".parse::<Id>().unwrap(), Id(i64::MAX as u64));
    }
}
