//! Consumer callbacks: rebalances (a revoked partition's outputs are flushed and its offsets
//! committed before the revoke returns; a lost assignment's open transaction is aborted; the (un)assignment itself never asks librdkafka for
//! the group's protocol, see [`WorkerContext::rebalance`]), librdkafka statistics (consumer lag per partition,
//! and whether each input partition is caught up), and client errors (broker outages are
//! reported, and librdkafka keeps reconnecting).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::{Partition, Statistics};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::TopicPartitionList;

use super::client::error_kind;
use super::io::PartitionKey;
use super::shared::Shared;
use super::Health;
use crate::telemetry::{self, Metrics};

pub(crate) struct WorkerContext {
    pub shared: Mutex<Shared>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// The group's rebalance protocol, from the configured assignment strategy: cooperative
    /// (incremental assign and unassign) or eager.
    pub cooperative: bool,
    /// The partitions assigned now, kept from the rebalances themselves.
    pub assigned: Mutex<HashSet<PartitionKey>>,
}

impl WorkerContext {
    pub fn assigned_count(&self) -> usize {
        self.assigned.lock().map_or(0, |a| a.len())
    }

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

/// Records not yet handed to this worker: from what it has read (or, before its first
/// record, from what it has fetched, with nothing waiting in its queue), not from what it has
/// committed (commits trail by the open windows; see the README).
fn behind(p: &Partition) -> Option<i64> {
    let read = if p.app_offset >= 0 {
        p.app_offset
    } else if p.fetchq_cnt == 0 && p.next_offset >= 0 {
        p.next_offset
    } else {
        return None;
    };
    (p.ls_offset >= 0).then(|| (p.ls_offset - read).max(0))
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
                let behind = behind(p);
                let committed = (p.consumer_lag >= 0).then_some(p.consumer_lag);
                telemetry::consumer_lag(&self.metrics, name, *id, behind, committed);
                let key = (Arc::from(name.as_str()), *id);
                if let Some(a) = shared.segments.tasks.get_mut(&key) {
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
            for a in self.lock().segments.tasks.values_mut() {
                a.idle_ok = false;
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    /// rdkafka's default rebalance, except that the protocol comes from the configuration
    /// instead of `rd_kafka_rebalance_protocol()`, and the assignment count from the
    /// rebalances instead of `rd_kafka_assignment()`. Both are requests to librdkafka's group
    /// thread, and during close() the first can block (librdkafka#4041) or answer NONE, which
    /// turns the final revoke into an eager unassign that a cooperative group refuses: close()
    /// then waits for ever (seen as a static member that never exited after SIGTERM).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(tpl),
            _ => Rebalance::Error(KafkaError::Rebalance(err.into())),
        };
        self.pre_rebalance(consumer, &rebalance);
        let assign = matches!(rebalance, Rebalance::Assign(_));
        let done = match (assign, self.cooperative) {
            (true, true) => consumer.incremental_assign(tpl),
            (true, false) => consumer.assign(tpl),
            (false, true) => consumer.incremental_unassign(tpl),
            (false, false) => consumer.unassign(),
        };
        if let Err(e) = done {
            telemetry::kafka_error(&self.metrics, "rebalance", &e.to_string());
        }
        {
            let mut assigned = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
            if !self.cooperative {
                assigned.clear();
            }
            for key in keys(tpl) {
                if assign {
                    assigned.insert(key);
                } else {
                    assigned.remove(&key);
                }
            }
        }
        self.post_rebalance(consumer, &rebalance);
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked = keys(tpl);
        let mut shared = self.lock();
        let lost = consumer.assignment_lost();
        if lost {
            telemetry::rebalance(&self.metrics, "lost", &revoked);
        } else {
            telemetry::rebalance(&self.metrics, "revoke", &revoked);
            shared.commit(consumer, Some(&revoked));
        }
        for key in &revoked {
            shared.drop_partition(key);
            telemetry::partition_revoked(&self.metrics, &key.0, key.1);
        }
        if lost {
            shared.abandon(consumer);
        }
        telemetry::state_size(&self.metrics, &shared.segments.size());
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
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
        telemetry::assigned(&self.metrics, self.assigned_count());
    }
}
