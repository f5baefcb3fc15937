//! Corridors: the connected components of the catalogue's upstream/downstream graph, the unit
//! detection is keyed by (see the module doc of [`super`]). A corridor's id is its smallest
//! segment id; a segment the catalogue does not link is a corridor of its own.
//!
//! The [`Assembler`] collects one corridor's final windows, which arrive from several tasks in
//! no particular interleaving, and releases each window start once, in order, when every
//! segment of the corridor has reported it or the corridor's stream time (the largest window
//! end seen) is `lateness_ms` past its end. A window arriving after its start was released is
//! counted as late and not used.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::SegmentWindow;
use crate::domain::catalog::Catalog;
use crate::domain::event::EpochMillis;

/// The segments of one corridor and their links, upstream first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    pub id: String,
    /// Segments ordered so that every link goes from earlier to later (ties by id).
    pub order: Vec<String>,
    pub upstream: BTreeMap<String, Vec<String>>,
    pub downstream: BTreeMap<String, Vec<String>>,
}

impl Topology {
    pub fn single(segment: &str) -> Topology {
        Topology {
            id: segment.to_string(),
            order: vec![segment.to_string()],
            ..Topology::default()
        }
    }

    pub fn upstream_of(&self, s: &str) -> &[String] {
        self.upstream.get(s).map_or(&[], Vec::as_slice)
    }

    pub fn downstream_of(&self, s: &str) -> &[String] {
        self.downstream.get(s).map_or(&[], Vec::as_slice)
    }

    /// A segment and its direct neighbours.
    pub fn zone(&self, s: &str) -> Vec<String> {
        let mut z = vec![s.to_string()];
        z.extend(self.upstream_of(s).iter().cloned());
        z.extend(self.downstream_of(s).iter().cloned());
        z
    }
}

/// Every corridor of a catalogue.
#[derive(Debug, Clone, Default)]
pub struct Corridors {
    of: HashMap<String, String>,
    topologies: HashMap<String, Topology>,
}

impl Corridors {
    pub fn from_catalog(catalog: &Catalog) -> Corridors {
        let mut links: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for id in catalog.ids() {
            let info = catalog.get(id).expect("listed id");
            links.entry(id.to_string()).or_default();
            for d in &info.downstream {
                links.entry(id.to_string()).or_default().insert(d.clone());
                links.entry(d.clone()).or_default();
            }
            for u in &info.upstream {
                links.entry(u.clone()).or_default().insert(id.to_string());
            }
        }
        let mut c = Corridors::default();
        let mut seen = BTreeSet::new();
        for start in links.keys() {
            if seen.contains(start) {
                continue;
            }
            let members = component(start, &links);
            seen.extend(members.iter().cloned());
            let topo = topology(&members, &links);
            for m in &members {
                c.of.insert(m.clone(), topo.id.clone());
            }
            c.topologies.insert(topo.id.clone(), topo);
        }
        c
    }

    /// The corridor key of a segment (the segment itself when the catalogue has no links).
    pub fn corridor_of<'a>(&'a self, segment: &'a str) -> &'a str {
        self.of.get(segment).map_or(segment, String::as_str)
    }

    pub fn topology(&self, corridor: &str) -> Topology {
        self.topologies
            .get(corridor)
            .cloned()
            .unwrap_or_else(|| Topology::single(corridor))
    }
}

/// The segments linked to `start` in either direction.
fn component(start: &str, links: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut members = BTreeSet::from([start.to_string()]);
    let mut stack = vec![start.to_string()];
    while let Some(s) = stack.pop() {
        let down = links.get(&s).into_iter().flatten();
        let up = links.iter().filter(|(_, d)| d.contains(&s)).map(|(u, _)| u);
        for n in down.chain(up) {
            if members.insert(n.clone()) {
                stack.push(n.clone());
            }
        }
    }
    members
}

/// Kahn's order over the component (ties by id; the members of a cycle follow by id).
fn topology(members: &BTreeSet<String>, links: &BTreeMap<String, BTreeSet<String>>) -> Topology {
    let mut topo = Topology {
        id: members.iter().next().cloned().unwrap_or_default(),
        ..Topology::default()
    };
    for m in members {
        for d in links.get(m).into_iter().flatten() {
            topo.downstream
                .entry(m.clone())
                .or_default()
                .push(d.clone());
            topo.upstream.entry(d.clone()).or_default().push(m.clone());
        }
    }
    let mut indegree: BTreeMap<&str, usize> = members
        .iter()
        .map(|m| (m.as_str(), topo.upstream_of(m).len()))
        .collect();
    while topo.order.len() < members.len() {
        let next = indegree
            .iter()
            .find(|(_, d)| **d == 0)
            .or_else(|| indegree.iter().next())
            .map(|(s, _)| s.to_string());
        let Some(next) = next else { break };
        indegree.remove(next.as_str());
        for d in topo.downstream_of(&next) {
            if let Some(n) = indegree.get_mut(d.as_str()) {
                *n = n.saturating_sub(1);
            }
        }
        topo.order.push(next);
    }
    topo
}

