//! Which database bridge-admin connects to, and how it fails: precedence of
//! `--database-url`, `DATABASE_URL`, `.env` and `PG*`; unreachable servers,
//! `--wait` (which gives up at once on what retrying cannot fix), malformed
//! URLs, missing databases; passwords never printed, not even of URLs that
//! do not parse.

mod support;

use std::{
    fs,
    io::copy,
    net::{TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use bridge_testkit::TestDatabase;
use support::{bridge_admin, code, run, run_command};

const CLOSED_PORT_URL: &str = "postgres://postgres@127.0.0.1:1/omninode_bridge";

/// `db`'s URL with a password that trust authentication ignores.
fn url_with_password(db: &TestDatabase, password: &str) -> String {
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_password(Some(password)).unwrap();
    url.into()
}

#[test]
fn a_closed_port_is_unreachable_and_fails_fast() {
    let started = Instant::now();
    let out = run(CLOSED_PORT_URL, &["up"]).expect(code::UNREACHABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the connect timeout"
    );
    assert!(
        out.stderr.contains("database unreachable"),
        "{}",
        out.stderr
    );
    run(CLOSED_PORT_URL, &["status"]).expect(code::UNREACHABLE);
}

#[test]
fn wait_retries_an_unreachable_server_until_it_runs_out() {
    let started = Instant::now();
    run(CLOSED_PORT_URL, &["--wait", "2", "status"]).expect(code::UNREACHABLE);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2), "gave up after {waited:?}");
    assert!(waited < Duration::from_secs(7), "gave up after {waited:?}");
}

#[test]
fn wait_connects_once_the_server_starts_answering() {
    let db = TestDatabase::empty();
    let target = url::Url::parse(db.url()).unwrap();
    let server = format!(
        "{}:{}",
        target.host_str().unwrap(),
        target.port().unwrap_or(5432)
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut late = target.clone();
    late.set_host(Some("127.0.0.1")).unwrap();
    late.set_port(Some(port)).unwrap();

    let mut child = bridge_admin()
        .args(["--database-url", late.as_str(), "--wait", "30", "up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for the server"
    );
    start_proxy(port, server);
    assert_eq!(child.wait().unwrap().code(), Some(code::OK));
    assert_eq!(support::applied_count(&db), support::EMBEDDED_COUNT as i64);
}

/// Forwards 127.0.0.1:`port` to `server`, standing in for a server that starts late.
fn start_proxy(port: u16, server: String) {
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(&server) else {
                continue;
            };
            let (mut client_in, mut upstream_out) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut upstream_in, mut client_out) = (upstream, client);
            thread::spawn(move || copy(&mut client_in, &mut upstream_out));
            thread::spawn(move || copy(&mut upstream_in, &mut client_out));
        }
    });
}

