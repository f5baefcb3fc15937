"""The checks deploy/compose-check runs against the live stack's Prometheus and broker:
dashboard panels, rule health, the worker-down alert, scaling and the poller. Stdlib only."""
import json
import os
import re
import time

from checkutil import Failed

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(REPO, "deploy/grafana/dashboards/roadpulse.json")
RULES = os.path.join(REPO, "deploy/prometheus/rules.yml")
# Grafana's $__rate_interval: max($__interval + scrape interval, 4 x scrape interval); with the
# 15 s scrape interval of deploy/prometheus/prometheus.yml and any panel width that is 60 s.
RATE_INTERVAL = "1m"


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def regex_escape(value):
    """A value inside a PromQL regex string, escaped as Grafana's Prometheus datasource does."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def variable_values(stack, var):
    """Runs the dashboard variable's label_values(metric{selector}, label) query as Grafana's
    Prometheus datasource does: the label's values among the series the selector matches."""
    query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
    m = re.fullmatch(r"label_values\((\w+(?:\{[^}]*\})?),\s*(\w+)\)", query.strip())
    if not m:
        raise Failed(f"variable {var['name']}: unsupported query {query!r}")
    # Over the dashboard's default time range (now-30m), as Grafana sends it.
    now = time.time()
    return sorted(stack.prom(f"/api/v1/label/{m.group(2)}/values", start=f"{now - 1800:.0f}",
                             end=f"{now:.0f}", **{"match[]": m.group(1)}))


def check_instance_variable(stack, values):
    """The `instance` variable lists the worker targets (job roadpulse) and nothing else: not
    the poller, which exports roadpulse_build_info too, under its own job."""
    up = stack.prom("/api/v1/query", query='up{job="roadpulse"}')["result"]
    workers = sorted(r["metric"]["instance"] for r in up)
    others = sorted(r["metric"]["instance"] for r in stack.prom(
        "/api/v1/query", query='roadpulse_build_info{job!="roadpulse"}')["result"])
    if not others:
        raise Failed("no roadpulse_build_info outside job roadpulse (the poller's): nothing to tell apart")
    if values != workers:
        raise Failed(f"dashboard variable instance lists {values}, the worker targets are {workers} "
                     f"(other roadpulse targets: {others})")
    return others


def expand(expr, variables):
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("${__rate_interval}", RATE_INTERVAL)
    if "$" in expr:
        raise Failed(f"unresolved variable in {expr}")
    return expr


def dashboard_queries(stack, log):
    board = json.load(open(DASHBOARD))
    variables = {}
    for var in board.get("templating", {}).get("list", []):
        values = variable_values(stack, var)
        if not values:
            raise Failed(f"dashboard variable {var['name']} has no values")
        if var["name"] == "instance":
            others = check_instance_variable(stack, values)
            log(f"dashboard: variable instance lists the workers {values}, not {others}")
        # "All" with no allValue: Grafana sends the values as one regex alternation.
        variables[var["name"]] = var.get("allValue") or "(" + "|".join(map(regex_escape, values)) + ")"
    queries = []
    for p in panels(board["panels"]):
        for t in p.get("targets", []):
            if t.get("expr"):
                queries.append((p["id"], p.get("title", ""), expand(t["expr"], variables)))
    return queries


def check_dashboard(stack, wait_for, log):
    queries = dashboard_queries(stack, log)

    def empty_ones():
        empty = [q for q in queries if not stack.prom("/api/v1/query", query=q[2])["result"]]
        if empty:
            log(f"dashboard: {len(empty)} of {len(queries)} queries without series yet: "
                f"{[(i, t) for i, t, _ in empty]}")
        return not empty
    wait_for("every dashboard query returns series", empty_ones, timeout=240, every=15)
    log(f"dashboard: all {len(queries)} queries of {len({q[0] for q in queries})} panels return series")


def rule_names():
    names = []
    for line in open(RULES):
        m = re.match(r"\s*-\s*(alert|record):\s*(\S+)", line)
        if m:
            names.append(m.group(2))
    return names


def check_rules(stack, log):
    want = rule_names()
    groups = stack.prom("/api/v1/rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    missing = [n for n in want if n not in loaded]
    if missing or len(loaded) != len(set(want)):
        raise Failed(f"rules loaded {sorted(loaded)}, rules.yml has {want}")
    bad = {n: r.get("lastError") for n, r in loaded.items() if r.get("health") != "ok"}
    if bad:
        raise Failed(f"rules not healthy: {bad}")
    log(f"rules: all {len(loaded)} rules of rules.yml loaded and healthy")


def alert_state(stack, name):
    alerts = stack.prom("/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"].get("alertname") == name]


