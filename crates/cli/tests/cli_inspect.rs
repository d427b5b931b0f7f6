//! `bridge-admin inspect workflow` and `bridge-admin nodes`: text and JSON read back from rows
//! the data layer wrote, unknown and malformed ids.

mod support;

use bridge_models::{
    HealthStatus, MetadataStamp, NewMetadataStamp, NewNodeRegistration, NewWorkflowExecution,
    NewWorkflowStep, NodeHeartbeat, NodeRegistration, StateChange, StepStatus, WorkflowExecution,
    WorkflowState, WorkflowStep,
};
use bridge_testkit::TestDatabase;
use chrono::{Duration, SubsecRound, Utc};
use serde_json::{json, Value};
use support::{code, run};
use uuid::Uuid;

/// A workflow of `namespace` with three steps (appended out of order), two
/// transitions and two stamps, one of them in another namespace.
async fn a_finished_workflow(db: &TestDatabase, namespace: &str) -> WorkflowExecution {
    let pool = db.db().await.expect("the test database answers");
    let mut conn = pool.conn().await.expect("a connection");
    let mut new = NewWorkflowExecution::new(Uuid::now_v7(), "metadata_stamping", namespace);
    new.metadata = json!({ "file": "report.pdf" });
    let workflow = WorkflowExecution::create(&mut conn, &new).await.unwrap();
    for (name, order) in [
        ("stamp_creation", 2),
        ("validation", 0),
        ("hash_generation", 1),
    ] {
        let mut step = NewWorkflowStep::new(workflow.id, name, order);
        step.status = StepStatus::Completed;
        step.execution_time_ms = Some(10 + order);
        WorkflowStep::append(&mut conn, &step).await.unwrap();
    }
    for (to, event) in [
        (WorkflowState::Processing, "start"),
        (WorkflowState::Completed, "all_steps_done"),
    ] {
        WorkflowExecution::transition(&mut conn, workflow.id, &StateChange::new(to, event))
            .await
            .unwrap();
    }
    for (hash, stamp_namespace) in [("a1b2c3", namespace), ("d4e5f6", "archive")] {
        let stamp = NewMetadataStamp {
            id: None,
            workflow_id: Some(workflow.id),
            file_hash: format!("{hash}-{}", workflow.id.simple()),
            stamp_data: json!({ "v": 1 }),
            namespace: stamp_namespace.to_owned(),
        };
        MetadataStamp::append(&mut conn, &stamp).await.unwrap();
    }
    WorkflowExecution::find(&mut conn, workflow.id)
        .await
        .unwrap()
}

fn json_of(url: &str, args: &[&str]) -> Value {
    let out = run(url, args).expect(code::OK);
    serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{err}: {}", out.stdout))
}

