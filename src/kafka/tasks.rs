//! The tasks of the partitions this worker owns, and the commit cycle over them.
//!
//! A task is created on the first record of a newly assigned partition, restored from the
//! checkpoint committed with the partition's offset. Committing flushes the producer first:
//! offsets are committed only when every output produced so far was acknowledged. If any was
//! not, the tasks rewind to their last committed checkpoints and re-read from there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use super::checkpoint;
use super::commit::{self, CommitError};
use super::output::Output;
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
    pub tasks: HashMap<PartitionKey, Assigned>,
    pub output: Output,
    pub metrics: Arc<Metrics>,
    pub flush_timeout: Duration,
    pub guarantee: Guarantee,
    /// Set when a commit failed beyond repair (fenced); the loop stops on it.
    pub fatal: Option<String>,
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
            let committed = committed_checkpoint(consumer, topic, partition, self.flush_timeout);
            tracing::info!(
                topic = &**topic,
                partition,
                ?committed,
                "task restored from committed checkpoint"
            );
            let task = Task::restore(Arc::clone(&self.settings), committed);
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
        let only = if self.guarantee == Guarantee::ExactlyOnce {
            None
        } else {
            only
        };
        let (offsets, pending) = self.checkpoints(only);
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
            &format!("{} partitions: {result:?}", offsets.count()),
        );
        match result {
            Ok(()) => {
                for (key, cp) in pending {
                    if let Some(a) = self.tasks.get_mut(&key) {
                        a.committed = cp;
                    }
                }
                true
            }
            Err(CommitError::Retry(_)) => false,
            Err(CommitError::Abort(_)) => {
                self.rewind(consumer);
                false
            }
            Err(CommitError::Fatal(why)) => {
                self.fatal.get_or_insert(why);
                false
            }
        }
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

    /// Back to the last committed checkpoints: tasks restored, consumer positions reset.
    fn rewind<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        for ((topic, partition), assigned) in self.tasks.iter_mut() {
            assigned.task = Task::restore(Arc::clone(&self.settings), assigned.committed);
            let to = assigned
                .committed
                .offset
                .map_or(Offset::Beginning, Offset::Offset);
            if let Err(e) = consumer.seek(topic, *partition, to, self.flush_timeout) {
                tracing::warn!(topic = &**topic, partition, "cannot rewind partition: {e}");
            }
        }
    }

    pub fn open_windows(&self) -> usize {
        self.tasks.values().map(|a| a.task.open_windows()).sum()
    }
}

fn committed_checkpoint<C: ConsumerContext>(
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
