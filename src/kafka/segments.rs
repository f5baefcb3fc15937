//! The input tasks this worker owns: one domain [`Task`] per assigned input partition,
//! restored from the checkpoint committed with the partition's offset and from its state
//! changelog partition on first use. Each commit cycle queues the segment states that final
//! windows changed and offers each task's checkpoint; a failed cycle rewinds the tasks to their
//! last committed checkpoints and changelog state and re-reads the input from there.

use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::checkpoint;
use super::io::{self, Io, PartitionKey, Status};
use crate::domain::incident::watermark::Mark;
use crate::domain::processor::{Checkpoint, ProcessorSettings, Task};

pub(crate) struct Assigned {
    pub task: Task,
    /// Index of the partition's topic among the input topics (configuration order).
    pub input: u32,
    /// What the group last committed for this partition: where a rewind goes back to.
    committed: Checkpoint,
    /// Statistics taken after this partition's last record showed it caught up (nothing left
    /// to read) with its leader reachable, and no client error came since: only then does
    /// quiet time count toward the idle timeout.
    pub idle_ok: bool,
    /// The detection mark last sent for this partition.
    pub sent_mark: Option<Mark>,
}

impl Assigned {
    /// The partition's detection mark now.
    pub fn mark(&self) -> Mark {
        let closed_through = self.task.closed_through();
        Mark {
            closed_through,
            idle: closed_through.is_none() && self.idle_ok,
        }
    }
}

pub(crate) struct SegmentSide {
    pub settings: Arc<ProcessorSettings>,
    /// Looked up once per record: foldhash, not SipHash (the keys are this worker's own
    /// assignment, nothing an outsider chooses).
    pub tasks: foldhash::HashMap<PartitionKey, Assigned>,
    /// The input topics in configuration order.
    inputs: Vec<Arc<str>>,
}

impl SegmentSide {
    pub fn new(settings: Arc<ProcessorSettings>, inputs: &[String]) -> Self {
        SegmentSide {
            settings,
            tasks: Default::default(),
            inputs: inputs.iter().map(|t| Arc::from(t.as_str())).collect(),
        }
    }

    /// The input topic `topic` (shared name) if it is one.
    pub fn input(&self, topic: &str) -> Option<&Arc<str>> {
        self.inputs.iter().find(|t| &***t == topic)
    }

    pub fn has(&self, key: &PartitionKey) -> bool {
        self.tasks.contains_key(key)
    }

