//! Every list and get query of the models crate, with arguments drawn from
//! the case 4 data set.

use bridge_models::{
    BridgeState, Cursor, FsmTransition, HealthStatus, MetadataStamp, NodeRegistration, PageRequest,
    WorkflowExecution, WorkflowState, WorkflowStep,
};
use chrono::{Duration, Utc};
use diesel_async::AsyncPgConnection;

use super::dataset::{
    file_hash, stamp_created_at, stamp_id, transition_created_at, transition_id,
    workflow_created_at, Key, NAMESPACES, NODE_TYPES,
};
use crate::scale::DataSize;

/// Rows per page of the paged queries.
const PAGE: u32 = 50;

/// One read of the models API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadQuery {
    /// `WorkflowExecution::find`.
    WorkflowFind,
    /// `WorkflowExecution::find_by_correlation_id`.
    WorkflowByCorrelation,
    /// `WorkflowExecution::list_by_namespace_and_state`, first page.
    WorkflowsFirstPage,
    /// `WorkflowExecution::list_by_namespace_and_state`, a page after a cursor.
    WorkflowsLaterPage,
    /// `WorkflowStep::find`.
    StepFind,
    /// `WorkflowStep::list_for_workflow`.
    StepsOfWorkflow,
    /// `FsmTransition::find`.
    TransitionFind,
    /// `FsmTransition::history`.
    TransitionHistory,
    /// `FsmTransition::recent`, first page.
    TransitionsRecentFirstPage,
    /// `FsmTransition::recent`, a page after a cursor.
    TransitionsRecentLaterPage,
    /// `MetadataStamp::find`.
    StampFind,
    /// `MetadataStamp::find_by_file_hash`.
    StampsByHash,
    /// `MetadataStamp::list_for_workflow`.
    StampsOfWorkflow,
    /// `MetadataStamp::list_by_namespace`, first page.
    StampsFirstPage,
    /// `MetadataStamp::list_by_namespace`, a page after a cursor.
    StampsLaterPage,
    /// `BridgeState::find`.
    BridgeFind,
    /// `BridgeState::list_by_namespace`.
    BridgesOfNamespace,
    /// `NodeRegistration::find`.
    NodeFind,
    /// `NodeRegistration::list_by_type_and_health`.
    NodesByTypeAndHealth,
    /// `NodeRegistration::list_stale`.
    NodesStale,
}

impl ReadQuery {
    /// All of them, in report order.
    pub const ALL: [Self; 20] = [
        Self::WorkflowFind,
        Self::WorkflowByCorrelation,
        Self::WorkflowsFirstPage,
        Self::WorkflowsLaterPage,
        Self::StepFind,
        Self::StepsOfWorkflow,
        Self::TransitionFind,
        Self::TransitionHistory,
        Self::TransitionsRecentFirstPage,
        Self::TransitionsRecentLaterPage,
        Self::StampFind,
        Self::StampsByHash,
        Self::StampsOfWorkflow,
        Self::StampsFirstPage,
        Self::StampsLaterPage,
        Self::BridgeFind,
        Self::BridgesOfNamespace,
        Self::NodeFind,
        Self::NodesByTypeAndHealth,
        Self::NodesStale,
    ];

