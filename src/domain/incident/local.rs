//! Both stages of detection in one process, for `roadpulse replay`, the tests and the
//! benchmarks: what the input tasks close is split by [`Routing::split`] and handed to the
//! detection partitions in memory, exactly as the Kafka path hands it over through the
//! repartition topic, followed by each input partition's mark.

use std::sync::Arc;

use super::route::Routing;
use super::task::DetectionTask;
use super::watermark::Mark;
use super::{DetectSettings, IncidentEvent};
use crate::domain::event::EpochMillis;
use crate::domain::processor::Task;

pub struct LocalDetection {
    routing: Arc<Routing>,
    tasks: Vec<DetectionTask>,
    /// The last mark sent for each input partition.
    sent: Vec<Option<EpochMillis>>,
}

impl LocalDetection {
    /// Detection over `inputs` input partitions (one input topic) and the routing's partitions.
    pub fn new(routing: Arc<Routing>, settings: Arc<DetectSettings>, inputs: u32) -> Self {
        let tasks = (0..routing.partitions())
            .map(|p| {
                DetectionTask::new(Arc::clone(&routing), Arc::clone(&settings), p, vec![inputs])
            })
            .collect();
        LocalDetection {
            routing,
            tasks,
            sent: vec![None; inputs as usize],
        }
    }

    /// Input partition `input`'s task has handled records: routes the windows it closed and,
    /// when it moved, its mark; appends the incident events that completes.
    pub fn after(&mut self, input: u32, task: &mut Task, out: &mut Vec<IncidentEvent>) {
        for closed in task.take_closed() {
            for (p, batch) in self.routing.split(&closed, |s| task.segment_id(s)) {
                self.tasks[p as usize].on_batch(None, batch);
            }
        }
        let mark = task.closed_through();
        let Some(slot) = self.sent.get_mut(input as usize) else {
            return;
        };
        if mark.is_some() && mark != *slot {
            *slot = mark;
            for t in self.tasks.iter_mut() {
                let m = Mark {
                    closed_through: mark,
                    idle: false,
                };
                t.on_mark(None, (0, input as i32), m);
                t.judge(out);
            }
        }
    }

    /// End of input (after every input task closed all its windows and was passed to
    /// [`LocalDetection::after`]): judges everything still waiting.
    pub fn finish(&mut self, out: &mut Vec<IncidentEvent>) {
        for t in self.tasks.iter_mut() {
            t.finish(out);
        }
    }

    pub fn tasks(&self) -> &[DetectionTask] {
        &self.tasks
    }

    /// The detection partitions, to take their state out and put it back (tests, tools).
    pub fn tasks_mut(&mut self) -> &mut [DetectionTask] {
        &mut self.tasks
    }
}
