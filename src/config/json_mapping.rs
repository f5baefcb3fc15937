//! The generic JSON source's mapping (`[sources.json]`): where in the document the records
//! are, and where in a record each field of the raw-event contract is, as JSON Pointers
//! (RFC 6901, e.g. `/properties/speed`).

use serde::{Deserialize, Serialize};

/// What every record of a generic JSON feed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadingKind {
    Flow,
    Detector,
    Probe,
    Report,
}

/// How a record's timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    /// A number is epoch milliseconds, a string RFC 3339.
    #[default]
    Auto,
    /// Epoch milliseconds.
    Ms,
    /// Epoch seconds (integer or fractional).
    S,
}

/// The unit of speeds in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeedUnit {
    #[default]
    Kph,
    Mph,
    /// Metres per second.
    Mps,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMapping {
    /// Pointer to the array of records; "" when the document itself is the array.
    #[serde(default)]
    pub records: String,
    /// What every record is.
    #[serde(rename = "type")]
    pub kind: ReadingKind,
    /// The record's location id (its identity, and the key looked up in the mapping file).
    pub location: String,
    pub timestamp: String,
    #[serde(default)]
    pub timestamp_unit: TimestampUnit,
    /// Coordinates, for snapping to the catalogue geometry when the mapping has no entry.
    #[serde(default)]
    pub lat: Option<String>,
    #[serde(default)]
    pub lon: Option<String>,
    #[serde(default)]
    pub heading: Option<String>,
    #[serde(default)]
    pub speed: Option<String>,
    #[serde(default)]
    pub speed_unit: SpeedUnit,
    /// flow: free-flow speed (same unit), confidence 0..1, closed (boolean).
    #[serde(default)]
    pub free_flow: Option<String>,
    #[serde(default)]
    pub confidence: Option<String>,
    #[serde(default)]
    pub closed: Option<String>,
    /// detector: vehicles in the interval, occupancy 0..1.
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default)]
    pub occupancy: Option<String>,
    /// detector: the counting interval of every record.
    #[serde(default = "default_interval_s")]
    pub interval_s: u32,
    /// probe: the vehicle.
    #[serde(default)]
    pub vehicle_id: Option<String>,
    /// report: its category (one of the contract's), id and severity.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub report_id: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

fn default_interval_s() -> u32 {
    60
}

impl JsonMapping {
    /// Every pointer with its key name.
    pub fn pointers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let optional = [
            ("lat", &self.lat),
            ("lon", &self.lon),
            ("heading", &self.heading),
            ("speed", &self.speed),
            ("free_flow", &self.free_flow),
            ("confidence", &self.confidence),
            ("closed", &self.closed),
            ("volume", &self.volume),
            ("occupancy", &self.occupancy),
            ("vehicle_id", &self.vehicle_id),
            ("category", &self.category),
            ("report_id", &self.report_id),
            ("severity", &self.severity),
        ];
        [
            ("records", self.records.as_str()),
            ("location", self.location.as_str()),
            ("timestamp", self.timestamp.as_str()),
        ]
        .into_iter()
        .chain(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.as_deref().map(|v| (k, v))),
        )
    }

    /// `Err((key, message))` for the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some((k, p)) = self
            .pointers()
            .find(|(_, p)| !p.is_empty() && !p.starts_with('/'))
        {
            return Err((
                k.into(),
                format!("{p:?} is not a JSON Pointer (\"\" or \"/a/b\")"),
            ));
        }
        let need = |key: &str, v: &Option<String>| match v {
            Some(_) => Ok(()),
            None => Err((key.to_string(), "is required for this type".to_string())),
        };
        match self.kind {
            ReadingKind::Flow if self.closed.is_none() => need("speed", &self.speed),
            ReadingKind::Probe => need("speed", &self.speed),
            ReadingKind::Detector => need("volume", &self.volume),
            _ => Ok(()),
        }?;
        if self.lat.is_some() != self.lon.is_some() {
            return Err(("lat".into(), "lat and lon go together".into()));
        }
        if !(1..=3600).contains(&self.interval_s) {
            return Err(("interval_s".into(), "must be 1..=3600".into()));
        }
        Ok(())
    }
}
