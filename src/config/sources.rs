//! `roadpulse poll`: the poller's own section (`[poll]`) and one `[[sources]]` entry per feed.
//! Every key with its default and its check lives here; the presets' vendor URLs too.
//!
//! API keys never sit in the file: a source names the environment variable (`api_key_env`) or
//! the file (`api_key_file`) that holds its key, so `check-config` has nothing to hide there.
//! Header values whose names look secret are shown as `***`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Duration, KafkaConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// The poller's stable identity: each source's transactional id is `<id>-<source name>`
    /// (a restarted poller fences its predecessor), and its positions are keyed by it.
    pub id: String,
    /// Compacted topic of the source positions, written in the same transaction as the
    /// readings (Kafka Connect's offsets topic). Created when missing.
    pub positions_topic: String,
    /// /readyz answers 503 once a source has gone this many intervals without a good poll.
    pub missed_polls: u32,
    /// First wait after a failed poll; it doubles with every failure in a row.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts of a failing source (a `Retry-After` is honoured
    /// beyond it, up to an hour).
    pub max_backoff: Duration,
    /// Longest response body a source may send (a larger one counts as unparsable).
    pub max_body_bytes: u64,
    /// A source that has committed no transaction for this long commits a small one (its
    /// fence check): a twin that fenced it is found out then, also when nothing is new.
    pub fence_check_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            id: "roadpulse-poll".into(),
            positions_topic: "roadpulse-poll-positions".into(),
            missed_polls: 3,
            initial_backoff: Duration::from_millis(1_000),
            max_backoff: Duration::from_millis(300_000),
            max_body_bytes: 256 << 20,
            fence_check_interval: Duration::from_millis(30_000),
        }
    }
}

/// The feeds roadpulse knows, each mapped to the raw-event contract by `src/sources/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// TomTom Traffic Flow Segment Data (service version 4), one request per point.
    TomtomFlow,
    /// TomTom Traffic Incident Details (service version 5), by bounding box.
    TomtomIncidents,
    /// HERE Traffic API v7 `/flow`, by bounding box.
    HereFlow,
    /// HERE Traffic API v7 `/incidents`, by bounding box.
    HereIncidents,
    /// NDW (Netherlands) open data, DATEX II v2: trafficspeed.xml.gz and the site table.
    Ndw,
    /// GTFS-Realtime VehiclePositions (protobuf).
    GtfsRt,
    /// Any JSON document, read through a declared field mapping (`[sources.json]`).
    Json,
}

impl Preset {
    /// The vendor's documented endpoint, used when `url` is not set.
    pub fn default_url(self) -> Option<&'static str> {
        Some(match self {
            Preset::TomtomFlow => {
                "https://api.tomtom.com/traffic/services/4/flowSegmentData/absolute/10/json"
            }
            Preset::TomtomIncidents => "https://api.tomtom.com/traffic/services/5/incidentDetails",
            Preset::HereFlow => "https://data.traffic.hereapi.com/v7/flow",
            Preset::HereIncidents => "https://data.traffic.hereapi.com/v7/incidents",
            Preset::Ndw => "https://opendata.ndw.nu/trafficspeed.xml.gz",
            Preset::GtfsRt | Preset::Json => return None,
        })
    }

    /// The query parameter the vendor takes its key in (TomTom `key`, HERE `apiKey`).
    pub fn key_param(self) -> Option<&'static str> {
        match self {
            Preset::TomtomFlow | Preset::TomtomIncidents => Some("key"),
            Preset::HereFlow | Preset::HereIncidents => Some("apiKey"),
            _ => None,
        }
    }

    fn needs_key(self) -> bool {
        self.key_param().is_some()
    }
}

/// When a source's transaction commits (Kafka Connect's `transaction.boundary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionBoundary {
    /// After every poll: readings are visible to `read_committed` readers at once.
    #[default]
    Poll,
    /// Every `transaction_interval`, holding the polls in between: fewer transactions, but
    /// readers see readings up to that much later (and the partitions' stable end waits).
    Interval,
}

