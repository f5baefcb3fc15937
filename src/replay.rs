//! `roadpulse replay`: JSONL raw events in, JSONL congestion events out, no Kafka.
//!
//! Lines are split into `partitions` tasks by the Java-compatible murmur2 partitioner on the
//! segment id (the key producers use), so each task sees the same records in the same order
//! as the Kafka partition would, and its stream time matches a Kafka run. Only event time
//! exists here: the idle timeout is off, and in `updates` mode the update clock is stream time.
//! End of input closes every open window. Bad lines are reported and skipped.
//!
//! With incident detection on, the windows each task closes (with their reports) go on to the
//! detection stage ([`LocalDetection`]: routed by neighbourhood, judged once every partition's
//! mark has passed them; see [`crate::domain::incident`]) — in memory here, through a
//! repartition topic on Kafka.

use std::io::{BufRead, Write};
use std::sync::Arc;

use crate::codec::{self, json};
use crate::domain::event::InvalidKind;
use crate::domain::incident::local::LocalDetection;
use crate::domain::incident::IncidentEvent;
use crate::domain::output::CongestionEvent;
use crate::domain::partition::partition_for_key;
use crate::domain::processor::{Outcome, ProcessorSettings, Task};

/// A line that could not be used, with its 1-based number.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub error: String,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplaySummary {
    pub events: u64,
    pub windows: u64,
    pub late: u64,
    pub bad: Vec<BadLine>,
    pub bad_count: u64,
    /// Bad lines that were records of new segments refused at `limits.max_segments`.
    pub over_capacity: u64,
    /// Incident events written (detection on).
    pub incidents: u64,
}

/// Incident detection over the replay: both stages, and where their events go (JSONL). The
/// processor settings must have detection on.
pub struct Detection<'a> {
    pub stages: LocalDetection,
    pub output: Box<dyn Write + 'a>,
    events: Vec<IncidentEvent>,
}

impl<'a> Detection<'a> {
    pub fn new(stages: LocalDetection, output: Box<dyn Write + 'a>) -> Self {
        Detection {
            stages,
            output,
            events: Vec::new(),
        }
    }

    fn write(&mut self) -> std::io::Result<u64> {
        let n = self.events.len() as u64;
        for e in self.events.drain(..) {
            serde_json::to_writer(&mut self.output, &e)?;
            self.output.write_all(b"\n")?;
        }
        Ok(n)
    }
}

/// Bad lines listed individually in the summary; the rest are only counted.
const BAD_LINES_LISTED: usize = 20;

struct Partitioned {
    tasks: Vec<Task>,
    next_offset: Vec<i64>,
    out: Vec<CongestionEvent>,
    buf: Vec<u8>,
}

/// Runs the replay from `input` to `output`.
pub fn replay(
    settings: Arc<ProcessorSettings>,
    partitions: u32,
    input: impl BufRead,
    output: impl Write,
) -> std::io::Result<ReplaySummary> {
    replay_detecting(settings, partitions, input, output, None)
}

/// [`replay`], plus incident detection over the final windows when `detection` is given.
pub fn replay_detecting(
    settings: Arc<ProcessorSettings>,
    partitions: u32,
    input: impl BufRead,
    mut output: impl Write,
    mut detection: Option<Detection>,
) -> std::io::Result<ReplaySummary> {
    let n = partitions.max(1);
    let mut summary = ReplaySummary::default();
    let mut state = Partitioned {
        tasks: (0..n).map(|_| Task::new(Arc::clone(&settings))).collect(),
        next_offset: vec![0; n as usize],
        out: Vec::new(),
        buf: Vec::new(),
    };
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let result = codec::with_raw_event(&line, |event| {
            let p = partition_for_key(event.segment_id.as_bytes(), n) as usize;
            let offset = state.next_offset[p];
            state.next_offset[p] += 1;
            state.tasks[p].admit(event, event.ts)?;
            let task = &mut state.tasks[p];
            let outcome = task.on_event(offset, event, event.ts, &mut state.out);
            if let Some(st) = task.stream_time() {
                task.on_tick(st, &mut state.out);
            }
            Ok((p, outcome))
        });
        match result.and_then(|admitted| admitted) {
            Ok((p, outcome)) => {
                if let Some(d) = detection.as_mut() {
                    d.stages.after(p as u32, &mut state.tasks[p], &mut d.events);
                }
                summary.events += 1;
                summary.late += u64::from(outcome == Outcome::Late);
            }
            Err(e) => {
                summary.bad_count += 1;
                summary.over_capacity += u64::from(e.kind == InvalidKind::OverCapacity);
                if summary.bad.len() < BAD_LINES_LISTED {
                    summary.bad.push(BadLine {
                        line: i + 1,
                        error: e.to_string(),
                    });
                }
            }
        }
        summary.windows += drain(&mut state, &mut output)?;
        if let Some(d) = detection.as_mut() {
            summary.incidents += d.write()?;
        }
    }
    for (p, task) in state.tasks.iter_mut().enumerate() {
        task.close_all(&mut state.out);
        if let Some(d) = detection.as_mut() {
            d.stages.after(p as u32, task, &mut d.events);
        }
    }
    summary.windows += drain(&mut state, &mut output)?;
    output.flush()?;
    if let Some(mut d) = detection {
        d.stages.finish(&mut d.events);
        summary.incidents += d.write()?;
        d.output.flush()?;
    }
    Ok(summary)
}

fn drain(state: &mut Partitioned, output: &mut impl Write) -> std::io::Result<u64> {
    // There is no changelog here: state changes and evictions are dropped as they come.
    for task in state.tasks.iter_mut() {
        task.drain_state_changes(|_, _| {});
    }
    let mut n = 0;
    for event in state.out.drain(..) {
        state.buf.clear();
        json::encode_congestion(&event, &mut state.buf);
        state.buf.push(b'\n');
        output.write_all(&state.buf)?;
        n += u64::from(event.is_final);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::domain::congestion::Hysteresis;
    use crate::domain::processor::EmitMode;
    use crate::domain::window::WindowSpec;

    fn settings() -> Arc<ProcessorSettings> {
        Arc::new(ProcessorSettings {
            window: WindowSpec::tumbling(60_000, 0),
            emit: EmitMode::Final,
            idle_timeout_ms: None,
            hysteresis: Hysteresis::default(),
            default_free_flow_kph: 50.0,
            catalog: Arc::new(Catalog::default()),
            future: crate::domain::future::FutureBound::OFF,
            sampling: Default::default(),
            detection: None,
            limits: Default::default(),
        })
    }

    #[test]
    fn bad_lines_are_counted_and_skipped_and_input_end_closes_windows() {
        let input = "{\"type\":\"probe\",\"segment_id\":\"a\",\"ts\":1000,\"speed_kph\":50}\n\
                     garbage\n\n\
                     {\"type\":\"probe\",\"segment_id\":\"b\",\"ts\":2000}\n\
                     {\"type\":\"probe\",\"segment_id\":\"a\",\"ts\":3000,\"speed_kph\":40}\n";
        let mut out = Vec::new();
        let s = replay(settings(), 3, input.as_bytes(), &mut out).unwrap();
        assert_eq!((s.events, s.windows, s.bad_count), (2, 1, 2));
        assert_eq!(s.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 4]);
        let text = String::from_utf8(out).unwrap();
        let e: CongestionEvent = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(
            (e.segment_id.as_str(), e.samples, e.is_final),
            ("a", 2, true)
        );
    }
}
