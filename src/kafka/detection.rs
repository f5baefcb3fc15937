//! Incident detection on Kafka (see [`crate::domain::incident`] for the keying and the rules).
//!
//! Stage one is the input tasks: the windows each closes, with the reports made in them, are
//! split by destination ([`Routing::split`]) and written to the internal topic
//! `<group_id>-detection-repartition`, each record to the partition of the detection keys it
//! is for; every commit cycle each input task also writes its partition's mark there when it
//! moved. Stage two is this module's [`Stage`]: the same consumer group reads the topic, and
//! each of its partitions is a [`DetectionTask`] whose incident events go to
//! `kafka.incidents_topic`. A stage's state (per key, and its marks) is mirrored to the
//! compacted `<group_id>-detection-state-changelog`, co-partitioned with the repartition
//! topic, one changed key per record; routed records, incident events, changelog records and
//! offsets commit in the worker's transaction. The committed offset of a stage is the first
//! record still feeding a window it has not judged, so those windows are read again after a
//! restart instead of being state.

use std::collections::HashMap;
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::checkpoint;
use super::io::{self, Io, PartitionKey, Status};
use super::output::DETECTION_STATE;
use crate::codec::routed::{self, Routed};
use crate::domain::incident::route::Routing;
use crate::domain::incident::task::{Batch, DetectionTask, StageCheckpoint};
use crate::domain::incident::watermark::{Input, Mark};
use crate::domain::incident::{DetectSettings, IncidentEvent};
use crate::domain::processor::{Checkpoint, Task};
use crate::telemetry;

/// Windows per repartition record at most (a record stays well below a megabyte).
const WINDOWS_PER_RECORD: usize = 2_000;

/// One assigned partition of the repartition topic.
pub(crate) struct Stage {
    pub task: DetectionTask,
    /// What the group last committed for this partition: where a rewind goes back to.
    committed: StageCheckpoint,
}

pub(crate) struct DetectionSide {
    pub routing: Arc<Routing>,
    settings: Arc<DetectSettings>,
    /// The repartition topic (shared name for partition keys).
    pub topic: Arc<str>,
    /// Partition counts of the input topics: every input partition's mark is waited for.
    inputs: Vec<u32>,
    pub stages: HashMap<i32, Stage>,
    buf: Vec<u8>,
}

impl DetectionSide {
    pub fn new(
        routing: Arc<Routing>,
        settings: Arc<DetectSettings>,
        topic: &str,
        inputs: Vec<u32>,
    ) -> Self {
        DetectionSide {
            routing,
            settings,
            topic: Arc::from(topic),
            inputs,
            stages: HashMap::new(),
            buf: Vec::with_capacity(1 << 16),
        }
    }

    pub fn has(&self, partition: i32) -> bool {
        self.stages.contains_key(&partition)
    }

    /// Stage one: the repartition records of the windows an input task closed.
    pub fn route(&mut self, io: &mut Io, task: &mut Task) {
        let patience = io.flush_timeout;
        for closed in task.take_closed() {
            for (p, batch) in self.routing.split(&closed, |s| task.segment_id(s)) {
                self.send_batch(io, p as i32, &batch, patience);
            }
        }
    }

    fn send_batch(
        &mut self,
        io: &mut Io,
        partition: i32,
        b: &Batch,
        patience: std::time::Duration,
    ) {
        // Reports ride with the last chunk; a batch of reports only is one record.
        let n = b.windows.len().div_ceil(WINDOWS_PER_RECORD).max(1);
        for i in 0..n {
            let from = (i * WINDOWS_PER_RECORD).min(b.windows.len());
            let to = (from + WINDOWS_PER_RECORD).min(b.windows.len());
            let reports = if i + 1 == n { &b.reports[..] } else { &[] };
            let windows = &b.windows[from..to];
            routed::encode_batch(
                b.window_start,
                b.window_end,
                windows,
                reports,
                &mut self.buf,
            );
            self.send(io, partition, b.window_end, patience);
        }
    }

    fn send(&mut self, io: &mut Io, partition: i32, ts: i64, patience: std::time::Duration) {
        if let Err(e) = io.output.send_routed(partition, &self.buf, ts, patience) {
            telemetry::kafka_error(
                &io.metrics,
                "produce",
                &format!("cannot queue a detection record: {e}"),
            );
        }
    }

    /// Stage one: an input partition's mark, to every detection partition.
    pub fn send_mark(&mut self, io: &mut Io, input: Input, mark: Mark, ts: i64) {
        let patience = io.flush_timeout;
        routed::encode_mark(input, mark, &mut self.buf);
        for p in 0..self.routing.partitions() {
            self.send(io, p as i32, ts, patience);
        }
    }

