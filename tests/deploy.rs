//! The shipped monitoring assets stay true to the worker: Prometheus config and rules pass
//! real `promtool` (including the rules' unit tests), and every `roadpulse_*` series the
//! Grafana dashboard and the alert rules query is one the worker exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .expect("promtool is installed");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
    promtool(&["check", "rules", "deploy/prometheus/rules.yml"]);
    promtool(&["test", "rules", "deploy/prometheus/rules.test.yml"]);
}

/// Metric names (`roadpulse_…`) mentioned in a text, histogram suffixes folded.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("roadpulse_") {
        if i > 0
            && (text.as_bytes()[i - 1].is_ascii_alphanumeric() || text.as_bytes()[i - 1] == b':')
        {
            continue; // part of a recording rule name such as roadpulse:x:rate
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        names.insert(base.to_string());
    }
    names
}

#[test]
fn dashboard_and_rules_query_only_exported_metrics() {
    // One module names every metric; its string literals are the exported names.
    let source = std::fs::read_to_string(root().join("src/telemetry/metrics.rs")).unwrap();
    let exported: BTreeSet<String> = names_in(&source);
    assert!(exported.contains("roadpulse_events_consumed_total") && exported.len() > 15);
    let rendered = roadpulse::telemetry::Metrics::new().render();
    for family in rendered
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
    {
        assert!(
            exported.contains(family),
            "{family} is registered outside telemetry/metrics.rs"
        );
    }
    for file in [
        "deploy/grafana/dashboards/roadpulse.json",
        "deploy/prometheus/rules.yml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let used = names_in(&text);
        assert!(!used.is_empty(), "{file} queries roadpulse metrics");
        let unknown: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(
            unknown.is_empty(),
            "{file} queries metrics the worker does not export: {unknown:?}"
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/dashboards/roadpulse.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(dashboard["uid"], "roadpulse");
}

/// Every query of a dashboard panel (nested in rows too), and the variable's query.
fn dashboard_queries(board: &serde_json::Value) -> Vec<String> {
    fn walk(panels: &serde_json::Value, out: &mut Vec<String>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.extend(t["expr"].as_str().map(String::from));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&board["panels"], &mut out);
    for v in board["templating"]["list"].as_array().into_iter().flatten() {
        out.extend(v["query"]["query"].as_str().map(String::from));
    }
    out
}

/// The poller exports `roadpulse_build_info` too, under its own scrape job (`roadpulse-poll`),
/// so every series the dashboard selects is the workers' job, as the alert rules'
/// `up{job="roadpulse"}` is, and its `instance` variable lists workers only.
#[test]
fn every_dashboard_query_selects_the_worker_job() {
    let board: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/dashboards/roadpulse.json")).unwrap(),
    )
    .unwrap();
    let queries = dashboard_queries(&board);
    assert!(queries.len() > 30, "{} queries", queries.len());
    for q in &queries {
        for name in names_in(q) {
            let selected = q.match_indices(name.as_str()).all(|(i, _)| {
                let rest = q[i + name.len()..]
                    .trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
                rest.starts_with("{job=\"roadpulse\"")
            });
            assert!(selected, "{name} without {{job=\"roadpulse\", ...}} in {q}");
        }
    }
}

/// `go test` in `dir`, with the modules and build cache under ~/.cache/roadpulse/go.
fn go_test(dir: &str) {
    let cache = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()) + "/.cache/roadpulse/go";
    let out = Command::new("go")
        .args(["test", "-count=1", "."])
        .current_dir(root().join(dir))
        .env("GOMODCACHE", format!("{cache}/mod"))
        .env("GOCACHE", format!("{cache}/build"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("the Go toolchain is installed (see deploy/README.md)");
    assert!(
        out.status.success(),
        "go test in {dir}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// deploy/kubernetes/validate (Go): every manifest decodes strictly into its real API type
/// (k8s.io/api, KEDA's v1alpha1, the Prometheus Operator's monitoring/v1, kustomize), the
/// manifests agree with each other, and broken copies of them are rejected.
#[test]
fn kubernetes_manifests_decode_strictly_into_their_api_types() {
    go_test("deploy/kubernetes/validate");
}

/// deploy/grafana/validate (Go): the dashboard decodes strictly into Grafana's dashboard
/// schema as the Grafana Foundation SDK models it, at that schema's version, and broken copies
/// are rejected.
#[test]
fn grafana_dashboard_matches_grafanas_dashboard_schema() {
    go_test("deploy/grafana/validate");
}
