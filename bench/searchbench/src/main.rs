//! The search benchmark (see bench/README.md, "Search").
//!
//! `searchbench index --adapter tantivy|opensearch`: generates a corpus of chat messages
//! (seeded; words of English, French, German and Spanish with their accents, names,
//! numbers, now and then a link), writes it through the `TextIndex` port in bulk batches of
//! the indexer's size, then times queries of 1 and 3 words in one chat and across 200
//! chats (the queries of one chat's search and of a person's global search).
//!
//! `searchbench live --url URL`: posts messages at a steady rate to a running server (dev
//! login) and, for one message in `--sample`, searches its unique word every `--poll-ms`
//! until found: post → searchable latency under load (the searches are load too: keep
//! them a small share).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::{Id, ParsedQuery};
use hdrhistogram::Histogram;
use ports::{IndexedSignal, TextIndex, TextQuery};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bulk indexing and query latency through the port.
    Index {
        #[arg(long)]
        adapter: String,
        /// Messages in the corpus.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Chats they are spread over.
        #[arg(long, default_value_t = 2_000)]
        chats: u64,
        /// Messages per bulk write (the indexer writes at most 1000).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Queries of each kind.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// OpenSearch URL (adapter opensearch).
        #[arg(long, default_value = "http://127.0.0.1:9200")]
        url: String,
        /// Primary shards of the OpenSearch index.
        #[arg(long, default_value_t = 3)]
        shards: u32,
    },
    /// Post → searchable latency against a running server with the dev login.
    Live {
        #[arg(long)]
        url: String,
        /// Messages per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// One message in this many is followed until searchable.
        #[arg(long, default_value_t = 20)]
        sample: u64,
        /// Milliseconds between two searches for a followed message.
        #[arg(long, default_value_t = 50)]
        poll_ms: u64,
        /// Chats the messages are spread over (groups of 2; the other benchmarks' 1,000
        /// users in groups of 10 make 100).
        #[arg(long, default_value_t = 100)]
        chats: usize,
    },
}

const ENGLISH: &[&str] = &[
    "the",
    "meeting",
    "tomorrow",
    "project",
    "deadline",
    "review",
    "please",
    "thanks",
    "budget",
    "release",
    "deploy",
    "server",
    "customer",
    "invoice",
    "report",
    "draft",
    "lunch",
    "coffee",
    "weekend",
    "holiday",
    "update",
    "ticket",
    "issue",
    "fixed",
    "broken",
    "quick",
    "question",
    "answer",
    "team",
    "office",
    "remote",
    "call",
    "schedule",
    "morning",
    "afternoon",
    "evening",
    "document",
    "slides",
    "design",
    "mockup",
    "feedback",
    "approve",
    "merge",
    "branch",
    "build",
    "test",
    "failing",
    "green",
    "database",
    "migration",
    "backup",
    "restore",
    "password",
    "account",
    "login",
    "error",
    "warning",
    "latency",
    "throughput",
    "memory",
    "disk",
    "network",
    "router",
];
const FRENCH: &[&str] = &[
    "réunion",
    "demain",
    "projet",
    "échéance",
    "relecture",
    "merci",
    "budget",
    "livraison",
    "déploiement",
    "serveur",
    "client",
    "facture",
    "rapport",
    "brouillon",
    "déjeuner",
    "café",
    "vacances",
    "mise",
    "à",
    "jour",
    "problème",
    "réglé",
    "cassé",
    "rapide",
    "question",
    "réponse",
    "équipe",
    "bureau",
    "télétravail",
    "appel",
    "matin",
    "après-midi",
    "soirée",
    "présentation",
    "maquette",
    "retour",
    "valider",
    "fusion",
    "été",
    "hôtel",
    "garçon",
    "noël",
    "où",
    "très",
    "déjà",
    "voilà",
    "ça",
    "élève",
    "forêt",
    "crème",
    "brûlée",
];
const GERMAN: &[&str] = &[
    "Besprechung",
    "morgen",
    "Projekt",
    "Frist",
    "Prüfung",
    "bitte",
    "danke",
    "Haushalt",
    "Veröffentlichung",
    "Kunde",
    "Rechnung",
    "Bericht",
    "Entwurf",
    "Mittagessen",
    "Kaffee",
    "Wochenende",
    "Urlaub",
    "Straße",
    "Größe",
    "schön",
    "über",
    "müssen",
    "Fehler",
    "Lösung",
    "Frühstück",
    "Bürozeit",
    "Übersicht",
    "Änderung",
];
const SPANISH: &[&str] = &[
    "reunión",
    "mañana",
    "proyecto",
    "plazo",
    "revisión",
    "gracias",
    "presupuesto",
    "lanzamiento",
    "cliente",
    "factura",
    "informe",
    "borrador",
    "almuerzo",
    "vacaciones",
    "actualización",
    "pregunta",
    "respuesta",
    "equipo",
    "oficina",
    "llamada",
    "niño",
    "año",
    "señor",
    "corazón",
    "canción",
    "está",
    "también",
];
const NAMES: &[&str] = &["Alice", "Bob", "Chloé", "Dário", "Émile", "Fatima", "Günther", "Hana", "Iñaki", "José"];

