//! Private clusters: configured as built, gone once dropped (also when the
//! test panics), and leftovers of killed test runs removed.

use std::{
    panic,
    path::Path,
    process::Command,
    sync::{Arc, Mutex},
};

use bridge_testkit::{remove_leftover_clusters, PrivateCluster, TestCa};

/// Whether anything of cluster `name` is left: `pg_lsclusters` lists it, or
/// its configuration or data directory exists.
fn listed(name: &str) -> bool {
    let output = Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .expect("pg_lsclusters is installed");
    let version = version();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(name))
        || Path::new(&format!("/etc/postgresql/{version}/{name}")).exists()
        || Path::new(&format!("/var/lib/postgresql/{version}/{name}")).exists()
}

/// The newest installed PostgreSQL version, as the kit picks it.
fn version() -> String {
    std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .max_by_key(|name| name.parse::<u32>().unwrap_or(0))
        .unwrap()
}

#[test]
fn a_cluster_runs_as_built_and_is_gone_once_dropped() {
    let ca = TestCa::new("test CA");
    let cluster = PrivateCluster::builder()
        .tls(&ca.server_cert(&["localhost"]))
        .conf("max_connections", "7")
        .hba("host all nobody 127.0.0.1/32 reject")
        .start();
    assert_eq!(cluster.psql("SHOW max_connections").trim(), "7");
    assert_eq!(cluster.psql("SHOW ssl").trim(), "on");
    let rules = cluster
        .psql("SELECT string_agg(auth_method, ',' ORDER BY line_number) FROM pg_hba_file_rules");
    assert_eq!(rules.trim(), "trust,reject,trust,trust");
    let name = cluster.name().to_owned();
    assert!(listed(&name));

    drop(cluster);
    assert!(!listed(&name), "{name} is still there");
}

#[test]
fn a_cluster_is_dropped_when_its_test_panics() {
    let name = Arc::new(Mutex::new(String::new()));
    let seen = name.clone();
    let outcome = panic::catch_unwind(move || {
        let cluster = PrivateCluster::builder().start();
        *seen.lock().unwrap() = cluster.name().to_owned();
        panic!("the test fails while its cluster runs");
    });
    assert!(outcome.is_err());
    let name = name.lock().unwrap().clone();
    assert!(!name.is_empty());
    assert!(!listed(&name), "{name} outlived its panicking test");
}

#[test]
fn clusters_of_processes_that_are_gone_are_removed() {
    // No process has this id (above any pid_max); the cluster is a killed run's.
    let version = version();
    let name = "bridgetest_4294967294_0_0";
    let created = Command::new("pg_createcluster")
        .args(["--start-conf", "manual", &version, name, "--", "--no-sync"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let ours = format!("/etc/postgresql/{version}/{name}/conf.d/bridge-testkit.conf");
    std::fs::write(ours, "fsync = off\n").unwrap();
    assert!(listed(name));

    remove_leftover_clusters();
    assert!(!listed(name), "the leftover {name} is still there");
}
