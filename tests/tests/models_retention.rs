//! Retention: deleting audit rows older than a cut-off, oldest first, in bounded batches.

use bridge_models::{
    Error, FsmTransition, MetadataStamp, NewFsmTransition, NewMetadataStamp, Result,
};
use bridge_schema::{fsm_transitions, metadata_stamps};
use bridge_testkit::TestDatabase;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

fn transition(entity_id: Uuid) -> NewFsmTransition {
    NewFsmTransition {
        id: None,
        entity_id,
        entity_type: "workflow".into(),
        from_state: None,
        to_state: "PENDING".into(),
        transition_event: "created".into(),
        transition_data: json!({}),
    }
}

/// Appends `count` transitions recorded `days_ago` days ago.
async fn transitions_aged(
    conn: &mut AsyncPgConnection,
    count: usize,
    days_ago: i64,
) -> Result<Vec<Uuid>> {
    let rows: Vec<_> = (0..count).map(|_| transition(Uuid::new_v4())).collect();
    let ids: Vec<Uuid> = FsmTransition::append_many(conn, &rows)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    diesel::update(fsm_transitions::table.filter(fsm_transitions::id.eq_any(&ids)))
        .set(fsm_transitions::created_at.eq(Utc::now() - Duration::days(days_ago)))
        .execute(conn)
        .await?;
    Ok(ids)
}

#[tokio::test]
async fn old_transitions_go_in_batches_and_recent_ones_stay() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let oldest = transitions_aged(conn, 3, 90).await?;
    let old = transitions_aged(conn, 4, 40).await?;
    let recent = transitions_aged(conn, 5, 1).await?;
    let cutoff = Utc::now() - Duration::days(30);

    // Oldest first: the first batch of 3 takes exactly the 90-day-old rows.
    assert_eq!(FsmTransition::delete_older_than(conn, cutoff, 3).await?, 3);
    for id in &oldest {
        assert!(matches!(
            FsmTransition::find(conn, *id).await,
            Err(Error::NotFound { .. })
        ));
    }
    assert_eq!(FsmTransition::delete_older_than(conn, cutoff, 3).await?, 3);
    assert_eq!(FsmTransition::delete_older_than(conn, cutoff, 3).await?, 1);
    assert_eq!(FsmTransition::delete_older_than(conn, cutoff, 3).await?, 0);

    let left: Vec<Uuid> = fsm_transitions::table
        .select(fsm_transitions::id)
        .order(fsm_transitions::id)
        .load(conn)
        .await?;
    let mut expected = recent.clone();
    expected.sort();
    assert_eq!(left, expected);
    assert!(old.iter().all(|id| !left.contains(id)));
    Ok(())
}

#[tokio::test]
async fn old_stamps_go_and_recent_ones_stay() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let stamp = |hash: &str| NewMetadataStamp {
        id: None,
        workflow_id: None,
        file_hash: hash.into(),
        stamp_data: json!({"hash": hash}),
        namespace: "tenant-a".into(),
    };
    let old = MetadataStamp::append(conn, &stamp("old")).await?;
    let recent = MetadataStamp::append(conn, &stamp("recent")).await?;
    diesel::update(metadata_stamps::table.find(old.id))
        .set(metadata_stamps::created_at.eq(Utc::now() - Duration::days(400)))
        .execute(conn)
        .await?;

    let cutoff = Utc::now() - Duration::days(365);
    assert_eq!(
        MetadataStamp::delete_older_than(conn, cutoff, 100).await?,
        1
    );
    assert_eq!(
        MetadataStamp::delete_older_than(conn, cutoff, 100).await?,
        0
    );
    assert_eq!(MetadataStamp::find(conn, recent.id).await?, recent);
    Ok(())
}

#[tokio::test]
async fn a_retention_batch_must_be_bounded() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    for batch in [0, bridge_models::retention::MAX_RETENTION_BATCH + 1] {
        let err = FsmTransition::delete_older_than(conn, Utc::now(), batch)
            .await
            .expect_err("an unbounded batch");
        assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
    }
    Ok(())
}
