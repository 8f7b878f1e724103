//! Real `petit-chat serve` processes of one cluster: the stack's Cassandra (a keyspace of
//! their own), NATS (a stream prefix of their own) and Keycloak, started from
//! `deploy/local/cluster.toml` with environment overrides.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::Session;

pub fn env(name: &str) -> String {
    let key = format!("PETIT_CHAT_STACK_{name}");
    std::env::var(&key).unwrap_or_else(|_| panic!("{key} is not set: run `eval \"$(scripts/stack env)\"` first"))
}

fn cluster_toml() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/cluster.toml")
}

/// What the nodes of one test share: the keyspace, the NATS prefix and the search index.
pub struct Cluster {
    pub keyspace: String,
    pub prefix: String,
    pub index: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    pub fn new() -> Self {
        let tag = format!("{:x}", rand::random::<u32>());
        Self {
            keyspace: format!("cluster_test_{tag}"),
            prefix: format!("ct_{tag}"),
            index: format!("cluster_test_{tag}"),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Starts node `n` (every worker role beside the API) and waits until it is ready.
    pub async fn node(&self, n: u16) -> Node {
        self.node_with_roles(n, "all").await
    }

    /// Starts node `n` running the worker roles `roles` (`none`: API only).
    pub async fn node_with_roles(&self, n: u16, roles: &str) -> Node {
        let data_dir = self.dir.path().join(format!("node{n}"));
        let mut command = self.command(n);
        command.args(["serve", "--listen", "127.0.0.1:0", "--roles", roles, "--config"]).arg(cluster_toml());
        let mut child = command.arg("--data-dir").arg(&data_dir).spawn().expect("start petit-chat serve");
        let up = up_line(&mut child, n, "Petit chat is up: ").await;
        let base = up.split_whitespace().next().expect("address").to_string();
        let node = Node { n, base, child: Some(child), client: client() };
        node.wait_ready().await;
        node
    }

    /// Starts `petit-chat worker --roles roles --metrics-listen 127.0.0.1:0` (process `n`,
    /// no API) and waits until its workers run; `base` is its metrics address.
    pub async fn worker(&self, n: u16, roles: &str) -> Node {
        let mut command = self.command(n);
        command.args(["worker", "--roles", roles, "--metrics-listen", "127.0.0.1:0", "--config"]).arg(cluster_toml());
        let mut child = command.spawn().expect("start petit-chat worker");
        let up = up_line(&mut child, n, "Petit chat workers are up: ").await;
        let base = up
            .split_once("(metrics: ")
            .and_then(|(_, rest)| rest.strip_suffix("/metrics)"))
            .unwrap_or_else(|| panic!("no metrics address in {up:?}"))
            .to_string();
        Node { n, base, child: Some(child), client: client() }
    }

    fn command(&self, n: u16) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_petit-chat"));
        command
            .env("PETIT_CHAT__STORE__KEYSPACE", &self.keyspace)
            .env("PETIT_CHAT__BUS__PREFIX", &self.prefix)
            .env("PETIT_CHAT__SEARCH__INDEX", &self.index)
            .env("PETIT_CHAT__SERVER__NODE_ID", n.to_string())
            .env("PETIT_CHAT__SERVER__SSE_HEARTBEAT_SECS", "1")
            // Every test user comes from 127.0.0.1.
            .env("PETIT_CHAT__LIMITS__RATE__ENABLED", "false")
            // Push gateways on loopback; a killed push worker's job comes back in 3 s.
            .env("PETIT_CHAT__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
            .env("PETIT_CHAT__BUS__NOTIFY_ACK_WAIT_MS", "3000")
            // A killed node's partitions move to another worker when their pins time out,
            // at twice `ack_wait` plus the redelivery delay: 4.5 s here (10.5 s by default).
            .env("PETIT_CHAT__BUS__ACK_WAIT_MS", "2000")
            // Calls ring 2 s; the `calls` role looks for unanswered ones every 300 ms.
            .env("PETIT_CHAT__CALLS__RING_SECS", "2")
            .env("PETIT_CHAT__CALLS__SWEEP_INTERVAL_MS", "300")
            .env("RUST_LOG", "warn,scylla=error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }
}

impl Drop for Cluster {
    /// Drops the keyspace (every table costs Cassandra heap, and leftovers slow its start)
    /// and deletes the NATS streams of the prefix and the search index, whether the test
    /// passed or panicked.
    fn drop(&mut self) {
        let mut cql = store_cql::CqlConfig { keyspace: self.keyspace.clone(), ..store_cql::CqlConfig::default() };
        cql.contact_points = vec![env("CQL_CONTACT_POINTS")];
        cql.local_datacenter = Some(env("CQL_LOCAL_DATACENTER"));
        let nats =
            bus_nats::NatsConfig { servers: vec![env("NATS_URL")], prefix: self.prefix.clone(), ..Default::default() };
        let search = search::OpenSearchConfig {
            url: env("OPENSEARCH_URL"),
            index: self.index.clone(),
            ..search::OpenSearchConfig::default()
        };
        let cleaned = crate::harness::run_aside(async move {
            store_cql::CqlStore::drop_keyspace(&cql).await?;
            bus_nats::NatsBus::delete_streams(&nats).await?;
            search::OpenSearchIndex::delete_everything(&search).await
        });
        if !matches!(cleaned, Ok(Ok(()))) {
            eprintln!("could not clean up the test cluster: {cleaned:?}");
        }
    }
}

/// What follows `prefix` in the first stdout line of `child` that starts with it.
async fn up_line(child: &mut Child, n: u16, prefix: &str) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
        panic!("process {n} exited before it was up");
    })
    .await
    .expect("up within 120 s")
}

pub struct Node {
    pub n: u16,
    pub base: String,
    child: Option<Child>,
    client: reqwest::Client,
}

impl Node {
    /// `GET /metrics` of this process, as text.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(format!("{}/metrics", self.base)).send().await.expect("GET /metrics");
        response.text().await.expect("metrics text")
    }

    async fn wait_ready(&self) {
        for _ in 0..240 {
            if let Ok(r) = self.client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("node {} never became ready", self.n);
    }

    /// Kills the process outright (SIGKILL): no drain, streams cut.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill node");
        }
    }

    /// `user` (a test user of the realm), logged in with a Keycloak token, talking to this node.
    pub async fn session(&self, user: &str) -> Session {
        let token = keycloak_token(user).await;
        let me: Value = self
            .client
            .get(format!("{}/api/v1/me", self.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET /me")
            .json()
            .await
            .expect("me");
        Session {
            base: self.base.clone(),
            client: self.client.clone(),
            token,
            id: me["id"].as_str().unwrap_or_else(|| panic!("no id: {me}")).to_string(),
        }
    }
}

/// The same person, talking to another node.
pub fn on(node: &Node, session: &Session) -> Session {
    Session { base: node.base.clone(), ..session.clone() }
}

pub async fn keycloak_token(user: &str) -> String {
    let password = env("TEST_USERS")
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{user}:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no test password for {user}"));
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/protocol/openid-connect/token", env("OIDC_ISSUER")))
        .form(&[
            ("grant_type", "password"),
            ("client_id", env("OIDC_CLI_CLIENT_ID").as_str()),
            ("username", user),
            ("password", &password),
        ])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token response");
    resp["access_token"].as_str().unwrap_or_else(|| panic!("no token for {user}: {resp}")).to_string()
}

/// A client whose idle connections go well before a node closes them (after its 30 s
/// header timeout), so a request never races the node's close.
fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(10)).build().expect("client")
}
