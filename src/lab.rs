//! The offline lab behind `roadpulse simulate` and `roadpulse evaluate`: files (or a Kafka
//! topic) around the pure simulator and evaluator in [`crate::sim`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::app::AppError;
use crate::cli::{EvaluateArgs, SimulateArgs};
use crate::domain::incident::IncidentEvent;
use crate::domain::output::CongestionEvent;
use crate::sim::evaluate::{Evaluation, Report, LEVEL_MIN_SAMPLES};
use crate::sim::scenario::Scenario;
use crate::sim::simulate::{self, SimSummary};
use crate::sim::truth::TruthRecord;

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Runtime(format!("cannot {what} {}: {e}", path.display()))
}

fn create(path: &Path) -> Result<Box<dyn Write>, AppError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let f = File::create(path).map_err(|e| io_err("create", path, e))?;
    Ok(Box::new(f))
}

/// `roadpulse simulate`.
pub fn simulate(args: &SimulateArgs) -> Result<(), AppError> {
    let text =
        std::fs::read_to_string(&args.scenario).map_err(|e| io_err("read", &args.scenario, e))?;
    let scenario = Scenario::parse(&text)
        .map_err(|e| AppError::Runtime(format!("{}: {e}", args.scenario.display())))?;
    if let Some(path) = &args.catalog {
        std::fs::write(path, simulate::catalog_csv(&scenario))
            .map_err(|e| io_err("write", path, e))?;
    }
    let mut truth = BufWriter::new(create(&args.truth)?);
    let summary = match (&args.output, &args.topic, &args.bootstrap) {
        (Some(path), _, _) => {
            let mut out = BufWriter::new(create(path)?);
            let mut sink = |_: &str, value: &[u8]| {
                out.write_all(value)?;
                out.write_all(b"\n")
            };
            let s = simulate::simulate(&scenario, &mut sink, &mut truth);
            out.flush().map_err(|e| io_err("write", path, e))?;
            s
        }
        (None, Some(topic), Some(bootstrap)) => to_kafka(&scenario, topic, bootstrap, &mut truth)?,
        _ => {
            return Err(AppError::Runtime(
                "give --output, or --topic with --bootstrap".into(),
            ))
        }
    }
    .map_err(|e| AppError::Runtime(e.to_string()))?;
    truth.flush().map_err(|e| io_err("write", &args.truth, e))?;
    eprintln!(
        "simulated {} raw events, {} incidents, {} truth windows",
        summary.events, summary.incidents, summary.truth_windows
    );
    Ok(())
}

fn to_kafka(
    scenario: &Scenario,
    topic: &str,
    bootstrap: &str,
    truth: &mut dyn Write,
) -> Result<Result<SimSummary, simulate::SimError>, AppError> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .create()
        .map_err(|e| AppError::Runtime(format!("cannot create a producer for {bootstrap}: {e}")))?;
    let mut sink = |key: &str, value: &[u8]| {
        let mut record = BaseRecord::to(topic).key(key).payload(value);
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(std::io::Error::other(e)),
            }
        }
    };
    let result = simulate::simulate(scenario, &mut sink, truth);
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| AppError::Runtime(format!("producing to {topic} failed: {e}")))?;
    Ok(result)
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, AppError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err("read", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| AppError::Runtime(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// `roadpulse evaluate`.
pub fn evaluate(args: &EvaluateArgs) -> Result<(), AppError> {
    let runs = args.truth.len();
    if args.incidents.len() != runs
        || !(args.congestion.is_empty() || args.congestion.len() == runs)
    {
        return Err(AppError::Runtime(
            "give one --incidents (and none or one --congestion) per --truth".into(),
        ));
    }
    let mut evaluation = Evaluation::default();
    for i in 0..runs {
        let truth: Vec<TruthRecord> = read_jsonl(&args.truth[i])?;
        let incidents: Vec<IncidentEvent> = read_jsonl(&args.incidents[i])?;
        let congestion: Option<Vec<CongestionEvent>> =
            args.congestion.get(i).map(|p| read_jsonl(p)).transpose()?;
        evaluation.add_run(&truth, &incidents, congestion.as_deref());
    }
    let report = evaluation.report();
    if args.json {
        let text = serde_json::to_string(&report).map_err(|e| AppError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn table(r: &Report) -> String {
    let mut s = format!(
        "{} real incidents; {} decisions (segment × window) under no-incident conditions\n\
         {:<11} {:>7} {:>9} {:>8} {:>6}\n",
        r.incidents, r.decisions, "algorithm", "DR", "FAR", "MTTD s", "twice"
    );
    for (name, a) in &r.algorithms {
        s.push_str(&format!(
            "{name:<11} {:>6.1}% {:>8.4}% {:>8} {:>6}\n",
            a.detection_rate * 100.0,
            a.false_alarm_rate * 100.0,
            a.mttd_s.map_or("-".into(), |m| format!("{m:.0}")),
            a.reported_twice
        ));
    }
    match r.level_accuracy {
        Some(acc) => s.push_str(&format!(
            "level accuracy {:.2}% on {} windows with >= {LEVEL_MIN_SAMPLES} probe samples\n",
            acc * 100.0,
            r.level_windows
        )),
        None => s.push_str("level accuracy: no congestion events given\n"),
    }
    for (kind, e) in &r.speed_error {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
        s.push_str(&format!(
            "speed error ({kind}): median {}, mean {} on {} windows; {} read 0 km/h\n",
            pct(e.median),
            pct(e.mean),
            e.windows,
            e.zero_windows
        ));
    }
    s
}
