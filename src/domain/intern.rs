//! Segment ids of one task, interned to dense `u32` indices. The ids live in one contiguous
//! buffer and a hash table holds only indices into it, so the per-event lookup touches two
//! compact arrays rather than a heap allocation per id. Sorting a window's segments by id uses
//! ranks computed once per change of the id set, not string comparisons per window.

use std::hash::BuildHasher;

use hashbrown::HashTable;

#[derive(Default)]
pub struct SegmentIds {
    /// Every id, back to back.
    text: String,
    /// Where id `i` lies in `text`.
    spans: Vec<(u32, u32)>,
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    /// `ranks[i]` is id `i`'s position in id order; stale when shorter than `spans`.
    ranks: Vec<u32>,
}

impl SegmentIds {
    /// The index of `id`, and whether it was added now.
    pub fn intern(&mut self, id: &str) -> (u32, bool) {
        let hash = self.hasher.hash_one(id);
        let (text, spans) = (&self.text, &self.spans);
        if let Some(&i) = self.table.find(hash, |&i| span(text, spans, i) == id) {
            return (i, false);
        }
        let i = self.spans.len() as u32;
        self.spans.push((self.text.len() as u32, id.len() as u32));
        self.text.push_str(id);
        let (text, spans, hasher) = (&self.text, &self.spans, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(span(text, spans, j)));
        (i, true)
    }

    pub fn get(&self, i: u32) -> &str {
        span(&self.text, &self.spans, i)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Each id's position in id order, indexed by id index.
    pub fn ranks(&mut self) -> &[u32] {
        if self.ranks.len() != self.spans.len() {
            let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| self.get(a).cmp(self.get(b)));
            self.ranks.resize(order.len(), 0);
            for (rank, i) in order.into_iter().enumerate() {
                self.ranks[i as usize] = rank as u32;
            }
        }
        &self.ranks
    }
}

fn span<'t>(text: &'t str, spans: &[(u32, u32)], i: u32) -> &'t str {
    let (start, len) = spans[i as usize];
    &text[start as usize..(start + len) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_ranks() {
        let mut ids = SegmentIds::default();
        assert_eq!(ids.intern("b"), (0, true));
        assert_eq!(ids.intern("a"), (1, true));
        assert_eq!(ids.intern("b"), (0, false));
        assert_eq!(ids.ranks(), &[1, 0]);
        assert_eq!(ids.intern(""), (2, true));
        assert_eq!(ids.intern("ab"), (3, true));
        assert_eq!(ids.ranks(), &[3, 1, 0, 2]);
        assert_eq!((ids.get(0), ids.get(2), ids.get(3)), ("b", "", "ab"));
        for n in 0..5_000 {
            assert_eq!(ids.intern(&format!("s{n}")).0, 4 + n);
        }
        assert_eq!(ids.intern("s4999"), (5003, false));
        assert_eq!(ids.len(), 5004);
    }
}
