//! Cassandra (stand-in for ScyllaDB) through the `scylla` driver.
mod common;

use anyhow::Context as _;
use common::{env, unique, within};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

async fn session() -> anyhow::Result<Session> {
    let points = env("CQL_CONTACT_POINTS", "127.0.0.1:9042");
    let nodes: Vec<&str> = points.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    SessionBuilder::new().known_nodes(&nodes).build().await.with_context(|| format!("connect to CQL at {points}"))
}

#[tokio::test]
async fn cql_release_version() {
    within("CQL release_version", 60, async {
        let session = session().await?;
        let rows = session.query_unpaged("SELECT release_version FROM system.local", &[]).await?.into_rows_result()?;
        let (version,): (String,) = rows.single_row()?;
        assert!(version.starts_with("5."), "expected Cassandra 5.x, got {version}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn cql_keyspace_table_insert_select() {
    within("CQL create/insert/select", 120, async {
        let session = session().await?;
        let dc = env("CQL_LOCAL_DATACENTER", "datacenter1");
        let ks = "petit_chat_smoke";
        session
            .query_unpaged(
                format!(
                    "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
                     {{'class': 'NetworkTopologyStrategy', '{dc}': 1}}"
                ),
                &[],
            )
            .await
            .context("create keyspace")?;
        let table = unique("signals");
        session
            .query_unpaged(
                format!(
                    "CREATE TABLE {ks}.{table} (chat_id bigint, signal_id bigint, text text, \
                     PRIMARY KEY ((chat_id), signal_id)) WITH CLUSTERING ORDER BY (signal_id DESC)"
                ),
                &[],
            )
            .await
            .context("create table")?;
        let insert =
            session.prepare(format!("INSERT INTO {ks}.{table} (chat_id, signal_id, text) VALUES (?, ?, ?)")).await?;
        for (id, text) in [(1_i64, "bonjour"), (2, "salut"), (3, "coucou")] {
            session.execute_unpaged(&insert, (42_i64, id, text)).await.context("insert")?;
        }
        let select =
            session.prepare(format!("SELECT signal_id, text FROM {ks}.{table} WHERE chat_id = ? LIMIT 2")).await?;
        let rows: Vec<(i64, String)> = session
            .execute_unpaged(&select, (42_i64,))
            .await?
            .into_rows_result()?
            .rows::<(i64, String)>()?
            .collect::<Result<_, _>>()?;
        assert_eq!(rows, vec![(3, "coucou".to_owned()), (2, "salut".to_owned())]);
        session.query_unpaged(format!("DROP TABLE {ks}.{table}"), &[]).await.context("drop table")?;
        Ok(())
    })
    .await;
}