    /// The stage of a repartition partition, restored from the changelog on first use (the
    /// caller commits the open cycle first).
    pub fn stage<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        io: &Io,
        status: &mut Status,
        partition: i32,
    ) -> &mut Stage {
        if !self.stages.contains_key(&partition) {
            let cp = io::committed_checkpoint(consumer, &self.topic, partition, io.flush_timeout);
            let stage = self.restored(io, status, partition, stage_checkpoint(cp));
            self.stages.insert(partition, stage);
        }
        self.stages.get_mut(&partition).expect("inserted above")
    }

    fn restored(&self, io: &Io, status: &mut Status, partition: i32, cp: StageCheckpoint) -> Stage {
        let mut task = DetectionTask::new(
            Arc::clone(&self.routing),
            Arc::clone(&self.settings),
            partition as u32,
            self.inputs.clone(),
        );
        let apply = |key: &str, value: Option<&[u8]>| match value {
            Some(v) => task.restore(key, v),
            None => true,
        };
        io.restore(status, DETECTION_STATE, partition, apply);
        task.resume(cp);
        Stage {
            task,
            committed: cp,
        }
    }

    /// Stage two: one record of the repartition topic into its partition's task; the incident
    /// events it completes into `out`.
    pub fn on_record(
        stage: &mut Stage,
        io: &Io,
        offset: i64,
        payload: &[u8],
        out: &mut Vec<IncidentEvent>,
    ) {
        let t = &stage.task;
        let (late, over, forced) = (t.late_windows(), t.over_capacity(), t.forced());
        match routed::decode(payload) {
            Ok(Routed::Batch(b)) => stage.task.on_batch(Some(offset), b),
            Ok(Routed::Mark(input, mark)) => stage.task.on_mark(Some(offset), input, mark),
            Err(e) => telemetry::kafka_error(
                &io.metrics,
                "repartition",
                &format!("skipping an unreadable detection record at offset {offset}: {e}"),
            ),
        }
        telemetry::late_for_detection(&io.metrics, stage.task.late_windows() - late);
        stage.task.judge(out);
        let t = &stage.task;
        telemetry::detection_bounded(&io.metrics, t.over_capacity() - over, t.forced() - forced);
    }

    /// Adds the offsets of stages that moved on to `tpl`; returns them for
    /// [`DetectionSide::committed`].
    pub fn offsets(
        &self,
        only: Option<&[PartitionKey]>,
        tpl: &mut TopicPartitionList,
    ) -> Vec<(i32, StageCheckpoint)> {
        let mut pending = Vec::new();
        for (partition, stage) in &self.stages {
            let key = (Arc::clone(&self.topic), *partition);
            let cp = stage.task.checkpoint();
            let wanted = only.is_none_or(|keys| keys.contains(&key));
            let Some(offset) = cp.offset.filter(|_| wanted && cp != stage.committed) else {
                continue;
            };
            let mut elem = tpl.add_partition(&self.topic, *partition);
            if elem.set_offset(Offset::Offset(offset)).is_ok() {
                elem.set_metadata(checkpoint::encode(&Checkpoint {
                    offset: Some(offset),
                    stream_time: None,
                    position: cp.position,
                }));
                pending.push((*partition, cp));
            }
        }
        pending
    }

    pub fn committed(&mut self, pending: &[(i32, StageCheckpoint)]) {
        for (partition, cp) in pending {
            if let Some(stage) = self.stages.get_mut(partition) {
                stage.committed = *cp;
            }
        }
    }

    /// Queues every detection key whose state changed since the last cycle.
    pub fn send_changes(&mut self, io: &mut Io) {
        let patience = io.flush_timeout;
        let output = &mut io.output;
        for (partition, stage) in self.stages.iter_mut() {
            stage.task.drain_changes(|key, value| {
                if let Err(e) = output.send_detection_state(*partition, key, value, patience) {
                    tracing::warn!(key, "cannot queue a detection state record: {e}");
                }
            });
        }
        let mut sum = telemetry::DetectionState::default();
        for t in self.stages.values().map(|s| &s.task) {
            sum.active += t.active();
            sum.keys += t.keys();
            sum.uncatalogued += t.uncatalogued();
            sum.waiting += t.waiting();
        }
        telemetry::detection_state(&io.metrics, sum);
    }

    /// Back to the last commit: stages restored from the changelog, positions reset.
    pub fn rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        io: &Io,
        status: &mut Status,
    ) {
        let partitions: Vec<(i32, StageCheckpoint)> =
            self.stages.iter().map(|(p, s)| (*p, s.committed)).collect();
        for (partition, committed) in partitions {
            let stage = self.restored(io, status, partition, committed);
            self.stages.insert(partition, stage);
            io::seek(
                consumer,
                &self.topic,
                partition,
                committed.offset,
                io.flush_timeout,
            );
        }
    }

    /// Forgets a revoked repartition partition.
    pub fn drop_stage(&mut self, key: &PartitionKey) {
        if self.topic == key.0 {
            self.stages.remove(&key.1);
        }
    }
}

fn stage_checkpoint(cp: Checkpoint) -> StageCheckpoint {
    StageCheckpoint {
        offset: cp.offset,
        position: cp.position,
    }
}
