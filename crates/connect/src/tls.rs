//! `sslmode` and `sslrootcert` as libpq reads them, carried out with rustls.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, verifies
//! nothing itself and rejects `sslrootcert`; so both parameters are taken
//! out of the URL here, and the certificate checks they ask for are handed
//! to tokio-postgres as a rustls connector.

use std::{fmt, path::PathBuf, sync::Arc};

use percent_encoding::percent_decode_str;
use rustls::{
    client::{danger::ServerCertVerifier, WebPkiServerVerifier},
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer},
    ClientConfig, RootCertStore,
};
use tokio_postgres_rustls::MakeRustlsConnect;
use url::Url;

use crate::{
    error::ConnectError,
    verifier::{AnyCertificate, ChainOnly},
};

/// How much TLS a connection demands, as libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, else plaintext.
    #[default]
    Prefer,
    /// TLS or nothing.
    Require,
    /// TLS with a certificate chain that leads to `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, ConnectError> {
        match value {
            "disable" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(ConnectError::Config(format!(
                "sslmode={other} is not supported; use disable, prefer, require, verify-ca \
                 or verify-full"
            ))),
        }
    }

    /// The mode tokio-postgres is given: the verifying modes need TLS, and
    /// the connector does the verifying.
    fn for_driver(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require | Self::VerifyCa | Self::VerifyFull => "require",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        })
    }
}

/// The TLS a database URL asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// `sslmode`; `prefer` when absent, as in libpq.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of the certificates to trust.
    pub root_cert: Option<PathBuf>,
}

impl TlsSettings {
    /// The settings `url` names, and `url` as tokio-postgres can take it:
    /// without `sslrootcert`, with `verify-ca` and `verify-full` as `require`.
    ///
    /// The other query parameters are kept byte for byte (re-encoding them
    /// would turn `%20` into `+`, which tokio-postgres does not decode).
    pub fn split(url: &Url) -> Result<(String, Self), ConnectError> {
        let mut settings = Self::default();
        let mut kept = Vec::new();
        for pair in url.query().unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(key).as_str() {
                "sslmode" => {
                    settings.mode = SslMode::parse(&decode(value))?;
                    kept.push(format!("sslmode={}", settings.mode.for_driver()));
                }
                "sslrootcert" => settings.root_cert = Some(PathBuf::from(decode(value))),
                "" => {}
                _ => kept.push(pair.to_owned()),
            }
        }
        let mut url = url.clone();
        let query = kept.join("&");
        url.set_query(Some(query.as_str()).filter(|query| !query.is_empty()));
        Ok((url.into(), settings))
    }

    /// A rustls connector that checks the server's certificate as the mode
    /// asks; `redacted` is the URL its errors name.
    pub fn connector(&self, redacted: &str) -> Result<MakeRustlsConnect, ConnectError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match self.mode {
            SslMode::Disable => None,
            _ => self.roots(redacted)?,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, roots) {
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(ConnectError::Config(format!(
                    "sslmode={} needs sslrootcert=PATH, the CA certificates to trust, in {redacted}",
                    self.mode
                )))
            }
            (SslMode::VerifyFull, Some(roots)) => webpki(roots, &provider, redacted)?,
            // libpq: with a root certificate, require (and prefer) verify the chain.
            (_, Some(roots)) => Arc::new(ChainOnly(webpki(roots, &provider, redacted)?)),
            (_, None) => Arc::new(AnyCertificate(provider.clone())),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| self.failed(redacted, err.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// The certificates of `sslrootcert`, when given.
    fn roots(&self, redacted: &str) -> Result<Option<RootCertStore>, ConnectError> {
        let Some(path) = &self.root_cert else {
            return Ok(None);
        };
        let unusable = |why: String| {
            self.failed(
                redacted,
                format!("root certificate file {} {why}", path.display()),
            )
        };
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|err| unusable(format!("cannot be read: {err}")))?;
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(unusable("holds no usable PEM certificate".to_owned()));
        }
        Ok(Some(roots))
    }

    /// A [`ConnectError::Tls`] saying what failed under these settings.
    pub fn failed(&self, redacted: &str, reason: String) -> ConnectError {
        ConnectError::Tls {
            url: redacted.to_owned(),
            reason: format!("{reason} (sslmode={})", self.mode),
        }
    }
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
    redacted: &str,
) -> Result<Arc<WebPkiServerVerifier>, ConnectError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|err| ConnectError::Tls {
            url: redacted.to_owned(),
            reason: format!("cannot verify with the root certificates: {err}"),
        })
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, TlsSettings) {
        TlsSettings::split(&Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn without_parameters_tls_is_preferred_and_the_url_unchanged() {
        let (url, settings) = split("postgres://u@h/db");
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(settings, TlsSettings::default());
        assert_eq!(settings.mode, SslMode::Prefer);
    }

    #[test]
    fn verifying_modes_reach_the_driver_as_require_without_sslrootcert() {
        let (url, settings) = split(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20x.pem\
             &options=-c%20x%3D1&application_name=a",
        );
        assert_eq!(
            url,
            "postgres://u@h/db?sslmode=require&options=-c%20x%3D1&application_name=a"
        );
        assert_eq!(settings.mode, SslMode::VerifyFull);
        assert_eq!(settings.root_cert, Some(PathBuf::from("/tmp/ca x.pem")));
        assert_eq!(
            split("postgres://h/db?sslmode=verify-ca").0,
            "postgres://h/db?sslmode=require"
        );
        assert_eq!(
            split("postgres://h/db?sslmode=disable").0,
            "postgres://h/db?sslmode=disable"
        );
        assert_eq!(split("postgres://h/db?sslrootcert=x").0, "postgres://h/db");
    }

    #[test]
    fn unknown_modes_are_configuration_errors() {
        for mode in ["allow", "verify_full", ""] {
            let url = Url::parse(&format!("postgres://h/db?sslmode={mode}")).unwrap();
            assert!(
                matches!(TlsSettings::split(&url), Err(ConnectError::Config(_))),
                "{mode}"
            );
        }
    }

    #[test]
    fn verifying_without_a_root_certificate_is_a_configuration_error() {
        let (_, settings) = split("postgres://h/db?sslmode=verify-ca");
        assert!(matches!(
            settings.connector("postgres://h/db"),
            Err(ConnectError::Config(message)) if message.contains("sslrootcert")
        ));
    }

    #[test]
    fn a_missing_root_certificate_file_is_a_tls_error_naming_it() {
        let (_, settings) = split("postgres://h/db?sslmode=verify-full&sslrootcert=/no/such.pem");
        match settings.connector("postgres://h/db") {
            Err(ConnectError::Tls { reason, .. }) => {
                assert!(reason.contains("/no/such.pem"), "{reason}")
            }
            other => panic!("{:?}", other.map(|_| "a connector")),
        }
    }
}
