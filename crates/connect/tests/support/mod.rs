//! Shared by the connection tests: a timeout, and what a session says about itself.
// Each test file is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::time::Duration;

use bridge_connect::{establish, ConnectError};
use diesel::{sql_types::Bool, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// How long a connection attempt in these tests may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// Whether the server says `conn` runs over TLS.
pub async fn uses_tls(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .load::<Ssl>(conn)
        .await
        .expect("pg_stat_ssl answers")
        .pop()
        .expect("pg_stat_ssl has a row for this session")
        .ssl
}

/// Connects to `url`, which must fail; returns the error.
pub async fn refused(url: &str) -> ConnectError {
    match establish(url, TIMEOUT).await {
        Ok(_) => panic!("connecting to {url} succeeded"),
        Err(err) => err,
    }
}
