//! Consumer callbacks: rebalances (a revoked partition's outputs are flushed and its offsets
//! committed before the revoke returns), librdkafka statistics (consumer lag per partition),
//! and client errors (broker outages are reported, and librdkafka keeps reconnecting).

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
        .map(|e| (e.topic().to_string(), e.partition()))
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
        for (name, topic) in &stats.topics {
            for (id, p) in &topic.partitions {
                if *id >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .with_label_values(&[name.as_str(), &id.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        telemetry::kafka_error(&self.metrics, error_kind(&error), reason);
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
            let _ = self
                .metrics
                .consumer_lag
                .remove_label_values(&[key.0.as_str(), &key.1.to_string()]);
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
