//! `roadpulse demo`: everything in one process, nothing installed. librdkafka's in-process mock
//! cluster stands in for Kafka; the simulator produces live traffic to `traffic.raw`; the real
//! worker consumes it; a viewer reads `traffic.congestion` back from the broker and prints the
//! most congested segments. Stops by itself after `--duration`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

use crate::app::AppError;
use crate::cli::DemoArgs;
use crate::config::{Config, Duration as ConfigDuration};
use crate::domain::output::CongestionEvent;
use crate::domain::processor::ProcessorSettings;
use crate::kafka::{Health, Shutdown};
use crate::sim::generator::{self, Workload, WorkloadConfig};
use crate::telemetry::{self, Metrics};

const PARTITIONS: i32 = 6;

fn demo_config(bootstrap: &str, args: &DemoArgs) -> Config {
    let mut c = Config::default();
    c.kafka.bootstrap_servers = bootstrap.to_string();
    c.kafka.group_id = "roadpulse-demo".into();
    c.kafka.create_topics = false;
    c.kafka.commit_interval = ConfigDuration::from_millis(500);
    c.kafka.shutdown_timeout = ConfigDuration::from_millis(10_000);
    c.window.size = ConfigDuration::from_millis(10_000);
    c.window.grace = ConfigDuration::from_millis(2_000);
    c.window.idle_timeout = ConfigDuration::from_millis(3_000);
    c.http.listen = args.http.clone();
    c
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub async fn run(args: &DemoArgs) -> Result<(), AppError> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    telemetry::init_tracing(telemetry::LogFormat::Plain);
    let fail =
        |what: &str, e: &dyn std::fmt::Display| AppError::Runtime(format!("demo: {what}: {e}"));
    let cluster = MockCluster::new(1).map_err(|e| fail("cannot start the embedded broker", &e))?;
    let bootstrap = cluster.bootstrap_servers();
    let config = demo_config(&bootstrap, args);
    let changelogs = config
        .kafka
        .input_topics
        .iter()
        .map(|t| crate::kafka::admin::changelog_topic(&config.kafka, t))
        .chain([
            crate::kafka::admin::repartition_topic(&config.kafka),
            crate::kafka::admin::detection_changelog_topic(&config.kafka),
        ]);
    for topic in crate::kafka::admin::all_topics(&config.kafka)
        .into_iter()
        .chain(changelogs)
    {
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .map_err(|e| fail("cannot create topic", &e))?;
    }
    let mut settings: ProcessorSettings = (*crate::pipeline::processor_settings(&config)?).clone();
    settings.catalog = Arc::new(generator::catalog(args.segments));

    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let shutdown = Shutdown::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let served =
        match crate::http::serve(&args.http, Arc::clone(&metrics), Arc::clone(&health), stop).await
        {
            Ok((addr, _)) => format!("http://{addr}/metrics"),
            Err(e) => format!(
                "(metrics endpoint off: cannot listen on {}: {e})",
                args.http
            ),
        };
    println!("roadpulse demo: embedded Kafka at {bootstrap}, {} segments, {} events/s, 10 s windows; metrics at {served}", args.segments, args.rate);

    let layout = crate::kafka::admin::Layout {
        inputs: vec![PARTITIONS as u32; config.kafka.input_topics.len()],
        detection: PARTITIONS as u32,
    };
    let worker = crate::app::spawn_worker(
        &config,
        Arc::new(settings),
        layout,
        &metrics,
        &health,
        &shutdown,
    );
    let producer = {
        let (bootstrap, shutdown, rate, segments) = (
            bootstrap.clone(),
            shutdown.clone(),
            args.rate,
            args.segments,
        );
        std::thread::spawn(move || simulate(&bootstrap, &shutdown, rate, segments))
    };
    let viewer = {
        let (bootstrap, shutdown, topic) = (
            bootstrap.clone(),
            shutdown.clone(),
            config.kafka.congestion_topic.clone(),
        );
        std::thread::spawn(move || view(&bootstrap, &topic, &shutdown))
    };

    tokio::select! {
        _ = tokio::time::sleep(args.duration.std()) => {}
        _ = crate::app::wait_for_signal() => {}
    }
    shutdown.trigger();
    let produced = producer.join().unwrap_or(0);
    let worker_result = worker.await.map_err(|e| fail("worker thread", &e))?;
    let shown = viewer.join().unwrap_or(0);
    let _ = stop_tx.send(());
    worker_result?;
    println!("demo finished: {produced} raw events produced, {} windows closed, {shown} congestion events read back from Kafka", metrics.windows_closed.get());
    Ok(())
}

