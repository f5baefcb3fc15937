//! The corridor stage's part of the worker's shared state and commit cycle (see
//! [`super::incidents`]): one [`CorridorStage`] per assigned partition of the repartition
//! topic, restored from the corridor state changelog on first use, its position committed
//! with the input offsets and its changed corridors written to the changelog each cycle.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::incidents::{CorridorStage, Detection};
use super::output::CORRIDOR_STATE;
use super::tasks::{committed_checkpoint, PartitionKey, Shared};

pub(crate) struct CorridorSide {
    pub detection: Detection,
    /// The repartition topic (shared name for partition keys).
    pub topic: Arc<str>,
    pub stages: HashMap<i32, CorridorStage>,
}

impl CorridorSide {
    pub fn new(detection: Detection, topic: &str) -> Self {
        CorridorSide {
            detection,
            topic: Arc::from(topic),
            stages: HashMap::new(),
        }
    }
}

impl Shared {
    /// The stage of a repartition partition, restored from the changelog on first use.
    pub fn stage<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partition: i32,
    ) -> Option<&mut CorridorStage> {
        let known = self.corridor.as_ref()?.stages.contains_key(&partition);
        if !known {
            self.settle_before_restore(consumer);
            let topic = Arc::clone(&self.corridor.as_ref()?.topic);
            let committed =
                committed_checkpoint(consumer, &topic, partition, self.flush_timeout).offset;
            let stage = self.restored_stage(partition, committed);
            self.corridor.as_mut()?.stages.insert(partition, stage);
        }
        self.corridor.as_mut()?.stages.get_mut(&partition)
    }

    fn restored_stage(&mut self, partition: i32, committed: Option<i64>) -> CorridorStage {
        let side = self
            .corridor
            .as_ref()
            .expect("called with the corridor stage on");
        let mut stage = CorridorStage {
            engine: side.detection.engine(),
            position: committed,
            committed,
        };
        let apply = |corridor: &str, value: &[u8]| stage.restore(corridor, value);
        self.restore_from(CORRIDOR_STATE, partition, apply);
        stage
    }

    /// Adds the positions of stages that moved on to `tpl`; returns them for
    /// [`Shared::stages_committed`].
    pub(super) fn stage_offsets(
        &self,
        only: Option<&[PartitionKey]>,
        tpl: &mut TopicPartitionList,
    ) -> Vec<(i32, i64)> {
        let Some(side) = &self.corridor else {
            return Vec::new();
        };
        let mut pending = Vec::new();
        for (partition, stage) in &side.stages {
            let wanted =
                only.is_none_or(|keys| keys.contains(&(Arc::clone(&side.topic), *partition)));
            let Some(p) = stage
                .position
                .filter(|_| wanted && stage.position != stage.committed)
            else {
                continue;
            };
            if tpl
                .add_partition_offset(&side.topic, *partition, Offset::Offset(p))
                .is_ok()
            {
                pending.push((*partition, p));
            }
        }
        pending
    }

    pub(super) fn stages_committed(&mut self, pending: &[(i32, i64)]) {
        if let Some(side) = self.corridor.as_mut() {
            for (partition, offset) in pending {
                if let Some(stage) = side.stages.get_mut(partition) {
                    stage.committed = Some(*offset);
                }
            }
        }
    }

    /// Queues the corridors whose state changed since the last cycle.
    pub(super) fn send_corridor_changes(&mut self) {
        let Some(side) = self.corridor.as_mut() else {
            return;
        };
        let output = &mut self.output;
        let patience = self.flush_timeout;
        let mut active = 0;
        for (partition, stage) in side.stages.iter_mut() {
            active += stage.engine.active();
            stage.engine.drain_changes(|corridor, task| {
                if let Err(e) = output.send_corridor_state(*partition, corridor, task, patience) {
                    tracing::warn!(corridor, "cannot queue a corridor state record: {e}");
                }
            });
        }
        self.metrics.incidents_active.set(active as i64);
    }

    /// Back to the last commit: stages restored from the changelog, positions reset.
    pub(super) fn rewind_stages<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        let Some(side) = self.corridor.as_ref() else {
            return;
        };
        let topic = Arc::clone(&side.topic);
        let partitions: Vec<(i32, Option<i64>)> =
            side.stages.iter().map(|(p, s)| (*p, s.committed)).collect();
        for (partition, committed) in partitions {
            let stage = self.restored_stage(partition, committed);
            if let Some(side) = self.corridor.as_mut() {
                side.stages.insert(partition, stage);
            }
            let to = committed.map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = consumer.seek(&topic, partition, to, self.flush_timeout) {
                tracing::warn!(topic = &*topic, partition, "cannot rewind partition: {e}");
            }
        }
    }

    /// Forgets a revoked repartition partition.
    pub fn drop_stage(&mut self, key: &PartitionKey) {
        if let Some(side) = self.corridor.as_mut() {
            if side.topic == key.0 {
                side.stages.remove(&key.1);
            }
        }
    }
}
