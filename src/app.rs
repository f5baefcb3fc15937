//! The subcommands behind the CLI, each returning a typed error that `main` turns into one
//! sentence and an exit code (78 bad configuration, 1 runtime failure).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{ConfigArgs, GenerateArgs, ReplayArgs};
use crate::config::{Config, ConfigError};
use crate::domain::future::Reference;
use crate::domain::incident::local::LocalDetection;
use crate::domain::incident::Algorithm;
use crate::domain::processor::ProcessorSettings;
use crate::kafka::{admin, worker, Health, KafkaFailure, Shutdown};
use crate::replay::Detection;
use crate::sim::generator::{Workload, WorkloadConfig};
use crate::sim::road_network;
use crate::telemetry::{self, Metrics};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Kafka(#[from] KafkaFailure),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("{0}")]
    Runtime(String),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) => 78,
            AppError::Ingest(e) => e.exit_code(),
            _ => 1,
        }
    }
}

fn io_err<'a>(what: &str, path: &'a Path) -> impl Fn(std::io::Error) -> AppError + 'a {
    let what = what.to_string();
    move |e| AppError::Runtime(format!("cannot {what} {}: {e}", path.display()))
}

pub fn load_config(args: &ConfigArgs) -> Result<Config, ConfigError> {
    Config::load(args.config.as_deref(), std::env::vars(), &args.sets)
}

pub fn check_config(args: &ConfigArgs) -> Result<(), AppError> {
    let config = load_config(args)?;
    crate::pipeline::load_catalog(&config)?;
    if !config.sources.is_empty() {
        crate::sources::poller::check(&config)?;
    }
    print!("{}", config.redacted_toml());
    Ok(())
}

/// `roadpulse run`: the HTTP listener (bound first: a bad `http.listen` must stop the worker
/// before it creates a topic), topics, the worker thread, and signals.
pub async fn run(args: &ConfigArgs) -> Result<(), AppError> {
    let config = load_config(args)?;
    telemetry::init_tracing(config.log.format);
    if config.incidents.lateness.is_some() {
        tracing::warn!("incidents.lateness is no longer used and is ignored: detection waits for every input partition's watermark");
    }
    let settings = crate::pipeline::processor_settings(&config)?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let shutdown = Shutdown::default();
    let status = crate::http::health_status(
        Arc::clone(&metrics),
        Arc::clone(&health),
        crate::http::NOT_ASSIGNED,
    );
    let stop_tx = serve_http(&config, status).await?;
    preflight(&config).await?;
    // Only now that everything the config names is known to work, act on the cluster.
    if config.kafka.create_topics {
        admin::ensure_topics(&config.kafka, Duration::from_secs(30)).await?;
    }
    let layout = admin::ensure_internal_topics(
        &config.kafka,
        config.incidents.enabled,
        Duration::from_secs(30),
    )
    .await?;
    let worker = spawn_worker(&config, settings, layout, &metrics, &health, &shutdown);
    tokio::pin!(worker);
    let result = tokio::select! {
        r = &mut worker => r,
        signal = wait_for_signal() => {
            tracing::info!("{signal} received: draining");
            shutdown.trigger();
            match tokio::time::timeout(config.kafka.shutdown_timeout.std() + Duration::from_secs(3), &mut worker).await {
                Ok(r) => r,
                Err(_) => return Err(AppError::Runtime("shutdown did not finish within kafka.shutdown_timeout".into())),
            }
        }
    };
    let _ = stop_tx.send(());
    result.map_err(|e| AppError::Runtime(format!("worker thread failed: {e}")))??;
    Ok(())
}

