//! The benchmark still works: `bridge-bench --quick` runs every case and
//! writes its table as JSON. Timings are not judged.

use std::process::Command;

#[test]
fn a_quick_run_measures_every_case_and_writes_json() {
    let json = std::env::temp_dir().join(format!("bridge-bench-quick-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_bridge-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(&json)
        .output()
        .expect("bridge-bench starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bridge-bench --quick failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON was written"))
            .expect("the JSON parses");
    std::fs::remove_file(&json).ok();
    let rows = report["rows"].as_array().expect("rows");
    for case in ["1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "10 "] {
        assert!(
            rows.iter()
                .any(|row| row["case"].as_str().is_some_and(|c| c.starts_with(case))),
            "no row for case {case}in\n{stdout}"
        );
    }
    for row in rows
        .iter()
        .filter(|row| !row["case"].as_str().unwrap().starts_with("5 "))
    {
        assert!(
            row["ours"].is_number() && row["limit"].is_number(),
            "case {} has no figures:\n{stdout}",
            row["case"]
        );
    }
    assert_eq!(report["plans"].as_array().map(Vec::len), Some(20));
}
