//! The segment ids of one detection partition: the catalogue network's indices, then the
//! segments outside it held here, which count against the worker's
//! `limits.max_detection_keys` while they are held.

use std::collections::HashMap;
use std::sync::Arc;

use super::network::Network;
use crate::domain::limits::Budget;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Segment ids: the network's indices, then the segments outside it held here. Those count
/// against the worker's `limits.max_detection_keys` while held; an index freed by
/// [`Segments::release`] is used again.
pub(crate) struct Segments {
    pub net: Arc<Network>,
    extra: FastMap<String, u32>,
    extra_ids: Vec<Option<String>>,
    free: Vec<u32>,
    budget: Arc<Budget>,
}

impl Segments {
    pub fn new(net: Arc<Network>, budget: Arc<Budget>) -> Self {
        Segments {
            net,
            extra: FastMap::default(),
            extra_ids: Vec::new(),
            free: Vec::new(),
            budget,
        }
    }

    /// The index of `id`, held from now on when it is outside the network (even over the
    /// budget: see [`Segments::has_room`]).
    pub fn index(&mut self, id: &str) -> u32 {
        if let Some(i) = self.lookup(id) {
            return i;
        }
        let base = self.net.len() as u32;
        let i = self
            .free
            .pop()
            .unwrap_or(base + self.extra_ids.len() as u32);
        let k = (i - base) as usize;
        if k == self.extra_ids.len() {
            self.extra_ids.push(None);
        }
        self.extra.insert(id.to_string(), i);
        self.extra_ids[k] = Some(id.to_string());
        self.budget.take();
        i
    }

    pub fn lookup(&self, id: &str) -> Option<u32> {
        self.net.index(id).or_else(|| self.extra.get(id).copied())
    }

    /// Whether a segment outside the network may be held now.
    pub fn has_room(&self) -> bool {
        self.budget.max().is_none_or(|max| self.budget.held() < max)
    }

    pub fn id(&self, i: u32) -> &str {
        match (i as usize).checked_sub(self.net.len()) {
            None => self.net.id(i),
            Some(k) => self
                .extra_ids
                .get(k)
                .and_then(Option::as_deref)
                .unwrap_or(""),
        }
    }

    /// Segments outside the network held here.
    pub fn extra(&self) -> usize {
        self.extra.len()
    }

    /// Frees every index outside the network that `keep` does not keep.
    pub fn release(&mut self, keep: impl Fn(u32) -> bool) {
        let base = self.net.len() as u32;
        for k in 0..self.extra_ids.len() {
            let i = base + k as u32;
            if keep(i) {
                continue;
            }
            if let Some(id) = self.extra_ids[k].take() {
                self.extra.remove(&id);
                self.free.push(i);
                self.budget.release(1);
            }
        }
    }
}

impl Drop for Segments {
    /// A task dropped (its partition revoked, or rewound) gives its segments back.
    fn drop(&mut self) {
        self.budget.release(self.extra.len());
    }
}
