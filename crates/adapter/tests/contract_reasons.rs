//! Each row of the contract's `dlq.reason` table (docs/events.md): the refusal it names gets that reason.

use bridge_adapter::{apply_events, Refusal};
use bridge_events::{decode, EventType, MAX_JSON_DEPTH};
use bridge_testkit::TestDatabase;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

mod support;

const PREFIX: &str = support::PREFIX;

/// The reason `decode` gives `event` consumed from `kind`'s topic, and the event type it read.
fn decode_reason(kind: EventType, event: &Value) -> (&'static str, Option<String>) {
    let bytes = event.to_string().into_bytes();
    let err = decode(&bytes, Some(kind), &kind.topic(PREFIX)).expect_err("refused");
    (err.reason(), err.event_type().map(str::to_owned))
}

/// The reason the database (or the models' checks) gives `events`, applied in one batch.
async fn write_reason(database: &TestDatabase, events: &[Value]) -> &'static str {
    let db = database.db().await.expect("a pool");
    let mut conn = db.conn().await.expect("a connection");
    let events = events
        .iter()
        .map(|event| {
            let kind: EventType = event["event_type"].as_str().unwrap().parse().unwrap();
            decode(
                event.to_string().as_bytes(),
                Some(kind),
                &kind.topic(PREFIX),
            )
            .expect("valid")
        })
        .collect();
    let err = apply_events(&mut conn, events)
        .await
        .expect_err("the database refuses it");
    Refusal::write(err).reason()
}

/// JSON nested `depth` levels deep, counting the envelope: metadata holds the rest.
fn nested(depth: usize) -> Value {
    let mut value = json!({});
    for _ in 0..depth - 2 {
        value = json!({ "a": value });
    }
    let mut event = support::started(Uuid::now_v7());
    event["metadata"] = value;
    event
}

#[test]
fn invalid_envelope_not_json_a_missing_field_or_too_deep() {
    let kind = EventType::WorkflowStarted;
    let bytes = b"{not json";
    let err = decode(bytes, Some(kind), &kind.topic(PREFIX)).unwrap_err();
    assert_eq!((err.reason(), err.event_type()), ("invalid_envelope", None));

    let mut missing = support::started(Uuid::now_v7());
    missing.as_object_mut().unwrap().remove("source_node_id");
    assert_eq!(
        decode_reason(kind, &missing),
        ("invalid_envelope", Some("workflow-started".into()))
    );

    assert!(decode(
        nested(MAX_JSON_DEPTH).to_string().as_bytes(),
        Some(kind),
        &kind.topic(PREFIX)
    )
    .is_ok());
    assert_eq!(
        decode_reason(kind, &nested(MAX_JSON_DEPTH + 1)),
        ("invalid_envelope", Some("workflow-started".into()))
    );
}

#[test]
fn unknown_event_type() {
    let mut event = support::started(Uuid::now_v7());
    event["event_type"] = json!("workflow-paused");
    assert_eq!(
        decode_reason(EventType::WorkflowStarted, &event),
        ("unknown_event_type", Some("workflow-paused".into()))
    );
}

#[test]
fn unsupported_version() {
    let mut event = support::step(Uuid::now_v7(), 0);
    event["event_version"] = json!("2.0");
    assert_eq!(
        decode_reason(EventType::StepCompleted, &event),
        ("unsupported_version", Some("step-completed".into()))
    );
}

#[test]
fn wrong_topic() {
    let event = support::started(Uuid::now_v7());
    assert_eq!(
        decode_reason(EventType::StepCompleted, &event),
        ("wrong_topic", Some("workflow-started".into()))
    );
}

#[test]
fn invalid_payload_a_field_missing_malformed_or_not_an_object_or_no_workflow() {
    let workflow = Uuid::now_v7();
    let mut missing = support::step(workflow, 0);
    missing["payload"]
        .as_object_mut()
        .unwrap()
        .remove("step_name");
    let mut malformed = support::transition(workflow, "DONE");
    malformed["payload"]["entity_id"] = json!("bridge-7");
    let mut not_object = support::stamp(workflow);
    not_object["payload"]["stamp_data"] = json!([1]);
    let mut no_workflow = support::completed(workflow);
    no_workflow["correlation_id"] = Value::Null;
    for event in [missing, malformed, not_object, no_workflow] {
        let kind: EventType = event["event_type"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            decode_reason(kind, &event),
            ("invalid_payload", Some(kind.as_str().to_owned())),
            "{event}"
        );
    }
}

#[tokio::test]
async fn invalid_value_over_a_bound_negative_or_a_nul_byte() {
    let database = TestDatabase::migrated();
    let workflow = Uuid::now_v7();
    let started = support::started(workflow);
    let mut too_long = support::step(workflow, 0);
    too_long["payload"]["step_name"] = json!("x".repeat(101));
    let negative_order = support::step(workflow, -1);
    let mut nul = support::step(workflow, 0);
    nul["payload"]["step_name"] = json!("a\u{0}b");
    let negative_count = support::aggregation(Uuid::now_v7(), -1);
    for refused in [too_long, negative_order, nul] {
        assert_eq!(
            write_reason(&database, &[started.clone(), refused.clone()]).await,
            "invalid_value",
            "{refused}"
        );
    }
    assert_eq!(
        write_reason(&database, &[negative_count]).await,
        "invalid_value"
    );
}

#[tokio::test]
async fn constraint_violation_a_second_workflow_under_a_stored_correlation_id() {
    let database = TestDatabase::migrated();
    let workflow = Uuid::now_v7();
    let db = database.db().await.expect("a pool");
    let mut conn = db.conn().await.expect("a connection");
    let first = support::started(workflow);
    let event = decode(
        first.to_string().as_bytes(),
        None,
        &EventType::WorkflowStarted.topic(PREFIX),
    )
    .unwrap();
    apply_events(&mut conn, vec![event]).await.expect("stored");

    let again = support::started(workflow);
    assert_eq!(
        write_reason(&database, &[again]).await,
        "constraint_violation"
    );
}

#[tokio::test]
async fn database_refused_any_other_refusal_of_the_server() {
    let database = TestDatabase::migrated();
    let db = database.db().await.expect("a pool");
    let mut conn = db.conn().await.expect("a connection");
    diesel::sql_query(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    diesel::sql_query(
        "CREATE TRIGGER refuse BEFORE INSERT ON node_registrations \
         FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        write_reason(&database, &[support::registered("n-1")]).await,
        "database_refused"
    );
}

#[test]
fn the_contract_lists_every_reason_these_tests_and_the_sweep_give() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md"))
            .expect("docs/events.md");
    for reason in [
        "invalid_envelope",
        "unknown_event_type",
        "unsupported_version",
        "wrong_topic",
        "invalid_payload",
        "invalid_value",
        "constraint_violation",
        "database_refused",
        "dependency_timeout",
    ] {
        assert!(
            page.contains(&format!("| `{reason}` |")),
            "docs/events.md has no row for {reason}"
        );
    }
    assert!(page.contains(&format!("{MAX_JSON_DEPTH} levels")));
}