/// `roadpulse poll`: HTTP, the sources' threads, and signals (SIGTERM commits what is open).
pub async fn poll(args: &ConfigArgs) -> Result<(), AppError> {
    use crate::sources::{poller, Health, Shared, Stop};
    let config = load_config(args)?;
    telemetry::init_tracing(config.log.format);
    poller::check(&config)?;
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    let shared = Shared {
        metrics: Arc::new(crate::telemetry::poll::PollMetrics::new(&names)),
        stop: Stop::default(),
        health: Arc::new(Health::new(config.poll.missed_polls)),
    };
    let status = Arc::new(poller::PollStatus {
        metrics: Arc::clone(&shared.metrics),
        health: Arc::clone(&shared.health),
    });
    let stop_tx = serve_http(&config, status).await?;
    preflight(&config).await?;
    let stop = shared.stop.clone();
    let grace = config.kafka.shutdown_timeout.std() + Duration::from_secs(3);
    let run = tokio::task::spawn_blocking(move || poller::run(&config, shared));
    tokio::pin!(run);
    let result = tokio::select! {
        r = &mut run => r,
        signal = wait_for_signal() => {
            tracing::info!("{signal} received: committing and stopping");
            stop.trigger();
            match tokio::time::timeout(grace, &mut run).await {
                Ok(r) => r,
                Err(_) => return Err(AppError::Runtime("shutdown did not finish within kafka.shutdown_timeout".into())),
            }
        }
    };
    let _ = stop_tx.send(());
    match result.map_err(|e| AppError::Runtime(format!("poller thread failed: {e}")))? {
        Ok(()) => Ok(()),
        Err(poller::PollFailure::Config(e)) => Err(AppError::Config(e)),
        Err(poller::PollFailure::Runtime(e)) => Err(AppError::Runtime(e)),
    }
}

/// The brokers with the configured security settings, and the registry with its TLS settings
/// and credentials, tried before anything acts: what they refuse is bad configuration (exit 78,
/// one sentence naming the key), not a reason to retry for ever.
async fn preflight(config: &Config) -> Result<(), AppError> {
    let k = config.kafka.clone();
    let sr = config.schema_registry.clone();
    let registry = sr.has_registry() && !config.formats.avro_topics(&config.kafka).is_empty();
    tokio::task::spawn_blocking(move || {
        crate::kafka::preflight::check_security(&k)?;
        if registry {
            crate::codec::registry::preflight(&sr)?;
        }
        Ok::<_, ConfigError>(())
    })
    .await
    .map_err(|e| AppError::Runtime(format!("start-up check failed: {e}")))??;
    Ok(())
}

/// Serves /metrics, /healthz and /readyz on `http.listen` (unless it is "") until the
/// returned sender is used or dropped.
async fn serve_http(
    config: &Config,
    status: Arc<dyn crate::http::Status>,
) -> Result<tokio::sync::oneshot::Sender<()>, AppError> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    if config.http.listen.is_empty() {
        return Ok(stop_tx);
    }
    let stop = async move {
        let _ = stop_rx.await;
    };
    let listen = &config.http.listen;
    let (addr, _) = crate::http::serve_status(listen, status, stop)
        .await
        .map_err(|e| {
            ConfigError::invalid("http.listen", format!("cannot listen on {listen}: {e}"))
        })?;
    tracing::info!(%addr, "serving /metrics /healthz /readyz");
    Ok(stop_tx)
}

/// `roadpulse ingest`: HTTP in, the raw topic out, until SIGTERM or Ctrl-C.
pub async fn ingest(args: &ConfigArgs) -> Result<(), AppError> {
    let config = load_config(args)?;
    telemetry::init_tracing(config.log.format);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let not_ready = "Kafka is not reachable, or the endpoint is stopping";
    let status = crate::http::health_status(Arc::clone(&metrics), Arc::clone(&health), not_ready);
    let _stop_http = serve_http(&config, status).await?;
    let stop = async {
        let signal = wait_for_signal().await;
        tracing::info!("{signal} received");
    };
    crate::ingest::run(&config, metrics, health, stop).await?;
    Ok(())
}

/// The blocking worker loop on a thread of its own (never on the runtime's workers).
pub fn spawn_worker(
    config: &Config,
    settings: Arc<ProcessorSettings>,
    layout: admin::Layout,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
    shutdown: &Shutdown,
) -> tokio::task::JoinHandle<Result<(), KafkaFailure>> {
    let (config, metrics, health, shutdown) = (
        config.clone(),
        Arc::clone(metrics),
        Arc::clone(health),
        shutdown.clone(),
    );
    tokio::task::spawn_blocking(move || {
        worker::run(&config, settings, layout, metrics, health, shutdown)
    })
}