/// NDW's site table (measurement_current.xml.gz): lanes, vehicle classes and coordinates of
/// every measurement site.
pub const NDW_SITE_TABLE_URL: &str = "https://opendata.ndw.nu/measurement_current.xml.gz";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name: metric label, part of the transactional id and of the position keys.
    pub name: String,
    pub preset: Preset,
    /// Endpoint; the preset's documented one when absent (required for gtfs_rt and json).
    #[serde(default)]
    pub url: Option<String>,
    /// Time between polls.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Each wait is the interval ± this fraction of it, at random (0..0.5).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Longest time one request may take, connection and body included.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Raw topic to publish to; `kafka.input_topics[0]` when absent.
    #[serde(default)]
    pub topic: Option<String>,
    /// CSV `location,segment_id`: vendor location id, OpenLR code or site id → segment.
    #[serde(default)]
    pub mapping: Option<PathBuf>,
    /// Readings with coordinates but no mapping entry snap to the catalogue geometry within
    /// this distance (0 turns snapping off).
    #[serde(default = "default_snap_radius")]
    pub snap_radius_m: f64,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (surrounding whitespace is trimmed).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// gtfs_rt and json: send the key as this query parameter...
    #[serde(default)]
    pub api_key_param: Option<String>,
    /// ...or in this header, after `api_key_prefix` (e.g. "Bearer ").
    #[serde(default)]
    pub api_key_header: Option<String>,
    #[serde(default)]
    pub api_key_prefix: String,
    /// Extra request headers (values of secret-looking names are shown as ***).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// tomtom_flow: points "lat,lon" to ask for, one request each per poll.
    #[serde(default)]
    pub points: Vec<String>,
    /// tomtom_incidents, here_flow, here_incidents: "west,south,east,north" in degrees.
    #[serde(default)]
    pub bbox: Option<String>,
    /// ndw: the site table's URL, and how often it is fetched again (conditionally).
    #[serde(default)]
    pub site_table_url: Option<String>,
    #[serde(default = "default_site_table_interval")]
    pub site_table_interval: Duration,
    /// `poll` (commit after every poll) or `interval` (every `transaction_interval`).
    #[serde(default)]
    pub transaction_boundary: TransactionBoundary,
    #[serde(default = "default_transaction_interval")]
    pub transaction_interval: Duration,
    /// json: how to read the document.
    #[serde(default)]
    pub json: Option<super::JsonMapping>,
}

fn default_interval() -> Duration {
    Duration::from_millis(60_000)
}
fn default_jitter() -> f64 {
    0.1
}
fn default_timeout() -> Duration {
    Duration::from_millis(10_000)
}
fn default_snap_radius() -> f64 {
    30.0
}
fn default_transaction_interval() -> Duration {
    Duration::from_millis(10_000)
}
fn default_site_table_interval() -> Duration {
    Duration::from_millis(3_600_000)
}

impl SourceConfig {
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref().or(self.preset.default_url())
    }

    /// The topic this source publishes to.
    pub fn topic<'a>(&'a self, k: &'a KafkaConfig) -> &'a str {
        self.topic
            .as_deref()
            .or(k.input_topics.first().map(String::as_str))
            .unwrap_or("traffic.raw")
    }

    fn key(&self, key: &str) -> String {
        format!("sources.{}.{key}", self.name)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(ConfigError::invalid(
                "sources.name",
                format!(
                    "{:?} must be non-empty letters, digits, '-', '_' or '.'",
                    self.name
                ),
            ));
        }
        if self.interval.millis() <= 0 || self.timeout.millis() <= 0 {
            return Err(ConfigError::invalid(
                &self.key("interval"),
                "interval and timeout must be longer than 0",
            ));
        }
        if self.transaction_interval.millis() <= 0 {
            return Err(ConfigError::invalid(
                &self.key("transaction_interval"),
                "must be longer than 0",
            ));
        }
        if !(0.0..=0.5).contains(&self.jitter) {
            return Err(ConfigError::invalid(
                &self.key("jitter"),
                "must be in 0..0.5",
            ));
        }
        if !(self.snap_radius_m.is_finite() && self.snap_radius_m >= 0.0) {
            return Err(ConfigError::invalid(
                &self.key("snap_radius_m"),
                "must be a distance ≥ 0",
            ));
        }
        match self.url() {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
            Some(u) => {
                return Err(ConfigError::invalid(
                    &self.key("url"),
                    format!("must start with http:// or https://, got {u:?}"),
                ))
            }
            None => {
                return Err(ConfigError::invalid(
                    &self.key("url"),
                    "is required for this preset",
                ))
            }
        }
        self.validate_key()?;
        self.validate_preset_keys()
    }

    fn validate_key(&self) -> Result<(), ConfigError> {
        if self.api_key_env.is_some() && self.api_key_file.is_some() {
            return Err(ConfigError::invalid(
                &self.key("api_key_file"),
                "set api_key_env or api_key_file, not both",
            ));
        }
        let has_key = self.api_key_env.is_some() || self.api_key_file.is_some();
        if self.preset.needs_key() && !has_key {
            return Err(ConfigError::invalid(
                &self.key("api_key_env"),
                "this vendor needs an API key: name its environment variable (or set api_key_file)",
            ));
        }
        let sent = self.api_key_param.is_some() || self.api_key_header.is_some();
        if has_key && !self.preset.needs_key() && !sent {
            return Err(ConfigError::invalid(
                &self.key("api_key_param"),
                "say how the key is sent: api_key_param (query) or api_key_header",
            ));
        }
        Ok(())
    }

    /// A preset-only key must not be set on another preset, and a required one must be.
    fn check(
        &self,
        key: &str,
        set: bool,
        of: &[Preset],
        required: bool,
    ) -> Result<(), ConfigError> {
        let mine = of.contains(&self.preset);
        if set && !mine {
            return Err(ConfigError::invalid(
                &self.key(key),
                format!("is not a key of preset {:?}", self.preset),
            ));
        }
        if required && mine && !set {
            return Err(ConfigError::invalid(
                &self.key(key),
                "is required for this preset",
            ));
        }
        Ok(())
    }

    fn validate_preset_keys(&self) -> Result<(), ConfigError> {
        use Preset::*;
        self.check("points", !self.points.is_empty(), &[TomtomFlow], true)?;
        self.check("json", self.json.is_some(), &[Json], true)?;
        self.check(
            "site_table_url",
            self.site_table_url.is_some(),
            &[Ndw],
            false,
        )?;
        let by_bbox = [TomtomIncidents, HereFlow, HereIncidents];
        self.check("bbox", self.bbox.is_some(), &by_bbox, true)?;
        if let Some(b) = &self.bbox {
            parse_bbox(b).map_err(|m| ConfigError::invalid(&self.key("bbox"), m))?;
        }
        for p in &self.points {
            parse_point(p).map_err(|m| ConfigError::invalid(&self.key("points"), m))?;
        }
        if let Some(j) = &self.json {
            j.validate()
                .map_err(|(k, m)| ConfigError::invalid(&self.key(&format!("json.{k}")), m))?;
        }
        Ok(())
    }

    /// Header values with secret-looking names replaced by `***`.
    fn redact(&mut self) {
        for (name, value) in self.headers.iter_mut() {
            let n = name.to_ascii_lowercase();
            if ["auth", "key", "token", "secret", "password", "cookie"]
                .iter()
                .any(|s| n.contains(s))
            {
                *value = "***".into();
            }
        }
    }
}