/// A generated message: mostly one language, with names, numbers and sometimes a link.
fn sentence(rng: &mut StdRng) -> String {
    let lang = match rng.random_range(0..10) {
        0..=4 => ENGLISH,
        5..=6 => FRENCH,
        7..=8 => GERMAN,
        _ => SPANISH,
    };
    let len = rng.random_range(3..=25);
    let mut words = Vec::with_capacity(len + 2);
    for _ in 0..len {
        // Roughly Zipf: low indices far more often.
        let r: f64 = rng.random();
        words.push(lang[((r * r * r) * lang.len() as f64) as usize].to_string());
    }
    if rng.random_bool(0.3) {
        words.insert(rng.random_range(0..words.len()), NAMES[rng.random_range(0..NAMES.len())].to_string());
    }
    if rng.random_bool(0.2) {
        words.push(rng.random_range(1..10_000).to_string());
    }
    if rng.random_bool(0.05) {
        words.push(format!("https://example.org/doc/{}", rng.random_range(1..100_000)));
    }
    words.join(" ")
}

fn stats(label: &str, h: &Histogram<u64>) {
    println!(
        "{label:<34} n={:<6} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        h.len(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Index { adapter, messages, chats, batch, queries, url, shards } => {
            index_bench(&adapter, messages, chats, batch, queries, &url, shards).await
        }
        Command::Live { url, rate, seconds, sample, poll_ms, chats } => {
            live_bench(&url, rate, seconds, sample, Duration::from_millis(poll_ms), chats).await
        }
    }
}

async fn index_bench(
    adapter: &str,
    messages: u64,
    chats: u64,
    batch: usize,
    queries: usize,
    url: &str,
    shards: u32,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let os_config = search::OpenSearchConfig {
        url: url.to_string(),
        index: format!("searchbench_{:x}", rand::random::<u32>()),
        shards,
        replicas: 0,
        ..search::OpenSearchConfig::default()
    };
    let tantivy = (adapter == "tantivy").then(|| search::TantivyIndex::open(dir.path())).transpose()?;
    let index: Arc<dyn TextIndex> = match adapter {
        "tantivy" => Arc::new(tantivy.clone().context("tantivy")?),
        "opensearch" => Arc::new(search::OpenSearchIndex::connect(&os_config).await?),
        other => anyhow::bail!("unknown adapter {other}"),
    };
    println!("adapter {adapter}: {messages} messages over {chats} chats, batches of {batch}");
    let mut rng = StdRng::seed_from_u64(42);
    let base = Id::first_at(domain::id::now_ms() - 365 * 24 * 3600 * 1000).0;
    let started = Instant::now();
    let mut pending = Vec::with_capacity(batch);
    let mut sample_texts = vec![];
    for n in 0..messages {
        let text = sentence(&mut rng);
        if sample_texts.len() < queries && rng.random_bool(0.001) {
            sample_texts.push(text.clone());
        }
        pending.push(IndexedSignal {
            chat_id: Id(1 + n % chats),
            signal_id: Id(base + n * 4096),
            author_id: Id(1_000 + rng.random_range(0..50)),
            has_attachment: rng.random_bool(0.05),
            has_link: domain::search::has_link(&text),
            text,
            revision: 1,
        });
        if pending.len() == batch {
            index.index(&pending).await?;
            pending.clear();
        }
        if (n + 1) % 100_000 == 0 {
            println!("  {} indexed, {:.0} docs/s", n + 1, (n + 1) as f64 / started.elapsed().as_secs_f64());
        }
    }
    index.index(&pending).await?;
    let took = started.elapsed();
    println!("indexed {messages} in {:.1} s: {:.0} docs/s", took.as_secs_f64(), messages as f64 / took.as_secs_f64());
    // OpenSearch makes writes searchable at its next refresh.
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Some(t) = &tantivy {
        println!("segments: {}", t.segment_count());
    }

    let one_word: Vec<String> = (0..queries)
        .map(|i| {
            let lang = [ENGLISH, FRENCH, GERMAN, SPANISH][i % 4];
            format!("{} ", lang[rng.random_range(0..lang.len())])
        })
        .collect();
    let three_words: Vec<String> = sample_texts
        .iter()
        .map(|t| {
            let words: Vec<&str> = t.split_whitespace().filter(|w| !w.contains("://")).collect();
            let start = rng.random_range(0..words.len().saturating_sub(2).max(1));
            words[start..(start + 3).min(words.len())].join(" ")
        })
        .collect();
    let everyone: Vec<Id> = (1..=chats).map(Id).collect();
    for (label, texts) in [("1 word", &one_word), ("3 words", &three_words)] {
        for (scope, width) in [("one chat", 1usize), ("200 chats", 200)] {
            let mut h = Histogram::<u64>::new(3)?;
            let mut hits = 0;
            for (i, text) in texts.iter().enumerate() {
                let first = (i * 7919) % everyone.len();
                let in_chats: Vec<Id> = everyone.iter().cycle().skip(first).take(width).copied().collect();
                let query = TextQuery::new(ParsedQuery::parse(text)?, in_chats, 20);
                let t = Instant::now();
                hits += index.search(&query).await?.len();
                h.record(t.elapsed().as_micros() as u64)?;
            }
            stats(&format!("query {label}, {scope} (hits {hits})"), &h);
        }
    }
    if adapter == "opensearch" {
        search::OpenSearchIndex::delete_everything(&os_config).await?;
    }
    Ok(())
}

