"""One scenario from its definition to roadpulse's files, cached.

A prepared scenario is a folder under the cache holding `raw.jsonl` (raw events of every day,
in event-time order), `catalog.csv`, `truth30.jsonl` and `truth60.jsonl`. Its name carries a
hash of the scenario, of the code that simulates and converts it (network.py, simulate.py,
convert.py) and of the SUMO version, so a change to any of them prepares it anew; SUMO's own outputs (large) are deleted once converted.
"""

import hashlib
import json
import shutil
from pathlib import Path

from . import convert, network, simulate

HARNESS = Path(__file__).resolve().parent


def key(scenario, sumo_version):
    h = hashlib.sha256(repr(scenario).encode())
    for name in ("network.py", "simulate.py", "convert.py"):
        h.update((HARNESS / name).read_bytes())
    h.update(sumo_version.encode())
    return h.hexdigest()[:12]


def prepare(scenario, cache, tools, log=print):
    """The scenario's folder, simulated and converted if not cached yet."""
    folder = Path(cache) / f"{scenario.name}-{key(scenario, tools['version'])}"
    if (folder / "complete").exists():
        return folder
    for stale in Path(cache).glob(f"{scenario.name}-*"):  # an older version of it
        if stale.name[len(scenario.name) + 1:].isalnum():
            shutil.rmtree(stale)
    if folder.exists():
        shutil.rmtree(folder)
    work = folder / "sumo"
    work.mkdir(parents=True)
    net = network.build(scenario.road, work, tools["netconvert"])
    segments = network.read_segments(scenario.road, net)
    ids = [s["id"] for s in segments]
    events, incidents = [], []
    truth = {w: [] for w in simulate.WINDOWS_S}
    for day in range(1, scenario.days + 1):
        log(f"  simulating {scenario.name} day {day}/{scenario.days}")
        out = simulate.run_day(scenario, day, net, segments, work / f"day{day}", tools["sumo"])
        base = convert.day_ms(day)
        if (out / "e1.xml").exists():  # no loops, no file
            events += convert.detector_events(out / "e1.xml", base)
        events += convert.probe_events(out / "fcd.xml", base, ids, f"d{day}-")
        day_incidents = convert.incidents_of_day(
            scenario, day, convert.stop_times(out / "stops.xml"), segments, base)
        incidents += day_incidents
        for w in simulate.WINDOWS_S:
            speeds = convert.edge_speeds(out / f"edges{w}.xml", ids)
            truth[w] += convert.truth_windows(scenario, day, segments, speeds, w,
                                              day_incidents, base)
    events.sort(key=lambda e: e[0])
    (folder / "raw.jsonl").write_text("".join(line + "\n" for _, line in events))
    (folder / "catalog.csv").write_text(convert.catalogue(scenario.road, segments))
    for w, records in truth.items():
        lines = [json.dumps(r, separators=(",", ":")) for r in incidents + records]
        (folder / f"truth{w}.jsonl").write_text("\n".join(lines) + "\n")
    meta = {"scenario": scenario.name, "class": scenario.cls, "split": scenario.split,
            "road": scenario.road.kind, "events": len(events), "incidents": incidents,
            "segments": segments, "sumo": tools["version"]}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(work)
    (folder / "complete").write_text("")
    return folder
