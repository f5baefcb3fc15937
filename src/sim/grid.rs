//! A connected road network shaped like a city grid, for benchmarks and tests of detection at
//! scale: intersections on a square grid, and between each pair of neighbouring intersections
//! one segment each way. A segment leads into every segment leaving its end intersection but
//! the U-turn (straight on, left, right), so a segment has up to three segments downstream
//! and three upstream, and the whole network is one connected graph.
//!
//! Ids are `G<x>-<y><E|W|N|S>`: the intersection a segment starts at and its heading.

use crate::domain::catalog::{Catalog, SegmentInfo};

const HEADINGS: [(char, i64, i64); 4] = [('E', 1, 0), ('W', -1, 0), ('N', 0, 1), ('S', 0, -1)];

fn id(x: i64, y: i64, h: char) -> String {
    format!("G{x}-{y}{h}")
}

/// The side of a grid with about `segments` segments (4 per intersection, fewer at the edge).
fn side(segments: u32) -> i64 {
    ((f64::from(segments) / 4.0).sqrt().ceil() as i64).max(2)
}

/// Every segment of the grid: (id, start x, start y, heading).
fn segments(n: i64) -> impl Iterator<Item = (String, i64, i64, char)> {
    (0..n).flat_map(move |x| {
        (0..n).flat_map(move |y| {
            HEADINGS
                .iter()
                .filter(move |(_, dx, dy)| (0..n).contains(&(x + dx)) && (0..n).contains(&(y + dy)))
                .map(move |(h, _, _)| (id(x, y, *h), x, y, *h))
        })
    })
}

/// A grid of about `segments` segments, 50 km/h, 2 lanes, 300 m each.
pub fn catalog(segments_wanted: u32) -> Catalog {
    let n = side(segments_wanted);
    let mut catalog = Catalog::default();
    for (seg, x, y, h) in segments(n) {
        let (_, dx, dy) = HEADINGS
            .iter()
            .find(|(c, ..)| *c == h)
            .copied()
            .unwrap_or(('E', 1, 0));
        let (ex, ey) = (x + dx, y + dy);
        let downstream = HEADINGS
            .iter()
            .filter(|(_, ddx, ddy)| !(*ddx == -dx && *ddy == -dy))
            .filter(|(_, ddx, ddy)| (0..n).contains(&(ex + ddx)) && (0..n).contains(&(ey + ddy)))
            .map(|(c, ..)| id(ex, ey, *c))
            .collect();
        let info = SegmentInfo {
            free_flow_kph: 50.0,
            lanes: Some(2),
            length_m: Some(300.0),
            downstream,
            ..SegmentInfo::default()
        };
        catalog.insert(seg, info);
    }
    catalog
}

/// The ids of [`catalog`]`(segments)`, in a fixed order.
pub fn ids(segments_wanted: u32) -> Vec<String> {
    segments(side(segments_wanted)).map(|(id, ..)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::network::Network;

    #[test]
    fn a_grid_is_one_connected_network_with_three_ways_on() {
        let c = catalog(100);
        // 5 × 5 intersections: 2 × (4 × 5) segments each way on each axis.
        assert_eq!(c.len(), 80);
        assert_eq!(ids(100).len(), 80);
        let net = Network::from_catalog(&c);
        let mid = net.index("G2-2E").unwrap();
        assert_eq!(net.downstream(mid).len(), 3, "straight, left, right");
        assert_eq!(net.upstream(mid).len(), 3);
        assert_eq!(net.neighbourhood(mid, 80).len(), 80, "connected");
    }
}
