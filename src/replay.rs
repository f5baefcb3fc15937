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
use crate::domain::event::{InvalidEvent, InvalidKind, RawEvent};
use crate::domain::future::FutureBound;
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
    /// Per partition: the record held back by the `window.max_future` rule, if any.
    held: Vec<Option<Held>>,
}

/// A line held back: it is its partition's first record, or lies more than `window.max_future`
/// ahead of its partition's stream time. The partition's next record decides: within the bound
/// of it, the stream really moved there (a gap in the data) and it is used; far behind it, it
/// stood alone (a bad clock) and is refused as `invalid_timestamp`. A first record is also
/// used when the next lies far ahead of it (that one is then held in turn).
struct Held {
    line: usize,
    bytes: Vec<u8>,
    ts: i64,
}

/// What the fast path did with a line.
enum Step {
    /// Fed, or refused at `limits.max_segments`.
    Fed(Result<Outcome, InvalidEvent>),
    /// Held back, or a held line of its partition waits for a decision first.
    Decide(usize, i64),
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
    let mut r = Replayer {
        state: Partitioned {
            tasks: (0..n).map(|_| Task::new(Arc::clone(&settings))).collect(),
            next_offset: vec![0; n as usize],
            out: Vec::new(),
            buf: Vec::new(),
            held: (0..n).map(|_| None).collect(),
        },
        summary: ReplaySummary::default(),
        detection: detection.as_mut(),
        future: settings.future,
        n,
    };
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        r.line(i + 1, &line);
        r.summary.windows += drain(&mut r.state, &mut output)?;
        if let Some(d) = r.detection.as_mut() {
            r.summary.incidents += d.write()?;
        }
    }
    r.settle_held();
    let Replayer {
        mut state,
        mut summary,
        ..
    } = r;
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

/// The tasks, the detection stages and the summary of one replay.
struct Replayer<'d, 'a> {
    state: Partitioned,
    summary: ReplaySummary,
    detection: Option<&'d mut Detection<'a>>,
    /// `window.max_future`: off, nothing is ever held.
    future: FutureBound,
    n: u32,
}

impl Replayer<'_, '_> {
    /// One line (`no`: its 1-based number): fed to its partition's task, held back, or bad.
    fn line(&mut self, no: usize, line: &[u8]) {
        let bound = self.future.max_ahead_ms;
        let (state, detection, n) = (&mut self.state, &mut self.detection, self.n);
        let step = codec::with_raw_event(line, |event| {
            let p = partition_for_key(event.segment_id.as_bytes(), n) as usize;
            let task = &state.tasks[p];
            let holds = bound.is_some()
                && (state.held[p].is_some()
                    || task.stream_time().is_none()
                    || task.check_future(event.ts, event.ts).is_err());
            if holds {
                return Step::Decide(p, event.ts);
            }
            Step::Fed(feed(state, detection.as_deref_mut(), p, event))
        });
        match step {
            Ok(Step::Fed(Ok(outcome))) => self.fed(outcome),
            Ok(Step::Fed(Err(e))) => self.refused(no, e),
            Ok(Step::Decide(p, ts)) => match self.state.held[p].take() {
                None => {
                    self.state.held[p] = Some(Held {
                        line: no,
                        bytes: line.to_vec(),
                        ts,
                    })
                }
                Some(h) => {
                    // This record decides the held one, then goes its own way. Near it: the
                    // stream moved there. Far behind it: it was ahead alone. Far ahead of a
                    // partition's first record: this one is the record from the future.
                    let lead = i128::from(ts) - i128::from(h.ts);
                    let first = self.state.tasks[p].stream_time().is_none();
                    if lead.abs() <= i128::from(bound.unwrap_or(i64::MAX)) || (first && lead > 0) {
                        self.use_held(p, h);
                    } else {
                        self.refuse_held(p, h, ts);
                    }
                    self.line(no, line);
                }
            },
            Err(e) => self.bad(no, e.to_string()),
        }
    }

    /// Feeds a held line whose stream has been confirmed, without the bound's check.
    fn use_held(&mut self, p: usize, h: Held) {
        let (state, detection) = (&mut self.state, &mut self.detection);
        let fed = codec::with_raw_event(&h.bytes, |event| {
            feed(state, detection.as_deref_mut(), p, event)
        });
        match fed {
            Ok(Ok(outcome)) => self.fed(outcome),
            Ok(Err(e)) => self.refused(h.line, e),
            Err(e) => self.bad(h.line, e.to_string()),
        }
    }

    /// Refuses a held line that no later record of its partition came near.
    fn refuse_held(&mut self, p: usize, h: Held, next_ts: i64) {
        self.state.next_offset[p] += 1;
        // A held line lies beyond the bound of `reference`, so the check says why.
        let reference = self.state.tasks[p].stream_time().unwrap_or(next_ts);
        let why = self.future.check(h.ts, Some(reference)).err();
        self.bad(h.line, why.map(|e| e.to_string()).unwrap_or_default());
    }

