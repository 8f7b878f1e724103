//! One round: the eight phases on chats no earlier round wrote. All inserts come before
//! all reads; `raw_first` runs the baseline's inserts (and reads) before the adapter's,
//! so that alternating it across rounds cancels what the order does to either side
//! (JIT, compaction and flushes the previous phase left behind).

use std::sync::Arc;

use domain::ChatId;
use store_cql::CqlStore;

use crate::fixture::Fixture;
use crate::harness::{Bounds, PhaseResult, run_phase};
use crate::raw::Raw;
use crate::report::*;
use crate::{adapter, raw};

/// The chats each phase writes, fresh per round.
struct Chats {
    nonce: Arc<[ChatId]>,
    fenced: Arc<[ChatId]>,
    plain: Arc<[ChatId]>,
    raw: Arc<[ChatId]>,
    lwt: Arc<[ChatId]>,
}

/// The stores a round sends through: claiming nonces by LWT, and behind the NATS nonce
/// fence if there is one.
pub struct Stores {
    pub lwt: CqlStore,
    pub fenced: Option<CqlStore>,
}

pub async fn round(stores: &Stores, raw: &Raw, fx: &Arc<Fixture>, b: &Bounds, raw_first: bool) -> Vec<PhaseResult> {
    let store = &stores.lwt;
    let bucket = fx.current_bucket();
    let c = Chats {
        nonce: fx.new_chats(),
        fenced: fx.new_chats(),
        plain: fx.new_chats(),
        raw: fx.new_chats(),
        lwt: fx.new_chats(),
    };
    let mut out = vec![];
    if raw_first {
        out.extend(raw_inserts(raw, fx, b, &c).await);
        out.extend(adapter_inserts(stores, fx, b, &c).await);
    } else {
        out.extend(adapter_inserts(stores, fx, b, &c).await);
        out.extend(raw_inserts(raw, fx, b, &c).await);
    }
    if fx.current_bucket() != bucket {
        eprintln!("warning: the inserts crossed a bucket boundary; raw reads see only bucket {bucket}");
    }
    // Every `Latest` page must be full when each chat holds at least a page.
    let rows = |name: &str| out.iter().find(|r| r.name == name).map_or(0, |r| r.tally.rows);
    let want = |rows: u64| (rows / fx.chats as u64).min(fx.page as u64) as usize;
    let (adapter_want, raw_want) = (want(rows(ADAPTER_INSERT_NONCE)), want(rows(RAW_INSERT)));
    if raw_first {
        out.extend(raw_reads(raw, fx, b, &c, bucket, raw_want).await);
        out.extend(adapter_reads(store, fx, b, &c, adapter_want).await);
    } else {
        out.extend(adapter_reads(store, fx, b, &c, adapter_want).await);
        out.extend(raw_reads(raw, fx, b, &c, bucket, raw_want).await);
    }
    out.sort_by_key(|r| PHASES.iter().position(|p| *p == r.name));
    out
}

/// The adapter's inserts; sends that failed are then sent again (and reported) the way a
/// client retries through the service, to see what a failed send leaves behind.
async fn adapter_inserts(stores: &Stores, fx: &Arc<Fixture>, b: &Bounds, c: &Chats) -> Vec<PhaseResult> {
    let mut out = vec![];
    let fenced = stores.fenced.as_ref().map(|store| (ADAPTER_INSERT_FENCED, store, &c.fenced, true));
    let phases = [(ADAPTER_INSERT_NONCE, &stores.lwt, &c.nonce, true)].into_iter().chain(fenced).chain([(
        ADAPTER_INSERT_PLAIN,
        &stores.lwt,
        &c.plain,
        false,
    )]);
    for (name, store, chats, nonce) in phases {
        let failed = adapter::Failed::default();
        out.push(
            run_phase(name, b, |_, g| {
                adapter::insert(store.clone(), fx.clone(), chats.clone(), nonce, failed.clone(), g)
            })
            .await,
        );
        let resent = adapter::resend(store, fx, &failed).await;
        if resent.inserted + resent.duplicate_readable + resent.duplicate_missing + resent.failed_again > 0 {
            println!("{name}: failed sends sent again (same nonce, new id): {resent:?}");
        }
    }
    out
}

async fn raw_inserts(raw: &Raw, fx: &Arc<Fixture>, b: &Bounds, c: &Chats) -> Vec<PhaseResult> {
    vec![
        run_phase(RAW_INSERT, b, |_, g| raw::insert(raw.clone(), fx.clone(), c.raw.clone(), g)).await,
        run_phase(RAW_LWT, b, |_, g| raw::insert_lwt(raw.clone(), fx.clone(), c.lwt.clone(), g)).await,
    ]
}

async fn adapter_reads(store: &CqlStore, fx: &Arc<Fixture>, b: &Bounds, c: &Chats, want: usize) -> Vec<PhaseResult> {
    vec![
        run_phase(ADAPTER_LATEST, b, |_, g| adapter::read_latest(store.clone(), fx.clone(), c.nonce.clone(), want, g))
            .await,
        run_phase(ADAPTER_WALK, b, |w, g| adapter::read_walk(store.clone(), fx.clone(), c.nonce.clone(), w, g)).await,
    ]
}

async fn raw_reads(raw: &Raw, fx: &Arc<Fixture>, b: &Bounds, c: &Chats, bucket: i64, want: usize) -> Vec<PhaseResult> {
    vec![
        run_phase(RAW_LATEST, b, |_, g| raw::read_latest(raw.clone(), fx.clone(), c.raw.clone(), bucket, want, g))
            .await,
        run_phase(RAW_WALK, b, |w, g| raw::read_walk(raw.clone(), fx.clone(), c.raw.clone(), bucket, w, g)).await,
    ]
}
