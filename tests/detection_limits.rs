//! The detection side's memory bounds on the real broker: with one input partition lagging
//! (it stops sending, and no idle close moves it on), windows waiting for its watermark are
//! judged early at `limits.max_waiting_windows`, and new segments outside the catalogue beyond
//! `limits.max_detection_keys` are not used for detection; both are counted, the gauges stay
//! within the limits, and the congestion output is still replay's.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use roadpulse::domain::partition::partition_for_key;
use roadpulse::sim::generator::Record;

const BASE: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// 20 segments, one probe each a second for 60 s; those of input partition 1 stop after 10 s.
fn records() -> Vec<Record> {
    let mut out = Vec::new();
    for second in 0..60i64 {
        for s in 0..20i64 {
            let id = format!("seg-{s:02}");
            if partition_for_key(id.as_bytes(), 2) == 1 && second >= 10 {
                continue;
            }
            let ts = BASE + second * 1_000 + s * 10;
            let speed = 40.0 + ((second + s) % 30) as f64;
            out.push(probe_record(&id, ts, speed, &format!("v{s}")));
        }
    }
    out
}

#[test]
fn a_lagging_partition_and_a_flood_of_keys_stay_within_the_detection_limits() {
    let setup = Setup::new("detection-limits", 2, None);
    let records = records();
    let lagging = records
        .iter()
        .filter(|r| partition_for_key(r.key.as_bytes(), 2) == 1)
        .count();
    assert!(lagging > 0 && lagging < records.len());
    // Without the idle close the worker closes a window when its partition's stream time is
    // 2 s past its end; the lagging partition stops at 10 s, the other at 60 s.
    let mut last_by_partition = BTreeMap::new();
    for r in &records {
        let t = last_by_partition
            .entry(partition_for_key(r.key.as_bytes(), 2))
            .or_insert(r.ts);
        *t = (*t).max(r.ts);
    }
    let expected: BTreeMap<_, _> = replay(&setup.dir, &records, 2, &setup.domain_sets)
        .into_iter()
        .filter(|((id, _), v)| {
            let p = partition_for_key(id.as_bytes(), 2);
            v["window_end"].as_i64().unwrap() + 2_000 <= last_by_partition[&p]
        })
        .collect();

    let extra = [
        "limits.max_detection_keys=5",
        "limits.max_waiting_windows=8",
        "window.idle_timeout=\"0s\"",
    ];
    let (mut w, port) = run_and_compare(&setup, &extra, &records, &expected);

    let number = |text: &str, name: &str| -> u64 {
        let v = metric(text, name).unwrap_or_else(|| panic!("{name} in {text}"));
        v.parse().unwrap()
    };
    // The metrics follow the commit cycles: wait (bounded) until the counters moved. Whether
    // windows wait for the lagging partition long enough to be forced depends on the order the
    // worker reads the two partitions in (in some runs none is forced): the forced count is
    // printed, the bounds below hold either way.
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = metrics_text(port);
        let moved = |name| metric(&text, name).is_some_and(|v| v != "0");
        let forced = moved("roadpulse_detection_forced_windows_total");
        if moved("roadpulse_detection_over_capacity_total")
            && (forced || Instant::now() + Duration::from_secs(50) > deadline)
        {
            break text;
        }
        assert!(Instant::now() < deadline, "counters never moved:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "forced windows: {:?}",
        metric(&text, "roadpulse_detection_forced_windows_total")
    );
    assert_eq!(number(&text, "roadpulse_detection_keys_limit"), 5);
    assert_eq!(
        number(&text, "roadpulse_detection_waiting_windows_limit"),
        8
    );
    assert!(number(&text, "roadpulse_detection_keys_uncatalogued") <= 5);
    assert!(number(&text, "roadpulse_detection_waiting_windows") <= 8);
    w.stop();
}
