//! Private Kafka-compatible brokers: a `tansu` process of the test's own on
//! a free loopback port, with its sqlite storage in a temporary directory.

use std::{
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// How long a broker may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How many fresh ports to try when a broker cannot start on the first.
const START_ATTEMPTS: usize = 3;

/// What to tell whoever runs the tests without tansu installed.
const INSTALL_HINT: &str = "tansu (the Kafka-compatible broker the tests run) is not on PATH \
    or in ~/.cargo/bin; install it with `cargo install tansu --version 0.6.0 --locked \
    --no-default-features --features libsql` (README command 1 and .ci/run do)";

/// A tansu broker on 127.0.0.1, killed and its storage removed when this
/// value is dropped (also when the test panics).
#[derive(Debug)]
pub struct PrivateBroker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts a broker; panics, saying how to install tansu, when it is missing.
    pub fn start() -> Self {
        let mut failures = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("bridge_broker_")
                .tempdir()
                .expect("a temporary directory for the broker");
            let port = free_port();
            let child = spawn(dir.path(), port);
            let mut broker = Self { child, port, dir };
            match broker.wait_ready() {
                Ok(()) => return broker,
                Err(err) => failures.push_str(&format!("{err}\n{}\n", broker.log())),
            }
        }
        panic!("private broker did not start:\n{failures}");
    }

    /// Stops the broker at once, as a crash would, keeping its port and storage for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the broker again on the same port and storage; panics when it does not listen.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.dir.path(), self.port);
        if let Err(err) = self.wait_ready() {
            panic!("private broker did not restart: {err}\n{}", self.log());
        }
    }

    /// Waits until the port accepts connections or the process exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("tansu exited with {status}"));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("tansu did not listen within {READY_TIMEOUT:?}"))
    }

    /// The bootstrap servers, as Kafka clients take them: `127.0.0.1:PORT`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates topic `name` with `partitions` partitions; panics when the broker refuses.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let output = Command::new(tansu_path())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .unwrap_or_else(|err| panic!("running tansu topic create: {err}"));
        assert!(
            output.status.success(),
            "tansu topic create {name}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// What the broker has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu process in `dir` (its storage and log) listening on `port`.
fn spawn(dir: &Path, port: u16) -> Child {
    let program = tansu_path();
    let url = format!("tcp://127.0.0.1:{port}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("broker.log"))
        .expect("a broker log");
    Command::new(&program)
        .current_dir(dir)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        // Relative to the working directory: the broker's temp dir.
        .args(["--storage-engine", "sqlite://broker.db"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a broker log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()))
}

/// The tansu executable: on PATH, or in `~/.cargo/bin`; panics with the install hint.
fn tansu_path() -> PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .collect::<Vec<_>>()
    });
    let in_cargo = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/tansu"))
        .into_iter();
    on_path
        .chain(in_cargo)
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
