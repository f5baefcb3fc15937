"""SUMO's outputs in roadpulse's formats: raw events (README "Input"), the segment catalogue
(README "Segment catalogue") and the ground truth `roadpulse evaluate` reads.

- Induction loops (E1, one per lane, 30 s): one `detector` event per lane and interval,
  stamped with the interval's start; SUMO's occupancy is in percent, its speed -1 when no
  vehicle passed (then the event has no speed).
- Floating-car data (FCD, a share of the vehicles, every `ping_s`): one `probe` event per
  ping on a segment, with the vehicle's id and its position along the segment (`offset_m`).
- Truth: per segment and window, SUMO's edgeData `speed`, which is Edie's space-mean speed
  (distance travelled / vehicle-time on the edge, waiting at a red light included); a window
  with no vehicle on the segment runs at the reference speed. The true level is the speed
  against the reference speed: the free-flow speed on freeways, and on signalised streets
  the travel speed with the normal signal delay (see `reference_kph`).
- Incidents: start and end from SUMO's stop output (when the vehicles really stopped). An
  incident covers its segment while it lasts, and the slow segments upstream of it that
  join it without a gap, until 30 minutes after its end.
"""

import json
import xml.etree.ElementTree as ET

from .scenarios import hms

# 2026-03-02T00:00:00Z, a Monday: day d of a scenario starts d - 1 days later.
EPOCH_MS = 1772409600000
DAY_MS = 86_400_000
# A segment slower than this share of its reference speed is part of a queue.
QUEUE_RATIO = 0.7
RESIDUAL_MS = 30 * 60_000


def day_ms(day):
    return EPOCH_MS + (day - 1) * DAY_MS


def reference_kph(seg):
    """The speed a segment runs at without congestion. Freeways: the free-flow speed.
    Signalised streets (HCM urban street segment): the segment length over the free-flow
    running time plus the control delay a vehicle meets at the downstream signal when the
    street is not congested, the uniform delay at low flow, 0.5·C·(1 − g/C)²."""
    ff = seg["speed_kph"]
    if "cycle_s" not in seg:
        return ff
    c, g = seg["cycle_s"], seg["green_s"]
    delay_s = 0.5 * c * (1 - g / c) ** 2
    run_s = seg["length_m"] / (ff / 3.6)
    return seg["length_m"] / (run_s + delay_s) * 3.6


def level(ratio):
    for bound, name in ((0.80, "free"), (0.67, "light"), (0.50, "moderate"), (0.30, "heavy")):
        if ratio > bound:
            return name
    return "severe"


def catalogue(road, segments):
    urban = road.kind == "arterial"
    lines = ["segment_id,free_flow_kph,lanes,length_m,upstream,downstream,road_class,"
             "signal_cycle_s,signal_green_s"]
    ids = [s["id"] for s in segments]
    for i, s in enumerate(segments):
        up = ids[i - 1] if i > 0 else ""
        down = ids[i + 1] if i + 1 < len(ids) else ""
        signal = f"{s['cycle_s']},{s['green_s']}" if "cycle_s" in s else ","
        lines.append(f"{s['id']},{s['speed_kph']:.1f},{s['lanes']},{s['length_m']:.1f},{up},"
                     f"{down},{'urban' if urban else 'freeway'},{signal}")
    return "\n".join(lines) + "\n"


def detector_events(e1_path, base_ms):
    out = []
    for _, el in ET.iterparse(e1_path):
        if el.tag != "interval":
            continue
        loop = el.get("id")
        segment, lane = loop.rsplit("_L", 1)
        begin, end = float(el.get("begin")), float(el.get("end"))
        ts = base_ms + round(begin * 1000)
        event = {"type": "detector", "segment_id": segment, "ts": ts, "detector_id": loop,
                 "lane": int(lane), "interval_s": round(end - begin),
                 "volume": int(el.get("nVehContrib")),
                 "occupancy": round(min(float(el.get("occupancy")) / 100.0, 1.0), 4)}
        speed = float(el.get("speed"))
        if speed >= 0:
            event["speed_kph"] = round(speed * 3.6, 2)
        out.append((ts, json.dumps(event, separators=(",", ":"))))
        el.clear()
    return out


