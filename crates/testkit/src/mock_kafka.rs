//! A private multi-broker Kafka cluster: librdkafka's mock cluster, whose
//! brokers listen on loopback ports of the test process, so any Kafka client
//! (a child process included) connects to it as to a real cluster.
//!
//! Brokers go down and come back as in a cluster with a controller: the
//! partitions a stopped broker leads, and the groups pinned to it, move to
//! the next broker up, and return when it starts again (librdkafka's mock
//! moves nothing by itself). The cluster's logs and committed offsets are
//! shared by its brokers, so they survive any broker going down.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

use rdkafka::{
    mocking::{MockCluster, MockCoordinator},
    producer::DefaultProducerContext,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};

/// How many brokers a [`MockKafka`] has; their ids are `1..=BROKERS`.
pub const MOCK_BROKERS: i32 = 3;

/// Replicas of each topic partition: one on every broker.
const REPLICATION: i32 = MOCK_BROKERS;

/// A three-broker Kafka cluster of the test's own, destroyed when dropped (not `Send`).
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    state: Mutex<Roles>,
}

/// Who is meant to lead each partition and coordinate each group, and who is down.
#[derive(Default)]
struct Roles {
    /// Each partition's preferred leader.
    leaders: BTreeMap<(String, i32), i32>,
    /// Each pinned group's preferred coordinator.
    coordinators: BTreeMap<String, i32>,
    /// Brokers stopped.
    down: BTreeSet<i32>,
    /// Partitions created so far, to spread leadership round the brokers.
    created: i32,
}

impl MockKafka {
    /// Starts the cluster; panics when librdkafka cannot create it.
    pub fn start() -> Self {
        let cluster = MockCluster::new(MOCK_BROKERS)
            .unwrap_or_else(|err| panic!("starting librdkafka's mock cluster: {err}"));
        Self {
            cluster,
            state: Mutex::default(),
        }
    }

    /// The bootstrap servers, as Kafka clients take them (every broker).
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates topic `name` with `partitions` partitions, replicated on every
    /// broker, their leaders spread round the brokers.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster
            .create_topic(name, partitions, REPLICATION)
            .unwrap_or_else(|err| panic!("creating mock topic {name}: {err}"));
        let mut roles = self.roles();
        for partition in 0..partitions {
            let leader = 1 + roles.created % MOCK_BROKERS;
            roles.created += 1;
            self.lead(name, partition, leader);
            roles.leaders.insert((name.to_owned(), partition), leader);
        }
    }

    /// The broker that leads `topic`'s `partition` now.
    pub fn leader(&self, topic: &str, partition: i32) -> i32 {
        let roles = self.roles();
        let preferred = roles.leaders[&(topic.to_owned(), partition)];
        roles.acting(preferred)
    }

    /// Pins the coordinator of consumer group `group` to `broker`.
    pub fn set_group_coordinator(&self, group: &str, broker: i32) {
        let mut roles = self.roles();
        roles.coordinators.insert(group.to_owned(), broker);
        self.coordinate(group, roles.acting(broker));
    }

    /// Stops `broker` (its connections dropped, new ones refused); what it
    /// led or coordinated moves to the next broker up.
    pub fn stop_broker(&self, broker: i32) {
        self.cluster
            .broker_down(broker)
            .unwrap_or_else(|err| panic!("stopping mock broker {broker}: {err}"));
        let mut roles = self.roles();
        roles.down.insert(broker);
        self.follow(&roles);
    }

    /// Starts `broker` again; it takes back what it led and coordinated.
    pub fn start_broker(&self, broker: i32) {
        self.cluster
            .broker_up(broker)
            .unwrap_or_else(|err| panic!("starting mock broker {broker}: {err}"));
        let mut roles = self.roles();
        roles.down.remove(&broker);
        self.follow(&roles);
    }

    /// Makes the next `errors.len()` requests of kind `api`, from any
    /// client to any broker, fail with these errors, in order.
    pub fn inject_errors(&self, api: RDKafkaApiKey, errors: &[RDKafkaRespErr]) {
        self.cluster.request_errors(api, errors);
    }

    /// Drops the errors still waiting for requests of kind `api`.
    pub fn clear_errors(&self, api: RDKafkaApiKey) {
        self.cluster.clear_request_errors(api);
    }

    /// Points every partition and pinned group at its preferred broker, or
    /// at the next one up while that one is down.
    fn follow(&self, roles: &Roles) {
        for ((topic, partition), &preferred) in &roles.leaders {
            self.lead(topic, *partition, roles.acting(preferred));
        }
        for (group, &preferred) in &roles.coordinators {
            self.coordinate(group, roles.acting(preferred));
        }
    }

    fn lead(&self, topic: &str, partition: i32, broker: i32) {
        self.cluster
            .partition_leader(topic, partition, Some(broker))
            .unwrap_or_else(|err| panic!("moving {topic}/{partition} to broker {broker}: {err}"));
    }

    fn coordinate(&self, group: &str, broker: i32) {
        self.cluster
            .coordinator(MockCoordinator::Group(group.to_owned()), broker)
            .unwrap_or_else(|err| panic!("moving group {group} to broker {broker}: {err}"));
    }

    fn roles(&self) -> std::sync::MutexGuard<'_, Roles> {
        self.state.lock().expect("not poisoned")
    }
}

impl Roles {
    /// `preferred`, or the next broker after it that is up.
    fn acting(&self, preferred: i32) -> i32 {
        (0..MOCK_BROKERS)
            .map(|step| 1 + (preferred - 1 + step) % MOCK_BROKERS)
            .find(|broker| !self.down.contains(broker))
            .expect("a broker up")
    }
}

impl std::fmt::Debug for MockKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockKafka")
            .field("bootstrap_servers", &self.bootstrap_servers())
            .finish_non_exhaustive()
    }
}
