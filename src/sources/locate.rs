//! Location → road segment. First the source's mapping file (vendor location id, OpenLR code
//! or measurement site id → `segment_id`); then, for readings with coordinates, snapping to
//! the catalogue's segment geometry within `snap_radius_m`. A reading that maps to no segment
//! is dropped and counted, never guessed: nothing within the radius, or two segments almost
//! equally near (a divided road without a heading to tell its carriageways apart), is no
//! segment. A heading, when the vendor gives one, keeps only segments running that way.

use std::collections::HashMap;

use rstar::primitives::{GeomWithData, Line};
use rstar::{RTree, AABB};

use super::reading::{Point, Reading};
use crate::domain::catalog::Catalog;

/// Metres per degree of latitude (mean Earth radius 6 371 km).
const M_PER_DEG: f64 = 6_371_000.0 * std::f64::consts::PI / 180.0;
/// Two segments whose distances differ by less than this are both candidates: ambiguous.
pub const AMBIGUITY_M: f64 = 5.0;
/// A heading this far from a segment's direction rules the segment out.
pub const MAX_HEADING_DIFF_DEG: f64 = 60.0;

/// Why a reading found no segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocated {
    /// No mapping entry, and no segment within the radius (or no coordinates).
    Unmapped,
    /// Several segments within the radius, none clearly nearest.
    Ambiguous,
}

impl Unlocated {
    pub fn as_str(self) -> &'static str {
        match self {
            Unlocated::Unmapped => "unmapped",
            Unlocated::Ambiguous => "ambiguous",
        }
    }
}

/// One piece of a segment's line, in degrees, with its segment and direction.
type Piece = GeomWithData<Line<[f64; 2]>, (u32, f64)>;

pub struct Locator {
    mapping: HashMap<String, String>,
    segments: Vec<String>,
    lines: RTree<Piece>,
    radius_m: f64,
}

impl Locator {
    /// `mapping`: location key → segment id; `catalog`: geometries to snap to (radius 0:
    /// no snapping).
    pub fn new(mapping: HashMap<String, String>, catalog: &Catalog, radius_m: f64) -> Locator {
        let mut segments = Vec::new();
        let mut pieces = Vec::new();
        if radius_m > 0.0 {
            let mut with_geometry: Vec<_> = catalog
                .iter()
                .filter(|(_, i)| i.geometry.len() >= 2)
                .collect();
            with_geometry.sort_by_key(|(id, _)| *id);
            for (id, info) in with_geometry {
                let index = segments.len() as u32;
                segments.push(id.to_string());
                for w in info.geometry.windows(2) {
                    let (a, b) = ([w[0].0, w[0].1], [w[1].0, w[1].1]);
                    let bearing = bearing_deg(a, b);
                    pieces.push(GeomWithData::new(Line::new(a, b), (index, bearing)));
                }
            }
        }
        Locator {
            mapping,
            segments,
            lines: RTree::bulk_load(pieces),
            radius_m,
        }
    }

    /// Segments that can be snapped to.
    pub fn snappable(&self) -> usize {
        self.segments.len()
    }

    /// The segments a reading stands for: one, or for a line reading each it covers.
    pub fn locate(&self, r: &Reading) -> Result<Vec<String>, Unlocated> {
        if let Some(seg) = r.keys.iter().find_map(|k| self.mapping.get(k)) {
            return Ok(vec![seg.clone()]);
        }
        let Some(first) = r.points.first() else {
            return Err(Unlocated::Unmapped);
        };
        if !r.spread {
            return self.snap(first).map(|s| vec![s.to_string()]);
        }
        let mut found: Vec<String> = Vec::new();
        let mut why = Unlocated::Unmapped;
        for p in &r.points {
            match self.snap(p) {
                Ok(s) if !found.iter().any(|f| f == s) => found.push(s.to_string()),
                Ok(_) => {}
                Err(e) => why = if e == Unlocated::Ambiguous { e } else { why },
            }
        }
        if found.is_empty() {
            Err(why)
        } else {
            Ok(found)
        }
    }

    /// The segment whose line passes nearest `p`, within the radius and clearly nearest.
    pub fn snap(&self, p: &Point) -> Result<&str, Unlocated> {
        if self.segments.is_empty() || !(p.lat.is_finite() && p.lon.is_finite()) {
            return Err(Unlocated::Unmapped);
        }
        let cos = p.lat.to_radians().cos().max(1e-6);
        let (dlat, dlon) = (self.radius_m / M_PER_DEG, self.radius_m / (M_PER_DEG * cos));
        let envelope =
            AABB::from_corners([p.lon - dlon, p.lat - dlat], [p.lon + dlon, p.lat + dlat]);
        let mut best: Vec<(f64, u32)> = Vec::new();
        for piece in self.lines.locate_in_envelope_intersecting(envelope) {
            let (seg, bearing) = piece.data;
            if p.heading
                .is_some_and(|h| angle_between(h, bearing) > MAX_HEADING_DIFF_DEG)
            {
                continue;
            }
            let d = distance_m(p, piece.geom().from, piece.geom().to);
            if d > self.radius_m {
                continue;
            }
            match best.iter_mut().find(|(_, s)| *s == seg) {
                Some(b) => b.0 = b.0.min(d),
                None => best.push((d, seg)),
            }
        }
        best.sort_by(|a, b| a.0.total_cmp(&b.0));
        match best.as_slice() {
            [] => Err(Unlocated::Unmapped),
            [(d1, _), (d2, _), ..] if d2 - d1 < AMBIGUITY_M => Err(Unlocated::Ambiguous),
            [(_, seg), ..] => Ok(&self.segments[*seg as usize]),
        }
    }
}