def probe_events(fcd_path, base_ms, segment_ids, vehicle_prefix):
    wanted = set(segment_ids)
    out, now = [], 0.0
    for event, el in ET.iterparse(fcd_path, events=("start", "end")):
        if event == "start" and el.tag == "timestep":
            now = float(el.get("time"))
        if event != "end" or el.tag != "vehicle":
            continue
        vid = el.get("id")
        edge = el.get("lane", "").rsplit("_", 1)[0]
        if edge in wanted and not vid.startswith("blk"):
            ts = base_ms + round(now * 1000)
            e = {"type": "probe", "segment_id": edge, "ts": ts,
                 "speed_kph": round(max(float(el.get("speed")), 0.0) * 3.6, 2),
                 "vehicle_id": f"{vehicle_prefix}{vid}", "offset_m": round(float(el.get("pos")), 1),
                 "heading_deg": round(float(el.get("angle")), 1), "source": "sumo-fcd"}
            out.append((ts, json.dumps(e, separators=(",", ":"))))
        el.clear()
    return out


def edge_speeds(path, segment_ids):
    """(segment, interval begin s) -> space-mean speed km/h, for intervals with vehicles."""
    wanted = set(segment_ids)
    speeds, begin = {}, 0.0
    for event, el in ET.iterparse(path, events=("start", "end")):
        if event == "start" and el.tag == "interval":
            begin = float(el.get("begin"))
        elif event == "end" and el.tag == "edge" and el.get("id") in wanted:
            if el.get("speed") is not None:
                speeds[(el.get("id"), round(begin))] = float(el.get("speed")) * 3.6
            el.clear()
    return speeds


def stop_times(path):
    """Blocking vehicle id -> (started s, ended s)."""
    return {el.get("id"): (float(el.get("started")), float(el.get("ended")))
            for el in ET.parse(path).getroot().iter("stopinfo")}


def incidents_of_day(scenario, day, stops, segments, base_ms):
    out = []
    for n, inc in enumerate(scenario.incidents):
        if (inc.day or scenario.days) != day:
            continue
        times = [stops[f"blk{n}_{lane}"] for lane in inc.lanes if f"blk{n}_{lane}" in stops]
        if not times:
            raise RuntimeError(f"{scenario.name}: incident {n} never stopped in SUMO")
        seg = segments[inc.segment - 1]
        out.append({"type": "incident", "incident_id": f"{scenario.name}-{n + 1}",
                    "corridor": scenario.road.prefix, "segment_id": seg["id"],
                    "start": base_ms + round(min(t[0] for t in times) * 1000),
                    "end": base_ms + round(max(t[1] for t in times) * 1000),
                    "capacity_drop": round(len(inc.lanes) / seg["lanes"], 3), "kind": inc.kind})
    return out


def truth_windows(scenario, day, segments, speeds, window_s, incidents, base_ms):
    """Every segment's true speed and level per window of the day, and the covering incident."""
    begin, end = hms(scenario.begin), hms(scenario.end)
    refs = [reference_kph(s) for s in segments]
    out = []
    for t in range(begin - begin % window_s, end, window_s):
        start_ms = base_ms + t * 1000
        row = []
        for seg, ref in zip(segments, refs):
            v = speeds.get((seg["id"], t), ref)
            row.append({"type": "window", "segment_id": seg["id"], "window_start": start_ms,
                        "window_end": start_ms + window_s * 1000, "speed_kph": round(v, 2),
                        "free_flow_kph": round(ref, 2), "level": level(v / ref),
                        "incident": None})
        _cover(row, refs, incidents, segments, start_ms, window_s * 1000)
        out.extend(row)
    return out


def _cover(row, refs, incidents, segments, start_ms, window_ms):
    ids = [s["id"] for s in segments]
    for inc in incidents:
        if start_ms + window_ms <= inc["start"] or start_ms >= inc["end"] + RESIDUAL_MS:
            continue
        active = start_ms < inc["end"]
        at = ids.index(inc["segment_id"])
        for i in range(at, -1, -1):
            slow = row[i]["speed_kph"] < QUEUE_RATIO * refs[i]
            if slow or (active and i == at):
                row[i]["incident"] = inc["incident_id"]
            elif i < at:
                break
