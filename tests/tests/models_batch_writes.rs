//! Batch creates of workflows and batch appends of stamps (`create_many`, `append_many`, `ingest_many`): rows stored as given and in order, redeliveries skipped, a refused row fails the whole batch.

use bridge_models::{
    ConstraintKind, Error, MetadataStamp, NewMetadataStamp, NewWorkflowExecution, Result,
    WorkflowExecution, WorkflowState,
};
use bridge_testkit::TestDatabase;
use bridge_tests::{assert_violates, fixtures::new_workflow};
use chrono::{Duration, SubsecRound, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

/// The caller's half of a stored workflow, to compare with what was created.
fn as_new(stored: &WorkflowExecution) -> NewWorkflowExecution {
    NewWorkflowExecution {
        id: Some(stored.id),
        correlation_id: stored.correlation_id,
        workflow_type: stored.workflow_type.clone(),
        current_state: stored.current_state,
        namespace: stored.namespace.clone(),
        started_at: stored.started_at,
        metadata: stored.metadata.clone(),
    }
}

/// The caller's half of a stored stamp, to compare with what was appended.
fn stamp_as_new(stored: &MetadataStamp) -> NewMetadataStamp {
    NewMetadataStamp {
        id: Some(stored.id),
        workflow_id: stored.workflow_id,
        file_hash: stored.file_hash.clone(),
        stamp_data: stored.stamp_data.clone(),
        namespace: stored.namespace.clone(),
    }
}

/// Three workflows, each field set differently; the second has no id.
fn three_workflows() -> Vec<NewWorkflowExecution> {
    let mut running = NewWorkflowExecution::new(Uuid::new_v4(), "hashing", "tenant-b");
    running.current_state = WorkflowState::Processing;
    running.started_at = (Utc::now() - Duration::hours(1)).trunc_subsecs(6);
    running.metadata = json!({"files": 3, "tags": ["a", "b"]});
    vec![
        NewWorkflowExecution {
            id: Some(Uuid::now_v7()),
            ..new_workflow()
        },
        new_workflow(),
        NewWorkflowExecution {
            id: Some(Uuid::new_v4()),
            ..running
        },
    ]
}

/// The stored workflow with the correlation id of `new`, if any.
async fn stored(
    conn: &mut AsyncPgConnection,
    new: &NewWorkflowExecution,
) -> Result<Option<WorkflowExecution>> {
    match WorkflowExecution::find_by_correlation_id(conn, new.correlation_id).await {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

#[tokio::test]
async fn creating_workflows_in_a_batch_stores_each_as_given_in_input_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let new = three_workflows();

    let created = WorkflowExecution::create_many(conn, &new).await?;

    assert_eq!(created.len(), 3);
    for (created, new) in created.iter().zip(&new) {
        let expected = NewWorkflowExecution {
            id: new.id.or(Some(created.id)),
            ..new.clone()
        };
        assert_eq!(as_new(created), expected);
        assert_eq!(created.completed_at, None);
        assert_eq!(stored(conn, new).await?.as_ref(), Some(created));
    }
    assert_eq!(
        created[1].id.get_version_num(),
        7,
        "a generated id is a UUIDv7"
    );

    let more = three_workflows();
    assert_eq!(WorkflowExecution::ingest_many(conn, &more).await?, 3);
    for new in &more {
        let found = stored(conn, new).await?.expect("ingested");
        let expected = NewWorkflowExecution {
            id: new.id.or(Some(found.id)),
            ..new.clone()
        };
        assert_eq!(as_new(&found), expected);
    }
    assert_eq!(WorkflowExecution::ingest_many(conn, &[]).await?, 0);
    assert!(WorkflowExecution::create_many(conn, &[]).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn re_creating_workflows_in_a_batch_skips_stored_ids_and_keeps_their_values() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let with_id = || NewWorkflowExecution {
        id: Some(Uuid::now_v7()),
        ..new_workflow()
    };
    let first = [with_id(), with_id()];
    let created = WorkflowExecution::create_many(conn, &first).await?;

    // A redelivery of both (one with changed values), one new row, and the
    // new row repeated within the batch.
    let changed = NewWorkflowExecution {
        workflow_type: "changed".into(),
        metadata: json!({"changed": true}),
        ..first[1].clone()
    };
    let fresh = with_id();
    let redelivery = [first[0].clone(), changed, fresh.clone(), fresh.clone()];
    let count = WorkflowExecution::ingest_many(conn, &redelivery).await?;
    let again = WorkflowExecution::create_many(conn, &redelivery).await?;

    assert_eq!(count, 1, "only the fresh row is new");
    assert_eq!(
        again[..2],
        created[..],
        "stored rows are returned unchanged"
    );
    assert_eq!(again[2], again[3]);
    assert_eq!(again[2].id, fresh.id.unwrap());
    assert_eq!(stored(conn, &first[1]).await?.as_ref(), Some(&created[1]));
    Ok(())
}

#[tokio::test]
async fn a_correlation_id_taken_under_another_id_fails_the_whole_batch() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let existing = WorkflowExecution::create(conn, &new_workflow()).await?;
    let fresh = new_workflow();
    let taken = NewWorkflowExecution::new(existing.correlation_id, "other", "tenant-a");
    let twice = new_workflow();

    let ingested = WorkflowExecution::ingest_many(conn, &[fresh.clone(), taken]).await;
    let created = WorkflowExecution::create_many(conn, &[twice.clone(), twice.clone()]).await;

    for result in [ingested, created.map(|rows| rows.len())] {
        assert_violates(
            result,
            ConstraintKind::Unique,
            "workflow_executions_correlation_id_key",
        );
    }
    assert_eq!(stored(conn, &fresh).await?, None);
    assert_eq!(stored(conn, &twice).await?, None);
    assert_eq!(WorkflowExecution::find(conn, existing.id).await?, existing);
    Ok(())
}

#[tokio::test]
async fn a_bad_row_in_a_batch_is_named_and_nothing_is_written() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflows = [new_workflow(), {
        let mut long = new_workflow();
        long.namespace = "n".repeat(256);
        long
    }];
    let stamp = |id| NewMetadataStamp {
        id,
        workflow_id: None,
        file_hash: "h".into(),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };
    let stamps = [
        stamp(None),
        stamp(Some(Uuid::now_v7())),
        stamp(Some(Uuid::new_v4())),
    ];

    let created = WorkflowExecution::create_many(conn, &workflows).await;
    let ingested = WorkflowExecution::ingest_many(conn, &workflows).await;
    let appended = MetadataStamp::append_many(conn, &stamps).await;
    let stamps_ingested = MetadataStamp::ingest_many(conn, &stamps).await;

    for result in [created.map(|rows| rows.len()), ingested] {
        match result {
            Err(Error::InvalidValue { field, problem }) => assert_eq!(
                (field.as_str(), problem.as_str()),
                (
                    "workflow_executions.namespace",
                    "256 characters, at most 255 (row 1 of the batch)"
                )
            ),
            other => panic!("expected the namespace refused, got {other:?}"),
        }
    }
    for result in [appended.map(|rows| rows.len()), stamps_ingested] {
        assert!(
            matches!(&result, Err(Error::InvalidValue { field, problem })
                if field == "metadata_stamps.id" && problem.contains("UUIDv4")
                    && problem.ends_with("(row 2 of the batch)")),
            "{result:?}"
        );
    }
    assert_eq!(stored(conn, &workflows[0]).await?, None);
    assert!(MetadataStamp::find_by_file_hash(conn, "tenant-a", "h")
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn appending_stamps_in_a_batch_stores_each_as_given_in_input_order() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = WorkflowExecution::create(conn, &new_workflow()).await?;
    let stamp = |n: usize, id, workflow_id| NewMetadataStamp {
        id,
        workflow_id,
        file_hash: format!("{n:064x}"),
        stamp_data: json!({"n": n}),
        namespace: if n % 2 == 0 { "tenant-a" } else { "tenant-b" }.into(),
    };
    let new = [
        stamp(0, Some(Uuid::now_v7()), Some(workflow.id)),
        stamp(1, None, None),
        stamp(2, None, Some(workflow.id)),
    ];

    let appended = MetadataStamp::append_many(conn, &new).await?;

    assert_eq!(appended.len(), 3);
    for (appended, new) in appended.iter().zip(&new) {
        let expected = NewMetadataStamp {
            id: new.id.or(Some(appended.id)),
            ..new.clone()
        };
        assert_eq!(stamp_as_new(appended), expected);
        assert_eq!(appended.id.get_version_num(), 7);
        assert_eq!(&MetadataStamp::find(conn, appended.id).await?, appended);
    }
    let more = [stamp(3, None, None), stamp(4, Some(Uuid::now_v7()), None)];
    assert_eq!(MetadataStamp::ingest_many(conn, &more).await?, 2);
    let found = MetadataStamp::find_by_file_hash(conn, "tenant-a", &more[1].file_hash).await?;
    assert_eq!(
        found.iter().map(stamp_as_new).collect::<Vec<_>>(),
        [more[1].clone()]
    );
    assert_eq!(MetadataStamp::ingest_many(conn, &[]).await?, 0);
    Ok(())
}

#[tokio::test]
async fn re_appending_stamps_in_a_batch_skips_stored_ids_and_keeps_their_values() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let stamp = |file_hash: &str| NewMetadataStamp {
        id: Some(Uuid::now_v7()),
        workflow_id: None,
        file_hash: file_hash.into(),
        stamp_data: json!({"v": 1}),
        namespace: "tenant-a".into(),
    };
    let first = [stamp("h0"), stamp("h1")];
    let stored = MetadataStamp::append_many(conn, &first).await?;

    let changed = NewMetadataStamp {
        stamp_data: json!({"v": 2}),
        ..first[1].clone()
    };
    let fresh = stamp("h2");
    let redelivery = [first[0].clone(), changed, fresh.clone(), fresh.clone()];
    let count = MetadataStamp::ingest_many(conn, &redelivery).await?;
    let again = MetadataStamp::append_many(conn, &redelivery).await?;

    assert_eq!(count, 1, "only the fresh row is new");
    assert_eq!(again[..2], stored[..], "stored rows are returned unchanged");
    assert_eq!(again[2], again[3]);
    assert_eq!(again[2].id, fresh.id.unwrap());
    assert_eq!(MetadataStamp::find(conn, stored[1].id).await?, stored[1]);
    Ok(())
}

#[tokio::test]
async fn a_stamp_of_a_missing_workflow_fails_the_whole_batch() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let stamp = |workflow_id| NewMetadataStamp {
        id: Some(Uuid::now_v7()),
        workflow_id,
        file_hash: "h".into(),
        stamp_data: json!({}),
        namespace: "tenant-a".into(),
    };
    let batch = [stamp(None), stamp(Some(Uuid::now_v7()))];

    let ingested = MetadataStamp::ingest_many(conn, &batch).await;

    assert_violates(
        ingested,
        ConstraintKind::ForeignKey,
        "metadata_stamps_workflow_id_fkey",
    );
    assert!(MetadataStamp::find_by_file_hash(conn, "tenant-a", "h")
        .await?
        .is_empty());
    Ok(())
}
