//! Private PostgreSQL clusters: servers of a test's own, to stop, restart,
//! fill up or reconfigure without touching the shared server.
//!
//! Made with Debian's `postgresql-common` tools (`pg_createcluster`,
//! `pg_ctlcluster`, `pg_dropcluster`), so the process must be able to run
//! them: root, or the `postgres` user.

use std::{
    fmt::Write as _,
    fs,
    net::TcpListener,
    os::unix::fs::{chown, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicU64, Ordering},
        Once,
    },
    time::{SystemTime, UNIX_EPOCH},
};

use crate::tls::ServerCert;

/// The prefix of every private cluster's name.
const PREFIX: &str = "bridgetest_";

/// Where the clusters' Unix sockets are (Debian's default).
const SOCKET_DIR: &str = "/var/run/postgresql";

/// How many fresh ports to try when a cluster cannot start on the first.
const START_ATTEMPTS: usize = 3;

/// A PostgreSQL cluster of the test's own on a free port of 127.0.0.1,
/// dropped with all its files when this value is dropped (also when the
/// test panics).
///
/// The superuser is `postgres`. Connections over the cluster's Unix socket
/// are always trusted: that is how the kit itself gets in, whatever
/// [`ClusterBuilder::hba`] lines a test adds for TCP.
#[derive(Debug)]
pub struct PrivateCluster {
    version: String,
    name: String,
    port: u16,
}

/// Settings of a [`PrivateCluster`] before it is created; from [`PrivateCluster::builder`].
#[derive(Debug, Clone, Default)]
pub struct ClusterBuilder {
    conf: Vec<(String, String)>,
    hba: Vec<String>,
    tls: Option<ServerCert>,
}

impl ClusterBuilder {
    /// Sets `postgresql.conf` option `name` to `value` (written as given, so
    /// quote strings: `.conf("ssl_ciphers", "'HIGH'")`).
    pub fn conf(mut self, name: &str, value: &str) -> Self {
        self.conf.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a `pg_hba.conf` line, e.g. `host all all 127.0.0.1/32 scram-sha-256`;
    /// lines are matched in the order added, before the default `trust` lines
    /// for 127.0.0.1 and ::1.
    pub fn hba(mut self, line: &str) -> Self {
        self.hba.push(line.to_owned());
        self
    }

    /// Serves TLS with `cert` (`ssl = on`); without it the cluster has `ssl = off`.
    pub fn tls(mut self, cert: &ServerCert) -> Self {
        self.tls = Some(cert.clone());
        self
    }

    /// Creates the cluster and starts it; panics when it cannot.
    pub fn start(self) -> PrivateCluster {
        static CLEANED: Once = Once::new();
        CLEANED.call_once(|| {
            remove_leftover_clusters();
        });
        let mut failures = String::new();
        for _ in 0..START_ATTEMPTS {
            let cluster = self.create();
            // Another process may take the free port between our probe and the start.
            match cluster.ctl(&["start"]) {
                Ok(()) => return cluster,
                Err(err) => {
                    let _ = writeln!(failures, "{err}\n{}", cluster.log());
                }
            }
        }
        panic!("private cluster did not start:\n{failures}");
    }

    /// Creates the cluster (stopped) and writes its configuration.
    fn create(&self) -> PrivateCluster {
        let cluster = PrivateCluster {
            version: server_version(),
            name: new_name(),
            port: free_port(),
        };
        let port = cluster.port.to_string();
        let created = run(Command::new("pg_createcluster").args([
            "--port",
            &port,
            "--start-conf",
            "manual",
            &cluster.version,
            &cluster.name,
            "--",
            "--no-sync",
        ]));
        if let Err(err) = created {
            panic!("pg_createcluster: {err}");
        }
        cluster.configure(self);
        cluster
    }
}

impl PrivateCluster {
    /// Settings for a new cluster; `.start()` creates and starts it.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The cluster's name, as `pg_lsclusters` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TCP port it listens on, at 127.0.0.1 and ::1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of its `postgres` database as the superuser `postgres`, over TCP.
    pub fn url(&self) -> String {
        self.url_for("postgres", None, "postgres")
    }