/// How long a follower waits before searching again, `since` its message was posted:
/// `poll` for the first 2 s (the targets' range), then 250 ms, then 1 s after 5 s.
fn follow_up(poll: Duration, since: Duration) -> Duration {
    match since.as_secs() {
        0..2 => poll,
        2..5 => poll.max(Duration::from_millis(250)),
        _ => poll.max(Duration::from_secs(1)),
    }
}

async fn live_bench(
    url: &str,
    rate: u64,
    seconds: u64,
    sample: u64,
    poll: Duration,
    chats: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = url.trim_end_matches('/').to_string();
    let login = |name: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body: Value = http
                .post(format!("{base}/api/v1/dev/login"))
                .json(&json!({ "username": name }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let token = body["token"].as_str().context("a token")?.to_string();
            let id = body["user"]["id"].as_str().context("an id")?.to_string();
            anyhow::Ok((token, id))
        }
    };
    let tag = format!("{:x}", rand::random::<u32>());
    let (alice, _) = login(format!("sb_a_{tag}")).await?;
    let (bob, bob_id) = login(format!("sb_b_{tag}")).await?;
    let mut groups = vec![];
    for n in 0..chats {
        let chat: Value = http
            .post(format!("{base}/api/v1/chats"))
            .bearer_auth(&alice)
            .json(&json!({ "kind": "group", "title": format!("search bench {n}"), "members": [bob_id] }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        groups.push(chat["id"].as_str().context("a chat id")?.to_string());
    }
    println!(
        "live: {rate} msgs/s for {seconds} s over {chats} chats, following 1 in {sample} until searchable (a search every {} ms)",
        poll.as_millis()
    );
    let latencies = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new(3)?));
    let missed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // When the last post was answered (ms after the start): the rate of the posts, apart
    // from the followers still searching after it.
    let last_answer = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut followers = tokio::task::JoinSet::new();
    let mut rng = StdRng::seed_from_u64(7);
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let started = Instant::now();
    let (mut sent, mut refused) = (0u64, 0u64);
    for n in 0..rate * seconds {
        let due = started + interval * n as u32;
        tokio::time::sleep_until(due.into()).await;
        // Round robin, shifted once a round, so the followed messages fall in every chat.
        let chat = &groups[(n as usize + n as usize / groups.len()) % groups.len()];
        let word = format!("probe{tag}x{n}");
        let text = format!("{} {word}", sentence(&mut rng));
        let posted = Instant::now();
        let send = http
            .post(format!("{base}/api/v1/chats/{chat}/signals"))
            .bearer_auth(&alice)
            .json(&json!({ "kind": "msg", "text": text, "nonce": format!("sb-{n}") }))
            .send();
        let follow = n % sample == 0;
        let (http, base, bob, chat, latencies, missed, last_answer) = (
            http.clone(),
            base.clone(),
            bob.clone(),
            chat.clone(),
            latencies.clone(),
            missed.clone(),
            last_answer.clone(),
        );
        followers.spawn(async move {
            let ok = matches!(send.await, Ok(r) if r.status().is_success());
            last_answer.fetch_max(started.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
            if !ok {
                return false;
            }
            if follow {
                let path = format!("{base}/api/v1/chats/{chat}/search?q={word}%20");
                loop {
                    let page: Value = match http.get(&path).bearer_auth(&bob).send().await {
                        Ok(r) => r.json().await.unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    };
                    if page["items"].as_array().is_some_and(|i| !i.is_empty()) {
                        let took = posted.elapsed().as_micros() as u64;
                        latencies.lock().unwrap_or_else(|e| e.into_inner()).record(took).ok();
                        break;
                    }
                    if posted.elapsed() > Duration::from_secs(30) {
                        missed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    // As a person searching again would: often at first, then less (a
                    // follower polling every `poll` for as long as the index lags would
                    // itself become the load: hundreds of searches a second).
                    tokio::time::sleep(follow_up(poll, posted.elapsed())).await;
                }
            }
            true
        });
        while let Some(done) = followers.try_join_next() {
            if matches!(done, Ok(true)) { sent += 1 } else { refused += 1 }
        }
    }
    while let Some(done) = followers.join_next().await {
        if matches!(done, Ok(true)) { sent += 1 } else { refused += 1 }
    }
    let posting = last_answer.load(std::sync::atomic::Ordering::Relaxed).max(1) as f64 / 1000.0;
    println!("sent {sent} ({:.0}/s until the last answer), refused {refused}", sent as f64 / posting);
    let h = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    stats("post -> searchable", &h);
    println!("not searchable within 30 s: {}", missed.load(std::sync::atomic::Ordering::Relaxed));
    Ok(())
}
