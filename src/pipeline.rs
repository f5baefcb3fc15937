//! Wiring shared by every way of running the domain (Kafka worker, replay, demo): processor
//! settings from the config, the catalogue loaded from disk.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::domain::catalog::Catalog;
use crate::domain::incident::network::Network;
use crate::domain::incident::probe::ProbeSettings;
use crate::domain::incident::route::Routing;
use crate::domain::incident::{Algorithm, DetectSettings};
use crate::domain::processor::ProcessorSettings;

/// Reads the segment catalogue named in the config, if any.
pub fn load_catalog(config: &Config) -> Result<Catalog, ConfigError> {
    let Some(path) = &config.congestion.catalog else {
        return Ok(Catalog::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::invalid(
            "congestion.catalog",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    Catalog::parse_csv(&text)
        .map_err(|e| ConfigError::invalid("congestion.catalog", format!("{}: {e}", path.display())))
}

/// Processor settings for the Kafka path (idle timeout as configured).
pub fn processor_settings(config: &Config) -> Result<Arc<ProcessorSettings>, ConfigError> {
    Ok(Arc::new(ProcessorSettings {
        window: config.window.spec(),
        emit: config.window.emit_mode(),
        idle_timeout_ms: config.window.idle_timeout_ms(),
        hysteresis: config.congestion.hysteresis(),
        default_free_flow_kph: config.congestion.default_free_flow_kph,
        catalog: Arc::new(load_catalog(config)?),
        future: config.window.future_bound(),
        sampling: config.probes.rules(),
        detection: config.incidents.enabled.then(ProbeSettings::default),
        limits: crate::config::memory_limits(&config.limits, &config.state),
    }))
}

/// Incident detection's routing (the catalogue's network, `incidents.neighbourhood_hops`, over
/// `partitions` detection partitions) and settings for the decision rules `algorithms`.
pub fn detection(
    config: &Config,
    catalog: &Catalog,
    partitions: u32,
    algorithms: Vec<Algorithm>,
) -> (Arc<Routing>, Arc<DetectSettings>) {
    let net = Arc::new(Network::from_catalog(catalog));
    let routing = Routing::new(net, config.incidents.neighbourhood_hops, partitions);
    let (keys, waiting) = crate::config::detection_limits(&config.limits);
    let settings = DetectSettings {
        algorithms,
        blockage: config.incidents.blockage,
        keys,
        waiting,
        ..DetectSettings::default()
    };
    (Arc::new(routing), Arc::new(settings))
}