    /// End of input: a held line that was its partition's only record is used (nothing to
    /// compare it with); one ahead of its partition's stream time is refused.
    fn settle_held(&mut self) {
        for p in 0..self.state.held.len() {
            let Some(h) = self.state.held[p].take() else {
                continue;
            };
            match self.state.tasks[p].stream_time() {
                None => self.use_held(p, h),
                Some(st) => self.refuse_held(p, h, st),
            }
        }
    }

    fn fed(&mut self, outcome: Outcome) {
        self.summary.events += 1;
        self.summary.late += u64::from(outcome == Outcome::Late);
    }

    /// A record of a new segment over `limits.max_segments`.
    fn refused(&mut self, line: usize, e: InvalidEvent) {
        self.summary.over_capacity += u64::from(e.kind == InvalidKind::OverCapacity);
        self.bad(line, e.to_string());
    }

    fn bad(&mut self, line: usize, error: String) {
        self.summary.bad_count += 1;
        if self.summary.bad.len() < BAD_LINES_LISTED {
            self.summary.bad.push(BadLine { line, error });
        }
    }
}

/// One event into partition `p`'s task at the partition's next offset, then the windows it
/// closed on to detection; refused when it is of a new segment over `limits.max_segments`.
fn feed(
    state: &mut Partitioned,
    detection: Option<&mut Detection>,
    p: usize,
    event: &RawEvent<'_>,
) -> Result<Outcome, InvalidEvent> {
    let offset = state.next_offset[p];
    state.next_offset[p] += 1;
    let task = &mut state.tasks[p];
    task.check_room(event)?;
    let outcome = task.on_event(offset, event, event.ts, &mut state.out);
    if let Some(st) = task.stream_time() {
        task.on_tick(st, &mut state.out);
    }
    if let Some(d) = detection {
        d.stages.after(p as u32, task, &mut d.events);
    }
    Ok(outcome)
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
    use crate::domain::processor::EmitMode;
    use crate::domain::window::WindowSpec;

    fn settings() -> Arc<ProcessorSettings> {
        bounded(crate::domain::future::FutureBound::OFF)
    }

    fn bounded(future: FutureBound) -> Arc<ProcessorSettings> {
        Arc::new(ProcessorSettings {
            future,
            ..ProcessorSettings::new(WindowSpec::tumbling(60_000, 0), EmitMode::Final)
        })
    }

    const HOUR: i64 = 3_600_000;

    fn probes(ts: &[i64]) -> String {
        ts.iter()
            .map(|t| {
                format!("{{\"type\":\"probe\",\"segment_id\":\"a\",\"ts\":{t},\"speed_kph\":50}}\n")
            })
            .collect()
    }

    /// Replays `ts` (one segment, one partition) with `window.max_future` = 1 h: the summary,
    /// and the windows' starts.
    fn replay_hour_bound(ts: &[i64]) -> (ReplaySummary, Vec<i64>) {
        let mut out = Vec::new();
        let bound = FutureBound::new(HOUR, crate::domain::future::Reference::StreamTime);
        let s = replay(bounded(bound), 1, probes(ts).as_bytes(), &mut out).unwrap();
        let starts = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<CongestionEvent>(l)
                    .unwrap()
                    .window_start
            })
            .collect();
        (s, starts)
    }

    #[test]
    fn a_gap_in_the_data_is_followed_and_a_lone_record_far_ahead_is_refused() {
        let t0 = 1_767_225_600_000;
        // Three hours without data, then the stream goes on: nothing refused, nothing late.
        let (s, starts) = replay_hour_bound(&[t0, t0 + 1_000, t0 + 3 * HOUR, t0 + 3 * HOUR + 1]);
        assert_eq!((s.events, s.bad_count, s.late), (4, 0, 0));
        assert_eq!(starts, vec![t0, t0 + 3 * HOUR]);
        // One record far ahead among records that are not: refused, and no later record late.
        let (s, starts) = replay_hour_bound(&[t0, t0 + 5 * HOUR, t0 + 2_000, t0 + 61_000]);
        assert_eq!((s.events, s.bad_count, s.late), (3, 1, 0));
        assert_eq!(s.bad[0].line, 2);
        assert!(s.bad[0].error.contains("window.max_future"), "{:?}", s.bad);
        assert_eq!(starts, vec![t0, t0 + 60_000]);
        // The same as a partition's first record, and as its last: refused too.
        let (s, starts) = replay_hour_bound(&[t0 + 99 * HOUR, t0, t0 + 1_000]);
        assert_eq!((s.events, s.bad_count, s.late, s.bad[0].line), (2, 1, 0, 1));
        assert_eq!(starts, vec![t0]);
        let (s, _) = replay_hour_bound(&[t0, t0 + 1_000, i64::MAX - 5]);
        assert_eq!((s.events, s.bad_count, s.bad[0].line), (2, 1, 3));
        // A partition's only record has nothing to be compared with: used.
        let (s, starts) = replay_hour_bound(&[t0]);
        assert_eq!((s.events, s.bad_count, starts), (1, 0, vec![t0]));
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
