//! Metadata stamps: append (idempotent), find by file hash, list by workflow (in one namespace or all) and by namespace (paged), survival of a deleted workflow.

use std::collections::HashSet;

use bridge_models::{
    MetadataStamp, NewMetadataStamp, NewWorkflowExecution, NewWorkflowStep, PageRequest, Result,
    WorkflowExecution, WorkflowStep,
};
use bridge_testkit::TestDatabase;
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

fn new_stamp(namespace: &str, workflow_id: Option<Uuid>, file_hash: &str) -> NewMetadataStamp {
    NewMetadataStamp {
        id: None,
        workflow_id,
        file_hash: file_hash.into(),
        stamp_data: json!({"hash": file_hash, "version": 1}),
        namespace: namespace.into(),
    }
}

async fn workflow(conn: &mut AsyncPgConnection, namespace: &str) -> Result<WorkflowExecution> {
    let new = NewWorkflowExecution::new(Uuid::new_v4(), "metadata_stamping", namespace);
    WorkflowExecution::create(conn, &new).await
}

#[tokio::test]
async fn a_stamp_round_trips_and_re_appending_it_is_a_no_op() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn, "tenant-a").await?;
    let mut new = new_stamp("tenant-a", Some(workflow.id), &"ab".repeat(32));
    new.id = Some(Uuid::now_v7());

    let stored = MetadataStamp::append(conn, &new).await?;
    let mut redelivered = new.clone();
    redelivered.stamp_data = json!({"changed": true});
    let again = MetadataStamp::append(conn, &redelivered).await?;

    assert_eq!(stored.id, new.id.unwrap());
    assert_eq!(stored.workflow_id, Some(workflow.id));
    assert_eq!(stored.file_hash, new.file_hash);
    assert_eq!(stored.stamp_data, new.stamp_data);
    assert_eq!(stored.namespace, "tenant-a");
    assert_eq!(again, stored);
    assert_eq!(MetadataStamp::find(conn, stored.id).await?, stored);
    assert_eq!(
        MetadataStamp::list_for_workflow(conn, "tenant-a", workflow.id).await?,
        vec![stored]
    );
    Ok(())
}

#[tokio::test]
async fn finding_by_file_hash_stays_in_the_namespace_newest_first() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let older = MetadataStamp::append(conn, &new_stamp("tenant-a", None, "h1")).await?;
    let newer = MetadataStamp::append(conn, &new_stamp("tenant-a", None, "h1")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-b", None, "h1")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-a", None, "h2")).await?;

    let found = MetadataStamp::find_by_file_hash(conn, "tenant-a", "h1").await?;

    assert_eq!(found, vec![newer, older]);
    assert!(MetadataStamp::find_by_file_hash(conn, "tenant-c", "h1")
        .await?
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn listing_for_a_workflow_returns_only_its_stamps_in_its_namespace() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn, "tenant-a").await?;
    let other = self::workflow(conn, "tenant-a").await?;
    let first =
        MetadataStamp::append(conn, &new_stamp("tenant-a", Some(workflow.id), "h1")).await?;
    let second =
        MetadataStamp::append(conn, &new_stamp("tenant-a", Some(workflow.id), "h2")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-a", Some(other.id), "h3")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-b", Some(workflow.id), "h4")).await?;

    let listed = MetadataStamp::list_for_workflow(conn, "tenant-a", workflow.id).await?;

    assert_eq!(listed, vec![first, second]);
    Ok(())
}

#[tokio::test]
async fn listing_all_of_a_workflow_returns_its_stamps_of_every_namespace_oldest_first() -> Result<()>
{
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn, "tenant-a").await?;
    let other = self::workflow(conn, "tenant-a").await?;
    let first =
        MetadataStamp::append(conn, &new_stamp("tenant-a", Some(workflow.id), "h1")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-a", Some(other.id), "h2")).await?;
    MetadataStamp::append(conn, &new_stamp("tenant-a", None, "h3")).await?;
    let second =
        MetadataStamp::append(conn, &new_stamp("tenant-b", Some(workflow.id), "h4")).await?;

    let listed = MetadataStamp::list_all_for_workflow(conn, workflow.id).await?;

    assert_eq!(listed, vec![first, second]);
    Ok(())
}

#[tokio::test]
async fn listing_by_namespace_pages_every_stamp_once_and_no_other_namespace() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let mut expected = HashSet::new();
    for n in 0..23 {
        let stamp =
            MetadataStamp::append(conn, &new_stamp("tenant-a", None, &format!("h{n}"))).await?;
        expected.insert(stamp.id);
        MetadataStamp::append(conn, &new_stamp("tenant-b", None, &format!("h{n}"))).await?;
    }

    let mut seen = Vec::new();
    let mut request = Some(PageRequest::first(4));
    while let Some(page) = request {
        let page = MetadataStamp::list_by_namespace(conn, "tenant-a", page).await?;
        seen.extend(page.items);
        request = page.next;
    }

    assert_eq!(seen.len(), 23);
    assert_eq!(seen.iter().map(|s| s.id).collect::<HashSet<_>>(), expected);
    assert!(seen.iter().all(|s| s.namespace == "tenant-a"));
    assert!(seen
        .windows(2)
        .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)));
    Ok(())
}

#[tokio::test]
async fn deleting_a_workflow_keeps_its_stamps_and_removes_its_steps() -> Result<()> {
    let test_db = TestDatabase::migrated();
    let db = test_db.db().await?;
    let conn = &mut db.conn().await?;
    let workflow = workflow(conn, "tenant-a").await?;
    let stamp =
        MetadataStamp::append(conn, &new_stamp("tenant-a", Some(workflow.id), "h1")).await?;
    let step =
        WorkflowStep::append(conn, &NewWorkflowStep::new(workflow.id, "validation", 0)).await?;

    assert!(WorkflowExecution::delete(conn, workflow.id).await?);

    let kept = MetadataStamp::find(conn, stamp.id).await?;
    assert_eq!(
        kept,
        MetadataStamp {
            workflow_id: None,
            ..stamp
        }
    );
    assert!(WorkflowStep::list_for_workflow(conn, workflow.id)
        .await?
        .is_empty());
    assert!(WorkflowStep::find(conn, step.id).await.is_err());
    Ok(())
}
