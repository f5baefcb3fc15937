//! Detector-pair algorithms (the California family and APID; README, "Incident detection") on an
//! upstream station `i` and the downstream station `i+1` from the catalogue's topology, one
//! decision per window. Occupancy is in percent here, as the published thresholds are.
//!
//! An incident between the stations fills the upstream one (its occupancy rises) and starves
//! the downstream one (its occupancy falls): `OCCDF = OCC(i) − OCC(i+1)`,
//! `OCCRDF = OCCDF / OCC(i)`, `DOCCTD = (OCC(i+1, t−2) − OCC(i+1, t)) / OCC(i+1, t−2)`,
//! `DOCC = OCC(i+1, t)`. The stations' readings come as [`StationFacts`], already judged by
//! the station itself ([`super::history`]): a failed loop gives no measures, so it makes no
//! decision rather than a false one.

use super::facts::StationFacts;

/// The measures of one pair in one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairMeasures {
    pub occ_up: f64,
    pub occdf: f64,
    pub occrdf: f64,
    pub docctd: Option<f64>,
    pub docc: f64,
    /// Upstream speed drop over two windows (APID's SPDTDF).
    pub spdtdf: Option<f64>,
}

impl PairMeasures {
    pub fn of(up: &StationFacts, down: &StationFacts) -> PairMeasures {
        let (occ_up, docc) = (f64::from(up.occ), f64::from(down.occ));
        let occdf = occ_up - docc;
        PairMeasures {
            occ_up,
            occdf,
            occrdf: if occ_up > 0.0 { occdf / occ_up } else { 0.0 },
            docctd: down
                .occ_2ago
                .map(f64::from)
                .filter(|o| *o > 0.0)
                .map(|o| (o - docc) / o),
            docc,
            spdtdf: up.speed_drop.map(f64::from),
        }
    }
}

/// Windows California #8 stays quiet after a compression wave.
const COMPRESSION_HOLD: u8 = 5;

/// California #7 with #8's compression-wave guard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum California {
    #[default]
    Free,
    /// Detection suppressed for this many more windows (a compression wave passed).
    Suppressed(u8),
    Tentative,
    Incident,
}

impl California {
    /// One decision; `None` (no usable data) keeps the state but decides nothing.
    pub fn step(&mut self, m: Option<&PairMeasures>) -> bool {
        let Some(m) = m else {
            return *self == California::Incident;
        };
        let docctd = m.docctd.unwrap_or(0.0);
        let onset = m.occdf >= 8.0 && m.occrdf >= 0.5 && docctd >= 0.3;
        let compression = m.docc >= 30.0 && docctd < -0.4;
        *self = match *self {
            _ if compression && *self != California::Incident => {
                California::Suppressed(COMPRESSION_HOLD)
            }
            California::Suppressed(n) if n > 1 => California::Suppressed(n - 1),
            California::Free | California::Suppressed(_) if onset => California::Tentative,
            California::Free | California::Suppressed(_) => California::Free,
            California::Tentative | California::Incident if m.occrdf >= 0.5 => California::Incident,
            California::Tentative | California::Incident => California::Free,
        };
        *self == California::Incident
    }

    pub fn tentative(&self) -> bool {
        *self == California::Tentative
    }
}

/// APID: the incident test (with the medium-traffic speed test below 20% upstream occupancy)
/// must hold in two successive windows; the alarm clears when OCCRDF < −0.4 or the test has
/// failed for three windows running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Apid {
    run: u8,
    alarm: bool,
    failed: u8,
}

impl Apid {
    pub fn test(m: &PairMeasures) -> bool {
        let incident = m.occdf > 10.2 && m.occrdf > 0.0 && m.docc < 20.8;
        let medium = m.occrdf > 0.4 && m.spdtdf.is_some_and(|d| d > 0.1);
        incident && (m.occ_up >= 20.0 || medium)
    }

    pub fn step(&mut self, m: Option<&PairMeasures>) -> bool {
        let Some(m) = m else {
            return self.alarm;
        };
        let hit = Apid::test(m);
        self.run = if hit { self.run.saturating_add(1) } else { 0 };
        self.failed = if hit {
            0
        } else {
            self.failed.saturating_add(1)
        };
        if !self.alarm && self.run >= 2 {
            self.alarm = true;
        } else if self.alarm && (m.occrdf < -0.4 || self.failed >= 3) {
            self.alarm = false;
        }
        self.alarm
    }

