//! The road network detection reads: the catalogue's upstream/downstream links as one directed
//! graph, built once in O(segments + links) and never changed.
//!
//! Segments get dense indices in id order (so every worker and every replay numbers them the
//! same way); links are kept in compressed rows (`CSR`), downstream and upstream, each row
//! sorted by index and free of duplicates. A link named from either end (`A.downstream = B` or
//! `B.upstream = A`) is the same link. A segment named only in a link is a node too; a segment
//! the catalogue does not know at all is not in the network and has no neighbours.
//!
//! [`Network::neighbourhood`] is what routing and detection are keyed by: the segments within
//! `hops` links of a segment, in either direction.

use std::collections::HashMap;

use crate::domain::catalog::Catalog;

/// Compressed rows: the neighbours of node `i` are `items[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rows {
    offsets: Vec<u32>,
    items: Vec<u32>,
}

impl Rows {
    /// From `(from, to)` pairs over `n` nodes: counted, placed, then each row sorted and
    /// deduplicated in place (a counting sort: linear in nodes plus links).
    fn build(n: usize, pairs: &[(u32, u32)]) -> Rows {
        let mut counts = vec![0u32; n + 1];
        for &(from, _) in pairs {
            counts[from as usize + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut items = vec![0u32; pairs.len()];
        for &(from, to) in pairs {
            items[next[from as usize] as usize] = to;
            next[from as usize] += 1;
        }
        let mut rows = Rows {
            offsets: vec![0; n + 1],
            items: Vec::with_capacity(items.len()),
        };
        for i in 0..n {
            let row = &mut items[counts[i] as usize..counts[i + 1] as usize];
            row.sort_unstable();
            let mut last = None;
            for &to in row.iter() {
                if last != Some(to) && to as usize != i {
                    rows.items.push(to);
                }
                last = Some(to);
            }
            rows.offsets[i + 1] = rows.items.len() as u32;
        }
        rows
    }

    fn of(&self, i: u32) -> &[u32] {
        let i = i as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    ids: Vec<String>,
    index: HashMap<String, u32>,
    down: Rows,
    up: Rows,
    /// Lanes of each node from the catalogue (0: unknown).
    lanes: Vec<u8>,
    /// Whether each node ends at a traffic signal.
    signalised: Vec<bool>,
}

impl Network {
    pub fn from_catalog(catalog: &Catalog) -> Network {
        let mut names: Vec<&str> = Vec::with_capacity(catalog.len());
        for id in catalog.ids() {
            names.push(id);
            if let Some(info) = catalog.get(id) {
                names.extend(info.upstream.iter().map(String::as_str));
                names.extend(info.downstream.iter().map(String::as_str));
            }
        }
        names.sort_unstable();
        names.dedup();
        let ids: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let index: HashMap<String, u32> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let mut links = Vec::new();
        for id in catalog.ids() {
            let (Some(info), Some(&i)) = (catalog.get(id), index.get(id)) else {
                continue;
            };
            links.extend(
                info.downstream
                    .iter()
                    .filter_map(|d| Some((i, *index.get(d)?))),
            );
            links.extend(
                info.upstream
                    .iter()
                    .filter_map(|u| Some((*index.get(u)?, i))),
            );
        }
        let reversed: Vec<(u32, u32)> = links.iter().map(|&(a, b)| (b, a)).collect();
        let info = |id: &String| catalog.get(id);
        Network {
            lanes: ids
                .iter()
                .map(|id| {
                    info(id)
                        .and_then(|s| s.lanes)
                        .map_or(0, |l| l.min(255) as u8)
                })
                .collect(),
            signalised: ids
                .iter()
                .map(|id| info(id).is_some_and(|s| s.signal.is_some()))
                .collect(),
            down: Rows::build(ids.len(), &links),
            up: Rows::build(ids.len(), &reversed),
            ids,
            index,
        }
    }

    /// Nodes: catalogue segments and the segments their links name.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn links(&self) -> usize {
        self.down.items.len()
    }

    pub fn index(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    pub fn id(&self, i: u32) -> &str {
        self.ids.get(i as usize).map_or("", String::as_str)
    }

    /// Segments directly downstream of `i`, by index.
    pub fn downstream(&self, i: u32) -> &[u32] {
        self.down.of(i)
    }

    /// Segments directly upstream of `i`, by index.
    pub fn upstream(&self, i: u32) -> &[u32] {
        self.up.of(i)
    }

    /// Whether the catalogue makes `d` (directly downstream of `i`) a bottleneck for traffic
    /// from `i`: fewer lanes than `i` (both known), or fed by several segments (a merge).
    pub fn bottleneck(&self, i: u32, d: u32) -> bool {
        let lanes = |n: u32| self.lanes.get(n as usize).copied().unwrap_or(0);
        let drop = lanes(d) > 0 && lanes(i) > 0 && lanes(d) < lanes(i);
        drop || self.upstream(d).len() > 1
    }

    /// Whether `i` ends at a traffic signal (catalogue `signal_cycle_s`).
    pub fn signalised(&self, i: u32) -> bool {
        self.signalised.get(i as usize).copied().unwrap_or(false)
    }

    /// Whether `j` is directly downstream of `i`.
    pub fn is_downstream(&self, i: u32, j: u32) -> bool {
        self.downstream(i).binary_search(&j).is_ok()
    }

    /// Every segment within `hops` links of `i` in either direction, `i` included, sorted.
    pub fn neighbourhood(&self, i: u32, hops: u32) -> Vec<u32> {
        let mut seen = vec![i];
        let mut frontier = vec![i];
        for _ in 0..hops {
            let mut next = Vec::new();
            for &n in &frontier {
                for &m in self.downstream(n).iter().chain(self.upstream(n)) {
                    if !seen.contains(&m) && !next.contains(&m) {
                        next.push(m);
                    }
                }
            }
            seen.extend_from_slice(&next);
            frontier = next;
        }
        seen.sort_unstable();
        seen
    }

    /// The direct neighbours of `i` (upstream and downstream), without `i`, sorted.
    pub fn adjacent(&self, i: u32) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .downstream(i)
            .iter()
            .chain(self.upstream(i))
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(csv: &str) -> Network {
        Network::from_catalog(&Catalog::parse_csv(csv).unwrap())
    }

    #[test]
    fn links_from_either_end_are_one_link_and_named_segments_are_nodes() {
        let n = net("segment_id,free_flow_kph,upstream,downstream\n\
             b,100,a,c\na,100,,b\nc,100,b,\ny,50,,\nz1,80,,z2\n");
        // a b c y z1 z2, in id order.
        assert_eq!(n.len(), 6);
        let (a, b, c) = (
            n.index("a").unwrap(),
            n.index("b").unwrap(),
            n.index("c").unwrap(),
        );
        assert_eq!(n.downstream(a), &[b]);
        assert_eq!(n.downstream(b), &[c]);
        assert_eq!(n.upstream(c), &[b]);
        assert_eq!(n.links(), 3, "a→b, b→c, z1→z2, each once");
        let z2 = n.index("z2").unwrap();
        assert_eq!(n.upstream(z2), &[n.index("z1").unwrap()]);
        assert!(n.is_downstream(a, b) && !n.is_downstream(b, a));
        assert_eq!(n.index("unknown"), None);
        assert!(n.downstream(99).is_empty(), "out of range: no neighbours");
    }

    #[test]
    fn bottlenecks_and_signals_from_the_catalogue() {
        let n = net("segment_id,free_flow_kph,lanes,length_m,downstream,signal_cycle_s,signal_green_s\n\
             a,100,3,500,b,,\nb,100,3,500,c,,\nc,100,2,500,m,,\nr,60,,500,m,,\nm,100,3,500,,90,50\n");
        let i = |id: &str| n.index(id).unwrap();
        assert!(!n.bottleneck(i("a"), i("b")), "3 lanes to 3");
        assert!(n.bottleneck(i("b"), i("c")), "a lane drop");
        assert!(n.bottleneck(i("c"), i("m")), "m merges c and r");
        assert!(n.bottleneck(i("r"), i("m")), "lanes unknown, still a merge");
        assert!(n.signalised(i("m")) && !n.signalised(i("c")));
        assert!(!n.signalised(99), "out of range");
    }

    #[test]
    fn neighbourhoods_go_both_ways_and_stop_at_the_hop_count() {
        // A chain s0 → s1 → … → s6 and a branch s3 → t.
        let mut csv = String::from("segment_id,free_flow_kph,downstream\n");
        for i in 0..7 {
            let next = if i < 6 {
                format!("s{}", i + 1)
            } else {
                String::new()
            };
            let extra = if i == 3 { "|t" } else { "" };
            csv.push_str(&format!("s{i},100,{next}{extra}\n"));
        }
        let n = net(&csv);
        let ids = |v: Vec<u32>| {
            v.into_iter()
                .map(|i| n.id(i).to_string())
                .collect::<Vec<_>>()
        };
        let s3 = n.index("s3").unwrap();
        assert_eq!(ids(n.neighbourhood(s3, 0)), vec!["s3"]);
        assert_eq!(ids(n.neighbourhood(s3, 1)), vec!["s2", "s3", "s4", "t"]);
        assert_eq!(
            ids(n.neighbourhood(s3, 2)),
            vec!["s1", "s2", "s3", "s4", "s5", "t"]
        );
        let t = n.index("t").unwrap();
        assert_eq!(ids(n.neighbourhood(t, 2)), vec!["s2", "s3", "s4", "t"]);
        assert_eq!(ids(n.adjacent(s3)), vec!["s2", "s4", "t"]);
    }

    #[test]
    fn self_links_and_duplicates_are_dropped() {
        let n = net("segment_id,free_flow_kph,upstream,downstream\na,100,a|b,b|b\nb,100,a,\n");
        let (a, b) = (n.index("a").unwrap(), n.index("b").unwrap());
        assert_eq!(n.downstream(a), &[b]);
        assert_eq!(n.upstream(a), &[b], "b is named upstream of a");
        assert_eq!(n.links(), 2);
    }
}