    /// The task of a partition, restored on first use (`has` is false): the caller commits
    /// the open cycle first ([`super::shared::Shared::settle_before_restore`]).
    pub fn task<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        io: &Io,
        status: &mut Status,
        key: &PartitionKey,
    ) -> &mut Assigned {
        if !self.tasks.contains_key(key) {
            let (topic, partition) = (&key.0, key.1);
            let mut committed =
                io::committed_checkpoint(consumer, topic, partition, io.flush_timeout);
            committed.stream_time = self.sane_stream_time(topic, partition, committed.stream_time);
            tracing::info!(
                topic = &**topic,
                partition,
                ?committed,
                "task restored from committed checkpoint"
            );
            let task = self.restored_task(io, status, topic, partition, committed);
            let input = self.inputs.iter().position(|t| t == topic).unwrap_or(0) as u32;
            let assigned = Assigned {
                task,
                input,
                committed,
                idle_ok: false,
                sent_mark: None,
            };
            self.tasks.insert(key.clone(), assigned);
        }
        self.tasks.get_mut(key).expect("inserted above")
    }

    /// A committed stream time, unless `window.max_future` says no record could have set it
    /// (a bogus one from before that check, or from a foreign client, would stall the task).
    fn sane_stream_time(&self, topic: &str, partition: i32, st: Option<i64>) -> Option<i64> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let sane = self.settings.future.restorable(st, wall);
        if sane != st {
            tracing::warn!(
                topic,
                partition,
                ?st,
                "committed stream time lies beyond window.max_future: dropped"
            );
        }
        sane
    }

    /// A task resumed from its committed checkpoint, with the segment states of its changelog
    /// partition.
    fn restored_task(
        &self,
        io: &Io,
        status: &mut Status,
        topic: &str,
        partition: i32,
        committed: Checkpoint,
    ) -> Task {
        let mut task = Task::restore(Arc::clone(&self.settings), committed);
        task.set_input_topic(topic);
        let Some(which) = io.output.changelog_of(topic) else {
            return task;
        };
        // A tombstone (no value) is a segment evicted after `state.retention`.
        let apply = |id: &str, value: Option<&[u8]>| match value.map(super::changelog::decode) {
            Some(Ok(state)) => {
                task.restore_segment(id, Some(state));
                true
            }
            None => {
                task.restore_segment(id, None);
                true
            }
            Some(Err(_)) => false,
        };
        io.restore(status, which, partition, apply);
        task
    }

    /// Queues the segment states that final windows changed since the last cycle, after a
    /// tombstone for each segment evicted since.
    pub fn send_changes(&mut self, io: &mut Io) {
        let patience = io.flush_timeout;
        let output = &mut io.output;
        let mut evicted = 0;
        for ((topic, partition), assigned) in self.tasks.iter_mut() {
            let which = output.changelog_of(topic);
            assigned.task.drain_state_changes(|segment, state| {
                evicted += u64::from(state.is_none());
                let Some(which) = which else {
                    return;
                };
                let result = output.send_state(which, *partition, segment, state, patience);
                if let Err(e) = result {
                    tracing::warn!(segment, "cannot queue a state changelog record: {e}");
                }
            });
        }
        crate::telemetry::evicted(&io.metrics, evicted);
    }

    /// Offsets to commit (with the checkpoints in their metadata) for tasks that moved on.
    pub fn checkpoints(
        &self,
        only: Option<&[PartitionKey]>,
        tpl: &mut TopicPartitionList,
    ) -> Vec<(PartitionKey, Checkpoint)> {
        let mut pending = Vec::new();
        for (key, assigned) in self.tasks.iter() {
            if only.is_some_and(|keys| !keys.contains(key)) {
                continue;
            }
            let cp = assigned.task.checkpoint();
            let Some(offset) = cp.offset.filter(|_| cp != assigned.committed) else {
                continue;
            };
            let mut elem = tpl.add_partition(&key.0, key.1);
            if elem.set_offset(Offset::Offset(offset)).is_ok() {
                elem.set_metadata(checkpoint::encode(&cp));
                pending.push((key.clone(), cp));
            }
        }
        pending
    }

    pub fn committed(&mut self, pending: Vec<(PartitionKey, Checkpoint)>) {
        for (key, cp) in pending {
            if let Some(a) = self.tasks.get_mut(&key) {
                a.committed = cp;
            }
        }
    }

    /// Back to the last commit: tasks restored from their committed checkpoints and changelog
    /// state, consumer positions reset.
    pub fn rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        io: &Io,
        status: &mut Status,
    ) {
        let keys: Vec<(PartitionKey, Checkpoint)> = self
            .tasks
            .iter()
            .map(|(k, a)| (k.clone(), a.committed))
            .collect();
        for ((topic, partition), committed) in keys {
            let task = self.restored_task(io, status, &topic, partition, committed);
            if let Some(a) = self.tasks.get_mut(&(Arc::clone(&topic), partition)) {
                a.task = task;
                a.sent_mark = None;
            }
            io::seek(
                consumer,
                &topic,
                partition,
                committed.offset,
                io.flush_timeout,
            );
        }
    }

    /// What the tasks hold, summed, for the state gauges.
    pub fn size(&self) -> crate::telemetry::StateSize {
        let mut s = crate::telemetry::StateSize::default();
        for task in self.tasks.values().map(|a| &a.task) {
            s.segments += task.segments();
            s.open_windows += task.open_windows();
            for (n, more) in s.levels.iter_mut().zip(task.levels()) {
                *n += more;
            }
        }
        s
    }
}
