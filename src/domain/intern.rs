//! Segment ids of one task, interned to dense `u32` indices. The ids live in one contiguous
//! buffer and a hash table holds only indices into it, so the per-event lookup touches two
//! compact arrays rather than a heap allocation per id. Sorting a window's segments by id uses
//! ranks computed once per change of the id set, not string comparisons per window.
//!
//! An id can be removed (its segment evicted): its index goes to a free list for the next new
//! id, and the buffer is compacted once removed text makes up half of it, so a stream of new
//! ids replacing evicted ones does not grow it.

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
    /// `ranks[i]` is id `i`'s position in id order (removed indices rank anywhere).
    ranks: Vec<u32>,
    ranks_stale: bool,
    /// Removed indices, reused by new ids.
    free: Vec<u32>,
    /// Bytes of `text` that belong to removed ids.
    garbage: usize,
}

impl SegmentIds {
    /// The index of `id`, and whether it was added now.
    pub fn intern(&mut self, id: &str) -> (u32, bool) {
        let hash = self.hasher.hash_one(id);
        let (text, spans) = (&self.text, &self.spans);
        if let Some(&i) = self.table.find(hash, |&i| span(text, spans, i) == id) {
            return (i, false);
        }
        let at = (self.text.len() as u32, id.len() as u32);
        let i = match self.free.pop() {
            Some(i) => {
                self.spans[i as usize] = at;
                i
            }
            None => {
                self.spans.push(at);
                (self.spans.len() - 1) as u32
            }
        };
        self.text.push_str(id);
        self.ranks_stale = true;
        let (text, spans, hasher) = (&self.text, &self.spans, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(span(text, spans, j)));
        (i, true)
    }

    /// The index of `id` if it is interned.
    pub fn find(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        let (text, spans) = (&self.text, &self.spans);
        self.table
            .find(hash, |&i| span(text, spans, i) == id)
            .copied()
    }

    /// Forgets index `i` (which must be interned); a later new id may get it.
    pub fn remove(&mut self, i: u32) {
        let hash = self.hasher.hash_one(self.get(i));
        if let Ok(entry) = self.table.find_entry(hash, |&j| j == i) {
            entry.remove();
            self.garbage += self.spans[i as usize].1 as usize;
            self.spans[i as usize] = (0, 0);
            self.free.push(i);
        }
        if self.garbage > 4096 && self.garbage * 2 > self.text.len() {
            self.compact();
        }
    }

    /// Rewrites `text` with the ids still interned (indices stay as they are).
    fn compact(&mut self) {
        let mut text = String::with_capacity(self.text.len() - self.garbage);
        for s in self.spans.iter_mut() {
            let (start, len) = *s;
            *s = (text.len() as u32, len);
            text.push_str(&self.text[start as usize..(start + len) as usize]);
        }
        self.text = text;
        self.garbage = 0;
    }

    pub fn get(&self, i: u32) -> &str {
        span(&self.text, &self.spans, i)
    }

    /// Ids interned now.
    pub fn len(&self) -> usize {
        self.spans.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One more than the largest index in use (the length of arrays indexed by id index).
    pub fn capacity(&self) -> usize {
        self.spans.len()
    }

    /// Each id's position in id order, indexed by id index.
    pub fn ranks(&mut self) -> &[u32] {
        if self.ranks_stale || self.ranks.len() != self.spans.len() {
            self.ranks_stale = false;
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

    #[test]
    fn removed_ids_free_their_index_and_their_text() {
        let mut ids = SegmentIds::default();
        for n in 0..10_000 {
            ids.intern(&format!("seg-{n:05}"));
        }
        for i in 0..9_000 {
            ids.remove(i);
        }
        assert_eq!((ids.len(), ids.capacity()), (1_000, 10_000));
        assert!(ids.text.len() < 20_000, "compacted: {}", ids.text.len());
        assert_eq!(ids.find("seg-00005"), None);
        assert_eq!(ids.find("seg-09500"), Some(9_500));
        assert_eq!(ids.get(9_999), "seg-09999");
        let (i, added) = ids.intern("zz");
        assert!(added && i < 9_000);
        assert_eq!(ids.intern("seg-09999"), (9_999, false));
        // Ranks follow the ids now held, reused index included.
        let ranks = ids.ranks().to_vec();
        assert!(ranks[i as usize] > ranks[9_999]);
        assert!(ranks[9_000] < ranks[9_001]);
    }
}
