//! Publishes one workflow's life (start, two steps, a stamp, the completion)
//! to the brokers named by the first argument (default `localhost:9092`).

use bridge_events::{
    Publisher, Source, StampCreated, StepCompleted, WorkflowCompleted, WorkflowStarted,
    DEFAULT_TOPIC_PREFIX,
};
use uuid::Uuid;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let brokers = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9092".into());
    let publisher = Publisher::new(&brokers, DEFAULT_TOPIC_PREFIX, &[])?;
    let source = Source::new(
        "example-1",
        "bridge-events-example",
        "1.0.0",
        "local",
        "dev",
    );
    let workflow = Uuid::now_v7();
    let events = [
        source.event(
            Some(workflow),
            WorkflowStarted::new("metadata_stamping", "example"),
        ),
        source.event(Some(workflow), StepCompleted::new("hash_generation", 0)),
        source.event(Some(workflow), StepCompleted::new("stamp_creation", 1)),
        source.event(
            Some(workflow),
            StampCreated::new("ab".repeat(32), serde_json::json!({ "v": 1 }), "example"),
        ),
        source.event(Some(workflow), WorkflowCompleted::default()),
    ];
    for event in &events {
        let delivery = publisher.publish(event).await?;
        println!(
            "{} {} -> {}[{}]@{}",
            event.event_type, event.event_id, delivery.topic, delivery.partition, delivery.offset
        );
    }
    println!("workflow {workflow} published");
    Ok(())
}