/// `"lat,lon"` in degrees.
pub fn parse_point(text: &str) -> Result<(f64, f64), String> {
    let nums = numbers(text, 2)?;
    let (lat, lon) = (nums[0], nums[1]);
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return Err(format!("{text:?} is not a \"lat,lon\" point in degrees"));
    }
    Ok((lat, lon))
}

/// `"west,south,east,north"` in degrees.
pub fn parse_bbox(text: &str) -> Result<[f64; 4], String> {
    let n = numbers(text, 4)?;
    let ok = (-180.0..=180.0).contains(&n[0])
        && (-180.0..=180.0).contains(&n[2])
        && (-90.0..=90.0).contains(&n[1])
        && (-90.0..=90.0).contains(&n[3])
        && n[0] < n[2]
        && n[1] < n[3];
    if !ok {
        return Err(format!(
            "{text:?} is not \"west,south,east,north\" in degrees"
        ));
    }
    Ok([n[0], n[1], n[2], n[3]])
}

fn numbers(text: &str, n: usize) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?}: expected {n} comma-separated numbers"))?;
    if v.len() != n || v.iter().any(|x| !x.is_finite()) {
        return Err(format!("{text:?}: expected {n} comma-separated numbers"));
    }
    Ok(v)
}

/// Checks `[poll]` and every `[[sources]]` entry.
pub(super) fn validate(poll: &PollConfig, sources: &[SourceConfig]) -> Result<(), ConfigError> {
    if poll.id.trim().is_empty() || poll.positions_topic.trim().is_empty() {
        return Err(ConfigError::invalid(
            "poll.id",
            "poll.id and poll.positions_topic must not be empty",
        ));
    }
    if poll.missed_polls == 0 {
        return Err(ConfigError::invalid("poll.missed_polls", "must be ≥ 1"));
    }
    if poll.initial_backoff.millis() <= 0 || poll.max_backoff < poll.initial_backoff {
        return Err(ConfigError::invalid(
            "poll.max_backoff",
            "backoffs must be > 0 with poll.max_backoff ≥ poll.initial_backoff",
        ));
    }
    if poll.fence_check_interval.millis() <= 0 {
        return Err(ConfigError::invalid(
            "poll.fence_check_interval",
            "must be > 0 (a fenced poller would never find out while nothing is new)",
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for s in sources {
        s.validate()?;
        if !names.insert(s.name.as_str()) {
            return Err(ConfigError::invalid(
                &s.key("name"),
                "is used by two sources; names must be unique",
            ));
        }
    }
    Ok(())
}

pub(super) fn redact(sources: &mut [SourceConfig]) {
    sources.iter_mut().for_each(SourceConfig::redact);
}

#[cfg(test)]
mod tests;
