//! The tasks of the partitions this worker owns, and the commit cycle over them.
//!
//! A task is created on the first record of a newly assigned partition, restored from the
//! checkpoint committed with the partition's offset and from its state changelog partition.
//! A commit cycle first queues the changed segment states to the changelog, then commits them
//! with the outputs and offsets (one transaction under exactly once; a flush then an offset
//! commit under at least once). If that fails, the tasks rewind to their last committed
//! checkpoints and changelog state and re-read the input from there.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use super::changelog::{RestoreError, Restorer};
use super::checkpoint;
use super::commit::{self, CommitError};
use super::output::Output;
use super::stages::CorridorSide;
use crate::config::Guarantee;
use crate::domain::processor::{Checkpoint, ProcessorSettings, Task};
use crate::telemetry::{self, Metrics};

/// A partition by topic and number. The topic is shared, so building a key allocates nothing.
pub(crate) type PartitionKey = (Arc<str>, i32);

pub(crate) struct Assigned {
    pub task: Task,
    /// What the group last committed for this partition: where a rewind goes back to.
    committed: Checkpoint,
    /// Statistics taken after this partition's last record showed it caught up (nothing left
    /// to read) with its leader reachable, and no client error came since: only then does
    /// quiet time count toward the idle timeout.
    pub idle_ok: bool,
}

/// Everything the loop and the rebalance callbacks share (behind one mutex; both run on the
/// consumer's thread, so it is never contended).
pub(crate) struct Shared {
    pub settings: Arc<ProcessorSettings>,
    /// Looked up once per record: foldhash, not SipHash (the keys are this worker's own
    /// assignment, nothing an outsider chooses).
    pub tasks: foldhash::HashMap<PartitionKey, Assigned>,
    pub output: Output,
    pub metrics: Arc<Metrics>,
    pub flush_timeout: Duration,
    pub guarantee: Guarantee,
    pub restorer: Restorer,
    /// The corridor stage (incident detection), when it is on.
    pub corridor: Option<CorridorSide>,
    /// Set when a commit failed beyond repair (fenced) or state could not be restored; the
    /// loop stops on it and nothing more is committed.
    pub fatal: Option<String>,
    /// A shutdown interrupted a restore: a task lacks its state, so nothing more is committed
    /// (the next owner redoes the uncommitted work).
    pub interrupted: bool,
}

