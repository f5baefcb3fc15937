//! A restore of a changelog partition that cannot be read yet. A worker creates its changelog
//! and reads it at once, and a topic that was just created has no leader for a moment
//! (`NotLeaderForPartition`; a benchmark run stopped a worker on it). The restore must wait
//! for the partition, not stop the worker. Here the topic does not exist at all when the
//! restore starts and is created 1.5 s later.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use roadpulse::config::KafkaConfig;
use roadpulse::domain::congestion::SegmentState;
use roadpulse::kafka::changelog::{self, Restorer};

#[test]
fn restore_waits_for_a_changelog_partition_that_is_not_there_yet() {
    let bootstrap = bootstrap();
    let topic = unique("late-changelog");
    let k = KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        group_id: topic.clone(),
        ..KafkaConfig::default()
    };
    let restorer = Restorer::new(&k, Default::default()).expect("restore consumer");
    let log_end: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("producer");

    let creator = {
        let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            create_topics(&bootstrap, &[&topic], 1);
        })
    };
    let mut applied = 0;
    let restored = restorer.restore(log_end.client(), &topic, 0, |_, _| {
        applied += 1;
        true
    });
    creator.join().expect("topic creator");
    let restored = restored.expect("the restore waits for the partition instead of failing");
    assert_eq!(
        (restored.records, applied),
        (0, 0),
        "the new changelog is empty"
    );

    // The partition, now there, restores what is written to it.
    let mut value = Vec::new();
    changelog::encode(&SegmentState::default(), None, &mut value);
    log_end
        .send(BaseRecord::to(&topic).key("seg-1").payload(&value))
        .map_err(|(e, _)| e)
        .expect("send");
    log_end.flush(Duration::from_secs(10)).expect("flush");
    let mut ids = Vec::new();
    let restored = restorer
        .restore(log_end.client(), &topic, 0, |id, value| {
            ids.push(id.to_string());
            value.is_some_and(|v| changelog::decode(v).is_ok())
        })
        .expect("restore");
    assert_eq!((restored.records, restored.invalid), (1, 0));
    assert_eq!(ids, ["seg-1"]);
}
