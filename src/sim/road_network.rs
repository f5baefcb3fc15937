//! A connected road network over the generator's segment ids ([`super::generator::segment_id`]),
//! as a catalogue with upstream/downstream links: what a city or a region looks like to
//! detection that keys by neighbourhood, at any size. `roadpulse generate --catalog` writes it.
//!
//! Segment `i` is road `i % 6`, direction `(i / 6) % 2` (N, S), kilometre `i / 12`. The five
//! motorways (A1, A7, M4, M25, I-5) are two carriageways each: `X-N-k` runs from km k to k + 1,
//! `X-S-k` from km k + 1 to k, so `X-N-k → X-N-(k+1)` and `X-S-(k+1) → X-S-k`. At interchanges
//! (every [`JUNCTION_SPACING_KM`] km at most, each one joining two motorways in a ring
//! A1–A7–M4–M25–I-5–A1, so every motorway is reached) each carriageway arriving at the point
//! has ramps onto both carriageways of the other motorway. B12 is a one-way urban grid of
//! blocks of about [`URBAN_BLOCK_M`] m: `B12-N-k` are eastbound street blocks in rows,
//! `B12-S-k` southbound avenue blocks in columns; at every intersection the arriving blocks
//! lead straight on and round the corner. Each motorway leaves and enters the city once,
//! near its middle. The result is one connected graph, every segment with at most five
//! downstream neighbours from a few thousand segments on (below that, several motorways'
//! city gates share a block), which is what a real network is: one component, locally sparse.

use std::fmt::Write;

use super::generator::{free_flow_kph, segment_id};
use crate::domain::catalog::{Catalog, SegmentInfo};

/// Largest distance between two interchanges along a motorway.
pub const JUNCTION_SPACING_KM: u32 = 25;
/// Length of an urban block.
pub const URBAN_BLOCK_M: f64 = 250.0;
/// Fewer segments leave a motorway without its second kilometre.
pub const MIN_SEGMENTS: u32 = 23;

const MOTORWAYS: u32 = 5;
const URBAN: u32 = 5;
const N: u32 = 0;
const S: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a connected road network needs at least {MIN_SEGMENTS} segments, got {0}")]
pub struct TooSmall(pub u32);

/// Directed links between segment indices, built once; `links[i]` are `i`'s downstream.
struct Links {
    segments: u32,
    down: Vec<Vec<u32>>,
}

impl Links {
    fn index(&self, road: u32, dir: u32, km: u32) -> Option<u32> {
        let i = 12 * km + 6 * dir + road;
        (i < self.segments).then_some(i)
    }

    /// Number of kilometres of road `road`, direction `dir`.
    fn length(&self, road: u32, dir: u32) -> u32 {
        (self.segments + 11 - 6 * dir - road) / 12
    }

    fn link(&mut self, from: Option<u32>, to: Option<u32>) {
        if let (Some(f), Some(t)) = (from, to) {
            let d = &mut self.down[f as usize];
            if f != t && !d.contains(&t) {
                d.push(t);
            }
        }
    }

    /// Carriageways arriving at and leaving km point `p` of motorway `road`.
    fn at_point(&self, road: u32, p: u32) -> ([Option<u32>; 2], [Option<u32>; 2]) {
        let arriving = [self.index(road, N, p - 1), self.index(road, S, p)];
        let leaving = [self.index(road, N, p), self.index(road, S, p - 1)];
        (arriving, leaving)
    }

    fn motorways(&mut self) {
        for road in 0..MOTORWAYS {
            for km in 1..self.length(road, N) {
                self.link(self.index(road, N, km - 1), self.index(road, N, km));
            }
            for km in 1..self.length(road, S) {
                self.link(self.index(road, S, km), self.index(road, S, km - 1));
            }
        }
        // Every motorway chain has at least `shortest` km: points 1..shortest - 1 exist on all.
        let shortest = (0..MOTORWAYS)
            .flat_map(|r| [self.length(r, N), self.length(r, S)])
            .min()
            .unwrap_or(0);
        let spacing = ((shortest - 1) / MOTORWAYS).clamp(1, JUNCTION_SPACING_KM);
        let points: Vec<u32> = (1..shortest).filter(|p| p % spacing == 0).collect();
        // At least one interchange per pair of the ring, so the motorways form one network.
        for m in 0..points.len().max(MOTORWAYS as usize) {
            let p = points[m % points.len()];
            let (a, b) = (m as u32 % MOTORWAYS, (m as u32 + 1) % MOTORWAYS);
            self.interchange(a, b, p);
            self.interchange(b, a, p);
        }
    }

