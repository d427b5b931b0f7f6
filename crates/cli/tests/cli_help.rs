//! `--help` of bridge-admin and of every subcommand, compared with committed snapshots.
//!
//! After an intended change, rewrite the snapshots with
//! `BLESS=1 cargo test -p bridge-admin --test cli_help` and review the diff.

mod support;

use std::{env, fs, path::PathBuf};

use support::{bridge_admin, code, run_command};

const COMMANDS: [&str; 10] = [
    "",
    "setup",
    "up",
    "down",
    "redo",
    "status",
    "retention",
    "inspect",
    "inspect workflow",
    "nodes",
];

fn snapshot_path(command: &str) -> PathBuf {
    let name = if command.is_empty() {
        "bridge-admin".to_owned()
    } else {
        command.replace(' ', "-")
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{name}.help.txt"))
}

fn help(command: &str) -> String {
    let mut cmd = bridge_admin();
    cmd.args(command.split_whitespace()).arg("--help");
    run_command(&mut cmd).expect(code::OK).stdout
}

#[test]
fn help_of_every_command_matches_its_snapshot() {
    let bless = env::var_os("BLESS").is_some();
    for command in COMMANDS {
        let actual = help(command);
        let path = snapshot_path(command);
        if bless {
            fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("{}: {err}; run with BLESS=1", path.display()));
        assert_eq!(actual, expected, "`bridge-admin {command} --help` changed");
    }
}

#[test]
fn every_command_shows_an_example() {
    for command in COMMANDS {
        assert!(
            help(command).contains("Example"),
            "`bridge-admin {command} --help` has no example"
        );
    }
}

#[test]
fn top_level_help_documents_every_exit_code() {
    let help = help("");
    for code in 0..=12 {
        assert!(
            help.contains(&format!("\n  {code}  ")),
            "exit code {code} undocumented"
        );
    }
}

#[test]
fn a_missing_subcommand_is_a_usage_error() {
    run_command(&mut bridge_admin()).expect(code::USAGE);
    run_command(bridge_admin().args(["down", "-n", "0"])).expect(code::USAGE);
    run_command(bridge_admin().args(["down", "--all", "-n", "2"])).expect(code::USAGE);
    run_command(bridge_admin().args(["redo", "--all", "-n", "2"])).expect(code::USAGE);
    run_command(bridge_admin().args(["status", "--format", "yaml"])).expect(code::USAGE);
    run_command(bridge_admin().args(["retention", "--transitions-days", "0"])).expect(code::USAGE);
    run_command(bridge_admin().args(["retention", "--batch-size", "0"])).expect(code::USAGE);
    run_command(bridge_admin().args(["inspect", "node", "x"])).expect(code::USAGE);
    run_command(bridge_admin().args(["nodes", "--stale-after", "0"])).expect(code::USAGE);
}
