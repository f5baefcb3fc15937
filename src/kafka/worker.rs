//! `roadpulse run`: the consumer loop. Poll records (a batch of what is already fetched, one
//! clock read per batch), route each to its partition's task, send what closes; tick the
//! tasks' clocks; every `commit_interval` flush and commit. On shutdown: stop polling, flush,
//! commit, and leave the group (a static member closes without leaving, so that its partitions
//! wait for it). With incident detection on, the loop also
//! routes final windows and reports to the corridor repartition topic and runs the corridor
//! stage on the records it reads back from it (see [`super::incidents`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::util::Timeout;

use super::context::WorkerContext;
use super::incidents::{Detection, Routed};
use super::output::Output;
use super::stages::CorridorSide;
use super::tasks::Shared;
use super::{client, Health, KafkaFailure, Shutdown};
use crate::codec::{self, DecodeError, InputCodec};
use crate::config::Config;
use crate::domain::congestion::Level;
use crate::domain::incident::engine::EngineSettings;
use crate::domain::incident::{IncidentEvent, SegmentWindow};
use crate::domain::output::CongestionEvent;
use crate::domain::processor::{Outcome, ProcessorSettings};
use crate::telemetry::{self, Metrics, Origin};

const POLL: Duration = Duration::from_millis(100);
/// Records handled per loop step when librdkafka has them queued: between batches the loop
/// reads its clocks, ticks and commits.
const BATCH: usize = 512;
const TICK: Duration = Duration::from_millis(200);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the worker until `shutdown` is triggered. Blocking: call it on its own thread.
pub fn run(
    config: &Config,
    settings: Arc<ProcessorSettings>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: Shutdown,
) -> Result<(), KafkaFailure> {
    let k = &config.kafka;
    let codecs = codec::Codecs::start(config)?;
    let output = Output::new(k, codecs.congestion, Arc::clone(&metrics))?;
    let repartition = super::admin::repartition_topic(k);
    let corridor = config.incidents.enabled.then(|| {
        let detection = Detection::new(
            Arc::clone(&settings.catalog),
            EngineSettings {
                lateness_ms: config.incidents.lateness.millis(),
                ..EngineSettings::default()
            },
        );
        CorridorSide::new(detection, &repartition)
    });
    let shared = Shared {
        settings,
        tasks: Default::default(),
        output,
        metrics: Arc::clone(&metrics),
        flush_timeout: k.shutdown_timeout.std() / 2,
        guarantee: k.processing_guarantee,
        restorer: super::changelog::Restorer::new(k, shutdown.clone())?,
        corridor,
        fatal: None,
        interrupted: false,
    };
    let context = WorkerContext {
        shared: Mutex::new(shared),
        metrics: Arc::clone(&metrics),
        health: Arc::clone(&health),
    };
    let consumer: BaseConsumer<WorkerContext> = client::consumer_config(k)
        .create_with_context(context)
        .map_err(KafkaFailure::client)?;
    let mut topics: Vec<&str> = k.input_topics.iter().map(String::as_str).collect();
    if config.incidents.enabled {
        topics.push(&repartition);
    }
    consumer
        .subscribe(&topics)
        .map_err(|e| KafkaFailure::Subscribe(e.to_string()))?;
    health.set_live(true);
    tracing::info!(group = %k.group_id, topics = ?topics, "worker subscribed");

    let mut loop_state = Loop::new(config, &metrics, codecs.inputs);
    while !shutdown.is_triggered() {
        loop_state.step(&consumer, k.commit_interval.std());
        if let Some(why) = loop_state.unavailable.take() {
            health.set_ready(false);
            return Err(KafkaFailure::DecodeUnavailable(why));
        }
        if let Some(why) = consumer.context().lock().fatal.take() {
            health.set_ready(false);
            return Err(KafkaFailure::Fatal(why));
        }
    }
    tracing::info!("shutting down: flushing outputs and committing offsets");
    let committed = {
        let mut shared = consumer.context().lock();
        // The last commit, retries and abort included, must fit the shutdown budget even
        // with the broker out of reach.
        shared.flush_timeout = k.shutdown_timeout.std() / 8;
        shared.commit(&consumer, None)
    };
    // A static member does not leave: its partitions wait for it to come back (a restart
    // within the session timeout rebalances nothing). unsubscribe() would send LeaveGroup
    // even then; closing the consumer (on drop) revokes locally without it.
    if !k.static_membership {
        consumer.unsubscribe();
        // Serve the final revoke so the group sees us leave promptly.
        let deadline = Instant::now() + k.shutdown_timeout.std() / 4;
        while Instant::now() < deadline && consumer.assignment().map(|a| a.count()).unwrap_or(0) > 0
        {
            let _ = consumer.poll(Timeout::After(Duration::from_millis(50)));
        }
    }
    health.set_ready(false);
    drop(consumer);
    tracing::info!(committed, "worker stopped");
    Ok(())
}

