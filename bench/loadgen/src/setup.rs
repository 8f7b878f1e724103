//! Setting the stage: users log in, groups are created (both on the first node), and every
//! user opens a live stream, on the nodes in turn, and waits for `ready`. Each stream is
//! then read by its own task. The servers' resident memory is noted before and after the
//! streams open.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use tokio::task::JoinHandle;

use crate::api::{Api, User};
use crate::cli::RunArgs;
use crate::drive::RETRY_PAUSE;
use crate::stream::{LiveStream, Resume};
use crate::sys::rss_kib;
use crate::tally::{Tally, stream_node};
use crate::timeline::Timeline;

/// A group and its members, the owner first.
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub members: Vec<User>,
}

/// Everything the phases run against.
#[derive(Debug)]
pub struct Stage {
    pub groups: Vec<Group>,
    /// The reading tasks, one per stream; aborted at the end.
    pub readers: Vec<JoinHandle<()>>,
    pub memory: SetupMemory,
}

/// The servers' resident memory (KiB, all nodes added up) as the stage was set.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct SetupMemory {
    /// Before anything was set up.
    pub rss_at_start_kib: Option<u64>,
    /// Users and groups made (their join events delivered), no stream open yet.
    pub rss_before_streams_kib: Option<u64>,
    /// Every stream open and idle.
    pub rss_streams_open_kib: Option<u64>,
}

/// How long the servers get to settle (their fan-out and delivery flushes) before their
/// memory is read.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// Logs in `--streams` users, puts them in groups of `--group-size` and opens their streams
/// (round-robin over `apis`, see [`stream_node`]), `--setup-concurrency` requests at a
/// time. Reads the memory of the `--server-pid`s along the way. With `resume`, a stream
/// that ends is opened again (see [`Resume`]).
pub async fn build(
    apis: &[Api],
    args: &RunArgs,
    tally: &Arc<Tally>,
    hooks: Option<&str>,
    resume: Option<&Arc<Timeline>>,
) -> anyhow::Result<Stage> {
    let (streams, group_size, server_pids) = (args.streams, args.group_size, &args.server_pids[..]);
    let concurrency = args.setup_concurrency.max(1);
    let mut memory = SetupMemory { rss_at_start_kib: rss_kib(server_pids), ..SetupMemory::default() };
    let api = &apis[0];
    let run = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let retry = (!args.retry.is_zero()).then_some(args.retry);
    let users: Vec<User> = futures::stream::iter(0..streams)
        .map(|i| async move {
            let name = format!("lg{run}-{i}");
            retrying(retry, || api.login(&name)).await.with_context(|| format!("login of user {i}"))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    eprintln!("setup: {} users logged in", users.len());

    let chunks: Vec<Vec<User>> = users.chunks(group_size).map(<[User]>::to_vec).collect();
    let groups: Vec<Group> = futures::stream::iter(chunks.into_iter().enumerate())
        .map(|(g, members)| async move {
            let others: Vec<&str> = members[1..].iter().map(|u| u.id.as_str()).collect();
            let (title, nonce) = (format!("load {g}"), format!("lg{run}-g{g}"));
            let id = retrying(retry, || api.create_group(&members[0], &title, &others, &nonce))
                .await
                .with_context(|| format!("creation of group {g}"))?;
            anyhow::Ok(Group { id, members })
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    eprintln!("setup: {} groups created", groups.len());
    tokio::time::sleep(SETTLE).await;
    memory.rss_before_streams_kib = rss_kib(server_pids);
    if let Some(hooks) = hooks {
        let targets = groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| group.members.iter().enumerate().map(move |(m, user)| (g, m, user)));
        futures::stream::iter(targets)
            .map(|(g, m, user)| async move {
                api.add_webhook(user, &format!("{hooks}/hook/{g}/{m}"), crate::hooks::SECRET)
                    .await
                    .with_context(|| format!("webhook of member {m} of group {g}"))
            })
            .buffered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        eprintln!("setup: {streams} offline users with a webhook push target each");
        return Ok(Stage { groups, readers: vec![], memory });
    }

    let slots: Vec<(u32, usize, &User)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, group)| group.members.iter().enumerate().map(move |(m, user)| (g as u32, m, user)))
        .collect();
    let opened: Vec<(u32, usize, LiveStream, Option<Resume>)> = futures::stream::iter(slots.into_iter().enumerate())
        .map(|(i, (g, m, user))| async move {
            let node = stream_node(g, m, group_size, apis.len());
            let stream = retrying(retry, || LiveStream::connect(&apis[usize::from(node)], user, i, None))
                .await
                .with_context(|| format!("stream of member {m} of group {g} on node {node}"))?;
            let resume = resume.map(|timeline| Resume {
                apis: apis.to_vec(),
                user: user.clone(),
                index: i,
                node: usize::from(node),
                timeline: timeline.clone(),
            });
            anyhow::Ok((g, m, stream, resume))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    let readers = opened
        .into_iter()
        .map(|(g, m, stream, resume)| tokio::spawn(stream.receive(g, m, tally.clone(), resume)))
        .collect();
    eprintln!("setup: {streams} streams open and ready, over {} node(s)", apis.len());
    tokio::time::sleep(SETTLE).await;
    memory.rss_streams_open_kib = rss_kib(server_pids);
    if let (Some(start), Some(before), Some(open)) =
        (memory.rss_at_start_kib, memory.rss_before_streams_kib, memory.rss_streams_open_kib)
    {
        let per_stream = |baseline: u64| open.saturating_sub(baseline) as f64 / streams.max(1) as f64;
        eprintln!(
            "setup: server RSS {:.1} MiB at start, {:.1} MiB with the users and groups, {:.1} MiB with {streams} \
             streams open: {:.1} KiB per stream over the start, {:.1} over the users and groups alone",
            start as f64 / 1024.0,
            before as f64 / 1024.0,
            open as f64 / 1024.0,
            per_stream(start),
            per_stream(before),
        );
    }
    Ok(Stage { groups, readers, memory })
}

/// Runs `attempt` until it succeeds or, with `retry`, that long has passed (a pause of
/// [`RETRY_PAUSE`] between attempts); returns its last error.
async fn retrying<T, Fut>(retry: Option<std::time::Duration>, attempt: impl Fn() -> Fut) -> anyhow::Result<T>
where
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let until = std::time::Instant::now() + retry.unwrap_or_default();
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if retry.is_none() || std::time::Instant::now() >= until => return Err(e),
            Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
        }
    }
}
