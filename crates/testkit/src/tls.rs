//! A certificate authority of the test's own and the server certificates it
//! signs, for TLS tests against a [`PrivateCluster`](crate::PrivateCluster).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A throw-away CA: its certificate is written to a PEM file for
/// `sslrootcert`, deleted when this value is dropped.
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
    dir: tempfile::TempDir,
}

/// A server certificate and its private key, PEM-encoded; give it to
/// [`ClusterBuilder::tls`](crate::ClusterBuilder::tls).
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate, signed by its [`TestCa`].
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("cert_path", &self.cert_path())
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `name` (its common name), valid for now.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a CA key");
        let cert = params
            .self_signed(&key)
            .expect("a self-signed CA certificate");
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("root.crt"), cert.pem())
            .expect("writing the CA certificate");
        Self { cert, key, dir }
    }

    /// The PEM file of the CA certificate, for `sslrootcert=`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("root.crt")
    }

    /// The directory the CA's files are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A server certificate for `names` (host names or IP addresses, as
    /// subject alternative names), signed by this CA.
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server certificate names");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("a server certificate");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