impl Shared {
    /// The task of a partition, restoring it from its committed checkpoint on first use.
    pub fn task<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        topic: &Arc<str>,
        partition: i32,
    ) -> &mut Assigned {
        let key = (Arc::clone(topic), partition);
        if !self.tasks.contains_key(&key) {
            self.settle_before_restore(consumer);
            let committed = committed_checkpoint(consumer, topic, partition, self.flush_timeout);
            tracing::info!(
                topic = &**topic,
                partition,
                ?committed,
                "task restored from committed checkpoint"
            );
            let task = self.restored_task(topic, partition, committed);
            self.tasks.insert(
                key.clone(),
                Assigned {
                    task,
                    committed,
                    idle_ok: false,
                },
            );
        }
        self.tasks.get_mut(&key).expect("inserted above")
    }

    /// Commits what every task has emitted so far: at least once, the checkpoints of `only`
    /// (or of every task) after the producer flushed; exactly once, one transaction over all
    /// tasks (their outputs are in it whatever `only` says). Returns true when committed. On
    /// an abort the tasks rewind to the last commit; a fatal error is kept in `fatal`.
    pub fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        only: Option<&[PartitionKey]>,
    ) -> bool {
        if self.fatal.is_some() || self.interrupted {
            return false;
        }
        self.send_state_changes();
        let only = if self.guarantee == Guarantee::ExactlyOnce {
            None
        } else {
            only
        };
        let (mut offsets, pending) = self.checkpoints(only);
        let stage_pending = self.stage_offsets(only, &mut offsets);
        let started = std::time::Instant::now();
        let result = match self.guarantee {
            Guarantee::AtLeastOnce => {
                commit::at_least_once(&self.output, consumer, &offsets, self.flush_timeout)
            }
            Guarantee::ExactlyOnce => {
                commit::exactly_once(&self.output, consumer, &offsets, self.flush_timeout)
            }
        };
        let outcome = match &result {
            Ok(()) => "committed",
            Err(CommitError::Retry(_)) => "failed",
            Err(CommitError::Abort(_)) | Err(CommitError::Fatal(_)) => "aborted",
        };
        telemetry::committed(
            &self.metrics,
            outcome,
            started.elapsed().as_secs_f64(),
            &format!("{} partitions: {result:?}", offsets.count()),
        );
        match result {
            Ok(()) => {
                for (key, cp) in pending {
                    if let Some(a) = self.tasks.get_mut(&key) {
                        a.committed = cp;
                    }
                }
                self.stages_committed(&stage_pending);
                true
            }
            Err(CommitError::Retry(_)) => false,
            Err(CommitError::Abort(_)) => {
                self.rewind(consumer);
                false
            }
            Err(CommitError::Fatal(why)) => {
                self.fatal.get_or_insert(format!(
                    "{why} (another worker with the same kafka.instance_id took over, or the transaction state is lost)"
                ));
                false
            }
        }
    }

    /// A task resumed from its committed checkpoint, with the segment states of its changelog
    /// partition. A changelog that cannot be read is fatal: going on would publish levels
    /// computed from lost state.
    fn restored_task(&mut self, topic: &Arc<str>, partition: i32, committed: Checkpoint) -> Task {
        let mut task = Task::restore(Arc::clone(&self.settings), committed);
        task.set_input_topic(topic);
        let Some(which) = self.output.changelog_of(topic) else {
            return task;
        };
        let apply = |id: &str, value: &[u8]| match super::changelog::decode(value) {
            Ok(state) => {
                task.restore_segment(id, state);
                true
            }
            Err(_) => false,
        };
        self.restore_from(which, partition, apply);
        task
    }

    /// Reads partition `partition` of the changelog topic `which` (an output topic index) into
    /// `apply`. A failed restore is fatal (going on would publish results computed from lost
    /// state); one interrupted by shutdown stops all further commits.
    pub(super) fn restore_from(
        &mut self,
        which: usize,
        partition: i32,
        apply: impl FnMut(&str, &[u8]) -> bool,
    ) {
        let changelog = self.output.changelog_topic(which);
        let client = self.output.producer().client();
        match self.restorer.restore(client, changelog, partition, apply) {
            Ok(r) => telemetry::state_restored(&self.metrics, changelog, partition, &r),
            Err(RestoreError::Interrupted) => self.interrupted = true,
            Err(RestoreError::Failed(why)) => {
                self.fatal.get_or_insert(why);
            }
        }
    }

    /// Before a new task restores (which may take a while): commit the open cycle, so that
    /// its transaction does not age.
    pub(super) fn settle_before_restore<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        let stages = self.corridor.as_ref().is_some_and(|c| !c.stages.is_empty());
        if !self.tasks.is_empty() || stages {
            self.commit(consumer, None);
        }
    }

    /// Queues the segment states that final windows changed since the last cycle.
    fn send_state_changes(&mut self) {
        let output = &mut self.output;
        let patience = self.flush_timeout;
        let mut segments = 0;
        for ((topic, partition), assigned) in self.tasks.iter_mut() {
            segments += assigned.task.segments();
            let Some(which) = output.changelog_of(topic) else {
                continue;
            };
            assigned.task.drain_state_changes(|segment, state| {
                if let Err(e) = output.send_state(which, *partition, segment, state, patience) {
                    tracing::warn!(segment, "cannot queue a state changelog record: {e}");
                }
            });
        }
        self.metrics.state_segments.set(segments as i64);
        self.send_corridor_changes();
    }

    /// Offsets to commit (with the checkpoints in their metadata) for tasks that moved on.
    fn checkpoints(
        &self,
        only: Option<&[PartitionKey]>,
    ) -> (TopicPartitionList, Vec<(PartitionKey, Checkpoint)>) {
        let mut tpl = TopicPartitionList::new();
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
        (tpl, pending)
    }

    /// Back to the last commit: tasks restored from their committed checkpoints and changelog
    /// state, consumer positions reset.
    fn rewind<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        let keys: Vec<PartitionKey> = self.tasks.keys().cloned().collect();
        for (topic, partition) in keys {
            let committed = self.tasks[&(Arc::clone(&topic), partition)].committed;
            let task = self.restored_task(&topic, partition, committed);
            if let Some(assigned) = self.tasks.get_mut(&(Arc::clone(&topic), partition)) {
                assigned.task = task;
            }
            let to = committed.offset.map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = consumer.seek(&topic, partition, to, self.flush_timeout) {
                tracing::warn!(topic = &*topic, partition, "cannot rewind partition: {e}");
            }
        }
        self.rewind_stages(consumer);
    }

    pub fn open_windows(&self) -> usize {
        self.tasks.values().map(|a| a.task.open_windows()).sum()
    }
}

pub(super) fn committed_checkpoint<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Checkpoint {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    match consumer.committed_offsets(tpl, timeout) {
        Ok(list) => list
            .find_partition(topic, partition)
            .map(|e| match e.offset() {
                Offset::Offset(o) => checkpoint::decode(Some(o), e.metadata()),
                _ => Checkpoint::default(),
            })
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(
                topic,
                partition,
                "cannot read committed offset, starting without a checkpoint: {e}"
            );
            Checkpoint::default()
        }
    }
}
