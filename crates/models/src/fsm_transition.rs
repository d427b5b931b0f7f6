//! The append-only audit of state-machine transitions (`fsm_transitions`).

use bridge_schema::fsm_transitions;
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
};

// Appends write `created_at` as `clock_timestamp()` rather than leave it to
// the column default `now()`, the transaction's start: a state change that
// waited for a row lock must sort after the one it waited for, which may
// have started later but committed first.
diesel::define_sql_function! {
    /// PostgreSQL's `clock_timestamp()`: the time now, not at transaction start.
    fn clock_timestamp() -> diesel::sql_types::Timestamptz;
}

/// One recorded transition of some entity's state machine.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, Serialize, Deserialize)]
#[diesel(table_name = fsm_transitions, check_for_backend(diesel::pg::Pg))]
pub struct FsmTransition {
    /// Primary key.
    pub id: Uuid,
    /// The entity that moved; not a foreign key.
    pub entity_id: Uuid,
    /// Kind of entity, e.g. `workflow`.
    pub entity_type: String,
    /// State before; `None` for the initial state.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// The event that caused the transition.
    pub transition_event: String,
    /// Free-form context.
    #[diesel(deserialize_as = StoredJson)]
    pub transition_data: Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A transition to record.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(
    table_name = fsm_transitions,
    check_for_backend(diesel::pg::Pg),
    // NULL, not DEFAULT, for `None`: the SQL text then never varies, so the
    // connection caches the prepared INSERT (one round trip per append, not two).
    treat_none_as_default_value = false
)]
pub struct NewFsmTransition {
    /// Caller-chosen id, which makes a redelivered append a no-op; `None` gets a UUIDv7.
    ///
    /// Must be a UUIDv7 (its time picks the monthly partition); any other
    /// version is refused with [`Error::InvalidValue`](crate::Error::InvalidValue).
    #[diesel(skip_insertion)]
    pub id: Option<Uuid>,
    /// The entity that moved.
    pub entity_id: Uuid,
    /// Kind of entity, e.g. `workflow`.
    pub entity_type: String,
    /// State before; `None` for the initial state.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: String,
    /// The event that caused the transition.
    pub transition_event: String,
    /// Free-form context; `{}` when none.
    pub transition_data: Value,
}

impl NewFsmTransition {
    /// Refuses what the table cannot hold, naming the field.
    fn validate(&self) -> Result<()> {
        const TABLE: &str = "fsm_transitions";
        partition_key::check("fsm_transitions.id", self.id)?;
        validate::text(TABLE, "entity_type", &self.entity_type)?;
        validate::opt_text(TABLE, "from_state", self.from_state.as_deref())?;
        validate::text(TABLE, "to_state", &self.to_state)?;
        validate::text(TABLE, "transition_event", &self.transition_event)?;
        validate::json(TABLE, "transition_data", &self.transition_data)
    }
}

keyed!(FsmTransition, fsm_transitions, "fsm transition");

batch_insert!(
    FsmTransition,
    NewFsmTransition,
    fsm_transitions,
    before: created_at = "clock_timestamp()",
    columns: {
        entity_id: |row| row.entity_id,
        entity_type: |row| row.entity_type.as_str(),
        from_state: |row| row.from_state.as_deref(),
        to_state: |row| row.to_state.as_str(),
        transition_event: |row| row.transition_event.as_str(),
        transition_data: |row| &row.transition_data,
    }
);
batch_calls!(FsmTransition, NewFsmTransition, append_many, "transitions");

keyset!(FsmTransition);

impl FsmTransition {
    /// The transition with id `id`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<Self> {
        on_conn!(conn, <Self as Keyed>::find(conn, id).await)
    }

    /// Records one transition; re-appending an existing id returns the stored row.
    pub async fn append(conn: &mut AsyncPgConnection, new: &NewFsmTransition) -> Result<Self> {
        new.validate()?;
        let created_at = fsm_transitions::created_at.eq(clock_timestamp());
        on_conn!(
            conn,
            insert_one!(conn, fsm_transitions, new.id, (created_at, new))
        )
    }

    /// Every transition of `entity_id`, oldest first.
    pub async fn history(conn: &mut AsyncPgConnection, entity_id: Uuid) -> Result<Vec<Self>> {
        on_conn!(conn, {
            Ok(fsm_transitions::table
                .filter(fsm_transitions::entity_id.eq(entity_id))
                .order((fsm_transitions::created_at, fsm_transitions::id))
                .select(Self::as_select())
                .load(conn)
                .await?)
        })
    }

    /// The latest transitions of any entity, newest first, keyset-paged.
    pub async fn recent(conn: &mut AsyncPgConnection, page: PageRequest) -> Result<Page<Self>> {
        on_conn!(
            conn,
            load_page!(
                conn,
                fsm_transitions,
                fsm_transitions::table.select(Self::as_select()),
                page
            )
        )
    }
}