    /// The models-crate call, as the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::WorkflowFind => "WorkflowExecution::find",
            Self::WorkflowByCorrelation => "WorkflowExecution::find_by_correlation_id",
            Self::WorkflowsFirstPage => "WorkflowExecution::list_by_namespace_and_state p1",
            Self::WorkflowsLaterPage => "WorkflowExecution::list_by_namespace_and_state p2+",
            Self::StepFind => "WorkflowStep::find",
            Self::StepsOfWorkflow => "WorkflowStep::list_for_workflow",
            Self::TransitionFind => "FsmTransition::find",
            Self::TransitionHistory => "FsmTransition::history",
            Self::TransitionsRecentFirstPage => "FsmTransition::recent p1",
            Self::TransitionsRecentLaterPage => "FsmTransition::recent p2+",
            Self::StampFind => "MetadataStamp::find",
            Self::StampsByHash => "MetadataStamp::find_by_file_hash",
            Self::StampsOfWorkflow => "MetadataStamp::list_for_workflow",
            Self::StampsFirstPage => "MetadataStamp::list_by_namespace p1",
            Self::StampsLaterPage => "MetadataStamp::list_by_namespace p2+",
            Self::BridgeFind => "BridgeState::find",
            Self::BridgesOfNamespace => "BridgeState::list_by_namespace",
            Self::NodeFind => "NodeRegistration::find",
            Self::NodesByTypeAndHealth => "NodeRegistration::list_by_type_and_health",
            Self::NodesStale => "NodeRegistration::list_stale",
        }
    }

    /// Runs the query for pseudo-random draw `r`; returns how many rows came back.
    pub async fn call(
        self,
        conn: &mut AsyncPgConnection,
        size: DataSize,
        r: u64,
    ) -> bridge_models::Result<usize> {
        let pick = |n: u64| 1 + r % n.max(1);
        let workflow = pick(size.workflows);
        let namespace = |i: u64| format!("ns-{}", i % NAMESPACES);
        let state = WorkflowState::ALL[(r % 4) as usize];
        let after = |created_at, id| PageRequest {
            limit: PAGE,
            after: Some(Cursor { created_at, id }),
        };
        Ok(match self {
            Self::WorkflowFind => WorkflowExecution::find(conn, Key::Workflow.of(workflow))
                .await
                .map(|_| 1)?,
            Self::WorkflowByCorrelation => {
                WorkflowExecution::find_by_correlation_id(conn, Key::Correlation.of(workflow))
                    .await
                    .map(|_| 1)?
            }
            Self::WorkflowsFirstPage => WorkflowExecution::list_by_namespace_and_state(
                conn,
                &namespace(r),
                state,
                PageRequest::first(PAGE),
            )
            .await?
            .items
            .len(),
            Self::WorkflowsLaterPage => WorkflowExecution::list_by_namespace_and_state(
                conn,
                &namespace(r),
                state,
                after(workflow_created_at(workflow), Key::Workflow.of(workflow)),
            )
            .await?
            .items
            .len(),
            Self::StepFind => WorkflowStep::find(conn, Key::Step.of(pick(size.steps)))
                .await
                .map(|_| 1)?,
            Self::StepsOfWorkflow => {
                WorkflowStep::list_for_workflow(conn, Key::Workflow.of(workflow))
                    .await?
                    .len()
            }
            Self::TransitionFind => {
                FsmTransition::find(conn, transition_id(size, pick(size.transitions)))
                    .await
                    .map(|_| 1)?
            }
            Self::TransitionHistory => FsmTransition::history(conn, Key::Workflow.of(workflow))
                .await?
                .len(),
            Self::TransitionsRecentFirstPage => {
                FsmTransition::recent(conn, PageRequest::first(PAGE))
                    .await?
                    .items
                    .len()
            }
            Self::TransitionsRecentLaterPage => {
                let j = pick(size.transitions);
                let cursor = after(transition_created_at(size, j), transition_id(size, j));
                FsmTransition::recent(conn, cursor).await?.items.len()
            }
            Self::StampFind => MetadataStamp::find(conn, stamp_id(size, pick(size.stamps)))
                .await
                .map(|_| 1)?,
            Self::StampsByHash => {
                let j = pick(size.stamps);
                let owner = (j - 1) % size.workflows + 1;
                MetadataStamp::find_by_file_hash(conn, &namespace(owner), &file_hash(j))
                    .await?
                    .len()
            }
            Self::StampsOfWorkflow => MetadataStamp::list_for_workflow(
                conn,
                &namespace(workflow),
                Key::Workflow.of(workflow),
            )
            .await?
            .len(),
            Self::StampsFirstPage => {
                MetadataStamp::list_by_namespace(conn, &namespace(r), PageRequest::first(PAGE))
                    .await?
                    .items
                    .len()
            }
            Self::StampsLaterPage => {
                let j = pick(size.stamps);
                MetadataStamp::list_by_namespace(
                    conn,
                    &namespace(r),
                    after(stamp_created_at(size, j), stamp_id(size, j)),
                )
                .await?
                .items
                .len()
            }
            Self::BridgeFind => BridgeState::find(conn, Key::Bridge.of(pick(size.bridge_states)))
                .await
                .map(|_| 1)?,
            Self::BridgesOfNamespace => {
                BridgeState::list_by_namespace(conn, &format!("ns-{}", r % 100))
                    .await?
                    .len()
            }
            Self::NodeFind => NodeRegistration::find(conn, &format!("node-{}", pick(size.nodes)))
                .await
                .map(|_| 1)?,
            Self::NodesByTypeAndHealth => NodeRegistration::list_by_type_and_health(
                conn,
                NODE_TYPES[(r % 5) as usize],
                HealthStatus::ALL[((r / 5) % 4) as usize],
            )
            .await?
            .len(),
            Self::NodesStale => {
                // About 1% of nodes: heartbeats are 1..=nodes seconds old.
                let stale_after = size.nodes - size.nodes / 100;
                NodeRegistration::list_stale(
                    conn,
                    Utc::now() - Duration::seconds(stale_after as i64),
                )
                .await?
                .len()
            }
        })
    }
}
