//! Where the database is and how the pool behaves.

use std::{env, time::Duration};

use url::Url;

use crate::error::{Error, Result};

/// The URL used when neither `DATABASE_URL` nor any `PG*` variable is set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/omninode_bridge";

/// Connection target and pool settings.
#[derive(Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// PostgreSQL connection URL; may carry a password, so never log it raw.
    pub database_url: String,
    /// Most connections the pool keeps open.
    pub max_connections: u32,
    /// Connections the pool keeps idle and ready; `None` keeps up to the maximum.
    pub min_idle: Option<u32>,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    pub checkout_timeout: Duration,
    /// Whether each check-out first proves the connection alive with a
    /// `SELECT 1` round trip.
    ///
    /// Off by default: the round trip doubled the cost of a one-statement
    /// operation (see the benchmark README), and a connection the server
    /// closed is refused at check-out anyway, without a round trip. The query
    /// only adds detection of a peer that vanished silently (a half-open TCP
    /// connection); turn it on where such network failures are expected.
    pub test_on_checkout: bool,
    /// Which idle connection a check-out takes.
    pub checkout_order: CheckoutOrder,
}

/// Which idle connection the pool hands out next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CheckoutOrder {
    /// The one returned last (a stack): a caller working alone keeps reusing
    /// one warm connection and server process, and connections the load no
    /// longer needs sit idle until they time out.
    ///
    /// The default: rotating over every pooled connection made one caller's
    /// 1 000-row batches 12-16 % slower (see the benchmark README).
    #[default]
    MostRecentlyUsed,
    /// The one idle longest (a queue): every connection is used in turn,
    /// which keeps all of them active, e.g. against idle timeouts in the network.
    LeastRecentlyUsed,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("database_url", &redact_url(&self.database_url))
            .field("max_connections", &self.max_connections)
            .field("min_idle", &self.min_idle)
            .field("connect_timeout", &self.connect_timeout)
            .field("checkout_timeout", &self.checkout_timeout)
            .field("test_on_checkout", &self.test_on_checkout)
            .field("checkout_order", &self.checkout_order)
            .finish()
    }
}

impl DbConfig {
    /// Settings for `database_url` with the default pool settings.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_connections: 10,
            min_idle: None,
            connect_timeout: Duration::from_secs(5),
            checkout_timeout: Duration::from_secs(30),
            test_on_checkout: false,
            checkout_order: CheckoutOrder::default(),
        }
    }

    /// Settings for the database named by the environment (see [`database_url_from_env`]).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(database_url_from_env()?))
    }

    /// The URL with any password replaced, safe for errors and logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// The database URL from `DATABASE_URL`, else the `PG*` variables, else the default.
///
/// `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER` and `PGPASSWORD` are honoured
/// because tokio-postgres, unlike libpq, ignores them. A `PGHOST` that is a
/// directory selects a Unix socket.
pub fn database_url_from_env() -> Result<String> {
    if let Some(url) = non_empty_var("DATABASE_URL") {
        return Ok(url);
    }
    let var = |name| non_empty_var(name);
    if ["PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"]
        .iter()
        .all(|name| var(name).is_none())
    {
        return Ok(DEFAULT_DATABASE_URL.to_owned());
    }
    url_from_parts(
        var("PGHOST").as_deref(),
        var("PGPORT").as_deref(),
        var("PGDATABASE").as_deref(),
        var("PGUSER").as_deref(),
        var("PGPASSWORD").as_deref(),
    )
}

fn non_empty_var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

/// Builds a URL from libpq-style parts, filling the defaults of [`DEFAULT_DATABASE_URL`].
pub fn url_from_parts(
    host: Option<&str>,
    port: Option<&str>,
    database: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<String> {
    let mut url = Url::parse(DEFAULT_DATABASE_URL).expect("the default URL parses");
    let invalid = |what: &str, value: &str| Error::Config(format!("invalid {what} {value:?}"));
    if let Some(host) = host {
        if host.starts_with('/') {
            url.query_pairs_mut().append_pair("host", host);
        } else {
            url.set_host(Some(host))
                .map_err(|_| invalid("PGHOST", host))?;
        }
    }
    if let Some(port) = port {
        let port = port.parse().map_err(|_| invalid("PGPORT", port))?;
        url.set_port(Some(port))
            .map_err(|_| invalid("PGPORT", "port"))?;
    }
    if let Some(database) = database {
        url.path_segments_mut()
            .map_err(|_| invalid("PGDATABASE", database))?
            .clear()
            .push(database);
    }
    if let Some(user) = user {
        url.set_username(user)
            .map_err(|_| invalid("PGUSER", user))?;
    }
    if let Some(password) = password {
        url.set_password(Some(password))
            .map_err(|_| invalid("PGPASSWORD", "<redacted>"))?;
    }
    Ok(url.into())
}

/// Checks that `database_url` is a `postgres://` or `postgresql://` URL.
pub fn validate_url(database_url: &str) -> Result<Url> {
    let url = Url::parse(database_url).map_err(|err| {
        Error::Config(format!(
            "malformed database URL {}: {err}",
            redact_url(database_url)
        ))
    })?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(url),
        other => Err(Error::Config(format!(
            "database URL {} has scheme {other:?}; expected postgres://",
            redact_url(database_url)
        ))),
    }
}

/// `database_url` with its password replaced by `***`, safe to print.
pub fn redact_url(database_url: &str) -> String {
    match Url::parse(database_url) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let value = if key == "password" {
                        "***".into()
                    } else {
                        value
                    };
                    (key.into_owned(), value.into_owned())
                })
                .collect();
            if pairs.iter().any(|(key, _)| key == "password") {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.into()
        }
        // Not a URL: a libpq key=value string, or garbage. Hide any password=.
        Err(_) => database_url
            .split_whitespace()
            .map(|part| match part.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => "password=***",
                _ => part,
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_in_userinfo_and_query() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x?password=s3cret&sslmode=disable"),
            "postgres://app:***@db:5432/x?password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db password=s3cret"),
            "host=db password=***"
        );
        assert_eq!(redact_url(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn parts_fill_defaults_and_escape() {
        assert_eq!(
            url_from_parts(None, None, None, None, None).unwrap(),
            DEFAULT_DATABASE_URL
        );
        assert_eq!(
            url_from_parts(
                Some("db"),
                Some("6543"),
                Some("bridge"),
                Some("app"),
                Some("p@ss")
            )
            .unwrap(),
            "postgres://app:p%40ss@db:6543/bridge"
        );
        assert_eq!(
            url_from_parts(Some("/run/postgresql"), None, None, None, None).unwrap(),
            "postgres://postgres@localhost:5432/omninode_bridge?host=%2Frun%2Fpostgresql"
        );
        assert!(matches!(
            url_from_parts(None, Some("port"), None, None, None),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn only_postgres_urls_validate() {
        assert!(validate_url("postgres://localhost/x").is_ok());
        assert!(matches!(
            validate_url("mysql://localhost/x"),
            Err(Error::Config(_))
        ));
        assert!(matches!(validate_url("not a url"), Err(Error::Config(_))));
    }
}