struct Loop {
    metrics: Arc<Metrics>,
    /// Input topics (shared names for task keys), their consumed-records counters and codecs.
    topics: Vec<(Arc<str>, prometheus::IntCounter, InputCodec)>,
    /// Set when a record could not be judged (schema registry down): the worker stops.
    unavailable: Option<String>,
    out: Vec<CongestionEvent>,
    incidents: Vec<IncidentEvent>,
    levels: LevelBoard,
    patience: Duration,
    last_tick: Instant,
    last_commit: Instant,
}

impl Loop {
    fn new(config: &Config, metrics: &Arc<Metrics>, inputs: Vec<(String, InputCodec)>) -> Self {
        let topics = inputs
            .into_iter()
            .map(|(t, codec)| {
                let consumed = metrics.events_consumed.with_label_values(&[t.as_str()]);
                (Arc::from(t.as_str()), consumed, codec)
            })
            .collect();
        Loop {
            metrics: Arc::clone(metrics),
            topics,
            unavailable: None,
            out: Vec::new(),
            incidents: Vec::new(),
            levels: LevelBoard::default(),
            patience: config.kafka.shutdown_timeout.std(),
            last_tick: Instant::now(),
            last_commit: Instant::now(),
        }
    }

    fn step(&mut self, consumer: &BaseConsumer<WorkerContext>, commit_interval: Duration) {
        self.poll_batch(consumer);
        if self.last_tick.elapsed() >= TICK {
            self.last_tick = Instant::now();
            self.tick(consumer);
        }
        if self.last_commit.elapsed() >= commit_interval {
            self.last_commit = Instant::now();
            consumer.context().lock().commit(consumer, None);
        }
    }

    /// Waits up to [`POLL`] for a record, then handles it and up to [`BATCH`] − 1 more that are
    /// already queued. `processing_seconds` gets the batch's mean time per record.
    fn poll_batch(&mut self, consumer: &BaseConsumer<WorkerContext>) {
        let mut timeout = POLL;
        // When the first record arrived: a monotonic instant and the wall clock in ms.
        let mut first = None;
        let mut handled = 0;
        while handled < BATCH && self.unavailable.is_none() {
            match consumer.poll(Timeout::After(timeout)) {
                Some(Ok(msg)) => {
                    let (_, now) = *first.get_or_insert_with(|| (Instant::now(), now_ms()));
                    self.handle(consumer, &msg, now);
                    handled += 1;
                    timeout = Duration::ZERO;
                }
                Some(Err(e)) => {
                    telemetry::kafka_error(
                        &self.metrics,
                        super::context::error_kind(&e),
                        &e.to_string(),
                    );
                    break;
                }
                None => break,
            }
        }
        if let Some((started, _)) = first {
            let per_record = started.elapsed().as_secs_f64() / handled as f64;
            for _ in 0..handled {
                self.metrics.processing_seconds.observe(per_record);
            }
        }
    }

    fn handle(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
        msg: &BorrowedMessage<'_>,
        now: i64,
    ) {
        let origin = Origin {
            topic: msg.topic(),
            partition: msg.partition(),
            offset: msg.offset(),
        };
        let (topic, codec) = match self.topics.iter_mut().find(|(t, ..)| &**t == origin.topic) {
            Some((t, c, codec)) => {
                c.inc();
                (Arc::clone(t), codec)
            }
            None => return self.handle_routed(consumer, msg, origin),
        };
        let mut shared = consumer.context().lock();
        let assigned = shared.task(consumer, &topic, origin.partition);
        assigned.idle_ok = false;
        let payload = msg.payload().unwrap_or_default();
        let out = &mut self.out;
        let result = codec.decode(payload, |e| {
            let report = Routed::report(e);
            (
                assigned.task.on_event(origin.offset, e, now, out),
                e.ts,
                report,
            )
        });
        let stream_time = assigned.task.stream_time();
        match result {
            Ok((Outcome::Late, ts, _)) => {
                telemetry::late_event(&self.metrics, origin, ts, stream_time)
            }
            Ok((Outcome::Report, _, report)) => {
                self.metrics.reports.inc();
                if let Some(r) = report {
                    route(&self.metrics, self.patience, &mut shared, &r);
                }
            }
            Ok(_) => {}
            Err(DecodeError::Unavailable(why)) => {
                self.unavailable = Some(format!("cannot decode a record of {topic}: {why}"));
                return;
            }
            Err(DecodeError::Invalid(err)) => {
                telemetry::poison_record(&self.metrics, origin, &err);
                if let Err(e) = shared.output.send_dead_letter(
                    msg.key(),
                    msg.payload(),
                    origin,
                    &err,
                    self.patience,
                ) {
                    telemetry::kafka_error(
                        &self.metrics,
                        "produce",
                        &format!("cannot queue dead letter: {e}"),
                    );
                }
            }
        }
        self.send_outputs(&mut shared, now);
    }

