//! Kafka secrets (`sasl.password`, `ssl.key.password`, ...): which librdkafka
//! properties hold one, and text with their values taken out.

/// What `***` replaces: a secret's value.
pub(crate) const REDACTED: &str = "***";

/// Whether librdkafka property `name` holds a secret.
pub(crate) fn is_secret(name: &str) -> bool {
    [
        "password",
        "secret",
        "oauthbearer.config",
        "key.pem",
        "ssl_key",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// `text` with the value of every secret property in `properties` replaced by `***`.
pub(crate) fn redact(text: &str, properties: &[(String, String)]) -> String {
    properties
        .iter()
        .filter(|(name, value)| is_secret(name) && !value.is_empty())
        .fold(text.to_owned(), |text, (_, value)| {
            text.replace(value.as_str(), REDACTED)
        })
}

/// `properties` with every secret value replaced by `***`, for `Debug` output.
pub(crate) fn redacted(properties: &[(String, String)]) -> Vec<(&str, &str)> {
    properties
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret(name) { REDACTED } else { value };
            (name.as_str(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_property_values_are_redacted() {
        let properties = vec![
            ("sasl.password".to_owned(), "hunter2-secret".to_owned()),
            ("ssl.key.pem".to_owned(), "-----BEGIN KEY-----".to_owned()),
            ("client.id".to_owned(), "replayer".to_owned()),
        ];
        assert_eq!(
            redact(
                "sasl.password=hunter2-secret ssl.key.pem=-----BEGIN KEY----- client.id=replayer",
                &properties
            ),
            "sasl.password=*** ssl.key.pem=*** client.id=replayer"
        );
        assert_eq!(
            redacted(&properties),
            [
                ("sasl.password", "***"),
                ("ssl.key.pem", "***"),
                ("client.id", "replayer")
            ]
        );
    }
}
