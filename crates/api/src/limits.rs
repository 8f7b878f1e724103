//! Abuse limits: request rates by budget, per client address and per user, and the number
//! of open event streams.
//!
//! Every API request falls in one budget (logins, sends, uploads, searches, the rest).
//! The [`enforce`] middleware charges the budget of the client's address before anything
//! else runs; the authenticating extractors charge the user's once they know who it is
//! ([`Limits::charge_user`]). An exhausted budget answers `429` with `Retry-After`.
//! Rates are GCRA (governor): `per_minute` sustained, `burst` at once.
//!
//! The counts live in this process: in the cluster shape each node keeps its own, so a
//! client spread over N nodes by a load balancer gets up to N times the budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::{ErrorCode, UserId};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `POST /api/v1/dev/login` (the dev login; with single sign-on, the identity provider
    /// limits its own logins).
    Login,
    /// `POST /api/v1/chats/{chat_id}/signals`: messages and locations.
    Send,
    /// `POST /api/v1/chats/{chat_id}/attachments`.
    Upload,
    /// `GET /api/v1/search`, `GET /api/v1/chats/{chat_id}/search`.
    Search,
    /// Every other API request.
    Other,
}

impl Budget {
    const ALL: [Budget; 5] = [Budget::Login, Budget::Send, Budget::Upload, Budget::Search, Budget::Other];

    /// The budget of an API request; `None` outside `/api/` (health, metrics, the web
    /// client's files).
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/api/v1/")?;
        // `chats/{chat_id}/<tail>`, the id one segment.
        let chat_route = |tail: &str| {
            rest.strip_prefix("chats/").and_then(|r| r.strip_suffix(tail)).is_some_and(|id| !id.contains('/'))
        };
        Some(match *method {
            Method::POST if rest == "dev/login" => Budget::Login,
            Method::POST if chat_route("/signals") => Budget::Send,
            Method::POST if chat_route("/attachments") => Budget::Upload,
            Method::GET if rest == "search" || chat_route("/search") => Budget::Search,
            _ => Budget::Other,
        })
    }

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            Budget::Login => "logins",
            Budget::Send => "sends",
            Budget::Upload => "uploads",
            Budget::Search => "searches",
            Budget::Other => "requests",
        }
    }
}

/// A rate: `per_minute` sustained, up to `burst` at once. `per_minute = 0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }

    fn quota(self) -> Option<Quota> {
        let per_minute = NonZeroU32::new(self.per_minute)?;
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Some(Quota::per_minute(per_minute).allow_burst(burst))
    }
}

/// One rate per budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetRates {
    pub login: Rate,
    pub send: Rate,
    pub upload: Rate,
    pub search: Rate,
    pub other: Rate,
}

impl BudgetRates {
    fn get(&self, budget: Budget) -> Rate {
        match budget {
            Budget::Login => self.login,
            Budget::Send => self.send,
            Budget::Upload => self.upload,
            Budget::Search => self.search,
            Budget::Other => self.other,
        }
    }

    /// Per user: a person typing fast, a client loading a busy chat list.
    pub const PER_USER: Self = Self {
        // Nobody is signed in yet: logins are limited per address only.
        login: Rate::new(0, 0),
        send: Rate::new(300, 30),
        upload: Rate::new(60, 20),
        search: Rate::new(120, 20),
        other: Rate::new(1_200, 200),
    };

    /// Per client address: a team behind one NAT, but not a password sprayer.
    pub const PER_ADDRESS: Self = Self {
        login: Rate::new(30, 10),
        send: Rate::new(3_000, 300),
        upload: Rate::new(600, 60),
        search: Rate::new(1_200, 100),
        other: Rate::new(12_000, 1_000),
    };
}

impl Default for BudgetRates {
    fn default() -> Self {
        Self::PER_USER
    }
}

/// The limits' configuration (`[limits.rate]` and the stream caps of `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Off only for benchmarks that drive thousands of users from one address.
    pub enabled: bool,
    pub per_user: BudgetRates,
    pub per_address: BudgetRates,
    /// Take the client's address from the last `X-Forwarded-For` entry (behind a reverse
    /// proxy that sets it) instead of the connection's peer.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_user: BudgetRates::PER_USER,
            per_address: BudgetRates::PER_ADDRESS,
            trust_forwarded_for: false,
        }
    }
}

/// How often idle keys are dropped from the limiters.
const FORGET_EVERY: Duration = Duration::from_secs(60);

type Keyed<K> = Option<DefaultKeyedRateLimiter<K>>;

/// The limiters and the open-stream counts of this process. Shared by every request.
pub struct Limits {
    config: RateLimitConfig,
    per_user: [Keyed<UserId>; 5],
    per_address: [Keyed<IpAddr>; 5],
    max_streams_per_user: usize,
    max_streams: usize,
    streams: Mutex<OpenStreams>,
    /// When idle keys were last dropped, in milliseconds after `started`.
    last_forget_ms: AtomicU64,
    started: Instant,
}

