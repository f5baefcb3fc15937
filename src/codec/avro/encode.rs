//! Avro binary of a congestion event, field by field in the order of
//! schemas/congestion_event.avsc (the tests decode it with apache-avro against that file, so
//! the two cannot drift).

use super::binary::{put_bool, put_double, put_long, put_opt_double, put_opt_str, put_str};
use crate::domain::congestion::{FreeFlowSource, Level};
use crate::domain::output::CongestionEvent;

/// Appends the Avro datum (no header) of `e` to `buf`.
pub fn congestion(e: &CongestionEvent, buf: &mut Vec<u8>) {
    put_str(buf, &e.segment_id);
    put_long(buf, e.window_start);
    put_long(buf, e.window_end);
    put_long(buf, i64::from(e.samples));
    put_long(buf, i64::from(e.vehicles));
    put_opt_double(buf, e.speed_kph);
    put_long(buf, speed_source_index(&e.speed_source));
    put_opt_double(buf, e.mean_speed_kph);
    put_opt_double(buf, e.p85_speed_kph);
    put_opt_double(buf, e.min_speed_kph);
    put_opt_double(buf, e.max_speed_kph);
    put_long(buf, e.volume.min(i64::MAX as u64) as i64);
    put_double(buf, e.flow_vph);
    put_opt_double(buf, e.occupancy);
    put_double(buf, e.free_flow_kph);
    put_long(buf, free_flow_index(e.free_flow_source));
    put_opt_double(buf, e.speed_ratio);
    put_opt_double(buf, e.travel_time_index);
    put_long(buf, level_index(e.level));
    put_str(buf, &e.los);
    put_double(buf, e.confidence);
    put_bool(buf, e.is_final);
    put_opt_str(buf, e.speed_estimator.as_deref());
    put_opt_double(buf, e.reference_speed_kph);
    put_opt_double(buf, e.delay_s);
}

/// Index in the SpeedSource enum: probe, detector, none, flow.
fn speed_source_index(s: &str) -> i64 {
    match s {
        "probe" => 0,
        "detector" => 1,
        "flow" => 3,
        _ => 2,
    }
}

/// Index in the FreeFlowSource enum: catalog, learned, default, vendor.
fn free_flow_index(s: FreeFlowSource) -> i64 {
    match s {
        FreeFlowSource::Catalog => 0,
        FreeFlowSource::Learned => 1,
        FreeFlowSource::Default => 2,
        FreeFlowSource::Vendor => 3,
    }
}

/// Index in the Level enum: free, light, moderate, heavy, severe.
fn level_index(l: Level) -> i64 {
    match l {
        Level::Free => 0,
        Level::Light => 1,
        Level::Moderate => 2,
        Level::Heavy => 3,
        Level::Severe => 4,
    }
}
