//! What every algorithm says about one segment in one window, and the decision rules that turn
//! those signals into an incident, per [`Algorithm`].
//!
//! The combined rule (what roadpulse publishes) raises an incident when
//! 1. the probe test alarms (an unusual edge, two windows running), or the edge is strong
//!    (twice `z_crit`, on twice the minimum samples) in one window, or
//! 2. the probe edge shows once and a detector pair (California tentative or confirmed, APID
//!    pending or alarmed) or a report agrees — one window sooner, or
//! 3. California #8 confirms and the probes agree weakly (`z_weak`) or cannot tell (too few
//!    samples, no baseline yet, or a baseline too wide to judge by), or
//! 4. a report exists and the probes agree weakly, or
//! 5. the blockage test alarms (a queue before a clear or empty road, on a segment with no
//!    baseline yet: [`super::blockage`]).
//!
//! APID alone is not trusted by it: at a recurrent bottleneck its incident test holds every
//! rush hour (high occupancy upstream, low downstream), so it only ever speeds up a probe edge
//! (rule 2). Probe edges at a segment that is a queue head most days at this hour (a recurrent
//! bottleneck) do not count at all.

use super::pair::PairMeasures;
use super::probe::ProbeView;
use super::{Algorithm, Evidence};
use crate::domain::output::round;

#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub view: Option<ProbeView>,
    pub down: Option<ProbeView>,
    pub up_z: Option<f64>,
    /// Speed ratio from any source (probes first, then detectors).
    pub ratio: Option<f64>,
    /// Slow with a faster segment downstream (no baseline needed); None without probes.
    pub head: Option<bool>,
    /// The segment is a queue head most days around this time: its edges are not news.
    pub usual_head: bool,
    /// The probes can neither confirm nor contradict (see [`ProbeView::uninformative`]).
    pub uninformative: bool,
    pub probe_edge: bool,
    /// An edge at twice `z_crit` on twice the minimum samples: trusted in one window.
    pub strong_edge: bool,
    pub weak_edge: bool,
    pub slowed: bool,
    pub probe_alarm: bool,
    /// A blockage edge in this window, and the blockage test's alarm.
    pub blockage_edge: bool,
    pub blockage: bool,
    /// Slow (below `slow_ratio`) on a segment the blockage test judges: still impacted.
    pub queued: bool,
    pub california: bool,
    pub cal_tentative: bool,
    pub apid: bool,
    pub apid_pending: bool,
    pub pair: Option<PairMeasures>,
    pub reports: Vec<String>,
    pub report_kind: Option<String>,
}

impl Signals {
    pub fn any(&self) -> bool {
        self.probe_edge
            || self.blockage_edge
            || self.cal_tentative
            || self.california
            || self.apid_pending
            || self.apid
    }

    /// The tests that raise an incident under `algorithm`, or None.
    pub fn decide(&self, algorithm: Algorithm) -> Option<Vec<&'static str>> {
        let fired = match algorithm {
            Algorithm::Probe => self.probe_alarm,
            Algorithm::California => self.california,
            Algorithm::Apid => self.apid,
            Algorithm::Combined => {
                let pair_early =
                    self.california || self.cal_tentative || self.apid || self.apid_pending;
                let report = !self.reports.is_empty();
                self.probe_alarm
                    || self.strong_edge
                    || (self.probe_edge && (pair_early || report))
                    || (self.california && (self.weak_edge || self.uninformative))
                    || (report && self.weak_edge)
                    || self.blockage
            }
        };
        fired.then(|| self.tests())
    }

    fn tests(&self) -> Vec<&'static str> {
        let flags = [
            (self.probe_alarm, "probe"),
            (self.strong_edge && !self.probe_alarm, "probe_strong"),
            (
                self.probe_edge && !self.probe_alarm && !self.strong_edge,
                "probe_edge",
            ),
            (self.weak_edge && !self.probe_edge, "probe_weak"),
            (self.blockage, "blockage"),
            (self.california, "california"),
            (self.cal_tentative, "california_tentative"),
            (self.apid, "apid"),
            (self.apid_pending && !self.apid, "apid_pending"),
            (!self.reports.is_empty(), "report"),
        ];
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect()
    }

    /// Still impacted, for an active incident's clearance, under `algorithm`.
    pub fn impacted(&self, algorithm: Algorithm) -> bool {
        let probe = self.weak_edge || self.slowed;
        match algorithm {
            Algorithm::Probe => probe,
            Algorithm::California => self.california,
            Algorithm::Apid => self.apid,
            Algorithm::Combined => probe || self.queued || self.california || self.apid,
        }
    }

    /// 0.5, plus 0.15 for each independent kind of evidence (probe edge, detector pair,
    /// report, a queue upstream), at most 0.99.
    pub fn confidence(&self, z_weak: f64) -> f64 {
        let kinds = [
            self.probe_edge || self.weak_edge || self.blockage_edge,
            self.california || self.apid,
            !self.reports.is_empty(),
            self.up_z.is_some_and(|z| z <= -z_weak),
        ];
        let n = kinds.iter().filter(|k| **k).count() as f64;
        (0.5 + 0.15 * n).min(0.99)
    }
}

