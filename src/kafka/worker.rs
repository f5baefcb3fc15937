//! `roadpulse run`: the consumer loop. Poll records (a batch of what is already fetched, one
//! clock read per batch), route each to its partition's task — an input task, or with
//! incident detection on a detection stage — send what it produces; tick the tasks' clocks;
//! every `commit_interval` commit. On shutdown: stop polling, commit, and leave the group (a
//! static member closes without leaving, so that its partitions wait for it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::util::Timeout;

use super::admin::Layout;
use super::changelog::Restorer;
use super::context::WorkerContext;
use super::detection::DetectionSide;
use super::io::{Io, PartitionKey, Status};
use super::output::Output;
use super::segments::SegmentSide;
use super::shared::Shared;
use super::{client, Health, KafkaFailure, Shutdown};
use crate::codec::{self, DecodeError, InputCodec};
use crate::config::Config;
use crate::domain::incident::{Algorithm, IncidentEvent};
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
/// `layout` holds the partition counts of the input and repartition topics.
pub fn run(
    config: &Config,
    settings: Arc<ProcessorSettings>,
    layout: Layout,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: Shutdown,
) -> Result<(), KafkaFailure> {
    let k = &config.kafka;
    let codecs = codec::Codecs::start(config)?;
    let output = Output::new(k, codecs.congestion, Arc::clone(&metrics))?;
    let repartition = super::admin::repartition_topic(k);
    let detection = config.incidents.enabled.then(|| {
        let (routing, detect) = crate::pipeline::detection(
            config,
            &settings.catalog,
            layout.detection,
            vec![Algorithm::Combined],
        );
        telemetry::detection_limits(&metrics, detect.keys.max(), detect.waiting.max());
        DetectionSide::new(routing, detect, &repartition, layout.inputs.clone())
    });
    telemetry::memory_limits(&metrics, &settings.limits);
    let shared = Shared {
        segments: SegmentSide::new(settings, &k.input_topics),
        detection,
        io: Io {
            output,
            restorer: Restorer::new(k, shutdown.clone())?,
            metrics: Arc::clone(&metrics),
            flush_timeout: k.shutdown_timeout.std() / 2,
            guarantee: k.processing_guarantee,
        },
        status: Status::default(),
    };
    let context = WorkerContext {
        shared: Mutex::new(shared),
        metrics: Arc::clone(&metrics),
        health: Arc::clone(&health),
        cooperative: client::cooperative(k),
        assigned: Mutex::new(Default::default()),
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
        if let Some(why) = consumer.context().lock().status.fatal.take() {
            health.set_ready(false);
            return Err(KafkaFailure::Fatal(why));
        }
    }
    tracing::info!("shutting down: flushing outputs and committing offsets");
    let committed = {
        let mut shared = consumer.context().lock();
        // The last commit, retries and abort included, must fit the shutdown budget even
        // with the broker out of reach.
        shared.io.flush_timeout = k.shutdown_timeout.std() / 8;
        shared.commit(&consumer, None)
    };
    // A static member does not leave: its partitions wait for it to come back (a restart
    // within the session timeout rebalances nothing), so it closes without unsubscribing
    // (unsubscribe() would send LeaveGroup even then).
    if !k.static_membership {
        consumer.unsubscribe();
        // Serve the final revoke so the group sees us leave promptly.
        let deadline = Instant::now() + k.shutdown_timeout.std() / 4;
        while Instant::now() < deadline && consumer.context().assigned_count() > 0 {
            let _ = consumer.poll(Timeout::After(Duration::from_millis(50)));
        }
    }
    health.set_ready(false);
    close(consumer, k.shutdown_timeout.std() / 4);
    tracing::info!(committed, "worker stopped");
    Ok(())
}

/// Closes the consumer (librdkafka's close: the final revoke, then the group's end) within
/// `budget`. Everything is committed by then; a close that does not finish (a librdkafka
/// hang in its group thread) is reported and left behind, so that the process still exits
/// and its partitions move on after the session timeout.
fn close(consumer: BaseConsumer<WorkerContext>, budget: Duration) {
    let (done, closed) = std::sync::mpsc::channel();
    let closing = std::thread::Builder::new()
        .name("consumer-close".into())
        .spawn(move || {
            drop(consumer);
            let _ = done.send(());
        });
    if closing.is_ok() && closed.recv_timeout(budget).is_err() {
        tracing::error!(
            seconds = budget.as_secs_f64(),
            "the consumer did not close in time: exiting without it (offsets are committed)"
        );
    }
}

struct Loop {
    metrics: Arc<Metrics>,
    /// Input topics (shared names for task keys), their consumed-records counters and codecs.
    topics: Vec<(Arc<str>, prometheus::IntCounter, InputCodec)>,
    /// Set when a record could not be judged (schema registry down): the worker stops.
    unavailable: Option<String>,
    out: Vec<CongestionEvent>,
    incidents: Vec<IncidentEvent>,
    patience: Duration,
    last_tick: Instant,
    last_commit: Instant,
}

