//! The database URL: from the environment, checked, and safe to print.

use std::env;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::{error::ConnectError, redact::redact_url};

/// The URL used when neither `DATABASE_URL` nor any `PG*` variable is set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/omninode_bridge";

/// The database URL from `DATABASE_URL`, else the `PG*` variables, else the default.
///
/// `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER` and `PGPASSWORD` are honoured
/// because tokio-postgres, unlike libpq, ignores them. A `PGHOST` that is a
/// directory selects a Unix socket.
pub fn database_url_from_env() -> Result<String, ConnectError> {
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
) -> Result<String, ConnectError> {
    let mut url = Url::parse(DEFAULT_DATABASE_URL).expect("the default URL parses");
    let invalid =
        |what: &str, value: &str| ConnectError::Config(format!("invalid {what} {value:?}"));
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
pub fn validate_url(database_url: &str) -> Result<Url, ConnectError> {
    let url = Url::parse(database_url).map_err(|err| {
        ConnectError::Config(format!(
            "malformed database URL {}: {err}",
            redact_url(database_url)
        ))
    })?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(url),
        other => Err(ConnectError::Config(format!(
            "database URL {} has scheme {other:?}; expected postgres://",
            redact_url(database_url)
        ))),
    }
}

/// The database name `url` names, percent-decoded.
pub fn database_name(url: &Url) -> String {
    percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(ConnectError::Config(_))
        ));
    }

    #[test]
    fn only_postgres_urls_validate() {
        assert!(validate_url("postgres://localhost/x").is_ok());
        assert!(matches!(
            validate_url("mysql://localhost/x"),
            Err(ConnectError::Config(_))
        ));
        assert!(matches!(
            validate_url("not a url"),
            Err(ConnectError::Config(_))
        ));
    }
}