def check_worker_down_alert(stack, wait_for, log, check_targets_up):
    """A frozen worker (container paused) keeps its DNS name, so its target turns down and
    RoadpulseWorkerDown must fire. A stopped container leaves the compose DNS, so its target
    disappears instead; that is checked too."""
    workers = stack.containers("roadpulse")
    frozen = workers[-1]["Names"][0]
    log(f"pausing {frozen}; waiting for RoadpulseWorkerDown to fire (for: 2m)")
    stack.run_podman("pause", frozen)
    try:
        firing = wait_for("RoadpulseWorkerDown firing",
                          lambda: [a for a in alert_state(stack, "RoadpulseWorkerDown")
                                   if a["state"] == "firing"], timeout=300, every=10)
        log(f"RoadpulseWorkerDown firing for {firing[0]['labels'].get('instance')}")
    finally:
        stack.run_podman("unpause", frozen)
    check_targets_up(stack, 2)
    wait_for("RoadpulseWorkerDown resolved", lambda: not alert_state(stack, "RoadpulseWorkerDown"),
             timeout=120)
    log("RoadpulseWorkerDown resolved after unpausing")


def group_members(stack):
    """(member, partitions) of group roadpulse as the broker reports them."""
    out = stack.exec_kafka("/opt/kafka/bin/kafka-consumer-groups.sh", "--bootstrap-server", "kafka:9092",
                           "--describe", "--group", "roadpulse", "--members").stdout
    members = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[0] == "roadpulse" and cols[-1].isdigit():
            members.append((cols[1], int(cols[-1])))
    return members


def check_scale_to_three(stack, wait_for, log, check_targets_up):
    before = group_members(stack)
    log(f"group before scaling: {before}")
    stack.cmd("up", "-d", "--no-build", "--no-deps", "--scale", "roadpulse=3", "roadpulse", timeout=300)
    spread = wait_for("3 group members, each with partitions",
                      lambda: (lambda m: m if len(m) == 3 and all(n > 0 for _, n in m) else None)(
                          group_members(stack)), timeout=180, every=10)
    log(f"group after scaling: {spread}")
    check_targets_up(stack, 3)

    # The workers' own gauges agree with the broker: three of them, none empty, summing to the
    # partitions the group holds (a gauge scraped before its worker's rebalance shows the old
    # count until the next scrape).
    want = sum(n for _, n in spread)

    def assigned():
        res = stack.prom("/api/v1/query", query="sum by (instance) (roadpulse_assigned_partitions)")["result"]
        per = {r["metric"]["instance"]: float(r["value"][1]) for r in res}
        ok = len(per) == 3 and all(v > 0 for v in per.values()) and sum(per.values()) == want
        return per if ok else None
    per = wait_for(f"roadpulse_assigned_partitions > 0 on 3 workers, {want} in all", assigned,
                   timeout=90, every=10)
    log(f"assigned partitions per worker (Prometheus): {per}")


FEED_MAPPING = os.path.join(REPO, "deploy/compose/feed-loops.csv")
POLL = 'job="roadpulse-poll",source="city-loops"'


def poll_metric(stack, metric, labels=""):
    res = stack.prom("/api/v1/query", query=f"sum(roadpulse_source_{metric}{{{POLL}{labels}}})")["result"]
    return float(res[0]["value"][1]) if res else None


def check_poller(stack, wait_for, log):
    """The poller (service `poller`) polls the demo feed: Prometheus shows its source up, polls
    committed and readings published, the unmapped loop dropped as such; and its readings are
    on traffic.raw, read_committed, keyed by the mapped segments and stamped recently."""
    def metrics():
        got = {"up": poll_metric(stack, "up"),
               "published": poll_metric(stack, "readings_published_total"),
               "committed": poll_metric(stack, "transactions_total", ',outcome="committed"'),
               "unmapped": poll_metric(stack, "readings_dropped_total", ',reason="unmapped"')}
        return got if got["up"] == 1 and all((got[k] or 0) > 0 for k in got) else None
    got = wait_for("poller: source up, transactions committed, readings published", metrics,
                   timeout=180, every=10)
    log(f"poller metrics: {got}")
    segments = {}
    for line in open(FEED_MAPPING):
        if line.strip() and not line.startswith("#") and not line.startswith("location,"):
            loc, seg = line.strip().split(",")
            segments[seg] = loc
    # Only the poller writes "flow" readings (the simulator writes probes, detectors and reports).
    out = stack.exec_kafka(
        "/opt/kafka/bin/kafka-console-consumer.sh", "--bootstrap-server", "kafka:9092",
        "--topic", "traffic.raw", "--isolation-level", "read_committed", "--max-messages", "60000",
        "--timeout-ms", "60000", "--property", "print.key=true", timeout=180, check=False)
    flows = []
    for line in out.stdout.splitlines():
        key, _, value = line.partition("\t")
        if '"flow"' in value:
            flows.append((key, json.loads(value)))
    if not flows:
        raise Failed(f"no flow readings of the poller among the next 60000 records of traffic.raw "
                     f"(consumer exit {out.returncode}: {out.stderr[-500:]})")
    now_ms = time.time() * 1000
    for key, e in flows:
        if key != e.get("segment_id") or key not in segments:
            raise Failed(f"poller reading keyed {key!r} is not on a mapped segment: {e}")
        if not now_ms - 300_000 < e.get("ts", 0) <= now_ms + 60_000:
            raise Failed(f"poller reading not stamped by the live feed (ts {e.get('ts')}): {e}")
    log(f"traffic.raw: {len(flows)} flow readings of the poller on "
        f"{sorted({k for k, _ in flows})}, e.g. {flows[0][1]}")