#[tokio::test]
async fn inspect_prints_the_workflow_its_steps_in_order_its_transitions_and_its_stamps() {
    let db = TestDatabase::migrated();
    let workflow = a_finished_workflow(&db, "inspected").await;
    let other = a_finished_workflow(&db, "inspected").await;

    let out = run(db.url(), &["inspect", "workflow", &workflow.id.to_string()]).expect(code::OK);
    let text = &out.stdout;
    assert!(
        text.contains(&format!("Workflow {}", workflow.id)),
        "{text}"
    );
    assert!(
        text.contains(&workflow.correlation_id.to_string()),
        "{text}"
    );
    assert!(text.contains("COMPLETED"), "{text}");
    assert!(text.contains("metadata_stamping"), "{text}");
    assert!(text.contains("Steps (3):"), "{text}");
    let positions: Vec<usize> = ["validation", "hash_generation", "stamp_creation"]
        .iter()
        .map(|name| text.find(name).unwrap_or_else(|| panic!("{name}: {text}")))
        .collect();
    assert!(positions.is_sorted(), "steps out of order: {text}");
    assert!(text.contains("Transitions (2):"), "{text}");
    assert!(text.contains("PENDING -> PROCESSING"), "{text}");
    assert!(text.contains("PROCESSING -> COMPLETED"), "{text}");
    assert!(text.contains("Stamps (2):"), "{text}");
    assert!(text.contains("namespace archive"), "{text}");
    assert!(
        !text.contains(&other.id.to_string()),
        "another workflow's rows: {text}"
    );

    // By correlation id, as JSON.
    let document = json_of(
        db.url(),
        &[
            "inspect",
            "workflow",
            &workflow.correlation_id.to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(document["database"], db.url());
    assert_eq!(document["workflow"]["id"], workflow.id.to_string());
    assert_eq!(document["workflow"]["current_state"], "COMPLETED");
    assert_eq!(document["workflow"]["metadata"]["file"], "report.pdf");
    assert!(document["workflow"]["completed_at"].is_string());
    let steps = document["steps"].as_array().unwrap();
    let orders: Vec<i64> = steps
        .iter()
        .map(|s| s["step_order"].as_i64().unwrap())
        .collect();
    assert_eq!(orders, [0, 1, 2]);
    assert_eq!(steps[1]["step_name"], "hash_generation");
    assert_eq!(steps[1]["status"], "COMPLETED");
    assert_eq!(steps[1]["execution_time_ms"], 11);
    assert!(steps
        .iter()
        .all(|s| s["workflow_id"] == workflow.id.to_string()));
    let transitions = document["transitions"].as_array().unwrap();
    let moves: Vec<(Value, Value)> = transitions
        .iter()
        .map(|t| (t["from_state"].clone(), t["to_state"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (json!("PENDING"), json!("PROCESSING")),
            (json!("PROCESSING"), json!("COMPLETED"))
        ]
    );
    assert_eq!(transitions[1]["transition_event"], "all_steps_done");
    let stamps = document["stamps"].as_array().unwrap();
    let namespaces: Vec<&str> = stamps
        .iter()
        .map(|s| s["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["inspected", "archive"]);
    assert_eq!(
        stamps[0]["file_hash"],
        format!("a1b2c3-{}", workflow.id.simple())
    );
}

#[test]
fn inspect_of_an_unknown_id_exits_not_found_naming_it() {
    let db = TestDatabase::migrated();
    let unknown = Uuid::now_v7().to_string();
    for format in ["text", "json"] {
        let out = run(
            db.url(),
            &["inspect", "workflow", &unknown, "--format", format],
        )
        .expect(code::NOT_FOUND);
        assert!(out.stdout.is_empty(), "{out:#?}");
        assert!(
            out.stderr.contains(&format!(
                "workflow execution not found: id or correlation id {unknown}"
            )),
            "{out:#?}"
        );
        assert!(out.stderr.contains("hint:"), "{out:#?}");
    }
}

#[test]
fn inspect_of_a_malformed_id_is_a_usage_error_before_connecting() {
    // Nothing listens on port 1: an attempt to connect would exit 4, not 2.
    let url = "postgres://postgres@127.0.0.1:1/omninode_bridge";
    let out = run(url, &["inspect", "workflow", "not-a-uuid"]).expect(code::USAGE);
    assert!(
        out.stderr.contains("invalid value 'not-a-uuid' for '<ID>'"),
        "{out:#?}"
    );
    run(url, &["inspect", "workflow"]).expect(code::USAGE);
    run(url, &["inspect"]).expect(code::USAGE);
}

#[tokio::test]
async fn nodes_lists_health_and_heartbeat_age_and_marks_the_silent_node_stale() {
    let db = TestDatabase::migrated();
    let pool = db.db().await.expect("the test database answers");
    let mut conn = pool.conn().await.expect("a connection");
    for id in ["reducer-fresh", "reducer-silent", "registry-new"] {
        let node_type = id.split('-').next().unwrap();
        NodeRegistration::register(
            &mut conn,
            &NewNodeRegistration::new(id, node_type, "v1.2.0"),
        )
        .await
        .unwrap();
    }
    NodeRegistration::heartbeat(
        &mut conn,
        "reducer-fresh",
        &NodeHeartbeat::now(HealthStatus::Healthy),
    )
    .await
    .unwrap();
    let two_hours_ago = NodeHeartbeat {
        health_status: HealthStatus::Healthy,
        last_heartbeat: (Utc::now() - Duration::hours(2)).trunc_subsecs(6),
    };
    NodeRegistration::heartbeat(&mut conn, "reducer-silent", &two_hours_ago)
        .await
        .unwrap();
    drop(conn);

    let out = run(db.url(), &["nodes"]).expect(code::OK);
    let line = |node: &str| {
        out.stdout
            .lines()
            .find(|line| line.starts_with(node))
            .unwrap_or_else(|| panic!("{node} missing: {}", out.stdout))
            .to_owned()
    };
    let fresh = line("reducer-fresh");
    assert!(
        fresh.contains("HEALTHY") && fresh.contains("v1.2.0"),
        "{fresh}"
    );
    assert!(!fresh.contains("STALE"), "{fresh}");
    let silent = line("reducer-silent");
    assert!(silent.contains("HEALTHY"), "{silent}");
    assert!(
        silent.contains("2h 0m") && silent.ends_with("STALE"),
        "{silent}"
    );
    let new = line("registry-new");
    assert!(new.contains("UNKNOWN") && new.contains("never"), "{new}");
    assert!(!new.contains("STALE"), "{new}");
    assert!(out.stdout.contains("3 nodes, 1 stale"), "{}", out.stdout);

    let document = json_of(
        db.url(),
        &["nodes", "--format", "json", "--stale-after", "30"],
    );
    assert_eq!(document["stale_after_seconds"], 30);
    let nodes = document["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["reducer-fresh", "reducer-silent", "registry-new"]);
    let stale: Vec<bool> = nodes
        .iter()
        .map(|n| n["stale"].as_bool().unwrap())
        .collect();
    assert_eq!(stale, [false, true, false]);
    assert_eq!(nodes[0]["health_status"], "HEALTHY");
    assert!(nodes[0]["heartbeat_age_seconds"].as_f64().unwrap() < 30.0);
    let silent_age = nodes[1]["heartbeat_age_seconds"].as_f64().unwrap();
    assert!((7_200.0..7_300.0).contains(&silent_age), "{silent_age}");
    assert!(nodes[2]["heartbeat_age_seconds"].is_null());
    assert!(nodes[2]["last_heartbeat"].is_null());
    assert_eq!(nodes[2]["node_type"], "registry");
}