/// Window starts of one corridor waiting for all their segments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assembler {
    pending: BTreeMap<EpochMillis, Vec<SegmentWindow>>,
    /// Largest window end seen: the corridor's stream time.
    stream_time: Option<EpochMillis>,
    /// End of the last released window start.
    released_through: Option<EpochMillis>,
    pub late: u64,
}

impl Assembler {
    pub fn push(&mut self, w: SegmentWindow) {
        if self.released_through.is_some_and(|r| w.window_start < r) {
            self.late += 1;
            return;
        }
        self.stream_time = Some(
            self.stream_time
                .map_or(w.window_end, |t| t.max(w.window_end)),
        );
        self.pending.entry(w.window_start).or_default().push(w);
    }

    /// Complete (or overdue) windows, oldest first, segments in `order`.
    pub fn release(
        &mut self,
        members: usize,
        lateness_ms: i64,
        order: &[String],
    ) -> Vec<Vec<SegmentWindow>> {
        let mut ready = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            let end = entry.get()[0].window_end;
            let complete = entry.get().len() >= members;
            let overdue = self.stream_time.is_some_and(|t| t >= end + lateness_ms);
            if !(complete || overdue) {
                break;
            }
            ready.push(sorted(entry.remove(), order));
            self.released_through = Some(end);
        }
        ready
    }

    /// End of input: everything pending, in order.
    pub fn flush(&mut self, order: &[String]) -> Vec<Vec<SegmentWindow>> {
        let all = std::mem::take(&mut self.pending);
        all.into_values().map(|v| sorted(v, order)).collect()
    }
}

fn sorted(mut windows: Vec<SegmentWindow>, order: &[String]) -> Vec<SegmentWindow> {
    let rank = |s: &str| order.iter().position(|o| o == s).unwrap_or(usize::MAX);
    windows.sort_by(|a, b| {
        (rank(&a.segment_id), &a.segment_id).cmp(&(rank(&b.segment_id), &b.segment_id))
    });
    windows.dedup_by(|a, b| a.segment_id == b.segment_id);
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(seg: &str, start: i64) -> SegmentWindow {
        SegmentWindow {
            segment_id: seg.into(),
            window_start: start,
            window_end: start + 60_000,
            samples: 0,
            probe_speed_kph: None,
            speed_kph: None,
            volume: 0,
            occupancy: None,
            free_flow_kph: 100.0,
        }
    }

    #[test]
    fn corridors_are_linked_components_in_flow_order() {
        let cat = Catalog::parse_csv(
            "segment_id,free_flow_kph,upstream,downstream\n\
             x2,100,x1,x3\nx1,100,,\nx3,100,,\ny,50,,\nz1,80,,z2\n",
        )
        .unwrap();
        let c = Corridors::from_catalog(&cat);
        assert_eq!(c.corridor_of("x3"), "x1");
        assert_eq!(c.corridor_of("z2"), "z1");
        assert_eq!(c.corridor_of("y"), "y");
        assert_eq!(c.corridor_of("unknown"), "unknown");
        let t = c.topology("x1");
        assert_eq!(t.order, vec!["x1", "x2", "x3"]);
        assert_eq!(t.zone("x2"), vec!["x2", "x1", "x3"]);
    }

    #[test]
    fn assembler_releases_complete_or_overdue_windows_in_order() {
        let order: Vec<String> = vec!["a".into(), "b".into()];
        let mut a = Assembler::default();
        a.push(window("b", 0));
        a.push(window("b", 60_000));
        assert!(a.release(2, 120_000, &order).is_empty());
        a.push(window("a", 0));
        let r = a.release(2, 120_000, &order);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0][0].segment_id, "a", "flow order");
        // Window 60 000 lacks "a"; it goes once stream time is 120 s past its end.
        a.push(window("b", 120_000));
        assert!(a.release(2, 120_000, &order).is_empty());
        a.push(window("b", 180_000));
        let r = a.release(2, 120_000, &order);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0][0].window_start, 60_000);
        a.push(window("a", 60_000));
        assert_eq!(a.late, 1);
    }
}