    /// Ramps from every carriageway of `from` arriving at `p` onto both carriageways of `to`.
    fn interchange(&mut self, from: u32, to: u32, p: u32) {
        let (arriving, _) = self.at_point(from, p);
        let (_, leaving) = self.at_point(to, p);
        for a in arriving {
            for l in leaving {
                self.link(a, l);
            }
        }
    }

    /// The urban grid; returns the blocks where traffic enters and leaves it for each motorway.
    fn urban_grid(&mut self) -> Vec<(Option<u32>, Option<u32>)> {
        let (streets, avenues) = (self.length(URBAN, N), self.length(URBAN, S));
        let width = (f64::from(streets).sqrt().ceil() as u32).max(1);
        let rows = streets.div_ceil(width);
        let columns = avenues.div_ceil(width);
        // Street block k: row k / width, from column k % width to the next. Avenue block k:
        // column k / width, from row k % width to the next.
        let street = |r: u32, c: u32| (c < width).then(|| r * width + c);
        let avenue = |r: u32, c: u32| (r < width).then(|| c * width + r);
        for r in 0..=rows.max(width) {
            for c in 0..=columns.max(width) {
                let arriving = [
                    c.checked_sub(1).and_then(|c| street(r, c)).map(|k| (N, k)),
                    r.checked_sub(1).and_then(|r| avenue(r, c)).map(|k| (S, k)),
                ];
                let leaving = [street(r, c).map(|k| (N, k)), avenue(r, c).map(|k| (S, k))];
                for (ad, ak) in arriving.into_iter().flatten() {
                    for (ld, lk) in leaving.into_iter().flatten() {
                        self.link(self.index(URBAN, ad, ak), self.index(URBAN, ld, lk));
                    }
                }
            }
        }
        (0..MOTORWAYS)
            .map(|m| {
                let entry = (m * rows / MOTORWAYS) * width;
                let exit = ((m * columns / MOTORWAYS) * width + width - 1).min(avenues - 1);
                (
                    self.index(URBAN, N, entry.min(streets - 1)),
                    self.index(URBAN, S, exit),
                )
            })
            .collect()
    }

    /// Each motorway's junction with the city, at its middle point.
    fn city_junctions(&mut self, gates: &[(Option<u32>, Option<u32>)]) {
        for (road, (entry, exit)) in (0..MOTORWAYS).zip(gates) {
            let p = (self.length(road, S) / 2).max(1);
            let (arriving, leaving) = self.at_point(road, p);
            for a in arriving {
                self.link(a, *entry);
            }
            for l in leaving {
                self.link(*exit, l);
            }
        }
    }
}

/// The downstream links of segments `0..segments` (indices into [`segment_id`]).
fn links(segments: u32) -> Result<Vec<Vec<u32>>, TooSmall> {
    if segments < MIN_SEGMENTS {
        return Err(TooSmall(segments));
    }
    let mut l = Links {
        segments,
        down: vec![Vec::new(); segments as usize],
    };
    l.motorways();
    let gates = l.urban_grid();
    l.city_junctions(&gates);
    Ok(l.down)
}

/// The catalogue of segments `0..segments`: free-flow speed and lanes as
/// [`super::generator::catalog`], length, and the network's links both ways.
pub fn connected_catalog(segments: u32) -> Result<Catalog, TooSmall> {
    let down = links(segments)?;
    let mut up = vec![Vec::new(); down.len()];
    for (from, tos) in down.iter().enumerate() {
        for &t in tos {
            up[t as usize].push(from as u32);
        }
    }
    let ids = |v: &[u32]| v.iter().map(|&i| segment_id(i)).collect();
    let mut c = Catalog::default();
    for i in 0..segments {
        let info = SegmentInfo {
            free_flow_kph: free_flow_kph(i),
            lanes: Some(2 + i % 3),
            length_m: Some(if i % 6 == URBAN {
                URBAN_BLOCK_M
            } else {
                1000.0
            }),
            upstream: ids(&up[i as usize]),
            downstream: ids(&down[i as usize]),
            geometry: Vec::new(),
            signal: None,
        };
        c.insert(segment_id(i), info);
    }
    Ok(c)
}

