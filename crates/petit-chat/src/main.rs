//! `petit-chat`: the one binary. `serve` runs the API (and its workers); `worker` runs
//! worker roles alone; `migrate` applies schema migrations; `sync-users` provisions the
//! realm's users; `openapi` prints the API's OpenAPI document.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use petit_chat::config::{Config, Overrides};

/// mimalloc, not the system's malloc: glibc's `malloc`/`free` family took more than a
/// third as many CPU samples as Petit chat's own code at 600 msgs/s, and with mimalloc the
/// cluster keeps up at 700 (bench/README, "Cluster: the notifier's push hint, and
/// mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Petit chat: self-hosted team chat.
///
/// With no configuration, `serve` runs the embedded shape: an SQLite file, an in-process
/// event bus and a dev login that answers only on loopback, all in one process.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP API, live events and the background workers.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory for the embedded database and keys [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file; environment variables PETIT_CHAT__SECTION__KEY override it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Worker roles to run beside the API, comma-separated (fanout, presence), `all` or
        /// `none` [default: all; the embedded shape always runs all].
        #[arg(long)]
        roles: Option<String>,
        /// The built web client, served at `/` [default: ./web/dist if it exists; an empty
        /// path serves none].
        #[arg(long)]
        web_dir: Option<PathBuf>,
    },
    /// Runs worker roles without the HTTP API (cluster shape: bus.kind = "nats"), as many
    /// processes as needed; the workers of one role share its events.
    Worker {
        /// Roles to run, comma-separated: fanout, presence, or all.
        #[arg(long)]
        roles: String,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Serve /healthz and /metrics on this address.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
    },
    /// Reads the realm's users through the Keycloak admin API and provisions them, so people
    /// who never logged in can be found and added to chats; then exits. Needs
    /// identity.sync_client_id / sync_client_secret (a service account with view-users).
    SyncUsers {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Lists the latest dead letters (push notifications given up on after their last
    /// attempt), newest first, and exits.
    DeadLetters {
        /// How many to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Directory for the embedded database [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Prints the OpenAPI document (what `GET /openapi.json` serves) to stdout and exits;
    /// opens nothing.
    Openapi,
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        task: AdminTask,
    },
    /// Applies pending database schema migrations and exits (safe to run again).
    Migrate {
        /// Directory for the embedded database [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AdminTask {
    /// Rebuilds the search index from the database: every chat's messages, or one chat's.
    /// Safe while the server serves (indexing is idempotent); in the embedded shape the
    /// running server holds the index and does the rebuild, asked on `<data dir>/admin.sock`.
    Reindex {
        /// Only this chat.
        #[arg(long)]
        chat: Option<domain::Id>,
        /// Directory for the embedded database and index [default: ./data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    // Built by the commands that need one: `openapi` starts nothing.
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match cli.command {
        Command::Serve { listen, data_dir, config, roles, web_dir } => {
            let config = Config::load(config.as_deref(), &Overrides { listen, data_dir, roles, web_dir })?;
            runtime()?.block_on(petit_chat::serve(config))
        }
        Command::Worker { roles, config, metrics_listen } => {
            let config = Config::load(config.as_deref(), &Overrides { roles: Some(roles), ..Overrides::default() })?;
            runtime()?.block_on(petit_chat::run_workers(config, metrics_listen))
        }
        Command::SyncUsers { config } => {
            let config = Config::load(config.as_deref(), &Overrides::default())?;
            let report = runtime()?.block_on(petit_chat::sync_users_once(&config))?;
            println!(
                "user sync: {} created, {} updated, {} unchanged, {} disabled and skipped, {} failed",
                report.created, report.updated, report.unchanged, report.skipped_disabled, report.failed
            );
            if report.failed > 0 {
                anyhow::bail!("{} users could not be provisioned (see the log)", report.failed);
            }
            Ok(())
        }
        Command::DeadLetters { limit, data_dir, config } => {
            let config = Config::load(config.as_deref(), &Overrides { data_dir, ..Overrides::default() })?;
            let letters = runtime()?.block_on(petit_chat::dead_letters(&config, limit))?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                let at = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(l.at.max(0) as u64),
                );
                println!(
                    "{at}  user {}  target {}  {}  {} attempts  {}",
                    l.user_id, l.target_id, l.key, l.attempts, l.error
                );
            }
            Ok(())
        }
        Command::Admin { task: AdminTask::Reindex { chat, data_dir, config } } => {
            let config = Config::load(config.as_deref(), &Overrides { data_dir, ..Overrides::default() })?;
            let bar = indicatif::ProgressBar::new(0).with_style(indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} chats, {msg} messages ({eta} left)",
            )?);
            let done = runtime()?.block_on(petit_chat::reindex(&config, chat, |p| {
                bar.set_length(p.chats_total);
                bar.set_position(p.chats_done);
                bar.set_message(p.messages.to_string());
            }))?;
            bar.finish();
            println!("reindexed {} messages of {} chats", done.messages, done.chats_done);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Migrate { data_dir, config } => {
            let config = Config::load(config.as_deref(), &Overrides { data_dir, ..Overrides::default() })?;
            petit_chat::migrate(&config)
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`), `PETIT_CHAT_LOG_FORMAT=json` for JSON lines.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("PETIT_CHAT_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
