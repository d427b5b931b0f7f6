//! The audit trail of metadata stamp operations (`metadata_stamps`).

use bridge_schema::metadata_stamps;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    batch::{batch_calls, batch_insert},
    error::Result,
    insert::{insert_one, keyed, Keyed},
    json::StoredJson,
    outcome::on_conn,
    paging::{keyset, load_page, Page, PageRequest},
    partition_key, validate,
    workflow_execution::WorkflowExecution,
};

/// One recorded stamp.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Associations,
    Serialize,
    Deserialize,
)]
#[diesel(table_name = metadata_stamps, check_for_backend(diesel::pg::Pg))]
#[diesel(belongs_to(WorkflowExecution, foreign_key = workflow_id))]
pub struct MetadataStamp {
    /// Primary key.
    pub id: Uuid,
    /// The workflow that stamped; `None` once that workflow is deleted.
    pub workflow_id: Option<Uuid>,
    /// BLAKE3 hash of the stamped content.
    pub file_hash: String,
    /// The complete stamp.
    #[diesel(deserialize_as = StoredJson)]
    pub stamp_data: Value,
    /// Namespace of the stamp.
    pub namespace: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A stamp to record.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(
    table_name = metadata_stamps,
    check_for_backend(diesel::pg::Pg),
    // NULL, not DEFAULT, for `None` (the columns default to NULL anyway): the
    // SQL text then never varies and the connection caches the prepared INSERT.
    treat_none_as_default_value = false
)]
pub struct NewMetadataStamp {
    /// Caller-chosen id, which makes a redelivered append a no-op; `None` gets a UUIDv7.
    ///
    /// Must be a UUIDv7 (its time picks the monthly partition); any other
    /// version is refused with [`Error::InvalidValue`](crate::Error::InvalidValue).
    #[diesel(skip_insertion)]
    pub id: Option<Uuid>,
    /// The workflow that stamped, if any; must exist.
    pub workflow_id: Option<Uuid>,
    /// BLAKE3 hash of the stamped content, at most 128 characters.
    pub file_hash: String,
    /// The complete stamp.
    pub stamp_data: Value,
    /// Namespace of the stamp.
    pub namespace: String,
}

impl NewMetadataStamp {
    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "metadata_stamps";
        partition_key::check("metadata_stamps.id", self.id)?;
        validate::text(TABLE, "file_hash", &self.file_hash)?;
        validate::text(TABLE, "namespace", &self.namespace)?;
        validate::json(TABLE, "stamp_data", &self.stamp_data)
    }
}

keyed!(MetadataStamp, metadata_stamps, "metadata stamp");

batch_insert!(
    MetadataStamp,
    NewMetadataStamp,
    metadata_stamps,
    columns: {
        workflow_id: |row| row.workflow_id,
        file_hash: |row| row.file_hash.as_str(),
        stamp_data: |row| &row.stamp_data,
        namespace: |row| row.namespace.as_str(),
    }
);
batch_calls!(MetadataStamp, NewMetadataStamp, append_many, "stamps");

keyset!(MetadataStamp);

impl MetadataStamp {
    /// Records a stamp; re-appending an existing id returns the stored row.
    pub async fn append(conn: &mut AsyncPgConnection, new: &NewMetadataStamp) -> Result<Self> {
        new.validate()?;
        on_conn!(conn, insert_one!(conn, metadata_stamps, new.id, new))
    }

    /// The stamp with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        on_conn!(conn, <Self as Keyed>::find(conn, id).await)
    }

    /// Stamps of content hashing to `file_hash` in `namespace`, newest first.
    pub async fn find_by_file_hash(
        conn: &mut AsyncPgConnection,
        namespace: &str,
        file_hash: &str,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(metadata_stamps::table
                .filter(metadata_stamps::file_hash.eq(file_hash))
                .filter(metadata_stamps::namespace.eq(namespace))
                .order((
                    metadata_stamps::created_at.desc(),
                    metadata_stamps::id.desc(),
                ))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Stamps of workflow `workflow_id` in `namespace`, oldest first.
    pub async fn list_for_workflow(
        conn: &mut AsyncPgConnection,
        namespace: &str,
        workflow_id: Uuid,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(metadata_stamps::table
                .filter(metadata_stamps::workflow_id.eq(workflow_id))
                .filter(metadata_stamps::namespace.eq(namespace))
                .order((metadata_stamps::created_at, metadata_stamps::id))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Stamps of workflow `workflow_id` in every namespace, oldest first.
    pub async fn list_all_for_workflow(
        conn: &mut AsyncPgConnection,
        workflow_id: Uuid,
    ) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(metadata_stamps::table
                .filter(metadata_stamps::workflow_id.eq(workflow_id))
                .order((metadata_stamps::created_at, metadata_stamps::id))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Stamps of `namespace`, newest first, keyset-paged.
    pub async fn list_by_namespace(
        conn: &mut AsyncPgConnection,
        namespace: &str,
        page: PageRequest,
    ) -> Result<Page<Self>> {
        on_conn!(
            conn,
            load_page!(
                conn,
                metadata_stamps,
                metadata_stamps::table
                    .filter(metadata_stamps::namespace.eq(namespace))
                    .select(Self::as_select()),
                page
            )
        )
    }
}
