//! Hiding passwords in connection strings, parseable or not.

use url::Url;

/// What a hidden password is replaced with.
const HIDDEN: &str = "***";

/// `database_url` with every password replaced by `***`, safe to print.
///
/// Hides the password of a URL's user info and of `password=` parameters,
/// also in strings the `url` crate cannot parse (a bad port or host, a
/// password with an unescaped `/` or `@`) and in libpq `key=value` strings:
/// whatever looks like `scheme://user:password@…` loses its password. When
/// in doubt it hides too much rather than too little.
pub fn redact_url(database_url: &str) -> String {
    match Url::parse(database_url) {
        Ok(url) if url.password().is_some() || has_password_param(&url) => redact_parsed(url),
        // Parsed without a password, or not parsed at all: the text may still
        // hold one the parser missed (`postgres://u:12/34@h/db` reads as
        // host `u`, port 12).
        _ => redact_params(&redact_user_info(database_url)),
    }
}

fn has_password_param(url: &Url) -> bool {
    url.query_pairs().any(|(key, _)| is_password_key(&key))
}

fn redact_parsed(mut url: Url) -> String {
    if url.password().is_some() {
        let _ = url.set_password(Some(HIDDEN));
    }
    if has_password_param(&url) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password_key(&key) {
                    HIDDEN.into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.into()
}

fn is_password_key(key: &str) -> bool {
    key.trim().eq_ignore_ascii_case("password")
}

/// `text` with the password of a `scheme://user:password@` prefix hidden.
///
/// The user info ends at the last `@` before the query: a password may hold
/// an unescaped `/` or `@`, so the first `/` cannot be trusted to end it.
fn redact_user_info(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|at| at + 3) else {
        return text.to_owned();
    };
    let rest = &text[scheme_end..];
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..before_query].rfind('@') else {
        return text.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return text.to_owned();
    };
    format!("{}{HIDDEN}{}", &text[..scheme_end + colon + 1], &rest[at..])
}

/// `text` with the value of every `password=` parameter hidden: in a URL's
/// query (`?password=…&`) or a libpq `key=value` string, quoted or not.
fn redact_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_password_key(rest) {
        let (head, tail) = rest.split_at(start);
        out.push_str(head);
        let eq = tail.find('=').expect("the key ends with '='");
        out.push_str(&tail[..=eq]);
        out.push_str(HIDDEN);
        rest = skip_value(&tail[eq + 1..]);
    }
    out.push_str(rest);
    out
}

/// Where the next `password` key (followed by `=`) starts: at the start of
/// `text` or after a separator (`?`, `&`, `;`, white space).
fn find_password_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let start = from + found;
        let after = lower[start + "password".len()..].trim_start();
        let starts_key = start == 0
            || lower[..start]
                .ends_with(|c: char| matches!(c, '?' | '&' | ';') || c.is_whitespace());
        if starts_key && after.starts_with('=') {
            return Some(start);
        }
        from = start + "password".len();
    }
    None
}

/// What follows a parameter value: after its closing quote when quoted
/// (libpq `'…'`, with `\'` escapes), else from the next `&` or white space.
fn skip_value(value: &str) -> &str {
    let trimmed = value.trim_start();
    if let Some(quoted) = trimmed.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => return &quoted[i + 1..],
                _ => escaped = false,
            }
        }
        return "";
    }
    let end = trimmed
        .find(|c: char| c == '&' || c.is_whitespace())
        .unwrap_or(trimmed.len());
    &trimmed[end..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret";

    #[track_caller]
    fn assert_hidden(text: &str, expected: &str) {
        let redacted = redact_url(text);
        assert!(!redacted.contains(SECRET), "{text} -> {redacted}");
        assert_eq!(redacted, expected, "{text}");
    }

    #[test]
    fn passwords_in_user_info_and_query_are_hidden() {
        assert_hidden(
            "postgres://app:s3cret@db:5432/x?password=s3cret&sslmode=disable",
            "postgres://app:***@db:5432/x?password=***&sslmode=disable",
        );
        assert_hidden(
            "postgres://app@db/x?PassWord=s3cret",
            "postgres://app@db/x?PassWord=***",
        );
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            crate::DEFAULT_DATABASE_URL,
            "postgres://app@db:5432/x?application_name=a@b&sslmode=require",
            "postgres://db/x?options=-c%20search_path%3Dpublic",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn passwords_in_urls_the_url_crate_rejects_are_hidden() {
        assert_hidden(
            "postgres://u:s3cret@host:99999/db",
            "postgres://u:***@host:99999/db",
        );
        assert_hidden("postgres://u:s3cret@[bad/db", "postgres://u:***@[bad/db");
        assert_hidden("postgres://u:s3cret@ho st/db", "postgres://u:***@ho st/db");
        assert_hidden("postgres://u:s3cret@", "postgres://u:***@");
        assert_hidden("postgres://u:s3cret@%%%", "postgres://u:***@%%%");
        assert_hidden(
            "postgres://u:s3cret@host:99999/db?password=s3cret&x=1",
            "postgres://u:***@host:99999/db?password=***&x=1",
        );
    }

    #[test]
    fn passwords_holding_url_delimiters_are_hidden() {
        // Unescaped '/' and '@', as in generated base64 passwords.
        assert_hidden("postgres://u:s3/cret@host/db", "postgres://u:***@host/db");
        assert_hidden("postgres://u:12/s3cret@host/db", "postgres://u:***@host/db");
        assert_hidden("postgres://u:s3@cret@host/db", "postgres://u:***@host/db");
        assert_hidden("postgresql://u:s3cret:x@h/db", "postgresql://u:***@h/db");
    }

    #[test]
    fn key_value_passwords_are_hidden_quoted_or_not() {
        assert_hidden("host=db password=s3cret", "host=db password=***");
        assert_hidden(
            "host=db password = s3cret user=app",
            "host=db password =*** user=app",
        );
        assert_hidden(
            "host=db password='s3cret and \\' more' user=app",
            "host=db password=*** user=app",
        );
        assert_hidden("PASSWORD=s3cret", "PASSWORD=***");
        // Only a key named password, not one that ends in it.
        assert_eq!(redact_url("mypassword=x"), "mypassword=x");
    }
}
