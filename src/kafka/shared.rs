//! Everything the loop and the rebalance callbacks share (behind one mutex; both run on the
//! consumer's thread, so it is never contended), and the commit cycle over both stages.
//!
//! A cycle: the input tasks' detection marks that moved go to the repartition topic, the
//! changed segment states and detection keys to their changelogs, then every task's and
//! stage's checkpoint commits with the outputs — one transaction under exactly once
//! (`send_offsets_to_transaction`), a flush then an offset commit under at least once. If
//! that fails, both stages rewind to their last commit. A lost assignment aborts the open
//! transaction and rewinds the same way.

use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::TopicPartitionList;

use super::commit::{self, CommitError};
use super::detection::{DetectionSide, Stage};
use super::io::{Io, PartitionKey, Status};
use super::segments::{Assigned, SegmentSide};
use crate::config::Guarantee;
use crate::telemetry;

pub(crate) struct Shared {
    /// Stage one: the input tasks.
    pub segments: SegmentSide,
    /// Stage two: the detection partitions (incident detection on).
    pub detection: Option<DetectionSide>,
    pub io: Io,
    pub status: Status,
}

impl Shared {
    /// The task of an input partition, restored on first use.
    pub fn task<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        key: &PartitionKey,
    ) -> &mut Assigned {
        if !self.segments.has(key) {
            self.settle_before_restore(consumer);
        }
        self.segments
            .task(consumer, &self.io, &mut self.status, key)
    }

    /// The stage of a repartition partition, restored on first use (None: detection is off).
    pub fn stage<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partition: i32,
    ) -> Option<&mut Stage> {
        if !self.detection.as_ref()?.has(partition) {
            self.settle_before_restore(consumer);
        }
        let detection = self.detection.as_mut()?;
        Some(detection.stage(consumer, &self.io, &mut self.status, partition))
    }

    /// Routes what an input task closed to the detection stage (when it is on).
    pub fn route(&mut self, key: &PartitionKey) {
        if let (Some(d), Some(a)) = (self.detection.as_mut(), self.segments.tasks.get_mut(key)) {
            d.route(&mut self.io, &mut a.task);
        }
    }

    /// Before a new task restores (which may take a while): commit the open cycle, so that
    /// its transaction does not age.
    fn settle_before_restore<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        let stages = self
            .detection
            .as_ref()
            .is_some_and(|d| !d.stages.is_empty());
        if !self.segments.tasks.is_empty() || stages {
            self.commit(consumer, None);
        }
    }

    /// Commits what every task has emitted so far: at least once, the checkpoints of `only`
    /// (or of every task) after the producer flushed; exactly once, one transaction over all
    /// tasks (their outputs are in it whatever `only` says). Returns true when committed. On
    /// an abort both stages rewind to the last commit; a fatal error is kept in `status`.
    pub fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        only: Option<&[PartitionKey]>,
    ) -> bool {
        if self.status.stopped() {
            return false;
        }
        self.send_marks();
        self.segments.send_changes(&mut self.io);
        if let Some(d) = self.detection.as_mut() {
            d.send_changes(&mut self.io);
        }
        let only = match self.io.guarantee {
            Guarantee::ExactlyOnce => None,
            Guarantee::AtLeastOnce => only,
        };
        let mut offsets = TopicPartitionList::new();
        let pending = self.segments.checkpoints(only, &mut offsets);
        let stage_pending = match &self.detection {
            Some(d) => d.offsets(only, &mut offsets),
            None => Vec::new(),
        };
        let started = std::time::Instant::now();
        let (output, timeout) = (&self.io.output, self.io.flush_timeout);
        let result = match self.io.guarantee {
            Guarantee::AtLeastOnce => commit::at_least_once(output, consumer, &offsets, timeout),
            Guarantee::ExactlyOnce => commit::exactly_once(output, consumer, &offsets, timeout),
        };
        let outcome = match &result {
            Ok(()) => "committed",
            Err(CommitError::Retry(_)) => "failed",
            Err(CommitError::Abort(_)) | Err(CommitError::Fatal(_)) => "aborted",
        };
        telemetry::committed(
            &self.io.metrics,
            outcome,
            started.elapsed().as_secs_f64(),
            &format!("{} partitions: {result:?}", offsets.count()),
        );
        match result {
            Ok(()) => {
                self.segments.committed(pending);
                if let Some(d) = self.detection.as_mut() {
                    d.committed(&stage_pending);
                }
                true
            }
            Err(CommitError::Retry(_)) => false,
            Err(CommitError::Abort(_)) => {
                self.rewind(consumer);
                false
            }
            Err(CommitError::Fatal(why)) => {
                self.status.fatal.get_or_insert(format!(
                    "{why} (another worker with the same kafka.instance_id took over, or the transaction state is lost)"
                ));
                false
            }
        }
    }

    /// Every input task whose detection mark moved sends it to every detection partition.
    fn send_marks(&mut self) {
        let Some(d) = self.detection.as_mut() else {
            return;
        };
        for ((_, partition), a) in self.segments.tasks.iter_mut() {
            let mark = a.mark();
            if a.sent_mark != Some(mark) {
                let ts = mark.closed_through.unwrap_or(0);
                d.send_mark(&mut self.io, (a.input, *partition), mark, ts);
                a.sent_mark = Some(mark);
            }
        }
    }

    /// A lost assignment (the group moved the partitions on without this worker: a session
    /// that expired): what the open transaction holds since the last commit is no longer this
    /// worker's to commit. Exactly once aborts it and rewinds the tasks still held to the last
    /// commit; at least once has published it already, which is the duplicate it allows.
    pub fn abandon<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        if self.io.guarantee != Guarantee::ExactlyOnce || self.status.stopped() {
            return;
        }
        let started = std::time::Instant::now();
        let result = commit::abort(&self.io.output, self.io.flush_timeout);
        let seconds = started.elapsed().as_secs_f64();
        telemetry::committed(&self.io.metrics, "aborted", seconds, "assignment lost");
        match result {
            Ok(()) => self.rewind(consumer),
            Err(why) => {
                self.status
                    .fatal
                    .get_or_insert(format!("assignment lost, and then {why:?}"));
            }
        }
    }

    /// Back to the last commit: both stages restored, consumer positions reset.
    fn rewind<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) {
        self.segments.rewind(consumer, &self.io, &mut self.status);
        if let Some(d) = self.detection.as_mut() {
            d.rewind(consumer, &self.io, &mut self.status);
        }
    }

    /// Forgets a revoked partition of either stage.
    pub fn drop_partition(&mut self, key: &PartitionKey) {
        self.segments.tasks.remove(key);
        if let Some(d) = self.detection.as_mut() {
            d.drop_stage(key);
        }
    }

    /// The input topic of a record, if it is one (shared name for its task key).
    pub fn input(&self, topic: &str) -> Option<Arc<str>> {
        self.segments.input(topic).cloned()
    }
}