    /// URL of `database` as `user` with `password`, over TCP to 127.0.0.1.
    pub fn url_for(&self, user: &str, password: Option<&str>, database: &str) -> String {
        let mut url = url::Url::parse(&format!("postgres://127.0.0.1:{}", self.port))
            .expect("a cluster URL parses");
        url.set_username(user).expect("a URL takes a user");
        url.set_password(password).expect("a URL takes a password");
        url.path_segments_mut()
            .expect("a URL takes a path")
            .push(database);
        url.into()
    }

    /// URL of `database` over the Unix socket, where the superuser is always trusted.
    fn socket_url(&self, database: &str) -> String {
        let mut url = url::Url::parse(&self.url_for("postgres", None, database))
            .expect("a cluster URL parses");
        url.query_pairs_mut().append_pair("host", SOCKET_DIR);
        url.into()
    }

    /// Starts the stopped cluster and waits until it accepts connections.
    pub fn start(&self) {
        self.ctl_or_panic(&["start"]);
    }

    /// Stops it at once, as a crash would: sessions are cut without a goodbye
    /// and the next start recovers from the WAL.
    pub fn stop_immediate(&self) {
        self.ctl_or_panic(&["stop", "-m", "immediate"]);
    }

    /// Stops it cleanly: sessions are terminated (SQLSTATE 57P01), open
    /// transactions rolled back.
    pub fn stop_fast(&self) {
        self.ctl_or_panic(&["stop", "-m", "fast"]);
    }

    /// Stops it as [`stop_fast`](Self::stop_fast) does, then starts it again.
    pub fn restart(&self) {
        self.ctl_or_panic(&["restart", "-m", "fast"]);
    }

    /// Ends every client session (`pg_terminate_backend`); returns how many.
    pub fn terminate_backends(&self) -> usize {
        self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        )
        .trim()
        .parse()
        .expect("a count")
    }

    /// Runs `sql` in its `postgres` database as the superuser with `psql`
    /// and returns what it printed (unaligned, without headers); panics
    /// when a statement fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// As [`psql`](Self::psql), in `database`.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let output = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", SOCKET_DIR, "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .output()
            .expect("psql is installed");
        assert!(
            output.status.success(),
            "psql on cluster {}: {sql}: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 from psql")
    }

    /// Creates an empty database `name`; returns its [`url_for`](Self::url_for) the superuser.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!(r#"CREATE DATABASE "{name}""#));
        self.url_for("postgres", None, name)
    }

    /// Creates database `name` with every embedded migration applied by
    /// `bridge_migrate::run_pending` (the shared server's template cannot be
    /// cloned here); returns its URL as [`create_database`](Self::create_database).
    pub fn create_migrated_database(&self, name: &str) -> String {
        let url = self.create_database(name);
        let socket_url = self.socket_url(name);
        crate::runtime::block_on(bridge_migrate::run_pending(&socket_url))
            .unwrap_or_else(|err| panic!("migrating {name} on cluster {}: {err}", self.name));
        url
    }

    /// The server's log so far, to show why something failed.
    pub fn log(&self) -> String {
        fs::read_to_string(format!(
            "/var/log/postgresql/postgresql-{}-{}.log",
            self.version, self.name
        ))
        .unwrap_or_default()
    }

    /// Where `pg_createcluster` put its configuration files.
    fn config_dir(&self) -> PathBuf {
        PathBuf::from(format!("/etc/postgresql/{}/{}", self.version, self.name))
    }

    /// Writes the builder's settings: `conf.d` overrides `postgresql.conf`.
    fn configure(&self, builder: &ClusterBuilder) {
        let dir = self.config_dir();
        let owner = fs::metadata(&dir).expect("the cluster's config directory");
        let mut conf = String::from(
            "# bridge-testkit: a throw-away test cluster\n\
             fsync = off\nshared_buffers = '16MB'\nssl = off\n",
        );
        if let Some(cert) = &builder.tls {
            let cert_file = dir.join("server.crt");
            let key_file = dir.join("server.key");
            write_owned(&cert_file, &cert.cert_pem, &owner);
            write_owned(&key_file, &cert.key_pem, &owner);
            let _ = writeln!(
                conf,
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
                cert_file.display(),
                key_file.display()
            );
        }
        for (name, value) in &builder.conf {
            let _ = writeln!(conf, "{name} = {value}");
        }
        write_owned(&dir.join("conf.d/bridge-testkit.conf"), &conf, &owner);
        let mut hba = String::from("local all all trust\n");
        for line in &builder.hba {
            let _ = writeln!(hba, "{line}");
        }
        hba.push_str("host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n");
        write_owned(&dir.join("pg_hba.conf"), &hba, &owner);
    }

    fn ctl(&self, action: &[&str]) -> Result<(), String> {
        run(Command::new("pg_ctlcluster")
            .arg("--skip-systemctl-redirect")
            .args([&self.version, &self.name])
            .args(action))
    }

    fn ctl_or_panic(&self, action: &[&str]) {
        if let Err(err) = self.ctl(action) {
            panic!(
                "pg_ctlcluster {} {:?}: {err}\n{}",
                self.name,
                action,
                self.log()
            );
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Never panic in Drop: a failed clean-up must not hide the test's own result.
        if let Err(err) = drop_cluster(&self.version, &self.name) {
            eprintln!("test kit: dropping cluster {}: {err}", self.name);
        }
    }
}