/// The event streams open on this node, per user and in total.
#[derive(Debug, Default)]
struct OpenStreams {
    per_user: HashMap<UserId, usize>,
    total: usize,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(config: RateLimitConfig, max_streams_per_user: usize, max_streams: usize) -> Self {
        fn keyed<K: std::hash::Hash + Eq + Clone>(enabled: bool, rates: &BudgetRates, budget: Budget) -> Keyed<K> {
            enabled.then(|| rates.get(budget).quota()).flatten().map(DefaultKeyedRateLimiter::keyed)
        }
        Self {
            per_user: Budget::ALL.map(|b| keyed(config.enabled, &config.per_user, b)),
            per_address: Budget::ALL.map(|b| keyed(config.enabled, &config.per_address, b)),
            config,
            max_streams_per_user,
            max_streams,
            streams: Mutex::new(OpenStreams::default()),
            last_forget_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    /// Charges the budget of the request (`parts`, classified by [`enforce`]) to `user`.
    pub fn charge_user(&self, parts: &Parts, user: UserId) -> Result<(), ApiError> {
        let Some(budget) = parts.extensions.get::<Budget>().copied() else { return Ok(()) };
        check(&self.per_user[budget.index()], &user, budget, "you")
    }

    /// Holds a place for one more event stream of `user`, given back when the guard drops.
    pub fn open_stream(self: &Arc<Self>, user: UserId) -> Result<StreamSlot, ApiError> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let mine = streams.per_user.get(&user).copied().unwrap_or(0);
        if mine >= self.max_streams_per_user {
            return Err(too_many_streams(format!("you have {mine} event streams open, the most allowed; close one")));
        }
        if streams.total >= self.max_streams {
            return Err(too_many_streams("this server has as many event streams open as it takes; retry later".into()));
        }
        streams.per_user.insert(user, mine + 1);
        streams.total += 1;
        Ok(StreamSlot { limits: self.clone(), user })
    }

    /// At most once per [`FORGET_EVERY`] (the request that finds it due does it), drops
    /// the keys whose budgets are full again, so the limiters' memory follows the active
    /// clients.
    fn forget_idle_keys(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_forget_ms.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= FORGET_EVERY.as_millis() as u64;
        if !due || self.last_forget_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return;
        }
        for limiter in self.per_user.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in self.per_address.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    fn client_address(&self, request: &Request) -> Option<IpAddr> {
        if self.config.trust_forwarded_for
            && let Some(forwarded) = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(last) = forwarded.rsplit(',').next()
            && let Ok(address) = last.trim().parse()
        {
            return Some(address);
        }
        request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
    }
}

/// One open event stream, counted until dropped.
#[derive(Debug)]
pub struct StreamSlot {
    limits: Arc<Limits>,
    user: UserId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.limits.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = streams.per_user.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                streams.per_user.remove(&self.user);
            }
        }
        streams.total -= 1;
    }
}

fn too_many_streams(detail: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyStreams, detail)
        .retry_after(Duration::from_secs(5))
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &Keyed<K>,
    key: &K,
    budget: Budget,
    whose: &str,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("{whose} sent too many {} too fast; retry after the time in Retry-After", budget.name()),
        )
        .retry_after(wait)
    })
}

/// The middleware: classifies an API request into its [`Budget`] (for the extractors that
/// charge the user) and charges the client address's.
pub async fn enforce(State(limits): State<Arc<Limits>>, mut request: Request, next: Next) -> Response {
    let Some(budget) = Budget::of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    limits.forget_idle_keys();
    if let Some(address) = limits.client_address(&request)
        && let Err(refused) = check(&limits.per_address[budget.index()], &address, budget, "your address")
    {
        return refused.into_response();
    }
    request.extensions_mut().insert(budget);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_in_their_budget() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(Budget::of(&post, "/api/v1/dev/login"), Some(Budget::Login));
        assert_eq!(Budget::of(&post, "/api/v1/chats/123/signals"), Some(Budget::Send));
        assert_eq!(Budget::of(&get, "/api/v1/chats/123/signals"), Some(Budget::Other));
        assert_eq!(Budget::of(&post, "/api/v1/chats/123/attachments"), Some(Budget::Upload));
        assert_eq!(Budget::of(&get, "/api/v1/search"), Some(Budget::Search));
        assert_eq!(Budget::of(&get, "/api/v1/chats/1/search"), Some(Budget::Search));
        assert_eq!(Budget::of(&get, "/api/v1/me"), Some(Budget::Other));
        assert_eq!(Budget::of(&get, "/healthz"), None);
        assert_eq!(Budget::of(&get, "/assets/app.js"), None);
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limits = Limits::new(
            RateLimitConfig {
                per_user: BudgetRates { send: Rate::new(60, 3), ..BudgetRates::PER_USER },
                ..RateLimitConfig::default()
            },
            2,
            3,
        );
        let user = domain::Id(7);
        let limiter = &limits.per_user[Budget::Send.index()];
        for _ in 0..3 {
            check(limiter, &user, Budget::Send, "you").expect("within the burst");
        }
        let refused = check(limiter, &user, Budget::Send, "you").expect_err("past the burst");
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        let wait = refused.retry_after.expect("a wait");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        // Another user has a budget of their own.
        check(limiter, &domain::Id(8), Budget::Send, "you").expect("another user");
    }

    #[test]
    fn streams_are_capped_per_user_and_in_total() {
        let limits = Arc::new(Limits::new(RateLimitConfig::default(), 2, 3));
        let (a, b) = (domain::Id(1), domain::Id(2));
        let first = limits.open_stream(a).expect("first");
        let _second = limits.open_stream(a).expect("second");
        assert_eq!(limits.open_stream(a).expect_err("third").code, ErrorCode::TooManyStreams);
        let _b1 = limits.open_stream(b).expect("b's first");
        assert_eq!(limits.open_stream(b).expect_err("over the total").code, ErrorCode::TooManyStreams);
        drop(first);
        limits.open_stream(b).expect("a place was given back");
    }
}
