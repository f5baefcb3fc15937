//! The segment catalogue: what is known about each road segment before any traffic is seen.
//!
//! Format (documented in the README): a CSV text with a header line naming its columns.
//! `segment_id` and `free_flow_kph` are required; `lanes`, `length_m`, `upstream`,
//! `downstream` and `geometry` are optional (`upstream`/`downstream` hold `|`-separated
//! segment ids; `geometry` is the segment's line in driving direction, WGS 84 points
//! `lon lat` separated by `;`), and so are `signal_cycle_s` and `signal_green_s`: the cycle
//! and the effective green time of the signal at the segment's downstream end, which make it
//! a signalised street segment (see [`super::urban`]; both or neither, green shorter than the
//! cycle, `length_m` given). Blank lines and lines starting with `#` are skipped. Parsing
//! takes text, never a path: reading the file is the caller's business.

use std::collections::HashMap;

use super::urban::Signal;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentInfo {
    pub free_flow_kph: f64,
    pub lanes: Option<u32>,
    pub length_m: Option<f64>,
    pub upstream: Vec<String>,
    pub downstream: Vec<String>,
    /// The segment's line in driving direction, `(lon, lat)` in degrees; empty when unknown.
    pub geometry: Vec<(f64, f64)>,
    /// The signal at the downstream end, on a signalised street.
    pub signal: Option<Signal>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    segments: HashMap<String, SegmentInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalogue line {line}: {message}")]
pub struct CatalogError {
    pub line: usize,
    pub message: String,
}

impl Catalog {
    pub fn get(&self, segment_id: &str) -> Option<&SegmentInfo> {
        self.segments.get(segment_id)
    }

    pub fn free_flow_kph(&self, segment_id: &str) -> Option<f64> {
        self.get(segment_id).map(|s| s.free_flow_kph)
    }

    /// Every segment id, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.segments.keys().map(String::as_str)
    }

    /// Every segment with what is known of it, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SegmentInfo)> {
        self.segments.iter().map(|(id, info)| (id.as_str(), info))
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn insert(&mut self, segment_id: impl Into<String>, info: SegmentInfo) {
        self.segments.insert(segment_id.into(), info);
    }

    pub fn parse_csv(text: &str) -> Result<Catalog, CatalogError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (_, header) = lines.next().ok_or(CatalogError {
            line: 1,
            message: "no header line".into(),
        })?;
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let col = |name: &str| columns.iter().position(|c| *c == name);
        let err = |line, message: String| CatalogError { line, message };
        let id_col =
            col("segment_id").ok_or_else(|| err(1, "header has no `segment_id` column".into()))?;
        let ff_col = col("free_flow_kph")
            .ok_or_else(|| err(1, "header has no `free_flow_kph` column".into()))?;
        let mut catalog = Catalog::default();
        for (n, line) in lines {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let cell = |c: Option<usize>| {
                c.and_then(|i| cells.get(i).copied())
                    .filter(|s| !s.is_empty())
            };
            let id = cell(Some(id_col)).ok_or_else(|| err(n, "empty segment_id".into()))?;
            let free_flow_kph = number(cell(Some(ff_col)), "free_flow_kph", n)?
                .filter(|v| *v > 0.0)
                .ok_or_else(|| {
                    err(
                        n,
                        format!("segment {id}: free_flow_kph must be a positive number"),
                    )
                })?;
            let length_m = number(cell(col("length_m")), "length_m", n)?;
            let cycle = number(cell(col("signal_cycle_s")), "signal_cycle_s", n)?;
            let green = number(cell(col("signal_green_s")), "signal_green_s", n)?;
            let info = SegmentInfo {
                free_flow_kph,
                lanes: number(cell(col("lanes")), "lanes", n)?.map(|v| v as u32),
                length_m,
                upstream: list(cell(col("upstream"))),
                downstream: list(cell(col("downstream"))),
                geometry: geometry(cell(col("geometry")))
                    .map_err(|m| err(n, format!("segment {id}: {m}")))?,
                signal: signal(cycle, green, length_m).map_err(|m| err(n, format!("{id}: {m}")))?,
            };
            catalog.segments.insert(id.to_string(), info);
        }
        Ok(catalog)
    }
}

fn number(cell: Option<&str>, name: &str, line: usize) -> Result<Option<f64>, CatalogError> {
    cell.map(|s| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or(CatalogError {
                line,
                message: format!("{name} {s:?} is not a non-negative number"),
            })
    })
    .transpose()
}