/// Resolves on SIGTERM or Ctrl-C, naming which.
pub async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// `roadpulse replay`.
pub fn replay(args: &ReplayArgs) -> Result<(), AppError> {
    let mut sets = args.config.sets.clone();
    let flag = |key: &str, v: Option<String>| v.map(|v| format!("window.{key}={v}"));
    sets.extend(flag("size", args.window.map(|d| format!("\"{d}\""))));
    sets.extend(flag("advance", args.advance.map(|d| format!("\"{d}\""))));
    sets.extend(flag("grace", args.grace.map(|d| format!("\"{d}\""))));
    sets.extend(flag("emit", args.emit.clone()));
    // Detection runs when asked for (--incidents), whatever the configuration file says.
    sets.push(format!("incidents.enabled={}", args.incidents.is_some()));
    let config = Config::load(args.config.config.as_deref(), std::env::vars(), &sets)?;
    let mut settings = (*crate::pipeline::processor_settings(&config)?).clone();
    // Replay has event time only: no idle clock, and "ahead" means ahead of stream time.
    settings.idle_timeout_ms = None;
    settings.future.reference = Reference::StreamTime;
    let topic = args
        .topic
        .as_deref()
        .or(config.kafka.input_topics.first().map(String::as_str));
    // Every task of the replay reads "the topic": its sampling becomes the default.
    settings.sampling.default = settings.sampling.for_topic(topic);
    let input: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(&args.input).map_err(io_err("open", &args.input))?)
    };
    let output: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(File::create(&args.output).map_err(io_err("create", &args.output))?)
    };
    let detection = match &args.incidents {
        Some(path) => {
            let algorithms = args
                .detect
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect();
            let (routing, detect) =
                crate::pipeline::detection(&config, &settings.catalog, args.partitions, algorithms);
            let out = File::create(path).map_err(io_err("create", path))?;
            Some(Detection::new(
                LocalDetection::new(routing, detect, args.partitions),
                Box::new(BufWriter::new(out)),
            ))
        }
        None => None,
    };
    let summary = crate::replay::replay_detecting(
        Arc::new(settings),
        args.partitions,
        BufReader::new(input),
        BufWriter::new(output),
        detection,
    )
    .map_err(|e| AppError::Runtime(format!("replay failed: {e}")))?;
    eprintln!(
        "replayed {} events into {} final windows ({} late); {} incident events; {} bad lines ({} over_capacity: over limits.max_segments or limits.max_open_windows)",
        summary.events,
        summary.windows,
        summary.late,
        summary.incidents,
        summary.bad_count,
        summary.over_capacity
    );
    for bad in &summary.bad {
        eprintln!("  line {}: {}", bad.line, bad.error);
    }
    if summary.bad_count as usize > summary.bad.len() {
        eprintln!(
            "  … and {} more",
            summary.bad_count as usize - summary.bad.len()
        );
    }
    if args.strict && summary.bad_count > 0 {
        return Err(AppError::Runtime(format!(
            "--strict: {} bad input lines",
            summary.bad_count
        )));
    }
    Ok(())
}

/// `roadpulse generate`.
pub fn generate(args: &GenerateArgs) -> Result<(), AppError> {
    let mut cfg = WorkloadConfig {
        segments: args.segments,
        events_per_sec: args.rate,
        poison_ratio: args.poison,
        seed: args.seed,
        ..WorkloadConfig::default()
    };
    if let Some(start) = args.start_ms {
        cfg.start_ms = start;
    }
    if let Some(path) = &args.catalog {
        let catalog = road_network::connected_catalog(args.segments)
            .map_err(|e| AppError::Runtime(format!("--catalog: {e}")))?;
        std::fs::write(path, road_network::catalog_csv(&catalog, args.segments))
            .map_err(io_err("write", path))?;
    }
    let out: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(File::create(&args.output).map_err(io_err("create", &args.output))?)
    };
    let mut out = BufWriter::new(out);
    let step = 1_000.0 / cfg.events_per_sec.max(0.001);
    let start = cfg.start_ms;
    let mut workload = Workload::new(cfg);
    for k in 0..args.events {
        let record = workload.record_at(start + (k as f64 * step) as i64);
        out.write_all(&record.value)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(io_err("write", &args.output))?;
    }
    out.flush().map_err(io_err("write", &args.output))
}
