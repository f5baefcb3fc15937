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
use crate::cli::SimulateArgs;
use crate::sim::scenario::Scenario;
use crate::sim::simulate::{self, SimSummary};

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

/// `roadpulse evaluate`.
pub fn evaluate(_args: &crate::cli::EvaluateArgs) -> Result<(), AppError> {
    Err(AppError::Runtime("evaluate: not built yet".into()))
}
