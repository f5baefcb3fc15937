//! Consumer callbacks: rebalances (a revoked partition's outputs are flushed and its offsets
//! committed before the revoke returns), librdkafka statistics (consumer lag per partition),
//! and client errors (broker outages are reported, and librdkafka keeps reconnecting).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;

use super::tasks::{PartitionKey, Shared};
use super::Health;
use crate::telemetry::{self, Metrics};

pub(crate) struct WorkerContext {
    pub shared: Mutex<Shared>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl WorkerContext {
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock would already have ended the worker thread.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn keys(tpl: &TopicPartitionList) -> Vec<PartitionKey> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

/// A small fixed set of labels for client errors.
pub(crate) fn error_kind(e: &KafkaError) -> &'static str {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::AllBrokersDown) => "all_brokers_down",
        Some(RDKafkaErrorCode::BrokerTransportFailure) | Some(RDKafkaErrorCode::Resolve) => {
            "transport"
        }
        Some(RDKafkaErrorCode::Authentication)
        | Some(RDKafkaErrorCode::SaslAuthenticationFailed) => "authentication",
        Some(RDKafkaErrorCode::MessageTimedOut) => "timeout",
        _ => "other",
    }
}

impl ClientContext for WorkerContext {
    fn stats(&self, stats: Statistics) {
        let up: HashSet<i32> = stats
            .brokers
            .values()
            .filter(|b| b.state == "UP")
            .map(|b| b.nodeid)
            .collect();
        let mut shared = self.lock();
        for (name, topic) in &stats.topics {
            for (id, p) in topic.partitions.iter().filter(|(id, _)| **id >= 0) {
                let labels = [name.as_str(), &id.to_string()];
                // Behind the log end: from what this worker has read, not from what it has
                // committed (commits trail by the open windows; see the README).
                let behind = (p.ls_offset >= 0 && p.app_offset >= 0)
                    .then(|| (p.ls_offset - p.app_offset).max(0));
                if let Some(lag) = behind {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&labels)
                        .set(lag);
                }
                if p.consumer_lag >= 0 {
                    self.metrics
                        .committed_lag
                        .with_label_values(&labels)
                        .set(p.consumer_lag);
                }
                if let Some(a) = shared.tasks.get_mut(&(Arc::from(name.as_str()), *id)) {
                    a.idle_ok = behind == Some(0) && up.contains(&p.leader);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error_kind(&error);
        telemetry::kafka_error(&self.metrics, kind, reason);
        if kind != "other" {
            // Out of reach: until statistics say otherwise, no partition counts as idle.
            for a in self.lock().tasks.values_mut() {
                a.idle_ok = false;
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked = keys(tpl);
        let mut shared = self.lock();
        if consumer.assignment_lost() {
            telemetry::rebalance(&self.metrics, "lost", &revoked);
        } else {
            telemetry::rebalance(&self.metrics, "revoke", &revoked);
            shared.commit(consumer, Some(&revoked));
        }
        for key in &revoked {
            shared.tasks.remove(key);
            shared.drop_stage(key);
            let labels = [&*key.0, &key.1.to_string()];
            let _ = self.metrics.consumer_lag.remove_label_values(&labels);
            let _ = self.metrics.committed_lag.remove_label_values(&labels);
        }
        self.metrics.windows_open.set(shared.open_windows() as i64);
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                telemetry::rebalance(&self.metrics, "assign", &keys(tpl));
                self.health.set_ready(true);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                telemetry::kafka_error(&self.metrics, "rebalance", &e.to_string())
            }
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.metrics.assigned_partitions.set(assigned as i64);
    }
}