/// The catalogue as the CSV `congestion.catalog` reads, segments in generator order.
pub fn catalog_csv(catalog: &Catalog, segments: u32) -> String {
    let mut out = String::from("segment_id,free_flow_kph,lanes,length_m,upstream,downstream\n");
    for id in (0..segments).map(segment_id) {
        let Some(s) = catalog.get(&id) else { continue };
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let _ = writeln!(
            out,
            "{id},{},{},{},{},{}",
            s.free_flow_kph,
            s.lanes.map_or(String::new(), |l| l.to_string()),
            opt(s.length_m),
            s.upstream.join("|"),
            s.downstream.join("|"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::network::Network;

    /// Number of weakly connected components (union-find).
    fn components(down: &[Vec<u32>]) -> usize {
        let mut parent: Vec<usize> = (0..down.len()).collect();
        fn root(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        for (from, tos) in down.iter().enumerate() {
            for &t in tos {
                let (a, b) = (root(&mut parent, from), root(&mut parent, t as usize));
                parent[a] = b;
            }
        }
        (0..down.len())
            .filter(|&i| root(&mut parent, i) == i)
            .count()
    }

    #[test]
    fn one_component_at_every_size() {
        let mut wrong = Vec::new();
        for n in (MIN_SEGMENTS..600).chain([1_000, 2_000, 9_999, 10_000, 100_000]) {
            let down = links(n).unwrap();
            let parts = components(&down);
            let most = down.iter().map(Vec::len).max().unwrap_or(0);
            // Small networks put several motorways' city gates on one block.
            let bound = if n >= 2_000 { 5 } else { 10 };
            if parts != 1 || most > bound || down.iter().flatten().any(|&t| t >= n) {
                wrong.push(format!(
                    "{n} segments: {parts} components, up to {most} downstream"
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(links(MIN_SEGMENTS - 1), Err(TooSmall(MIN_SEGMENTS - 1)));
    }

    #[test]
    fn motorways_are_chains_with_interchanges_and_the_city_is_a_grid() {
        let c = connected_catalog(10_000).unwrap();
        let down = |id: &str| c.get(id).unwrap().downstream.clone();
        assert_eq!(down("A1-N-003"), vec!["A1-N-004"]);
        assert_eq!(down("A1-S-004"), vec!["A1-S-003"]);
        // The first interchange (km 25) joins A1 and A7: through lane and two ramps each way.
        let mut j = down("A1-N-024");
        j.sort();
        assert_eq!(j, vec!["A1-N-025", "A7-N-025", "A7-S-024"]);
        assert!(down("A7-S-025").contains(&"A1-S-024".to_string()));
        // An urban block leads straight on and round the corner.
        assert_eq!(c.get("B12-N-010").unwrap().downstream.len(), 2);
        assert_eq!(c.free_flow_kph("B12-S-003"), Some(50.0));
        assert_eq!(c.free_flow_kph("M25-N-100"), Some(120.0));
    }

    #[test]
    fn csv_round_trips_with_links_both_ways() {
        let n = 500;
        let c = connected_catalog(n).unwrap();
        let parsed = Catalog::parse_csv(&catalog_csv(&c, n)).unwrap();
        assert_eq!(parsed, c);
        for id in parsed.ids() {
            for d in &parsed.get(id).unwrap().downstream {
                assert!(parsed.get(d).unwrap().upstream.iter().any(|u| u == id));
            }
        }
        // Detection's network sees one connected graph, locally sparse.
        let network = Network::from_catalog(&parsed);
        assert_eq!(network.len(), n as usize);
        let start = network.index("A1-N-000").unwrap();
        assert_eq!(network.neighbourhood(start, n).len(), n as usize);
        let widest = (0..n).map(|i| network.neighbourhood(i, 2).len()).max();
        assert!(
            widest.is_some_and(|w| w <= 40),
            "2-hop neighbourhood of {widest:?}"
        );
    }
}
