//! The state a detection key keeps per segment, and its changelog form.
//!
//! A partition of the detection stage keeps a [`SegState`] for every segment its keys need to
//! judge: the persistence counter of the probe test, the start of the current run of signals,
//! the California and APID machines of the segment's detector pairs, its episodes, the reports
//! made on it, and — for the keys the partition owns — the incidents raised and not yet
//! cleared. All of it is small and fixed-size except reports and raised incidents, which are
//! rare. A state that returns to its default is dropped (a tombstone in the changelog).
//!
//! Binary form, version 2: `[2] run:u8 blockage_run:u8 clear_at:i64 queued_at:i64 since:i64 n:u8
//! (california:2 apid:3)×n m:u8 (episode:10)×m len:u32 json(reports, raised)`; `i64::MIN`
//! stands for "none". Version 1 (without the two blockage fields) still decodes, so a
//! changelog written before the blockage test restores.

use serde::{Deserialize, Serialize};

use super::baseline::take;
use super::blockage::BlockageRun;
use super::episode::Episode;
use super::pair::{Apid, California};
use super::probe::ProbeRun;
use super::{IncidentEvent, Report};
use crate::domain::event::EpochMillis;

const VERSION: u8 = 2;
const NONE: i64 = i64::MIN;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegState {
    pub run: ProbeRun,
    /// The blockage test's counter and downstream memory.
    pub blockage: BlockageRun,
    /// Start of the first window of the current run of signals (an anomaly's start).
    pub since: Option<EpochMillis>,
    /// California and APID of the pair (this segment, its `i`-th downstream segment).
    pub pairs: Vec<(California, Apid)>,
    /// One per decision rule, in the order of the settings.
    pub episodes: Vec<Episode>,
    /// Reports made on this segment that may still corroborate.
    pub reports: Vec<Report>,
    /// Incidents raised on this segment and not cleared, per decision rule.
    pub raised: Vec<Option<IncidentEvent>>,
}

#[derive(Serialize, Deserialize)]
struct Rare {
    reports: Vec<Report>,
    raised: Vec<Option<IncidentEvent>>,
}

impl SegState {
    pub fn is_default(&self) -> bool {
        self.run == ProbeRun::default()
            && self.blockage == BlockageRun::default()
            && self.since.is_none()
            && self
                .pairs
                .iter()
                .all(|p| *p == (California::default(), Apid::default()))
            && self.episodes.iter().all(Episode::is_idle)
            && self.reports.is_empty()
            && self.raised.iter().all(Option::is_none)
    }

    /// Bytes held on the heap by this state's vectors (reports and incidents roughly).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.pairs.capacity() * size_of::<(California, Apid)>()
            + self.episodes.capacity() * size_of::<Episode>()
            + self.reports.capacity() * (size_of::<Report>() + 48)
            + self.raised.capacity() * size_of::<Option<IncidentEvent>>()
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(VERSION);
        buf.push(self.run.run);
        buf.push(self.blockage.run);
        buf.extend_from_slice(&self.blockage.clear_at.unwrap_or(NONE).to_le_bytes());
        buf.extend_from_slice(&self.blockage.queued_at.unwrap_or(NONE).to_le_bytes());
        buf.extend_from_slice(&self.since.unwrap_or(NONE).to_le_bytes());
        buf.push(self.pairs.len().min(255) as u8);
        for (c, a) in self.pairs.iter().take(255) {
            buf.extend_from_slice(&california_bytes(*c));
            buf.extend_from_slice(&a.to_bytes());
        }
        buf.push(self.episodes.len().min(255) as u8);
        for e in self.episodes.iter().take(255) {
            buf.extend_from_slice(&episode_bytes(*e));
        }
        if self.reports.is_empty() && self.raised.iter().all(Option::is_none) {
            buf.extend_from_slice(&0u32.to_le_bytes());
        } else {
            let rare = Rare {
                reports: self.reports.clone(),
                raised: self.raised.clone(),
            };
            let json = serde_json::to_vec(&rare).unwrap_or_default();
            buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
            buf.extend_from_slice(&json);
        }
    }

    /// Reads what [`SegState::encode`] wrote; None when the bytes are not such a state.
    pub fn decode(mut bytes: &[u8]) -> Option<SegState> {
        let b = &mut bytes;
        let version = take::<1>(b)?[0];
        if version != VERSION && version != 1 {
            return None;
        }
        let run = ProbeRun {
            run: take::<1>(b)?[0],
        };
        let blockage = if version == 1 {
            BlockageRun::default()
        } else {
            BlockageRun {
                run: take::<1>(b)?[0],
                clear_at: Some(i64::from_le_bytes(take(b)?)).filter(|v| *v != NONE),
                queued_at: Some(i64::from_le_bytes(take(b)?)).filter(|v| *v != NONE),
            }
        };
        let since = Some(i64::from_le_bytes(take(b)?)).filter(|v| *v != NONE);
        let n = take::<1>(b)?[0] as usize;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((california_from(take(b)?)?, Apid::from_bytes(take(b)?)));
        }
        let m = take::<1>(b)?[0] as usize;
        let mut episodes = Vec::with_capacity(m);
        for _ in 0..m {
            episodes.push(episode_from(take(b)?)?);
        }
        let len = u32::from_le_bytes(take(b)?) as usize;
        let (reports, raised) = if len == 0 {
            (Vec::new(), Vec::new())
        } else {
            let json = b.get(..len)?;
            let rare: Rare = serde_json::from_slice(json).ok()?;
            *b = &b[len..];
            (rare.reports, rare.raised)
        };
        b.is_empty().then_some(SegState {
            run,
            blockage,
            since,
            pairs,
            episodes,
            reports,
            raised,
        })
    }
}

