//! The scenario file of `roadpulse simulate` (TOML): which roads exist, how much traffic wants
//! to use them over the day, what the probes and detectors see, and what goes wrong (incidents,
//! false reports, detector faults). Parsing and validation only; the model is in
//! [`super::network`] and the run in [`super::simulate`].
//!
//! ```toml
//! seed = 7
//! start_date = "2026-03-02"      # first simulated day (UTC)
//! days = 4                       # the same hours are simulated on each day
//! from = "06:00"                 # simulated hours of each day (UTC)
//! to = "10:00"
//!
//! [[corridor]]                   # one chain of segments, upstream first
//! id = "M4-E"                    # segment ids are M4-E-01, M4-E-02, ...
//! segments = 12
//! length_m = 600
//! lanes = 3
//! free_flow_kph = 100
//! demand_vph = 4800              # entry flow at demand factor 1.0
//! lane_drops = [{ segment = 10, lanes = 2 }]   # a recurrent bottleneck
//! profile = [{ at = "06:00", factor = 0.3 }, { at = "07:30", factor = 1.0 }, { at = "09:30", factor = 0.5 }]
//!
//! [probes]
//! penetration = 0.05             # share of vehicles that report
//!
//! [[incident]]
//! corridor = "M4-E"
//! segment = 6                    # 1-based, counted from upstream
//! day = 4
//! at = "07:40"
//! duration_min = 20
//! capacity_drop = 0.6            # share of the segment's capacity lost
//! report_delay_s = 150           # an accident report follows (omit for none)
//! ```
//! Every key is listed, with its default, on the structs below.

use serde::Deserialize;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
#[error("scenario: {0}")]
pub struct ScenarioError(pub String);