/// Produces live simulated traffic until shutdown; returns how many records it produced.
fn simulate(bootstrap: &str, shutdown: &Shutdown, rate: u32, segments: u32) -> u64 {
    let producer: ThreadedProducer<DefaultProducerContext> = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .create()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("demo: cannot create the simulator's producer: {e}");
            return 0;
        }
    };
    let cfg = WorkloadConfig {
        segments,
        disorder_ms: 1_000,
        congestion_period_ms: 90_000,
        seed: now_ms() as u64,
        ..WorkloadConfig::default()
    };
    let mut workload = Workload::new(cfg);
    let started = Instant::now();
    let mut sent: u64 = 0;
    while !shutdown.is_triggered() {
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        while sent < due {
            let r = workload.record_at(now_ms());
            if producer
                .send(
                    BaseRecord::<String, Vec<u8>>::to("traffic.raw")
                        .key(&r.key)
                        .payload(&r.value),
                )
                .is_err()
            {
                break; // local queue full: the embedded broker sets the pace
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = producer.flush(Duration::from_secs(2));
    sent
}

/// Reads congestion events back from the broker and prints the most congested segments.
fn view(bootstrap: &str, topic: &str, shutdown: &Shutdown) -> u64 {
    let consumer: BaseConsumer = match ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "roadpulse-demo-viewer")
        .set("auto.offset.reset", "earliest")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo: cannot create the viewer: {e}");
            return 0;
        }
    };
    if consumer.subscribe(&[topic]).is_err() {
        return 0;
    }
    let mut latest: HashMap<String, CongestionEvent> = HashMap::new();
    let mut read = 0;
    let mut last_print = Instant::now();
    while !shutdown.is_triggered() {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            if let Some(e) = m
                .payload()
                .and_then(|p| serde_json::from_slice::<CongestionEvent>(p).ok())
            {
                read += 1;
                latest.insert(e.segment_id.clone(), e);
            }
        }
        if last_print.elapsed() >= Duration::from_secs(3) {
            last_print = Instant::now();
            print_table(&latest, read);
        }
    }
    read
}

fn print_table(latest: &HashMap<String, CongestionEvent>, read: u64) {
    let mut out = std::io::stdout().lock();
    if std::io::stdout().is_terminal() {
        let _ = write!(out, "\x1b[2J\x1b[H");
    }
    if latest.is_empty() {
        let _ = writeln!(
            out,
            "waiting for the first windows to close (10 s windows + 2 s grace)…"
        );
        return;
    }
    let mut rows: Vec<&CongestionEvent> = latest.values().collect();
    rows.sort_by(|a, b| {
        a.speed_ratio
            .unwrap_or(1.0)
            .total_cmp(&b.speed_ratio.unwrap_or(1.0))
            .then(a.segment_id.cmp(&b.segment_id))
    });
    let mut by_level: HashMap<&str, usize> = HashMap::new();
    for e in latest.values() {
        *by_level.entry(e.level.as_str()).or_default() += 1;
    }
    let levels = ["free", "light", "moderate", "heavy", "severe"]
        .map(|l| format!("{l} {}", by_level.get(l).unwrap_or(&0)))
        .join(" · ");
    let _ = writeln!(
        out,
        "\n{} segments reporting ({levels}); {read} congestion events read from Kafka",
        latest.len()
    );
    let _ = writeln!(
        out,
        "{:<12} {:>9} {:>8} {:>7} {:>6} {:>5} {:<9} {:>3} {:>5}",
        "segment", "window", "speed", "free", "ratio", "TTI", "level", "LOS", "conf"
    );
    for e in rows.iter().take(10) {
        let window = time::OffsetDateTime::from_unix_timestamp(e.window_start / 1000)
            .map(|t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()))
            .unwrap_or_default();
        let num = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>8} {:>7.0} {:>6} {:>5} {:<9} {:>3} {:>5.2}",
            e.segment_id,
            window,
            num(e.speed_kph, 1),
            e.free_flow_kph,
            num(e.speed_ratio, 2),
            num(e.travel_time_index, 2),
            e.level.as_str(),
            e.los,
            e.confidence
        );
    }
    let _ = out.flush();
}