/// `lon lat;lon lat;…`: at least two points, each within WGS 84's ranges.
fn geometry(cell: Option<&str>) -> Result<Vec<(f64, f64)>, String> {
    let Some(text) = cell else {
        return Ok(Vec::new());
    };
    let points: Vec<(f64, f64)> = text
        .split(';')
        .map(|p| {
            let mut it = p.split_whitespace().map(str::parse::<f64>);
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(lon)), Some(Ok(lat)), None)
                    if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) =>
                {
                    Ok((lon, lat))
                }
                _ => Err(format!(
                    "geometry point {p:?} is not \"lon lat\" in degrees"
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    if points.len() < 2 {
        return Err("geometry needs at least two points".into());
    }
    Ok(points)
}

fn signal(
    cycle_s: Option<f64>,
    green_s: Option<f64>,
    length_m: Option<f64>,
) -> Result<Option<Signal>, String> {
    let (cycle_s, green_s) = match (cycle_s, green_s) {
        (None, None) => return Ok(None),
        (Some(c), Some(g)) => (c, g),
        _ => return Err("signal_cycle_s and signal_green_s go together".into()),
    };
    if !(cycle_s > 0.0 && cycle_s <= 600.0 && green_s > 0.0 && green_s < cycle_s) {
        return Err(format!(
            "a signal needs 0 < signal_green_s < signal_cycle_s <= 600, got {green_s} and {cycle_s}"
        ));
    }
    if !length_m.is_some_and(|l| l > 0.0) {
        return Err("a signalised segment needs its length_m".into());
    }
    Ok(Some(Signal { cycle_s, green_s }))
}

fn list(cell: Option<&str>) -> Vec<String> {
    cell.map(|s| {
        s.split('|')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_required_and_optional_columns() {
        let text = "# my city\nsegment_id,free_flow_kph,lanes,length_m,upstream,downstream\n\
                    A1,100,3,1200,,A2\nA2, 90 ,2,,A1,A3|A4\n\nB1,50\n";
        let c = Catalog::parse_csv(text).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.free_flow_kph("A2"), Some(90.0));
        assert_eq!(c.get("A2").unwrap().downstream, vec!["A3", "A4"]);
        assert_eq!(c.get("A1").unwrap().lanes, Some(3));
        assert_eq!(c.get("B1").unwrap().length_m, None);
        assert_eq!(c.free_flow_kph("nope"), None);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Catalog::parse_csv("segment_id,free_flow_kph\nA,0\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = Catalog::parse_csv("segment_id,free_flow_kph\n\nA,fast\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(Catalog::parse_csv("id,speed\n").is_err());
        let e =
            Catalog::parse_csv("segment_id,free_flow_kph,geometry\nA,50,4.9 52.3\n").unwrap_err();
        assert!(e.message.contains("two points"), "{e}");
        let e = Catalog::parse_csv("segment_id,free_flow_kph,geometry\nA,50,4.9 52.3;191 52\n")
            .unwrap_err();
        assert!(e.message.contains("191 52"), "{e}");
    }

    #[test]
    fn geometry_is_lon_lat_in_driving_direction() {
        let c = Catalog::parse_csv(
            "segment_id,free_flow_kph,geometry\nA,100,4.8901 52.3702; 4.8950 52.3731\nB,50\n",
        )
        .unwrap();
        assert_eq!(
            c.get("A").unwrap().geometry,
            vec![(4.8901, 52.3702), (4.8950, 52.3731)]
        );
        assert!(c.get("B").unwrap().geometry.is_empty());
    }

    #[test]
    fn signal_columns() {
        let head = "segment_id,free_flow_kph,length_m,signal_cycle_s,signal_green_s\n";
        let c = Catalog::parse_csv(&format!("{head}A,50,600,90,45\nB,50,600,,\n")).unwrap();
        let s = c.get("A").unwrap().signal.unwrap();
        assert_eq!((s.cycle_s, s.green_s), (90.0, 45.0));
        assert_eq!(c.get("B").unwrap().signal, None);
        for bad in [
            "A,50,600,90,\n",
            "A,50,600,90,95\n",
            "A,50,,90,45\n",
            "A,50,600,0,0\n",
        ] {
            let e = Catalog::parse_csv(&format!("{head}{bad}")).unwrap_err();
            assert_eq!(e.line, 2, "{bad}: {e}");
        }
    }
}
