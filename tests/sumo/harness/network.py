"""Road networks for SUMO: a freeway (a chain of segments, optional lane drop) and an urban
arterial (a chain of segments between signalised intersections with cross streets).

Each roadpulse segment is one SUMO edge. An entry edge (`in`, no detectors: SUMO inserts
vehicles on it) comes before the first segment and an exit edge (`out`) after the last, so
that neither insertion nor the network's end distorts a measured segment. Lengths are read
back from the built network (netconvert trims edges at junctions), never assumed.
"""

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

ENTRY_M = 400.0
EXIT_M = 300.0
CROSS_M = 150.0


@dataclass
class Road:
    """One corridor: `kind` is `freeway` or `arterial`; `lengths_m` gives each segment."""

    kind: str
    prefix: str
    lengths_m: list
    lanes: int
    speed_kph: float
    # Freeway: (first segment number with fewer lanes, lanes from there on).
    lane_drop: tuple = None
    # Arterial: cycle length and the arterial's green time at every signal.
    cycle_s: int = 90
    green_s: int = 50
    # Arterial: signal offsets, one per signal (seconds), to give partial progression.
    offsets_s: list = field(default_factory=list)

    def segment_ids(self):
        return [f"{self.prefix}{i:02d}" for i in range(1, len(self.lengths_m) + 1)]

    def lanes_of(self, number):
        if self.lane_drop and number >= self.lane_drop[0]:
            return self.lane_drop[1]
        return self.lanes


def _write(path, root, lines):
    path.write_text(f"<{root}>\n" + "\n".join(lines) + f"\n</{root}>\n")


def build(road, workdir, netconvert):
    """Writes plain node/edge files and runs netconvert; returns the .net.xml path."""
    workdir = Path(workdir)
    ids = road.segment_ids()
    signal = "traffic_light" if road.kind == "arterial" else "priority"
    xs = [0.0, ENTRY_M]
    for length in road.lengths_m:
        xs.append(xs[-1] + length)
    xs.append(xs[-1] + EXIT_M)
    nodes, edges = [], []
    for i, x in enumerate(xs):
        # Signals close every arterial segment (nodes n2 .. n(len+1)).
        kind = signal if 2 <= i <= len(ids) + 1 else "priority"
        nodes.append(f'<node id="n{i}" x="{x:.1f}" y="0" type="{kind}"/>')
    speed = road.speed_kph / 3.6
    names = ["in"] + ids + ["out"]
    for i, name in enumerate(names):
        lanes = road.lanes_of(i) if 1 <= i <= len(ids) else road.lanes
        if name == "out":
            lanes = road.lanes_of(len(ids))
        edges.append(
            f'<edge id={quoteattr(name)} from="n{i}" to="n{i + 1}" numLanes="{lanes}" '
            f'speed="{speed:.3f}"/>'
        )
    if road.kind == "arterial":
        # A one-way cross street through every signal, southbound.
        for i in range(2, len(ids) + 2):
            x = xs[i]
            nodes.append(f'<node id="c{i}n" x="{x:.1f}" y="{CROSS_M}" type="priority"/>')
            nodes.append(f'<node id="c{i}s" x="{x:.1f}" y="{-CROSS_M}" type="priority"/>')
            edges.append(f'<edge id="x{i}in" from="c{i}n" to="n{i}" numLanes="1" speed="13.89"/>')
            edges.append(f'<edge id="x{i}out" from="n{i}" to="c{i}s" numLanes="1" speed="13.89"/>')
    _write(workdir / "net.nod.xml", "nodes", nodes)
    _write(workdir / "net.edg.xml", "edges", edges)
    net = workdir / "net.net.xml"
    subprocess.run(
        [netconvert, "--node-files", str(workdir / "net.nod.xml"),
         "--edge-files", str(workdir / "net.edg.xml"), "-o", str(net),
         "--no-turnarounds", "true", "--tls.cycle.time", str(road.cycle_s),
         "--no-warnings", "true", "--seed", "1"],
        check=True, capture_output=True, text=True,
    )
    if road.kind == "arterial":
        _retime_signals(net, road)
    return net


def _retime_signals(net, road):
    """Gives the arterial `green_s` of every cycle (netconvert splits it evenly) and the
    cross street the rest, and sets each signal's offset. Phase order is netconvert's:
    arterial green, yellow, cross green, yellow."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(net)
    root = tree.getroot()
    arterial_links = {}
    for c in root.iter("connection"):
        if c.get("tl") and not c.get("from", "").startswith("x"):
            arterial_links.setdefault(c.get("tl"), set()).add(int(c.get("linkIndex")))
    for n, tl in enumerate(sorted(root.iter("tlLogic"), key=lambda t: int(t.get("id")[1:]))):
        links = arterial_links.get(tl.get("id"), set())
        phases = tl.findall("phase")
        yellow = sum(int(float(p.get("duration"))) for p in phases if "y" in p.get("state"))
        for p in phases:
            state = p.get("state")
            if "y" in state:
                continue
            major = any(state[i] in "Gg" for i in links)
            p.set("duration", str(road.green_s if major else road.cycle_s - road.green_s - yellow))
        offsets = road.offsets_s or [0]
        tl.set("offset", str(offsets[n % len(offsets)]))
    tree.write(net)


def read_segments(road, net_path):
    """What the built network says of each segment: length, lanes, and for arterials the
    cycle and green time of the signal at its downstream end (read from the net itself)."""
    import sumolib

    net = sumolib.net.readNet(str(net_path), withPrograms=True)
    out = []
    for sid in road.segment_ids():
        edge = net.getEdge(sid)
        info = {
            "id": sid,
            "length_m": edge.getLength(),
            "lanes": edge.getLaneNumber(),
            "speed_kph": edge.getSpeed() * 3.6,
        }
        node = edge.getToNode()
        if road.kind == "arterial" and node.getType() == "traffic_light":
            info.update(_signal_timing(net, node.getID(), sid))
        out.append(info)
    return out


def _signal_timing(net, tls_id, edge_id):
    tls = net.getTLS(tls_id)
    links = {i for conns in [tls.getConnections()] for (inl, _, i) in conns
             if inl.getEdge().getID() == edge_id}
    program = next(iter(tls.getPrograms().values()))
    cycle = sum(p.duration for p in program.getPhases())
    green = sum(p.duration for p in program.getPhases()
                if any(p.state[i] in "Gg" for i in links))
    return {"cycle_s": cycle, "green_s": green}