    /// A record of the corridor repartition topic: into its partition's stage; the incident
    /// events it completes out.
    fn handle_routed(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
        msg: &BorrowedMessage<'_>,
        origin: Origin<'_>,
    ) {
        let mut shared = consumer.context().lock();
        let routed = match Routed::decode(msg.payload().unwrap_or_default()) {
            Ok(r) => r,
            Err(e) => {
                telemetry::kafka_error(
                    &self.metrics,
                    "repartition",
                    &format!("skipping an unreadable corridor record at {origin:?}: {e}"),
                );
                return;
            }
        };
        if let Some(stage) = shared.stage(consumer, origin.partition) {
            stage.on_record(origin.offset, routed, &mut self.incidents);
        }
        for event in self.incidents.drain(..) {
            telemetry::incident(&self.metrics, &event);
            if let Err(e) = shared.output.send_incident(&event, self.patience) {
                telemetry::kafka_error(
                    &self.metrics,
                    "produce",
                    &format!("cannot queue incident event: {e}"),
                );
            }
        }
    }

    fn tick(&mut self, consumer: &BaseConsumer<WorkerContext>) {
        let mut shared = consumer.context().lock();
        let now = now_ms();
        for assigned in shared.tasks.values_mut() {
            if assigned.idle_ok {
                assigned.task.on_idle(now, &mut self.out);
            } else {
                assigned.task.hold_idle(now);
            }
            assigned.task.on_tick(now, &mut self.out);
        }
        self.send_outputs(&mut shared, now);
        self.metrics.windows_open.set(shared.open_windows() as i64);
    }

    fn send_outputs(&mut self, shared: &mut Shared, now: i64) {
        for event in self.out.drain(..) {
            if event.is_final {
                self.metrics.windows_closed.inc();
                self.levels
                    .observe(&self.metrics, &event.segment_id, event.level);
                let routed = Routed::Window(SegmentWindow::from(&event));
                route(&self.metrics, self.patience, shared, &routed);
            } else {
                self.metrics.window_updates.inc();
            }
            self.metrics
                .end_to_end_seconds
                .observe((now - event.window_end).max(0) as f64 / 1000.0);
            if let Err(e) = shared.output.send_congestion(&event, self.patience) {
                telemetry::kafka_error(
                    &self.metrics,
                    "produce",
                    &format!("cannot queue congestion event: {e}"),
                );
            }
        }
    }
}

/// Stage one of detection: a final window or a report to its corridor.
fn route(metrics: &Metrics, patience: Duration, shared: &mut Shared, routed: &Routed) {
    let Some(side) = &shared.corridor else {
        return;
    };
    let corridor = side
        .detection
        .corridors
        .corridor_of(routed.segment())
        .to_string();
    if let Err(e) = shared
        .output
        .send_routed(&corridor, routed, routed.timestamp(), patience)
    {
        telemetry::kafka_error(
            metrics,
            "produce",
            &format!("cannot queue a corridor record: {e}"),
        );
    }
}

/// The latest final level of every segment this worker has seen, as per-level gauges.
#[derive(Default)]
struct LevelBoard(HashMap<String, Level>);

impl LevelBoard {
    fn observe(&mut self, metrics: &Metrics, segment: &str, level: Level) {
        let previous = match self.0.get_mut(segment) {
            Some(l) => Some(std::mem::replace(l, level)),
            None => {
                self.0.insert(segment.to_string(), level);
                None
            }
        };
        if previous == Some(level) {
            return;
        }
        if let Some(p) = previous {
            metrics
                .segments_by_level
                .with_label_values(&[p.as_str()])
                .dec();
        }
        metrics
            .segments_by_level
            .with_label_values(&[level.as_str()])
            .inc();
    }
}