#[test]
fn a_malformed_url_is_a_usage_error() {
    for url in [
        "not a url",
        "mysql://localhost/omninode_bridge",
        "postgres://[::1",
    ] {
        let out = run(url, &["status"]).expect(code::USAGE);
        assert!(
            out.stderr.contains("invalid configuration"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn passwords_are_never_printed() {
    let out = run("postgres://app:s3cr3t-pw@127.0.0.1:1/x", &["up"]).expect(code::UNREACHABLE);
    assert!(out.stderr.contains("app:***@"), "{}", out.stderr);
    assert!(!out.stderr.contains("s3cr3t-pw"), "{}", out.stderr);

    let db = TestDatabase::empty();
    let url = url_with_password(&db, "s3cr3t-pw");
    for args in [
        &["-vv", "up"][..],
        &["status"],
        &["status", "--format", "json"],
    ] {
        let out = run(&url, args).expect(code::OK);
        assert!(!out.stdout.contains("s3cr3t-pw"), "{}", out.stdout);
        assert!(!out.stderr.contains("s3cr3t-pw"), "{}", out.stderr);
    }
}

#[test]
fn passwords_of_malformed_urls_are_never_printed() {
    for url in [
        "postgres://u:s3cr3t-pw@host:99999/db",
        "postgres://u:s3cr3t-pw@[bad/db",
        "postgres://u:s3cr3t-pw@ho st/db",
        "postgres://u:s3cr3t-pw/x@host/db",
        "postgres://u:s3cr3t-pw@host:5432/db?sslmode=nonsense&password=s3cr3t-pw",
        "postgres://u:s3cr3t-pw@host:99999/db?password=s3cr3t-pw",
        "host=db user=u password=s3cr3t-pw",
    ] {
        let from_flag = run(url, &["-vv", "status", "--format", "json"]).expect(code::USAGE);
        let from_env = run_command(
            bridge_admin()
                .env("DATABASE_URL", url)
                .current_dir(tempfile::tempdir().unwrap().path())
                .args(["-vv", "up"]),
        )
        .expect(code::USAGE);
        for out in [from_flag, from_env] {
            assert!(
                out.stderr.contains("invalid configuration"),
                "{url}: {}",
                out.stderr
            );
            let shown = format!("{}{}", out.stdout, out.stderr);
            assert!(!shown.contains("s3cr3t-pw"), "{url}: {shown}");
        }
    }
}

#[test]
fn wait_gives_up_at_once_on_an_option_the_server_refuses() {
    let db = TestDatabase::empty();
    let url = format!("{}?options=-c%20no_such_setting%3D1", db.url());
    let started = Instant::now();
    let out = run(&url, &["--wait", "20", "up"]).expect(code::USAGE);
    assert!(started.elapsed() < Duration::from_secs(5), "it retried");
    assert!(out.stderr.contains("no_such_setting"), "{}", out.stderr);
    assert!(!out.stderr.contains("is the server up"), "{}", out.stderr);
}

#[test]
fn a_missing_database_is_a_configuration_error_that_points_to_setup() {
    let db = TestDatabase::empty();
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_path(&format!("{}_missing", db.name()));
    let out = run(url.as_str(), &["up"]).expect(code::USAGE);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    assert!(out.stderr.contains("bridge-admin setup"), "{}", out.stderr);
}

/// `status --format json` run in `dir` with `env`, returning the database it reports.
fn reported_database(dir: &tempfile::TempDir, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = bridge_admin();
    command
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .args(args);
    command.args(["status", "--format", "json"]);
    let out = run_command(&mut command).expect(code::OK);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    status["database"].as_str().unwrap().to_owned()
}

#[test]
fn the_flag_beats_database_url_which_beats_dotenv_which_beats_pg_variables() {
    let db = TestDatabase::empty();
    let other = TestDatabase::empty();
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={}\n", other.url()),
    )
    .unwrap();
    let pg_vars = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", "1"),
        ("PGDATABASE", "nowhere"),
    ];

    let flag = reported_database(
        &dir,
        &[("DATABASE_URL", CLOSED_PORT_URL)],
        &["--database-url", db.url()],
    );
    assert_eq!(flag, db.url());

    let mut env = pg_vars.to_vec();
    env.push(("DATABASE_URL", db.url()));
    assert_eq!(
        reported_database(&dir, &env, &[]),
        db.url(),
        "environment beats .env"
    );

    assert_eq!(
        reported_database(&dir, &pg_vars, &[]),
        other.url(),
        ".env beats PG*"
    );
}

#[test]
fn pg_variables_name_the_database_when_database_url_is_unset() {
    let db = TestDatabase::empty();
    let url = url::Url::parse(db.url()).unwrap();
    let port = url.port().unwrap_or(5432).to_string();
    let env = [
        ("PGHOST", url.host_str().unwrap()),
        ("PGPORT", port.as_str()),
        ("PGDATABASE", db.name()),
        ("PGUSER", url.username()),
    ];
    let empty_dir = tempfile::tempdir().unwrap();
    let reported = reported_database(&empty_dir, &env, &[]);
    assert!(reported.ends_with(&format!("/{}", db.name())), "{reported}");
}

#[test]
fn without_any_setting_the_default_database_is_used() {
    let empty_dir = tempfile::tempdir().unwrap();
    let mut command = bridge_admin();
    command
        .current_dir(empty_dir.path())
        .args(["status", "--format", "json"]);
    let out = run_command(&mut command);
    // The default database may or may not exist on this server; either way it is the one named.
    let default = "postgres://postgres@localhost:5432/omninode_bridge";
    assert!(
        out.stdout.contains(default) || out.stderr.contains(default),
        "{out:#?}"
    );
}
