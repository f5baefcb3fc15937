//! The checks a scenario passes before it runs: every rule a value must follow, each failure one
//! sentence naming the key.

use super::{bad, time_of_day_ms, Corridor, Scenario, ScenarioError};

impl Scenario {
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

    pub(super) fn validate(&self) -> Result<(), ScenarioError> {
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