impl Signals {
    /// The numbers a decision on these signals rests on, with the tests that fired.
    pub fn evidence(&self, tests: Vec<&'static str>) -> Evidence {
        let s = self;
        let r = |v: f64| round(v, 2);
        let z = |v: &ProbeView| v.z();
        Evidence {
            tests: tests.into_iter().map(String::from).collect(),
            speed_kph: s.view.map(|v| r(v.speed)),
            baseline_kph: s.view.and_then(|v| v.dev).map(|d| r(d.mean)),
            z: s.view.as_ref().and_then(z).map(r),
            downstream_speed_kph: s.down.map(|v| r(v.speed)),
            downstream_z: s.down.as_ref().and_then(z).map(r),
            upstream_z: s.up_z.map(r),
            occdf: s.pair.map(|m| r(m.occdf)),
            occrdf: s.pair.map(|m| r(m.occrdf)),
            docctd: s.pair.and_then(|m| m.docctd).map(r),
            docc: s.pair.map(|m| r(m.docc)),
            reports: s.reports.clone(),
            extent: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::baseline::Deviation;

    fn probe(z: f64) -> Option<ProbeView> {
        Some(ProbeView {
            speed: 30.0,
            samples: 5,
            ratio: 0.3,
            free_flow: 100.0,
            dev: Some(Deviation {
                mean: 90.0,
                sd: 8.0,
                z,
            }),
        })
    }

    #[test]
    fn combined_rules() {
        let none = Signals::default();
        assert_eq!(none.decide(Algorithm::Combined), None);
        let apid_alone = Signals {
            apid: true,
            view: probe(-0.2),
            ..Signals::default()
        };
        assert_eq!(
            apid_alone.decide(Algorithm::Combined),
            None,
            "recurrent bottleneck"
        );
        assert_eq!(apid_alone.decide(Algorithm::Apid), Some(vec!["apid"]));
        let cal_no_probes = Signals {
            california: true,
            uninformative: true,
            ..Signals::default()
        };
        assert!(cal_no_probes.decide(Algorithm::Combined).is_some());
        let edge_and_report = Signals {
            probe_edge: true,
            weak_edge: true,
            view: probe(-3.5),
            reports: vec!["r1".into()],
            ..Signals::default()
        };
        assert_eq!(
            edge_and_report.decide(Algorithm::Combined),
            Some(vec!["probe_edge", "report"])
        );
        assert_eq!(
            edge_and_report.decide(Algorithm::Probe),
            None,
            "one window only"
        );
        assert!((edge_and_report.confidence(1.5) - 0.8).abs() < 1e-9);
        let report_alone = Signals {
            reports: vec!["r1".into()],
            view: probe(-0.5),
            ..Signals::default()
        };
        assert_eq!(
            report_alone.decide(Algorithm::Combined),
            None,
            "a report alone"
        );
        let blockage = Signals {
            blockage: true,
            blockage_edge: true,
            queued: true,
            ..Signals::default()
        };
        assert_eq!(blockage.decide(Algorithm::Combined), Some(vec!["blockage"]));
        assert_eq!(blockage.decide(Algorithm::Probe), None);
        assert!(blockage.impacted(Algorithm::Combined));
        assert!((blockage.confidence(1.5) - 0.65).abs() < 1e-9);
    }
}