impl Loop {
    fn new(config: &Config, metrics: &Arc<Metrics>, inputs: Vec<(String, InputCodec)>) -> Self {
        let topics = inputs
            .into_iter()
            .map(|(t, codec)| {
                let consumed = telemetry::consumed_counter(metrics, &t);
                (Arc::from(t.as_str()), consumed, codec)
            })
            .collect();
        Loop {
            metrics: Arc::clone(metrics),
            topics,
            unavailable: None,
            out: Vec::new(),
            incidents: Vec::new(),
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
    /// already queued.
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
                    let kind = super::client::error_kind(&e);
                    telemetry::kafka_error(&self.metrics, kind, &e.to_string());
                    break;
                }
                None => break,
            }
        }
        if let Some((started, _)) = first {
            telemetry::batch_processed(&self.metrics, handled, started.elapsed().as_secs_f64());
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
        let Some(i) = self.topics.iter().position(|(t, ..)| &**t == origin.topic) else {
            return self.handle_routed(consumer, msg, origin);
        };
        self.topics[i].1.inc();
        let key: PartitionKey = (Arc::clone(&self.topics[i].0), origin.partition);
        let mut shared = consumer.context().lock();
        let assigned = shared.task(consumer, &key);
        assigned.idle_ok = false;
        let payload = msg.payload().unwrap_or_default();
        let out = &mut self.out;
        let result = self.topics[i].2.decode(payload, |e| {
            assigned.task.admit(e, now)?;
            Ok((assigned.task.on_event(origin.offset, e, now, out), e.ts))
        });
        let stream_time = assigned.task.stream_time();
        let replayed = assigned.task.replayed(origin.offset);
        let late_window = |ts| assigned.task.last_window_of(ts);
        let original = (msg.key(), msg.payload());
        match result.and_then(|admitted| admitted.map_err(DecodeError::Invalid)) {
            Ok((Outcome::Late, ts)) => {
                telemetry::late_event(&self.metrics, origin, ts, stream_time);
                let window = late_window(ts);
                if shared.io.output.keeps_late() {
                    let output = &mut shared.io.output;
                    let sent =
                        output.send_late(original, origin, window, stream_time, self.patience);
                    if let Err(e) = sent {
                        let why = format!("cannot queue late record: {e}");
                        telemetry::kafka_error(&self.metrics, "produce", &why);
                    }
                }
            }
            Ok((Outcome::Report, _)) => telemetry::report(&self.metrics),
            Ok(_) => {}
            Err(DecodeError::Unavailable(why)) => {
                let topic = origin.topic;
                self.unavailable = Some(format!("cannot decode a record of {topic}: {why}"));
                return;
            }
            // Read again after a restart or a rewind: its dead letter is committed already.
            Err(DecodeError::Invalid(_)) if replayed => {}
            Err(DecodeError::Invalid(err)) => {
                telemetry::poison_record(&self.metrics, origin, &err);
                let output = &mut shared.io.output;
                let sent = output.send_dead_letter(original, origin, &err, self.patience);
                if let Err(e) = sent {
                    let why = format!("cannot queue dead letter: {e}");
                    telemetry::kafka_error(&self.metrics, "produce", &why);
                }
            }
        }
        self.send_outputs(&mut shared, now);
        shared.route(&key);
    }

    /// A record of the detection repartition topic: into its partition's stage; the incident
    /// events it completes out.
    fn handle_routed(
        &mut self,
        consumer: &BaseConsumer<WorkerContext>,
        msg: &BorrowedMessage<'_>,
        origin: Origin<'_>,
    ) {
        let mut shared = consumer.context().lock();
        if shared.stage(consumer, origin.partition).is_none() {
            return;
        }
        let Shared { detection, io, .. } = &mut *shared;
        let Some(stage) = detection
            .as_mut()
            .and_then(|d| d.stages.get_mut(&origin.partition))
        else {
            return;
        };
        let payload = msg.payload().unwrap_or_default();
        DetectionSide::on_record(stage, io, origin.offset, payload, &mut self.incidents);
        for event in self.incidents.drain(..) {
            telemetry::incident(&self.metrics, &event);
            if let Err(e) = io.output.send_incident(&event, self.patience) {
                let why = format!("cannot queue incident event: {e}");
                telemetry::kafka_error(&self.metrics, "produce", &why);
            }
        }
    }

    fn tick(&mut self, consumer: &BaseConsumer<WorkerContext>) {
        let mut shared = consumer.context().lock();
        self.create_tasks(consumer, &mut shared);
        let now = now_ms();
        let keys: Vec<PartitionKey> = shared.segments.tasks.keys().cloned().collect();
        for key in keys {
            if let Some(assigned) = shared.segments.tasks.get_mut(&key) {
                if assigned.idle_ok {
                    assigned.task.on_idle(now, &mut self.out);
                } else {
                    assigned.task.hold_idle(now);
                }
                assigned.task.on_tick(now, &mut self.out);
            }
            self.send_outputs(&mut shared, now);
            shared.route(&key);
        }
        telemetry::state_size(&self.metrics, &shared.segments.size());
    }

    /// With detection on, every assigned input partition needs a task, records or not: its
    /// mark is what lets detection judge windows (an empty partition says it is idle).
    fn create_tasks(&mut self, consumer: &BaseConsumer<WorkerContext>, shared: &mut Shared) {
        if shared.detection.is_none() {
            return;
        }
        let Ok(assignment) = consumer.assignment() else {
            return;
        };
        for e in assignment.elements() {
            let key = match shared.input(e.topic()) {
                Some(topic) => (topic, e.partition()),
                None => continue,
            };
            if !shared.segments.has(&key) {
                shared.task(consumer, &key);
            }
        }
    }

    fn send_outputs(&mut self, shared: &mut Shared, now: i64) {
        for event in self.out.drain(..) {
            telemetry::window_emitted(&self.metrics, &event, now);
            if let Err(e) = shared.io.output.send_congestion(&event, self.patience) {
                let why = format!("cannot queue congestion event: {e}");
                telemetry::kafka_error(&self.metrics, "produce", &why);
            }
        }
    }
}
