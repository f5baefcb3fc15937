//! Incident reports (accident, closure, …) waiting for measurements to agree. A report alone
//! never raises an incident — reports can be wrong — but one on a segment or next to it makes a
//! measured anomaly more credible and quicker to confirm. A report corroborates for `ttl_ms`
//! after it was made, then it is forgotten.
//!
//! Reports are kept per segment (in the segment's detection state) and read by the segments
//! around it, so what a report says depends only on the report and the clock of the window
//! judged — not on which key read it first. (Each incident still lists the reports that
//! corroborated it in its evidence; the episode rule, not the report, keeps it from being
//! raised twice.)

use super::Report;
use crate::domain::event::EpochMillis;

/// Forgets the reports of one segment that can no longer corroborate at `now`.
pub fn prune(reports: &mut Vec<Report>, now: EpochMillis, ttl_ms: i64) {
    reports.retain(|r| now.saturating_sub(r.ts) <= ttl_ms);
}

/// Whether `r` corroborates a decision in the window ending at `now`: made before it and not
/// older than `ttl_ms`.
pub fn live(r: &Report, now: EpochMillis, ttl_ms: i64) -> bool {
    r.ts < now && now.saturating_sub(r.ts) <= ttl_ms
}

/// The ids (or `segment@ts`) of the live reports among `reports`, and the category of the first.
pub fn corroborating<'a>(
    reports: impl Iterator<Item = &'a Report>,
    now: EpochMillis,
    ttl_ms: i64,
) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    let mut kind = None;
    for r in reports.filter(|r| live(r, now, ttl_ms)) {
        kind.get_or_insert_with(|| r.category.clone());
        ids.push(
            r.report_id
                .clone()
                .unwrap_or_else(|| format!("{}@{}", r.segment_id, r.ts)),
        );
    }
    (ids, kind)
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
    fn live_reports_corroborate_until_they_expire() {
        let a = [report("a", 1_000), report("c", 5_000)];
        let (ids, kind) = corroborating(a.iter(), 2_000, 600_000);
        assert_eq!(
            (ids, kind.as_deref()),
            (vec!["r-a".to_string()], Some("accident"))
        );
        assert!(
            corroborating(a[1..].iter(), 5_000, 600_000).0.is_empty(),
            "not yet made"
        );
        let mut v = a.to_vec();
        prune(&mut v, 601_001, 600_000);
        assert_eq!(v.len(), 1);
        assert!(!live(&v[0], 700_000, 600_000) && live(&v[0], 605_000, 600_000));
    }
}
