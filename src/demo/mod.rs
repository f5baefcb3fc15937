//! `roadpulse demo`: everything in one process, nothing installed. librdkafka's in-process mock
//! cluster stands in for Kafka; the scenario simulator plays a commuter freeway with a crash in
//! compressed time and the workload generator adds background traffic, both to `traffic.raw`
//! ([`traffic`]); the real worker consumes it; a viewer reads `traffic.congestion` and
//! `traffic.incidents` back from the broker and prints the most congested segments and every
//! incident event ([`view`]). Stops by itself after `--duration`.

use std::sync::Arc;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::app::AppError;
use crate::cli::DemoArgs;
use crate::config::{Config, Duration as ConfigDuration};
use crate::domain::processor::ProcessorSettings;
use crate::kafka::{Health, Shutdown};
use crate::sim::generator;
use crate::sim::scenario::Scenario;
use crate::telemetry::{self, Metrics};

mod traffic;
mod view;

use traffic::SPEEDUP;

const PARTITIONS: i32 = 6;

fn demo_config(bootstrap: &str, args: &DemoArgs) -> Config {
    let mut c = Config::default();
    c.kafka.bootstrap_servers = bootstrap.to_string();
    c.kafka.group_id = "roadpulse-demo".into();
    c.kafka.create_topics = false;
    c.kafka.commit_interval = ConfigDuration::from_millis(500);
    c.kafka.shutdown_timeout = ConfigDuration::from_millis(10_000);
    // The shipped 60 s windows and 30 s grace, in simulated time (about 1 s and 0.5 s of wall
    // time at SPEEDUP); a quiet partition's windows close after 5 s of wall time.
    c.window.idle_timeout = ConfigDuration::from_millis(5_000);
    c.http.listen = args.http.clone();
    c
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> AppError {
    AppError::Runtime(format!("demo: {what}: {e}"))
}

/// Every topic the worker reads and writes, created in the embedded broker.
fn create_topics(
    cluster: &MockCluster<'_, DefaultProducerContext>,
    config: &Config,
) -> Result<(), AppError> {
    let kafka = &config.kafka;
    let changelogs = kafka
        .input_topics
        .iter()
        .map(|t| crate::kafka::admin::changelog_topic(kafka, t))
        .chain([
            crate::kafka::admin::repartition_topic(kafka),
            crate::kafka::admin::detection_changelog_topic(kafka),
        ]);
    for topic in crate::kafka::admin::all_topics(kafka)
        .into_iter()
        .chain(changelogs)
    {
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .map_err(|e| fail("cannot create topic", &e))?;
    }
    Ok(())
}

/// The shipped processor settings over the scenario's and the background's segments.
fn settings(
    config: &Config,
    scenario: &Scenario,
    segments: u32,
) -> Result<Arc<ProcessorSettings>, AppError> {
    let mut settings: ProcessorSettings = (*crate::pipeline::processor_settings(config)?).clone();
    let catalog = traffic::merged_catalog(scenario, generator::catalog(segments))
        .map_err(|e| fail("the demo scenario's catalogue", &e))?;
    settings.catalog = Arc::new(catalog);
    Ok(Arc::new(settings))
}

/// Serves /metrics until the returned sender fires; says where (or why not).
async fn serve_metrics(
    listen: &str,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let served =
        match crate::http::serve(listen, Arc::clone(metrics), Arc::clone(health), stop).await {
            Ok((addr, _)) => format!("http://{addr}/metrics"),
            Err(e) => format!("(metrics endpoint off: cannot listen on {listen}: {e})"),
        };
    (served, stop_tx)
}

/// What the demo runs, before it starts.
fn banner(bootstrap: &str, served: &str, scenario: &Scenario, args: &DemoArgs) {
    println!("roadpulse demo: embedded Kafka at {bootstrap}; metrics at {served}");
    println!("  {}: {}", scenario.name, describe(scenario));
    println!("  plus {} background segments at {} events/s; simulated time runs {SPEEDUP}x (a simulated minute a second), 60 s windows", args.segments, args.rate);
}

pub async fn run(args: &DemoArgs) -> Result<(), AppError> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    telemetry::init_tracing(telemetry::LogFormat::Plain);
    let cluster = MockCluster::new(1).map_err(|e| fail("cannot start the embedded broker", &e))?;
    let bootstrap = cluster.bootstrap_servers();
    let config = demo_config(&bootstrap, args);
    create_topics(&cluster, &config)?;
    let scenario = traffic::scenario().map_err(|e| fail("the demo scenario", &e))?;
    let settings = settings(&config, &scenario, args.segments)?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let shutdown = Shutdown::default();
    let (served, stop_http) = serve_metrics(&args.http, &metrics, &health).await;
    banner(&bootstrap, &served, &scenario, args);

    let layout = crate::kafka::admin::Layout {
        inputs: vec![PARTITIONS as u32; config.kafka.input_topics.len()],
        detection: PARTITIONS as u32,
    };
    let worker = crate::app::spawn_worker(&config, settings, layout, &metrics, &health, &shutdown);
    let producer = {
        let (bootstrap, shutdown) = (bootstrap.clone(), shutdown.clone());
        let (rate, segments) = (args.rate, args.segments);
        std::thread::spawn(move || {
            traffic::produce(&bootstrap, &shutdown, rate, segments, &scenario)
        })
    };
    // The viewer stops only after the worker's last commit, once it has read what was published.
    let (tell_viewer, published) = std::sync::mpsc::channel();
    let viewer = {
        let bootstrap = bootstrap.clone();
        let kafka = config.kafka.clone();
        std::thread::spawn(move || {
            view::view(
                &bootstrap,
                &kafka.congestion_topic,
                &kafka.incidents_topic,
                &published,
            )
        })
    };

    tokio::select! {
        _ = tokio::time::sleep(args.duration.std()) => {}
        _ = crate::app::wait_for_signal() => {}
    }
    shutdown.trigger();
    let produced = producer.join().unwrap_or_default();
    let worker_result = worker.await;
    let count = |topic: &str| metrics.events_produced.with_label_values(&[topic]).get();
    let published = view::Read {
        congestion: count(&config.kafka.congestion_topic),
        incidents: count(&config.kafka.incidents_topic),
    };
    let _ = tell_viewer.send(published);
    let read = viewer.join().unwrap_or_default();
    let _ = stop_http.send(());
    worker_result.map_err(|e| fail("worker thread", &e))??;
    println!(
        "demo finished: {} raw events produced ({} by the scenario, {} background), {} windows closed; published {} congestion and {} incident events ({} transactions aborted); read back from Kafka: {} congestion events, {} incident events",
        produced.scenario + produced.background,
        produced.scenario,
        produced.background,
        metrics.windows_closed.get(),
        published.congestion,
        published.incidents,
        metrics.commits.with_label_values(&["aborted"]).get(),
        read.congestion,
        read.incidents
    );
    Ok(())
}

/// The scenario's corridors and incidents in one line.
fn describe(s: &Scenario) -> String {
    let corridors = s
        .corridors
        .iter()
        .map(|c| format!("{} ({} segments, {} lanes)", c.id, c.segments, c.lanes))
        .collect::<Vec<_>>()
        .join(", ");
    let incidents = s
        .incidents
        .iter()
        .map(|i| {
            let c = s.corridors.iter().find(|c| c.id == i.corridor);
            let seg = c.map_or(String::new(), |c| c.segment_id(i.segment));
            format!(
                "{}% of {seg}'s capacity lost at {} for {} min",
                (i.capacity_drop * 100.0).round(),
                i.at,
                i.duration_min
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "{corridors}, {} to {} simulated; incident: {incidents}",
        s.from, s.to
    )
}
