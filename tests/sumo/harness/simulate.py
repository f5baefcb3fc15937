"""Runs one day of a scenario in SUMO: writes the demand (flows), the incident vehicles, the
induction loops (E1) and the edge measures (edgeData at 30 s and 60 s), then `sumo` itself.

Outputs are named with absolute paths (SUMO resolves paths in an additional file relative to
that file). Vehicles are never teleported (`--time-to-teleport -1`): a blockage holds its
queue for as long as it lasts.
"""

import subprocess
from pathlib import Path

from .scenarios import hms

WINDOWS_S = (30, 60)
LOOP_PERIOD_S = 30
SLICE_S = 300


def _rate(points, t):
    """Demand (veh/h) at second `t` of the day, linear between the points."""
    pts = [(hms(a), v) for a, v in points]
    if t <= pts[0][0]:
        return pts[0][1]
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / max(t1 - t0, 1)
    return pts[-1][1]


def has_loop(scenario, number):
    if scenario.detectors == "none":
        return False
    return scenario.detectors == "all" or number % 2 == 1


def _routes(scenario, begin, end):
    road = scenario.road
    ids = road.segment_ids()
    lines = [
        '<vType id="car" vClass="passenger" speedDev="0.1"/>',
        '<vType id="blocker" vClass="passenger" color="1,0,0"/>',
        f'<route id="main" edges="in {" ".join(ids)} out"/>',
    ]
    flows = []
    for k, t in enumerate(range(begin, end, SLICE_S)):
        vph = _rate(scenario.demand, t + SLICE_S / 2)
        flows.append((t, f'<flow id="m{k}" type="car" route="main" begin="{t}" '
                         f'end="{min(t + SLICE_S, end)}" period="exp({vph / 3600:.5f})" '
                         'departLane="free" departSpeed="max"/>'))
    if road.kind == "arterial":
        for i in range(2, len(ids) + 2):
            lines.append(f'<route id="x{i}" edges="x{i}in x{i}out"/>')
            flows.append((begin, f'<flow id="x{i}" type="car" route="x{i}" begin="{begin}" '
                                 f'end="{end}" period="exp({scenario.cross_vph / 3600:.5f})"/>'))
    flows.sort(key=lambda f: f[0])
    return lines + [f for _, f in flows]


def _blockers(scenario, day, segments):
    """The stopped vehicles of this day's incidents, one per blocked lane."""
    road = scenario.road
    ids = road.segment_ids()
    out = []
    for n, inc in enumerate(scenario.incidents):
        if (inc.day or scenario.days) != day:
            continue
        seg = ids[inc.segment - 1]
        pos = segments[inc.segment - 1]["length_m"] * inc.pos
        rest = " ".join(ids[inc.segment:] + ["out"])
        for lane in inc.lanes:
            out.append((hms(inc.at), (
                f'<vehicle id="blk{n}_{lane}" type="blocker" depart="{hms(inc.at)}" '
                f'departLane="{lane}" departPos="{pos:.1f}" departSpeed="0" '
                f'insertionChecks="none"><route edges="{seg} {rest}"/>'
                '<param key="has.fcd.device" value="false"/>'
                f'<stop lane="{seg}_{lane}" endPos="{pos + 1:.1f}" duration="{inc.duration_s}"/>'
                '</vehicle>')))
    out.sort(key=lambda v: v[0])
    return [v for _, v in out]


def _additional(scenario, segments, out_dir):
    lines = []
    for number, seg in enumerate(segments, start=1):
        if not has_loop(scenario, number):
            continue
        for lane in range(seg["lanes"]):
            lines.append(
                f'<inductionLoop id="{seg["id"]}_L{lane + 1}" lane="{seg["id"]}_{lane}" '
                f'pos="{seg["length_m"] * 0.5:.1f}" period="{LOOP_PERIOD_S}" '
                f'file="{out_dir / "e1.xml"}"/>')
    for w in WINDOWS_S:
        lines.append(f'<edgeData id="w{w}" period="{w}" file="{out_dir / f"edges{w}.xml"}" '
                     'excludeEmpty="true"/>')
    return lines


def _write(path, root, lines):
    Path(path).write_text(f"<{root}>\n" + "\n".join(lines) + f"\n</{root}>\n")


def run_day(scenario, day, net, segments, out_dir, sumo_bin):
    """Simulates `day` (1-based) into `out_dir`: e1.xml, edges30.xml, edges60.xml, fcd.xml,
    stops.xml. The day's seed is the scenario's plus the day."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    begin = hms(scenario.begin) - scenario.warmup_s
    end = hms(scenario.end)
    _write(out_dir / "demand.rou.xml", "routes", _routes(scenario, begin, end))
    _write(out_dir / "incidents.rou.xml", "routes", _blockers(scenario, day, segments))
    _write(out_dir / "measure.add.xml", "additional", _additional(scenario, segments, out_dir))
    cmd = [
        sumo_bin, "-n", str(net),
        "-r", f"{out_dir / 'demand.rou.xml'},{out_dir / 'incidents.rou.xml'}",
        "-a", str(out_dir / "measure.add.xml"),
        "--begin", str(begin), "--end", str(end), "--seed", str(scenario.seed + day),
        "--time-to-teleport", "-1", "--collision.action", "warn",
        "--fcd-output", str(out_dir / "fcd.xml"),
        "--device.fcd.probability", str(scenario.penetration),
        "--device.fcd.period", str(scenario.ping_s),
        "--fcd-output.attributes", "speed,pos,lane,angle",
        "--stop-output", str(out_dir / "stops.xml"),
        "--no-step-log", "true", "--no-warnings", "true", "--duration-log.disable", "true",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"sumo failed for {scenario.name} day {day}: {result.stderr[-2000:]}")
    return out_dir
