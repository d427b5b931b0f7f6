//! A batch as a plan: the rows and changes its events ask for, grouped by
//! write kind, each event matched once; pure, so it is tested without a
//! broker or a database. [`crate::apply`] runs the plan's calls.

use std::collections::{HashMap, HashSet};

use bridge_events::{Event, Payload, StampCreated, StepCompleted};
use bridge_models::{
    BridgeStateDelta, Error, NewFsmTransition, NewMetadataStamp, NewNodeRegistration,
    NewWorkflowExecution, NewWorkflowStep, NodeHeartbeat, StateChange, WorkflowState,
};
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use crate::{
    deferred::WaitsFor,
    item::{Item, Source},
    outcome::{IgnoreReason, Outcome, Refusal},
};

/// The writes of one batch, by kind, in input order within each kind.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// One per item: `Persisted` for each event until a call says otherwise.
    outcomes: Vec<Outcome>,
    /// Items whose event id an earlier item of the batch carries, with that item.
    repeats: Vec<(usize, usize)>,
    /// Workflows to create.
    pub(crate) workflows: Vec<NewWorkflowExecution>,
    /// Nodes to register.
    pub(crate) nodes: Vec<NewNodeRegistration>,
    /// Transitions to record.
    pub(crate) transitions: Vec<NewFsmTransition>,
    /// Aggregation deltas to apply.
    pub(crate) deltas: Vec<BridgeStateDelta>,
    /// Heartbeats, with their items.
    heartbeats: Vec<(usize, String, NodeHeartbeat)>,
    /// Steps, with their items and workflows' correlation ids.
    steps: Vec<(usize, Uuid, Uuid, StepCompleted)>,
    /// Stamps, with their items and workflows' correlation ids (none when standalone).
    stamps: Vec<(usize, Option<Uuid>, Uuid, StampCreated)>,
    /// State changes, with their items and workflows' correlation ids.
    changes: Vec<(usize, Uuid, StateChange)>,
}

/// The writes that name a workflow, bound to its row id; those whose
/// workflow is not stored are left out (they wait).
#[derive(Debug, Default)]
pub(crate) struct Bound {
    /// Steps to append.
    pub(crate) steps: Vec<NewWorkflowStep>,
    /// Stamps to append.
    pub(crate) stamps: Vec<NewMetadataStamp>,
    /// State changes by correlation id.
    pub(crate) changes: Vec<(Uuid, StateChange)>,
    /// The item of each state change.
    change_items: Vec<usize>,
}

