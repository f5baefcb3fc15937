//! Incident reports (accident, closure, …) waiting for measurements to agree. A report alone
//! never raises an incident — reports can be wrong — but one on a segment or next to it makes a
//! measured anomaly more credible and quicker to confirm. A report no anomaly confirms within
//! `ttl_ms` expires; one that helped confirm an incident is consumed by it.

use serde::{Deserialize, Serialize};

use super::Report;
use crate::domain::event::EpochMillis;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportBook {
    pending: Vec<Report>,
    /// Reports that expired unconfirmed (a count for the evidence and for tests).
    pub expired: u64,
}

impl ReportBook {
    pub fn add(&mut self, r: Report) {
        self.pending.push(r);
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets reports older than `ttl_ms` at `now`.
    pub fn expire(&mut self, now: EpochMillis, ttl_ms: i64) {
        let before = self.pending.len();
        self.pending.retain(|r| now - r.ts <= ttl_ms);
        self.expired += (before - self.pending.len()) as u64;
    }

    /// Reports made before `now` on any of `segments`: their ids (or `segment@ts`) and the
    /// category of the first.
    pub fn near(&self, segments: &[&str], now: EpochMillis) -> (Vec<String>, Option<String>) {
        let hits: Vec<&Report> = self
            .pending
            .iter()
            .filter(|r| r.ts < now && segments.contains(&r.segment_id.as_str()))
            .collect();
        let ids = hits
            .iter()
            .map(|r| {
                r.report_id
                    .clone()
                    .unwrap_or_else(|| format!("{}@{}", r.segment_id, r.ts))
            })
            .collect();
        (ids, hits.first().map(|r| r.category.clone()))
    }

    /// Removes the reports an incident used.
    pub fn consume(&mut self, segments: &[&str], now: EpochMillis) {
        self.pending
            .retain(|r| !(r.ts < now && segments.contains(&r.segment_id.as_str())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seg: &str, ts: i64) -> Report {
        Report {
            segment_id: seg.into(),
            ts,
            report_id: Some(format!("r-{seg}")),
            category: "accident".into(),
        }
    }

    #[test]
    fn near_expire_and_consume() {
        let mut b = ReportBook::default();
        b.add(report("a", 1_000));
        b.add(report("c", 5_000));
        let (ids, kind) = b.near(&["a", "b"], 2_000);
        assert_eq!(
            (ids, kind.as_deref()),
            (vec!["r-a".to_string()], Some("accident"))
        );
        assert!(b.near(&["c"], 5_000).0.is_empty(), "not yet made at 5 000");
        b.expire(601_001, 600_000);
        assert_eq!((b.len(), b.expired), (1, 1));
        b.consume(&["c"], 700_000);
        assert!(b.is_empty());
    }
}