    /// The test held in the last window (the first half of the persistence check).
    pub fn pending(&self) -> bool {
        self.run > 0
    }

    pub fn to_bytes(self) -> [u8; 3] {
        [self.run, u8::from(self.alarm), self.failed]
    }

    pub fn from_bytes(b: [u8; 3]) -> Apid {
        Apid {
            run: b[0],
            alarm: b[1] != 0,
            failed: b[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(occ_up: f64, docc: f64, docc_2ago: f64) -> PairMeasures {
        let occdf = occ_up - docc;
        PairMeasures {
            occ_up,
            occdf,
            occrdf: occdf / occ_up,
            docctd: Some((docc_2ago - docc) / docc_2ago),
            docc,
            spdtdf: None,
        }
    }

    #[test]
    fn measures_by_hand() {
        let up = StationFacts {
            occ: 30.0,
            occ_2ago: Some(10.0),
            speed_drop: Some(0.2),
        };
        let down = StationFacts {
            occ: 5.0,
            occ_2ago: Some(12.0),
            speed_drop: None,
        };
        let p = PairMeasures::of(&up, &down);
        // OCCDF = 30 − 5 = 25; OCCRDF = 25/30; DOCCTD = (12 − 5)/12; DOCC = 5.
        assert!((p.occdf - 25.0).abs() < 1e-9);
        assert!((p.occrdf - 25.0 / 30.0).abs() < 1e-9);
        assert!((p.docctd.unwrap() - 7.0 / 12.0).abs() < 1e-9);
        assert!((p.docc - 5.0).abs() < 1e-9);
        assert!((p.spdtdf.unwrap() - 0.2).abs() < 1e-6);
    }

    #[test]
    fn california_tentative_then_confirmed_then_cleared() {
        let mut c = California::default();
        assert!(!c.step(Some(&m(20.0, 15.0, 16.0))), "OCCDF 5 < 8");
        // OCCDF 25 ≥ 8, OCCRDF 0.83 ≥ 0.5, DOCCTD (12 − 5)/12 = 0.58 ≥ 0.3: tentative.
        assert!(!c.step(Some(&m(30.0, 5.0, 12.0))));
        assert!(c.tentative());
        assert!(
            c.step(Some(&m(35.0, 6.0, 6.0))),
            "OCCRDF 0.83 holds: confirmed"
        );
        assert!(c.step(None), "no data: the alarm stands");
        assert!(
            !c.step(Some(&m(20.0, 15.0, 6.0))),
            "OCCRDF 0.25 < 0.5: cleared"
        );
        // A tentative that does not hold falls back.
        c.step(Some(&m(30.0, 5.0, 12.0)));
        assert!(!c.step(Some(&m(20.0, 15.0, 5.0))));
        assert_eq!(c, California::Free);
    }

    #[test]
    fn california_8_suppresses_after_a_compression_wave() {
        let mut c = California::default();
        // DOCC 40 ≥ 30 and DOCCTD (20 − 40)/20 = −1 < −0.4: a compression wave.
        c.step(Some(&m(45.0, 40.0, 20.0)));
        assert_eq!(c, California::Suppressed(5));
        for _ in 0..4 {
            c.step(Some(&m(30.0, 5.0, 12.0)));
        }
        assert_eq!(c, California::Suppressed(1));
        c.step(Some(&m(30.0, 5.0, 12.0)));
        assert!(c.tentative(), "the hold is over");
    }

    #[test]
    fn apid_needs_persistence_and_clears() {
        let mut a = Apid::default();
        // OCCDF 25 > 10.2, OCCRDF > 0, DOCC 5 < 20.8, OCC(i) 30 ≥ 20.
        let hit = m(30.0, 5.0, 12.0);
        assert!(Apid::test(&hit));
        assert!(!a.step(Some(&hit)));
        assert!(a.pending());
        assert!(a.step(Some(&hit)));
        // Medium traffic (OCC(i) 15) needs OCCRDF > 0.4 and a speed drop > 0.1.
        let mut light = m(15.0, 2.0, 4.0);
        assert!(!Apid::test(&light));
        light.spdtdf = Some(0.3);
        assert!(Apid::test(&light));
        // OCCRDF (10 − 20)/10 = −1 < −0.4 clears.
        assert!(!a.step(Some(&m(10.0, 20.0, 20.0))));
    }
}