impl Plan {
    /// The plan of `items`: decode failures are poison, a repeated event id
    /// is planned once (its repeat shares the first one's outcome), every
    /// other event adds its write to its kind.
    pub(crate) fn new(items: &[Item]) -> Self {
        let mut plan = Self::default();
        let mut first_of: HashMap<Uuid, usize> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            let outcome = match &item.event {
                Err(err) => Outcome::Poison(Refusal::Decode(err.clone())),
                Ok(event) => match first_of.get(&event.event_id) {
                    Some(&first) => {
                        plan.repeats.push((index, first));
                        Outcome::Persisted
                    }
                    None => {
                        first_of.insert(event.event_id, index);
                        match plan.add(index, event) {
                            Ok(()) => Outcome::Persisted,
                            Err(refusal) => Outcome::Poison(refusal),
                        }
                    }
                },
            };
            plan.outcomes.push(outcome);
        }
        plan
    }

    /// Adds `event`'s write; a workflow's event without a correlation id
    /// (which `decode` refuses, but a hand-built event may lack) is refused.
    fn add(&mut self, index: usize, event: &Event) -> Result<(), Refusal> {
        let at = event.event_timestamp.trunc_subsecs(6);
        let or_at = |time: Option<DateTime<Utc>>| time.map_or(at, |t| t.trunc_subsecs(6));
        let workflow = || {
            event.correlation_id.ok_or_else(|| {
                Refusal::Decode(bridge_events::DecodeError::Payload {
                    event_type: event.kind(),
                    reason: format!("{} needs the envelope's correlation_id", event.kind()),
                })
            })
        };
        match &event.payload {
            Payload::WorkflowStarted(p) => {
                let mut new = NewWorkflowExecution::new(
                    workflow()?,
                    p.workflow_type.clone(),
                    p.namespace.clone(),
                );
                new.id = Some(event.event_id);
                new.current_state = p.initial_state;
                new.started_at = or_at(p.started_at);
                new.metadata = p.metadata.clone();
                self.workflows.push(new);
            }
            Payload::NodeRegistered(p) => self.nodes.push(NewNodeRegistration {
                node_id: p.node_id.clone(),
                node_type: p.node_type.clone(),
                node_version: p.node_version.clone(),
                capabilities: p.capabilities.clone(),
                endpoints: p.endpoints.clone(),
                metadata: p.metadata.clone(),
                health_status: p.health_status,
            }),
            Payload::StepCompleted(p) => {
                self.steps
                    .push((index, workflow()?, event.event_id, p.clone()))
            }
            Payload::StateTransition(p) => self.transitions.push(NewFsmTransition {
                id: Some(event.audit_id()),
                entity_id: p.entity_id,
                entity_type: p.entity_type.clone(),
                from_state: p.from_state.clone(),
                to_state: p.to_state.clone(),
                transition_event: p.transition_event.clone(),
                transition_data: p.transition_data.clone(),
            }),
            Payload::StateAggregationCompleted(p) => self.deltas.push(BridgeStateDelta {
                id: event.event_id,
                bridge_id: p.bridge_id,
                namespace: p.namespace.clone(),
                total_workflows_processed: p.total_workflows_processed,
                total_items_aggregated: p.total_items_aggregated,
                aggregation_metadata: p.aggregation_metadata.clone(),
                current_fsm_state: p.current_fsm_state.clone(),
                last_aggregation_timestamp: Some(or_at(p.last_aggregation_timestamp)),
            }),
            Payload::NodeHeartbeat(p) => self.heartbeats.push((
                index,
                p.node_id.clone(),
                NodeHeartbeat {
                    health_status: p.health_status,
                    last_heartbeat: or_at(p.last_heartbeat),
                },
            )),
            Payload::StampCreated(p) => self.stamps.push((
                index,
                if p.standalone {
                    None
                } else {
                    Some(workflow()?)
                },
                event.audit_id(),
                p.clone(),
            )),
            Payload::WorkflowCompleted(p) => {
                let mut change = StateChange::new(WorkflowState::Completed, event.kind().as_str())
                    .with_id(event.audit_id());
                change.data = serde_json::json!({ "result": p.result });
                self.changes.push((index, workflow()?, change));
            }
            Payload::WorkflowFailed(p) => {
                let mut change = StateChange::new(WorkflowState::Failed, event.kind().as_str())
                    .with_id(event.audit_id());
                change.data = serde_json::json!({ "error_code": p.error_code });
                change.error_message = Some(p.error_message.clone());
                self.changes.push((index, workflow()?, change));
            }
        }
        Ok(())
    }

    /// The correlation ids of the workflows the batch's steps, stamps and state changes name.
    pub(crate) fn correlation_ids(&self) -> Vec<Uuid> {
        let ids: HashSet<Uuid> = self
            .steps
            .iter()
            .map(|step| step.1)
            .chain(self.stamps.iter().filter_map(|stamp| stamp.1))
            .chain(self.changes.iter().map(|change| change.1))
            .collect();
        ids.into_iter().collect()
    }

    /// What the batch brings that parked events may wait for.
    pub(crate) fn arrivals(&self) -> Vec<WaitsFor> {
        self.workflows
            .iter()
            .map(|new| WaitsFor::Workflow(new.correlation_id))
            .chain(
                self.nodes
                    .iter()
                    .map(|node| WaitsFor::Node(node.node_id.clone())),
            )
            .collect()
    }

    /// The heartbeats, in input order.
    pub(crate) fn heartbeats(&self) -> Vec<(&str, NodeHeartbeat)> {
        self.heartbeats
            .iter()
            .map(|(_, node, beat)| (node.as_str(), *beat))
            .collect()
    }

    /// Binds steps, stamps and state changes to the ids of their stored
    /// workflows (`stored`: correlation id to row id); those whose workflow
    /// is not stored wait for it.
    pub(crate) fn bind(&mut self, stored: &HashMap<Uuid, Uuid>) -> Bound {
        let mut bound = Bound::default();
        for (index, correlation_id, id, step) in &self.steps {
            match stored.get(correlation_id) {
                None => {
                    self.outcomes[*index] = Outcome::Deferred(WaitsFor::Workflow(*correlation_id))
                }
                Some(&workflow_id) => bound.steps.push(NewWorkflowStep {
                    id: Some(*id),
                    workflow_id,
                    step_name: step.step_name.clone(),
                    step_order: step.step_order,
                    status: step.status,
                    execution_time_ms: step.execution_time_ms,
                    step_data: step.step_data.clone(),
                    error_message: step.error_message.clone(),
                }),
            }
        }
        for (index, correlation_id, id, stamp) in &self.stamps {
            let workflow_id = match correlation_id {
                None => None,
                Some(correlation_id) => match stored.get(correlation_id) {
                    None => {
                        self.outcomes[*index] =
                            Outcome::Deferred(WaitsFor::Workflow(*correlation_id));
                        continue;
                    }
                    Some(&workflow_id) => Some(workflow_id),
                },
            };
            bound.stamps.push(NewMetadataStamp {
                id: Some(*id),
                workflow_id,
                file_hash: stamp.file_hash.clone(),
                stamp_data: stamp.stamp_data.clone(),
                namespace: stamp.namespace.clone(),
            });
        }
        for (index, correlation_id, change) in &self.changes {
            if stored.contains_key(correlation_id) {
                bound.changes.push((*correlation_id, change.clone()));
                bound.change_items.push(*index);
            } else {
                self.outcomes[*index] = Outcome::Deferred(WaitsFor::Workflow(*correlation_id));
            }
        }
        bound
    }

    /// Records what the database said of each heartbeat (in
    /// [`heartbeats`](Self::heartbeats) order): an unknown node waits for
    /// it; any other refusal fails the batch.
    pub(crate) fn heartbeats_done(&mut self, results: Vec<Result<(), Error>>) -> Result<(), Error> {
        for ((index, node, _), result) in self.heartbeats.iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(Error::NotFound { .. }) => {
                    self.outcomes[*index] = Outcome::Deferred(WaitsFor::Node(node.clone()))
                }
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Records what the database said of each of `bound`'s state changes: a
    /// move the state machine refuses is ignored, a workflow gone since it
    /// was bound waits; any other refusal fails the batch.
    pub(crate) fn changes_done(
        &mut self,
        bound: &Bound,
        results: Vec<Result<(), Error>>,
    ) -> Result<(), Error> {
        for ((index, (correlation_id, _)), result) in
            bound.change_items.iter().zip(&bound.changes).zip(results)
        {
            self.outcomes[*index] = match result {
                Ok(()) => Outcome::Persisted,
                Err(Error::IllegalTransition { .. }) => {
                    Outcome::Ignored(IgnoreReason::LateStateChange)
                }
                Err(Error::NotFound { .. }) => {
                    Outcome::Deferred(WaitsFor::Workflow(*correlation_id))
                }
                Err(err) => return Err(err),
            };
        }
        Ok(())
    }

    /// Each item's outcome, in input order: a repeat shares its first's; an
    /// event that must wait waits in memory when it may and came from Kafka.
    pub(crate) fn finish(mut self, items: &[Item], source: Source) -> Vec<Outcome> {
        for &(repeat, first) in &self.repeats {
            self.outcomes[repeat] = self.outcomes[first].clone();
        }
        self.outcomes
            .into_iter()
            .zip(items)
            .map(|(outcome, item)| match outcome {
                Outcome::Deferred(waits_for) if item.may_hold && source == Source::Kafka => {
                    Outcome::Held(waits_for)
                }
                outcome => outcome,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bridge_events::{
        NodeHeartbeat as Beat, NodeRegistered, StateAggregationCompleted, StateTransition,
        WorkflowCompleted, WorkflowFailed, WorkflowStarted,
    };
    use bridge_models::HealthStatus;

    use super::*;
    use crate::message::Consumed;

    fn source() -> bridge_events::Source {
        bridge_events::Source::new("n", "test", "1", "i", "test")
    }

    fn item(event: Event) -> Item {
        Item {
            message: Consumed::default(),
            event: Ok(event),
            may_hold: false,
        }
    }

    fn outcomes_of(plan: Plan, items: &[Item]) -> Vec<String> {
        plan.finish(items, Source::Kafka)
            .iter()
            .map(|outcome| format!("{outcome:?}"))
            .collect()
    }

    /// One event of every type, the workflow's after its dependents.
    fn every_kind(workflow: Uuid) -> Vec<Item> {
        let s = source();
        let w = Some(workflow);
        vec![
            item(s.event(w, WorkflowCompleted::default())),
            item(s.event(w, StampCreated::new("h", serde_json::json!({}), "ns"))),
            item(s.event(None, Beat::new("node-1", HealthStatus::Healthy))),
            item(s.event(
                None,
                StateAggregationCompleted::new(Uuid::now_v7(), "ns", "idle"),
            )),
            item(s.event(
                w,
                StateTransition::new(workflow, "workflow_run", "PROCESSING", "go"),
            )),
            item(s.event(w, StepCompleted::new("a", 0))),
            item(s.event(None, NodeRegistered::new("node-1", "reducer", "v1"))),
            item(s.event(w, WorkflowStarted::new("t", "ns"))),
            item(s.event(w, WorkflowFailed::new("late"))),
        ]
    }

    #[test]
    fn each_event_becomes_one_write_of_its_kind() {
        let workflow = Uuid::now_v7();
        let items = every_kind(workflow);
        let mut plan = Plan::new(&items);

        assert_eq!(plan.workflows.len(), 1);
        assert_eq!(plan.workflows[0].correlation_id, workflow);
        assert_eq!(plan.nodes.len(), 1);
        assert_eq!(plan.transitions.len(), 1);
        assert_eq!(plan.deltas.len(), 1);
        assert_eq!(plan.heartbeats().len(), 1);
        assert_eq!(plan.correlation_ids(), vec![workflow]);
        assert_eq!(
            plan.arrivals(),
            vec![
                WaitsFor::Workflow(workflow),
                WaitsFor::Node("node-1".into())
            ]
        );
        let bound = plan.bind(&HashMap::from([(workflow, Uuid::now_v7())]));
        assert_eq!((bound.steps.len(), bound.stamps.len()), (1, 1));
        let moves: Vec<WorkflowState> = bound.changes.iter().map(|(_, c)| c.to).collect();
        assert_eq!(
            moves,
            [WorkflowState::Completed, WorkflowState::Failed],
            "state changes keep input order"
        );
        assert!(outcomes_of(plan, &items).iter().all(|o| o == "Persisted"));
    }

    #[test]
    fn rows_take_the_event_id_and_audit_rows_a_uuid_v7_of_it() {
        let workflow = Uuid::now_v7();
        let mut items = every_kind(workflow);
        for item in &mut items {
            if let Ok(event) = &mut item.event {
                event.event_id = Uuid::new_v4();
            }
        }
        let id_of = |kind: bridge_events::EventType| {
            items
                .iter()
                .filter_map(|item| item.event.as_ref().ok())
                .find(|event| event.kind() == kind)
                .map(|event| (event.event_id, event.audit_id()))
                .expect("in the batch")
        };
        let mut plan = Plan::new(&items);
        let stored = HashMap::from([(workflow, Uuid::now_v7())]);
        let bound = plan.bind(&stored);

        use bridge_events::EventType as T;
        assert_eq!(plan.workflows[0].id, Some(id_of(T::WorkflowStarted).0));
        assert_eq!(bound.steps[0].id, Some(id_of(T::StepCompleted).0));
        assert_eq!(bound.steps[0].workflow_id, stored[&workflow]);
        assert_eq!(plan.deltas[0].id, id_of(T::StateAggregationCompleted).0);
        assert_eq!(plan.transitions[0].id, Some(id_of(T::StateTransition).1));
        assert_eq!(bound.stamps[0].id, Some(id_of(T::StampCreated).1));
        assert_eq!(bound.changes[0].1.id, Some(id_of(T::WorkflowCompleted).1));
        assert_eq!(plan.transitions[0].id.unwrap().get_version_num(), 7);
    }

    #[test]
    fn events_of_a_workflow_not_stored_wait_for_it_and_a_standalone_stamp_does_not() {
        let workflow = Uuid::now_v7();
        let s = source();
        let mut standalone = StampCreated::new("h", serde_json::json!({}), "ns");
        standalone.standalone = true;
        let items = vec![
            item(s.event(Some(workflow), StepCompleted::new("a", 0))),
            item(s.event(
                Some(workflow),
                StampCreated::new("h", serde_json::json!({}), "ns"),
            )),
            item(s.event(Some(workflow), WorkflowCompleted::default())),
            item(s.event(None, standalone)),
        ];
        let mut plan = Plan::new(&items);
        let bound = plan.bind(&HashMap::new());

        assert!(bound.steps.is_empty() && bound.changes.is_empty());
        assert_eq!(bound.stamps.len(), 1);
        assert_eq!(bound.stamps[0].workflow_id, None);
        let waits = format!("{:?}", Outcome::Deferred(WaitsFor::Workflow(workflow)));
        assert_eq!(
            outcomes_of(plan, &items),
            [&waits, &waits, &waits, "Persisted"]
        );
    }

    #[test]
    fn a_repeated_event_is_planned_once_and_shares_the_first_ones_outcome() {
        let workflow = Uuid::now_v7();
        let step = source().event(Some(workflow), StepCompleted::new("a", 0));
        let items = vec![item(step.clone()), item(step)];
        let mut plan = Plan::new(&items);

        let bound = plan.bind(&HashMap::new());

        assert!(bound.steps.is_empty());
        let outcomes = outcomes_of(plan, &items);
        assert_eq!(outcomes[0], outcomes[1]);
        assert!(outcomes[0].starts_with("Deferred"), "{outcomes:?}");
        let mut plan = Plan::new(&items);
        assert_eq!(
            plan.bind(&HashMap::from([(workflow, workflow)]))
                .steps
                .len(),
            1
        );
    }

    #[test]
    fn a_message_that_did_not_decode_is_poison_with_its_reason_and_writes_nothing() {
        let bad = Item::decode(
            Consumed {
                topic: "p.step-completed.v1".into(),
                payload: br#"{"event_type": "step-completed"}"#.to_vec(),
                ..Consumed::default()
            },
            "p",
        );
        let items = vec![bad];
        let plan = Plan::new(&items);

        assert!(plan.workflows.is_empty() && plan.correlation_ids().is_empty());
        let outcomes = plan.finish(&items, Source::Kafka);
        let Outcome::Poison(refusal) = &outcomes[0] else {
            panic!("{outcomes:?}")
        };
        assert_eq!(refusal.reason(), "invalid_envelope");
        assert_eq!(items[0].event_type(), Some("step-completed"));
    }

    #[test]
    fn a_hand_built_workflow_event_without_its_workflow_is_refused() {
        let items = vec![item(source().event(None, StepCompleted::new("a", 0)))];
        let plan = Plan::new(&items);
        let outcomes = plan.finish(&items, Source::Kafka);
        assert!(matches!(&outcomes[0], Outcome::Poison(r) if r.reason() == "invalid_payload"));
    }

    #[test]
    fn an_unknown_node_waits_a_refused_move_is_ignored_and_other_refusals_fail_the_batch() {
        let workflow = Uuid::now_v7();
        let s = source();
        let items = vec![
            item(s.event(None, Beat::new("ghost", HealthStatus::Healthy))),
            item(s.event(Some(workflow), WorkflowCompleted::default())),
        ];
        let mut plan = Plan::new(&items);
        let bound = plan.bind(&HashMap::from([(workflow, workflow)]));
        plan.heartbeats_done(vec![Err(Error::NotFound {
            entity: "node",
            key: "ghost".into(),
        })])
        .expect("not a batch failure");
        let illegal = Error::IllegalTransition {
            workflow_id: workflow,
            from: WorkflowState::Completed,
            to: WorkflowState::Completed,
        };
        plan.changes_done(&bound, vec![Err(illegal)])
            .expect("not a batch failure");
        let outcomes = outcomes_of(plan, &items);
        assert_eq!(
            outcomes,
            [
                format!("{:?}", Outcome::Deferred(WaitsFor::Node("ghost".into()))),
                format!("{:?}", Outcome::Ignored(IgnoreReason::LateStateChange)),
            ]
        );

        let mut plan = Plan::new(&items);
        plan.bind(&HashMap::new());
        let refused = Error::PoolTimeout(std::time::Duration::from_secs(1));
        assert!(plan.heartbeats_done(vec![Err(refused)]).is_err());
    }

    #[test]
    fn an_event_that_must_wait_is_held_only_when_it_may_and_came_from_kafka() {
        let workflow = Uuid::now_v7();
        let mut waiting = item(source().event(Some(workflow), StepCompleted::new("a", 0)));
        waiting.may_hold = true;
        let items = vec![waiting];
        let held = |source| {
            let mut plan = Plan::new(&items);
            plan.bind(&HashMap::new());
            matches!(plan.finish(&items, source)[0], Outcome::Held(_))
        };
        assert!(held(Source::Kafka));
        assert!(!held(Source::Parked));
    }
}
