//! Command-line interface: subcommands and their flags. Parsing only; `main` dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "roadpulse",
    version,
    about = "Live road-traffic stream processor: raw probe, detector and incident events from Kafka in, per-segment congestion events out.",
    after_help = "Try it now:   roadpulse demo\nRun a worker: roadpulse run --config roadpulse.toml   (see `roadpulse check-config` for every key)\nPoll feeds:   roadpulse poll --config poll.toml\nOffline:      roadpulse replay --input raw.jsonl --output congestion.jsonl"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// TOML config file (keys: see the README's config reference).
    #[arg(long, short, env = "ROADPULSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. --set kafka.group_id=roadpulse-eu (repeatable; wins over file and env).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker: consume raw events, publish congestion events, serve /metrics.
    Run {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Poll traffic APIs ([[sources]] in the config) into the raw topic, each reading once.
    Poll {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Serve POST /v1/events: validate raw events sent over HTTP and produce them to Kafka.
    Ingest {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replay a JSONL file of raw events through the same windows, without Kafka.
    Replay(ReplayArgs),
    /// One-command demo: embedded Kafka, simulated traffic, the worker, a live table.
    Demo(DemoArgs),
    /// Print the effective configuration (file < env < flags), validated, secrets redacted.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write a deterministic synthetic workload of raw events as JSONL.
    Generate(GenerateArgs),
    /// Simulate a road network from a scenario file: raw events, ground truth and catalogue.
    Simulate(SimulateArgs),
    /// Judge incident events (and congestion events) against a simulation's ground truth.
    Evaluate(EvaluateArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario file (TOML; see the README's "Incident detection" section).
    #[arg(long)]
    pub scenario: PathBuf,
    /// JSONL raw events ("-" for stdout).
    #[arg(long, required_unless_present = "topic", conflicts_with = "topic")]
    pub output: Option<PathBuf>,
    /// Produce the raw events to this Kafka topic instead (key = segment_id).
    #[arg(long, requires = "bootstrap")]
    pub topic: Option<String>,
    /// Kafka bootstrap servers for --topic.
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// Ground truth (JSONL: incidents and true per-segment speed per window).
    #[arg(long)]
    pub truth: PathBuf,
    /// Segment catalogue (CSV with upstream/downstream) for `congestion.catalog`.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Ground truth written by `roadpulse simulate` (repeat for several runs, each paired
    /// with the --incidents and --congestion at the same position; counts are summed).
    #[arg(long, required = true)]
    pub truth: Vec<PathBuf>,
    /// JSONL incident events (`roadpulse replay --incidents`), one per --truth.
    #[arg(long, required = true)]
    pub incidents: Vec<PathBuf>,
    /// JSONL congestion events, for congestion level accuracy (none, or one per --truth).
    #[arg(long)]
    pub congestion: Vec<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSONL raw events, one per line ("-" for stdin).
    #[arg(long)]
    pub input: PathBuf,
    /// JSONL congestion events ("-" for stdout).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Window size (overrides window.size).
    #[arg(long, value_parser = Duration::parse)]
    pub window: Option<Duration>,
    /// Hop between window starts (overrides window.advance).
    #[arg(long, value_parser = Duration::parse)]
    pub advance: Option<Duration>,
    /// Grace period for out-of-order events (overrides window.grace).
    #[arg(long, value_parser = Duration::parse)]
    pub grace: Option<Duration>,
    /// `final` (one result per window) or `updates` (plus early results).
    #[arg(long, value_parser = ["final", "updates"])]
    pub emit: Option<String>,
    /// Split the input as Kafka would into this many partitions (murmur2 on segment_id).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub partitions: u32,
    /// Exit non-zero when any input line is bad.
    #[arg(long)]
    pub strict: bool,
    /// Read the file as records of this input topic, whose per-topic settings apply
    /// (`probes.topics`); default: the first of kafka.input_topics.
    #[arg(long)]
    pub topic: Option<String>,
    /// Also detect incidents over the final windows and write them here (JSONL).
    #[arg(long)]
    pub incidents: Option<PathBuf>,
    /// Decision rules to run, each with its own incident stream (comma-separated:
    /// combined, probe, california, apid).
    #[arg(long, default_value = "combined", value_delimiter = ',', value_parser = ["combined", "probe", "california", "apid"])]
    pub detect: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to run before stopping by itself.
    #[arg(long, default_value = "30s", value_parser = Duration::parse)]
    pub duration: Duration,
    /// Background traffic (beside the demo scenario's corridor), events per wall-clock second.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u32,
    /// Background road segments (beside the demo scenario's corridor).
    #[arg(long, default_value_t = 120)]
    pub segments: u32,
    /// Address of the demo's /metrics endpoint (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub http: String,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of records.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    #[arg(long, default_value_t = 200)]
    pub segments: u32,
    /// Records per second of event time.
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Share of poison records (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub poison: f64,
    /// Event time of the first record, epoch ms (default 2026-01-01T00:00:00Z).
    #[arg(long)]
    pub start_ms: Option<i64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file ("-" for stdout).
    #[arg(long, default_value = "-")]
    pub output: PathBuf,
    /// Also write a segment catalogue (CSV for `congestion.catalog`) of these segments as one
    /// connected road network: motorways with interchanges and an urban grid.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
}
