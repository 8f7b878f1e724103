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
use crate::stream::LiveStream;
use crate::sys::rss_kib;
use crate::tally::{Tally, stream_node};

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

/// Logs in `streams` users, puts them in groups of `group_size` and opens their streams
/// (round-robin over `apis`, see [`stream_node`]), `concurrency` requests at a time.
/// Reads the memory of `server_pids` along the way.
pub async fn build(
    apis: &[Api],
    streams: usize,
    group_size: usize,
    concurrency: usize,
    tally: &Arc<Tally>,
    server_pids: &[u32],
    hooks: Option<&str>,
) -> anyhow::Result<Stage> {
    let mut memory = SetupMemory { rss_at_start_kib: rss_kib(server_pids), ..SetupMemory::default() };
    let api = &apis[0];
    let run = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let users: Vec<User> = futures::stream::iter(0..streams)
        .map(|i| async move { api.login(&format!("lg{run}-{i}")).await.with_context(|| format!("login of user {i}")) })
        .buffered(concurrency)
        .try_collect()
        .await?;
    eprintln!("setup: {} users logged in", users.len());

    let chunks: Vec<Vec<User>> = users.chunks(group_size).map(<[User]>::to_vec).collect();
    let groups: Vec<Group> = futures::stream::iter(chunks.into_iter().enumerate())
        .map(|(g, members)| async move {
            let others: Vec<&str> = members[1..].iter().map(|u| u.id.as_str()).collect();
            let id = api
                .create_group(&members[0], &format!("load {g}"), &others)
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
    let opened: Vec<(u32, usize, LiveStream)> = futures::stream::iter(slots.into_iter().enumerate())
        .map(|(i, (g, m, user))| async move {
            let node = stream_node(g, m, group_size, apis.len());
            let stream = LiveStream::connect(&apis[usize::from(node)], user, i)
                .await
                .with_context(|| format!("stream of member {m} of group {g} on node {node}"))?;
            anyhow::Ok((g, m, stream))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    let readers = opened.into_iter().map(|(g, m, stream)| tokio::spawn(stream.receive(g, m, tally.clone()))).collect();
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