/// Metres from `p` to the line piece `a`–`b` (degrees `[lon, lat]`), in a local
/// equirectangular projection around `p` (exact enough within a snap radius).
fn distance_m(p: &Point, a: [f64; 2], b: [f64; 2]) -> f64 {
    let cos = p.lat.to_radians().cos();
    let xy = |q: [f64; 2]| ((q[0] - p.lon) * cos * M_PER_DEG, (q[1] - p.lat) * M_PER_DEG);
    let ((ax, ay), (bx, by)) = (xy(a), xy(b));
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (ax + t * dx, ay + t * dy);
    (x * x + y * y).sqrt()
}

/// Direction of travel from `a` to `b`, degrees clockwise from north.
fn bearing_deg(a: [f64; 2], b: [f64; 2]) -> f64 {
    let cos = ((a[1] + b[1]) / 2.0).to_radians().cos();
    let (dx, dy) = ((b[0] - a[0]) * cos, b[1] - a[1]);
    dx.atan2(dy).to_degrees().rem_euclid(360.0)
}

/// The smaller angle between two headings, 0..=180.
fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Parses a mapping file: CSV with a header naming `location` and `segment_id`; `#` lines
/// and blank lines skipped. Errors name the line.
pub fn parse_mapping(text: &str) -> Result<HashMap<String, String>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().ok_or("the mapping file is empty")?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(loc), Some(seg)) = (col("location"), col("segment_id")) else {
        return Err("the header must name the columns location and segment_id".into());
    };
    let mut map = HashMap::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        match (cells.get(loc), cells.get(seg)) {
            (Some(l), Some(s)) if !l.is_empty() && !s.is_empty() => {
                if let Some(old) = map.insert(l.to_string(), s.to_string()) {
                    if old != *s {
                        return Err(format!(
                            "line {n}: location {l} is mapped twice ({old} and {s})"
                        ));
                    }
                }
            }
            _ => return Err(format!("line {n}: needs a location and a segment_id")),
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::sources::reading::Body;

    /// A divided road running north (NB, east carriageway) and south (SB, 20 m west of it),
    /// and a side street far away.
    fn catalog() -> Catalog {
        Catalog::parse_csv(
            "segment_id,free_flow_kph,geometry\n\
             NB,100,4.90000 52.30000;4.90000 52.31000\n\
             SB,100,4.89971 52.31000;4.89971 52.30000\n\
             SIDE,50,4.95000 52.30000;4.95100 52.30000\n",
        )
        .unwrap()
    }

    fn reading(points: Vec<Point>, spread: bool) -> Reading {
        Reading {
            location: "x".into(),
            ts: 0,
            keys: vec!["olr:abc".into()],
            points,
            spread,
            body: Body::Flow {
                speed_kph: Some(50.0),
                free_flow_kph: None,
                confidence: None,
                closed: false,
            },
        }
    }

    #[test]
    fn mapping_first_then_nearest_within_the_radius() {
        let mapping = parse_mapping("# vendor ids\nlocation,segment_id\nolr:abc,SIDE\n").unwrap();
        let l = Locator::new(mapping, &catalog(), 30.0);
        assert_eq!(l.snappable(), 3);
        assert_eq!(
            l.locate(&reading(vec![Point::new(52.305, 4.9)], false)),
            Ok(vec!["SIDE".into()])
        );
        let unmapped = Locator::new(HashMap::new(), &catalog(), 30.0);
        // 3 m east of NB, 23 m from SB: clearly NB
        assert_eq!(unmapped.snap(&Point::new(52.305, 4.90004)), Ok("NB"));
        // 200 m from anything
        assert_eq!(
            unmapped.snap(&Point::new(52.305, 4.903)),
            Err(Unlocated::Unmapped)
        );
        assert_eq!(
            unmapped.locate(&reading(vec![], false)),
            Err(Unlocated::Unmapped)
        );
    }

    #[test]
    fn between_carriageways_only_a_heading_decides() {
        let l = Locator::new(HashMap::new(), &catalog(), 30.0);
        let middle = Point::new(52.305, 4.899855);
        assert_eq!(l.snap(&middle), Err(Unlocated::Ambiguous));
        assert_eq!(
            l.snap(&Point {
                heading: Some(178.0),
                ..middle
            }),
            Ok("SB")
        );
        assert_eq!(
            l.snap(&Point {
                heading: Some(5.0),
                ..middle
            }),
            Ok("NB")
        );
        assert_eq!(
            l.snap(&Point {
                heading: Some(90.0),
                ..middle
            }),
            Err(Unlocated::Unmapped)
        );
    }

    #[test]
    fn a_line_covers_every_segment_it_touches() {
        let l = Locator::new(HashMap::new(), &catalog(), 30.0);
        let line = vec![
            Point::new(52.301, 4.90002),
            Point::new(52.302, 4.90001),
            Point::new(52.3, 4.9505),
        ];
        assert_eq!(
            l.locate(&reading(line, true)),
            Ok(vec!["NB".to_string(), "SIDE".to_string()])
        );
        let off = Locator::new(HashMap::new(), &catalog(), 0.0);
        assert_eq!(off.snap(&Point::new(52.305, 4.9)), Err(Unlocated::Unmapped));
    }

    #[test]
    fn mapping_files_say_what_is_wrong() {
        assert!(parse_mapping("").is_err());
        assert!(parse_mapping("id,segment\n")
            .unwrap_err()
            .contains("header"));
        assert!(parse_mapping("location,segment_id\na\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(parse_mapping("location,segment_id\na,S1\na,S2\n")
            .unwrap_err()
            .contains("twice"));
        assert_eq!(
            parse_mapping("segment_id,location\nS1,a\na2,\n").unwrap_err(),
            "line 3: needs a location and a segment_id"
        );
    }
}