fn california_bytes(c: California) -> [u8; 2] {
    match c {
        California::Free => [0, 0],
        California::Suppressed(n) => [1, n],
        California::Tentative => [2, 0],
        California::Incident => [3, 0],
    }
}

fn california_from(b: [u8; 2]) -> Option<California> {
    Some(match b {
        [0, _] => California::Free,
        [1, n] => California::Suppressed(n),
        [2, _] => California::Tentative,
        [3, _] => California::Incident,
        _ => return None,
    })
}

fn episode_bytes(e: Episode) -> [u8; 10] {
    let (tag, t, q) = match e {
        Episode::Idle => (0, NONE, 0),
        Episode::Open { opened, quiet } => (1, opened, quiet),
        Episode::Cooling { until } => (2, until, 0),
    };
    let mut out = [0u8; 10];
    out[0] = tag;
    out[1..9].copy_from_slice(&t.to_le_bytes());
    out[9] = q;
    out
}

fn episode_from(b: [u8; 10]) -> Option<Episode> {
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[1..9]);
    let t = i64::from_le_bytes(t);
    Some(match b[0] {
        0 => Episode::Idle,
        1 => Episode::Open {
            opened: t,
            quiet: b[9],
        },
        2 => Episode::Cooling { until: t },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut s = SegState::default();
        assert!(s.is_default());
        s.pairs = vec![(California::Suppressed(3), Apid::default())];
        s.episodes = vec![Episode::Idle, Episode::Cooling { until: 99 }];
        assert!(!s.is_default());
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert_eq!(buf.len(), 1 + 1 + 17 + 8 + 1 + 5 + 1 + 20 + 4);
        assert_eq!(SegState::decode(&buf), Some(s.clone()));
        // Version 1 had no blockage fields: it still decodes, with a default counter.
        let mut v1 = vec![1, buf[1]];
        v1.extend_from_slice(&buf[19..]);
        assert_eq!(SegState::decode(&v1), Some(s.clone()));
        s.blockage = BlockageRun {
            run: 2,
            clear_at: Some(30_000),
            queued_at: None,
        };
        s.encode(&mut buf);
        assert_eq!(SegState::decode(&buf), Some(s.clone()));
        s.since = Some(1_000);
        s.reports.push(Report {
            segment_id: "a".into(),
            ts: 5,
            report_id: None,
            category: "closure".into(),
        });
        s.encode(&mut buf);
        assert_eq!(SegState::decode(&buf), Some(s));
        assert_eq!(SegState::decode(&buf[..buf.len() - 1]), None, "truncated");
        assert_eq!(SegState::decode(&[3]), None, "another version");
        let mut extra = buf.clone();
        extra.push(0);
        assert_eq!(SegState::decode(&extra), None, "trailing bytes");
    }
}
