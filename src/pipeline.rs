//! Wiring shared by every way of running the domain (Kafka worker, replay, demo): processor
//! settings from the config, the catalogue loaded from disk.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::domain::catalog::Catalog;
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
        sampling: config.probes.rules(),
    }))
}
