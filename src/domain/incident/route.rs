//! Where detection input goes: the detection key of a segment is the segment itself, and key `k`
//! lives in partition `murmur2(k) mod P` of the repartition stage (Kafka's default partitioner,
//! so a key's partition is the one a keyed Kafka record would get). Key `k` needs the final
//! windows and reports of every segment within `hops` links of it, so each window of segment
//! `s` goes to the partitions of the keys in `s`'s neighbourhood — one copy per partition, not
//! one per key: a partition holds many keys, and a copy serves all of them.
//!
//! The destinations of every network segment are computed once, when the routing is built
//! (linear in segments times neighbourhood size); a segment outside the network is its own
//! neighbourhood.

use std::sync::Arc;

use super::network::Network;
use super::task::Batch;
use crate::domain::partition::partition_for_key;
use crate::domain::processor::Closed;

#[derive(Debug, Clone)]
pub struct Routing {
    net: Arc<Network>,
    hops: u32,
    partitions: u32,
    /// Partition of each network segment's key.
    part: Vec<u16>,
    /// Destination partitions of each network segment: `dest[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    dest: Vec<u16>,
}

impl Routing {
    /// `partitions` is the repartition stage's partition count (at most 65 536).
    pub fn new(net: Arc<Network>, hops: u32, partitions: u32) -> Routing {
        let partitions = partitions.clamp(1, 1 << 16);
        let part: Vec<u16> = (0..net.len() as u32)
            .map(|i| partition_for_key(net.id(i).as_bytes(), partitions) as u16)
            .collect();
        let mut offsets = Vec::with_capacity(net.len() + 1);
        let mut dest = Vec::new();
        offsets.push(0);
        for i in 0..net.len() as u32 {
            let mut ps: Vec<u16> = net
                .neighbourhood(i, hops)
                .iter()
                .map(|&k| part[k as usize])
                .collect();
            ps.sort_unstable();
            ps.dedup();
            dest.extend_from_slice(&ps);
            offsets.push(dest.len() as u32);
        }
        Routing {
            net,
            hops,
            partitions,
            part,
            offsets,
            dest,
        }
    }

    pub fn network(&self) -> &Arc<Network> {
        &self.net
    }

    pub fn hops(&self) -> u32 {
        self.hops
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The partition of segment `id`'s detection key.
    pub fn partition_of(&self, id: &str) -> u32 {
        match self.net.index(id) {
            Some(i) => u32::from(self.part[i as usize]),
            None => partition_for_key(id.as_bytes(), self.partitions),
        }
    }

    /// The partition of network segment `i`'s key.
    pub fn partition_of_index(&self, i: u32) -> u32 {
        self.part.get(i as usize).map_or(0, |p| u32::from(*p))
    }

    /// Calls `f` with every partition that needs segment `id`'s windows and reports.
    pub fn destinations(&self, id: &str, mut f: impl FnMut(u32)) {
        match self.net.index(id) {
            Some(i) => {
                let (a, b) = (self.offsets[i as usize], self.offsets[i as usize + 1]);
                for p in &self.dest[a as usize..b as usize] {
                    f(u32::from(*p));
                }
            }
            None => f(partition_for_key(id.as_bytes(), self.partitions)),
        }
    }
}

impl Routing {
    /// The records a closed window makes: one [`Batch`] per destination partition, with the
    /// facts of the segments that partition needs and the reports it needs, in the order
    /// the window has them. `id` names a segment index of `closed`.
    pub fn split<'a>(&self, closed: &Closed, id: impl Fn(u32) -> &'a str) -> Vec<(u32, Batch)> {
        let mut out: Vec<(u32, Batch)> = Vec::new();
        for (seg, facts) in &closed.windows {
            let name = id(*seg);
            self.destinations(name, |p| {
                slot(&mut out, p, closed)
                    .windows
                    .push((name.to_string(), *facts))
            });
        }
        for r in &closed.reports {
            self.destinations(&r.segment_id, |p| {
                slot(&mut out, p, closed).reports.push(r.clone())
            });
        }
        out.sort_by_key(|(p, _)| *p);
        out
    }
}

fn slot<'o>(out: &'o mut Vec<(u32, Batch)>, p: u32, closed: &Closed) -> &'o mut Batch {
    let i = match out.iter().position(|(q, _)| *q == p) {
        Some(i) => i,
        None => {
            out.push((
                p,
                Batch {
                    window_start: closed.start,
                    window_end: closed.end,
                    ..Batch::default()
                },
            ));
            out.len() - 1
        }
    };
    &mut out[i].1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;

    fn chain(n: usize) -> Arc<Network> {
        let mut csv = String::from("segment_id,free_flow_kph,downstream\n");
        for i in 0..n {
            let next = if i + 1 < n {
                format!("c{}", i + 1)
            } else {
                String::new()
            };
            csv.push_str(&format!("c{i},100,{next}\n"));
        }
        Arc::new(Network::from_catalog(&Catalog::parse_csv(&csv).unwrap()))
    }

    #[test]
    fn a_window_reaches_every_partition_of_its_neighbourhood_once() {
        let net = chain(20);
        let r = Routing::new(Arc::clone(&net), 2, 4);
        let mut got = Vec::new();
        r.destinations("c10", |p| got.push(p));
        let mut want: Vec<u32> = ["c8", "c9", "c10", "c11", "c12"]
            .iter()
            .map(|k| partition_for_key(k.as_bytes(), 4))
            .collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(got, want);
        assert_eq!(r.partition_of("c10"), partition_for_key(b"c10", 4));
        let mut alone = Vec::new();
        r.destinations("not-in-the-catalogue", |p| alone.push(p));
        assert_eq!(alone, vec![partition_for_key(b"not-in-the-catalogue", 4)]);
    }
}
