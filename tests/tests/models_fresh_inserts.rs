//! Single appends to the partitioned audit tables: a generated id is inserted
//! without `ON CONFLICT` (it cannot be stored yet, and the clause costs every
//! insert into a partitioned table), a caller's id keeps it (a redelivery is
//! a no-op).

use std::sync::{Arc, Mutex};

use bridge_models::{FsmTransition, MetadataStamp, NewMetadataStamp, Result};
use bridge_testkit::TestDatabase;
use bridge_tests::fixtures::new_transition;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

/// Records the SQL of every statement the connection runs.
struct Statements(Arc<Mutex<Vec<String>>>);

impl Instrumentation for Statements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            self.0.lock().unwrap().push(query.to_string());
        }
    }
}

#[tokio::test]
async fn a_generated_id_is_inserted_without_a_conflict_check_and_a_callers_id_with_one(
) -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let sent = Arc::new(Mutex::new(Vec::new()));
    conn.set_instrumentation(Statements(Arc::clone(&sent)));
    let stamp = |id| NewMetadataStamp {
        id,
        workflow_id: None,
        file_hash: "ab".repeat(32),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };

    let generated = FsmTransition::append(conn, &new_transition(Uuid::new_v4(), 0)).await?;
    let generated_stamp = MetadataStamp::append(conn, &stamp(None)).await?;
    let supplied = Uuid::now_v7();
    let mut with_id = new_transition(Uuid::new_v4(), 0);
    with_id.id = Some(supplied);
    FsmTransition::append(conn, &with_id).await?;
    MetadataStamp::append(conn, &stamp(Some(supplied))).await?;

    assert_eq!(generated.id.get_version_num(), 7);
    assert_eq!(generated_stamp.id.get_version_num(), 7);
    let sent = sent.lock().unwrap().clone();
    let inserts: Vec<_> = sent
        .iter()
        .filter(|sql| sql.starts_with("INSERT"))
        .map(|sql| sql.contains("ON CONFLICT"))
        .collect();
    assert_eq!(inserts, [false, false, true, true], "{sent:#?}");
    // The caller's id is still a no-op when redelivered.
    assert_eq!(
        FsmTransition::append(conn, &with_id).await?.id,
        FsmTransition::find(conn, supplied).await?.id
    );
    Ok(())
}