/// Writes `text` to `path` as a file of `owner`'s user, readable by it alone
/// (PostgreSQL refuses a private key others can read).
fn write_owned(path: &Path, text: &str, owner: &fs::Metadata) {
    fs::write(path, text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    chown(path, Some(owner.uid()), Some(owner.gid()))
        .unwrap_or_else(|err| panic!("chown {}: {err}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
}

/// Runs `command`; its stderr when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|err| format!("{command:?}: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Stops and removes cluster `name`: its data, its log and its configuration
/// directory, which `pg_dropcluster` keeps when it holds files of ours
/// (`conf.d/bridge-testkit.conf`, the TLS certificate and key).
fn drop_cluster(version: &str, name: &str) -> Result<(), String> {
    let config_dir = PathBuf::from(format!("/etc/postgresql/{version}/{name}"));
    let dropped = run(Command::new("pg_dropcluster").args(["--stop", version, name]));
    match fs::remove_dir_all(&config_dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {err}", config_dir.display()))
        }
        _ => {}
    }
    // A cluster whose configuration a killed run left half-removed is no
    // cluster to pg_dropcluster any more; gone is gone.
    match dropped {
        Err(_) if !Path::new(&format!("/var/lib/postgresql/{version}/{name}")).exists() => Ok(()),
        other => other,
    }
}

/// The newest PostgreSQL server version installed, e.g. `15`.
fn server_version() -> String {
    fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server packages are installed")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.parse::<u32>().ok()?, name)))
        .max()
        .expect("a PostgreSQL server version is installed")
        .1
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A new cluster name recording this process: `bridgetest_<pid>_<counter>_<nanos>`.
fn new_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "{PREFIX}{}_{}_{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The process that made cluster `name`, by its name.
fn creator(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()
}

/// Drops the private clusters whose test process is gone (killed before its
/// `Drop` ran); returns their names. Called once per process before the
/// first cluster.
pub fn remove_leftover_clusters() -> Vec<String> {
    let version = server_version();
    let Ok(entries) = fs::read_dir(format!("/etc/postgresql/{version}")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            creator(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .filter(|name| drop_cluster(&version, name).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_records_its_process() {
        let name = new_name();
        assert!(name.starts_with(PREFIX), "{name}");
        assert_eq!(creator(&name), Some(std::process::id()));
        assert_ne!(new_name(), name);
        assert_eq!(creator("main"), None);
        assert_eq!(creator("bridgetest_x_1"), None);
    }
}