fn bad(msg: impl Into<String>) -> ScenarioError {
    ScenarioError(msg.into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    pub seed: u64,
    /// First simulated day, `YYYY-MM-DD` (UTC).
    #[serde(default = "default_date")]
    pub start_date: String,
    #[serde(default = "one")]
    pub days: u32,
    /// Simulated hours of each day, `HH:MM` (UTC); `to` = "24:00" runs to midnight.
    #[serde(default = "midnight")]
    pub from: String,
    #[serde(default = "end_of_day")]
    pub to: String,
    /// Model time step in seconds (must satisfy free-flow speed × step ≤ segment length).
    #[serde(default = "five")]
    pub step_s: u32,
    /// Length of the ground-truth speed windows (match `roadpulse replay --window`).
    #[serde(default = "sixty")]
    pub window_s: u32,
    #[serde(rename = "corridor")]
    pub corridors: Vec<Corridor>,
    #[serde(default)]
    pub probes: Probes,
    #[serde(default)]
    pub detectors: Detectors,
    #[serde(default, rename = "incident")]
    pub incidents: Vec<Incident>,
    #[serde(default, rename = "false_report")]
    pub false_reports: Vec<FalseReport>,
    #[serde(default, rename = "detector_fault")]
    pub detector_faults: Vec<DetectorFault>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corridor {
    pub id: String,
    pub segments: u32,
    #[serde(default = "default_length")]
    pub length_m: f64,
    #[serde(default = "three")]
    pub lanes: u32,
    #[serde(default = "default_ff")]
    pub free_flow_kph: f64,
    /// Capacity per lane (veh/h) and jam density per lane (veh/km): the triangular
    /// fundamental diagram.
    #[serde(default = "default_capacity")]
    pub capacity_vphpl: f64,
    #[serde(default = "default_jam")]
    pub jam_density_vpkpl: f64,
    /// Entry flow (veh/h, all lanes) when the profile's factor is 1.
    pub demand_vph: f64,
    /// Segments from which on the corridor has fewer lanes (a recurrent bottleneck).
    #[serde(default)]
    pub lane_drops: Vec<LaneDrop>,
    /// Demand factor by time of day, linearly interpolated, flat before the first and after
    /// the last point.
    pub profile: Vec<ProfilePoint>,
    /// Standard deviation of the day-to-day demand factor (0.03 = ±3%).
    #[serde(default)]
    pub daily_variation: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneDrop {
    pub segment: u32,
    pub lanes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePoint {
    pub at: String,
    pub factor: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probes {
    /// Share of vehicles that send GPS pings.
    pub penetration: f64,
    /// Seconds between two pings of one vehicle.
    pub ping_s: f64,
    /// Relative standard deviation of a ping's speed around the segment's speed.
    pub noise: f64,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            penetration: 0.05,
            ping_s: 10.0,
            noise: 0.08,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detectors {
    /// A detector station on every `spacing`-th segment (0 = none).
    pub spacing: u32,
    /// Counting interval of a reading, seconds.
    pub interval_s: u32,
    /// Absolute standard deviation of a reading's occupancy.
    pub occupancy_noise: f64,
}

impl Default for Detectors {
    fn default() -> Self {
        Self {
            spacing: 1,
            interval_s: 30,
            occupancy_noise: 0.005,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub corridor: String,
    pub segment: u32,
    pub day: u32,
    pub at: String,
    pub duration_min: f64,
    pub capacity_drop: f64,
    #[serde(default = "accident")]
    pub kind: String,
    /// Seconds after the start when a report of it arrives (none when absent).
    pub report_delay_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalseReport {
    pub corridor: String,
    pub segment: u32,
    pub day: u32,
    pub at: String,
    #[serde(default = "accident")]
    pub category: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultMode {
    /// No readings at all.
    Dead,
    /// Readings of zero volume and zero occupancy.
    Zero,
    /// The last good reading repeated.
    Stuck,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorFault {
    pub corridor: String,
    pub segment: u32,
    /// Faulty on this day only (every day when absent).
    pub day: Option<u32>,
    #[serde(default = "midnight")]
    pub from: String,
    #[serde(default = "end_of_day")]
    pub to: String,
    pub mode: FaultMode,
}

fn default_date() -> String {
    "2026-03-02".into()
}
fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn five() -> u32 {
    5
}
fn sixty() -> u32 {
    60
}
fn midnight() -> String {
    "00:00".into()
}
fn end_of_day() -> String {
    "24:00".into()
}
fn default_length() -> f64 {
    600.0
}
fn default_ff() -> f64 {
    100.0
}
fn default_capacity() -> f64 {
    2000.0
}
fn default_jam() -> f64 {
    150.0
}
fn accident() -> String {
    "accident".into()
}

/// `HH:MM` or `HH:MM:SS` → milliseconds since midnight.
pub fn time_of_day_ms(s: &str) -> Result<i64, ScenarioError> {
    let parse = || {
        let mut parts = s.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let m: i64 = parts.next()?.parse().ok()?;
        let sec: i64 = parts.next().map_or(Some(0), |x| x.parse().ok())?;
        let ok = parts.next().is_none()
            && (0..60).contains(&m)
            && (0..60).contains(&sec)
            && (h * 3600 + m * 60 + sec) <= 86_400;
        ok.then_some((h * 3600 + m * 60 + sec) * 1000)
    };
    parse().ok_or_else(|| bad(format!("{s:?} is not a time of day HH:MM[:SS]")))
}

impl Scenario {
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Epoch ms of midnight (UTC) of the first day.
    pub fn start_ms(&self) -> Result<i64, ScenarioError> {
        let parse = || {
            let mut parts = self.start_date.splitn(3, '-');
            let y: i32 = parts.next()?.parse().ok()?;
            let m: u8 = parts.next()?.parse().ok()?;
            let d: u8 = parts.next()?.parse().ok()?;
            let month = time::Month::try_from(m).ok()?;
            time::Date::from_calendar_date(y, month, d).ok()
        };
        let date = parse().ok_or_else(|| {
            bad(format!(
                "start_date {:?} is not YYYY-MM-DD",
                self.start_date
            ))
        })?;
        Ok(date.midnight().assume_utc().unix_timestamp() * 1000)
    }

    pub fn corridor_index(&self, id: &str) -> Result<usize, ScenarioError> {
        self.corridors
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| bad(format!("no corridor named {id:?}")))
    }

    fn check_segment(&self, corridor: &str, segment: u32, what: &str) -> Result<(), ScenarioError> {
        let c = &self.corridors[self.corridor_index(corridor)?];
        if segment == 0 || segment > c.segments {
            return Err(bad(format!(
                "{what}: segment {segment} is not in 1..={} of corridor {corridor}",
                c.segments
            )));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        self.start_ms()?;
        let (from, to) = (time_of_day_ms(&self.from)?, time_of_day_ms(&self.to)?);
        if from >= to || self.days == 0 {
            return Err(bad("`from` must be before `to` and `days` at least 1"));
        }
        if self.step_s == 0 || self.window_s == 0 || self.corridors.is_empty() {
            return Err(bad(
                "step_s and window_s must be positive, and a corridor given",
            ));
        }
        for c in &self.corridors {
            validate_corridor(c, self.step_s)?;
        }
        let p = &self.probes;
        if !(0.0..=1.0).contains(&p.penetration) || p.ping_s <= 0.0 || p.noise < 0.0 {
            return Err(bad("probes: penetration in 0..1, ping_s > 0, noise ≥ 0"));
        }
        if self.detectors.interval_s == 0 {
            return Err(bad("detectors.interval_s must be positive"));
        }
        for i in &self.incidents {
            self.check_segment(&i.corridor, i.segment, "incident")?;
            time_of_day_ms(&i.at)?;
            if !(0.0..=1.0).contains(&i.capacity_drop) || i.duration_min <= 0.0 {
                return Err(bad("incident: capacity_drop in 0..1 and duration_min > 0"));
            }
        }
        for r in &self.false_reports {
            self.check_segment(&r.corridor, r.segment, "false_report")?;
            time_of_day_ms(&r.at)?;
        }
        for f in &self.detector_faults {
            self.check_segment(&f.corridor, f.segment, "detector_fault")?;
            time_of_day_ms(&f.from)?;
            time_of_day_ms(&f.to)?;
        }
        Ok(())
    }
}

fn validate_corridor(c: &Corridor, step_s: u32) -> Result<(), ScenarioError> {
    let name = &c.id;
    if c.segments == 0 || c.lanes == 0 || c.free_flow_kph <= 0.0 || c.demand_vph < 0.0 {
        return Err(bad(format!(
            "corridor {name}: segments, lanes and free_flow_kph must be positive"
        )));
    }
    if c.capacity_vphpl <= 0.0 || c.jam_density_vpkpl <= c.capacity_vphpl / c.free_flow_kph {
        return Err(bad(format!(
            "corridor {name}: jam_density_vpkpl must exceed the critical density"
        )));
    }
    if c.free_flow_kph / 3.6 * f64::from(step_s) > c.length_m {
        return Err(bad(format!(
            "corridor {name}: length_m must be at least free_flow_kph × step_s (the model is unstable otherwise)"
        )));
    }
    if c.profile.is_empty() || c.profile.iter().any(|p| p.factor < 0.0) {
        return Err(bad(format!(
            "corridor {name}: profile needs at least one point with factor ≥ 0"
        )));
    }
    for p in &c.profile {
        time_of_day_ms(&p.at)?;
    }
    if c.lane_drops.iter().any(|d| d.lanes == 0 || d.segment == 0) {
        return Err(bad(format!("corridor {name}: lane_drops need lanes ≥ 1")));
    }
    Ok(())
}

impl Corridor {
    pub fn segment_id(&self, index: u32) -> String {
        format!("{}-{:02}", self.id, index)
    }

    /// Lanes of 1-based segment `index` after any lane drops.
    pub fn lanes_at(&self, index: u32) -> u32 {
        self.lane_drops
            .iter()
            .filter(|d| d.segment <= index)
            .max_by_key(|d| d.segment)
            .map_or(self.lanes, |d| d.lanes)
    }

    /// Demand factor at `tod_ms` since midnight (validated profile).
    pub fn demand_factor(&self, tod_ms: i64) -> f64 {
        let points: Vec<(i64, f64)> = self
            .profile
            .iter()
            .map(|p| (time_of_day_ms(&p.at).unwrap_or(0), p.factor))
            .collect();
        let first = points[0];
        if tod_ms <= first.0 {
            return first.1;
        }
        for w in points.windows(2) {
            let ((t0, f0), (t1, f1)) = (w[0], w[1]);
            if tod_ms <= t1 && t1 > t0 {
                return f0 + (f1 - f0) * (tod_ms - t0) as f64 / (t1 - t0) as f64;
            }
        }
        points[points.len() - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
seed = 1
[[corridor]]
id = "A"
segments = 3
demand_vph = 3000
profile = [{ at = "06:00", factor = 0.5 }, { at = "08:00", factor = 1.0 }]
lane_drops = [{ segment = 3, lanes = 2 }]
"#;

    #[test]
    fn parses_defaults_and_interpolates_the_profile() {
        let s = Scenario::parse(MINIMAL).unwrap();
        let c = &s.corridors[0];
        assert_eq!((c.lanes_at(2), c.lanes_at(3)), (3, 2));
        assert_eq!(c.segment_id(3), "A-03");
        assert_eq!(c.demand_factor(0), 0.5);
        assert!((c.demand_factor(7 * 3_600_000) - 0.75).abs() < 1e-9);
        assert_eq!(c.demand_factor(20 * 3_600_000), 1.0);
        assert_eq!(s.start_ms().unwrap(), 1_772_409_600_000);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Scenario::parse(&format!("{MINIMAL}\n[[incident]]\ncorridor = \"A\"\nsegment = 9\nday = 1\nat = \"07:00\"\nduration_min = 5\ncapacity_drop = 0.5\n")).unwrap_err();
        assert!(e.to_string().contains("segment 9"), "{e}");
        let e = Scenario::parse(&MINIMAL.replace("seed = 1", "seed = 1\nbogus = 2")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Scenario::parse(&MINIMAL.replace("segments = 3", "segments = 3\nlength_m = 50"))
            .unwrap_err();
        assert!(e.to_string().contains("length_m"), "{e}");
        assert!(time_of_day_ms("25:00").is_err());
        assert_eq!(time_of_day_ms("07:30:15").unwrap(), 27_015_000);
        assert_eq!(time_of_day_ms("24:00").unwrap(), DAY_MS);
    }
}
