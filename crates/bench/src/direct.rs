//! A plain tokio-postgres connection for set-up, COPY and EXPLAIN: the
//! benchmark's own tooling, kept apart from the models crate it measures.

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

use crate::BenchResult;

/// `err` with the server's message, which tokio-postgres's own text ("db error") leaves out.
fn explained(err: tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => err.to_string(),
    }
}

/// One direct connection to the benchmark database.
pub struct Direct {
    client: Client,
}

impl Direct {
    /// Connects to `url`; the connection is driven by a task of its own.
    pub async fn connect(url: &str) -> BenchResult<Self> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                eprintln!("bench: direct connection ended: {err}");
            }
        });
        Ok(Self { client })
    }

    /// Runs one or more statements without parameters.
    pub async fn batch(&self, sql: &str) -> BenchResult<()> {
        self.client.batch_execute(sql).await.map_err(explained)?;
        Ok(())
    }

    /// The first column of every row `sql` returns, as text.
    pub async fn column(&self, sql: &str) -> BenchResult<Vec<String>> {
        let messages = self.client.simple_query(sql).await.map_err(explained)?;
        Ok(messages
            .into_iter()
            .filter_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or_default().to_owned())
                }
                _ => None,
            })
            .collect())
    }

    /// Empties the tables case 1-3 write and checkpoints, so that every
    /// measurement starts from the same state.
    pub async fn reset_write_tables(&self) -> BenchResult<()> {
        self.batch(
            "TRUNCATE fsm_transitions, workflow_steps, metadata_stamps, workflow_executions; \
             CHECKPOINT",
        )
        .await
    }

    /// Streams `rows` (COPY text format, one row per line) into `table (columns)`
    /// with `COPY ... FROM STDIN` in one statement.
    pub async fn copy_in(&self, table_and_columns: &str, rows: String) -> BenchResult<u64> {
        let sink = self
            .client
            .copy_in::<_, Bytes>(&format!("COPY {table_and_columns} FROM STDIN"))
            .await?;
        futures_util::pin_mut!(sink);
        sink.send(Bytes::from(rows)).await?;
        Ok(sink.finish().await?)
    }
}
