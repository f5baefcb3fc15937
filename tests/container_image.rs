//! The worker image, built for real: `deploy/images/build` makes the Debian base image with
//! debootstrap and builds `deploy/Dockerfile` (target `roadpulse`, the binary of this test run
//! copied in with `ROADPULSE_BINARY=prebuilt`) with podman. Inside the image, `roadpulse
//! --version` names this build, `check-config` accepts the compose environment and the
//! Kubernetes ConfigMap's `roadpulse.toml` (secrets printed as `***`), a bad value exits 78
//! naming its key, and the worker runs as uid 10001. Every image the test made is removed.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_roadpulse");
const BASE_IMAGE: &str = "localhost/roadpulse-base:bookworm";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `podman ARGS`, ended after 5 minutes at most.
fn podman(args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["300", "podman"])
        .args(args)
        .output()
        .expect("timeout and podman are installed (see deploy/README.md)")
}

fn image_exists(image: &str) -> bool {
    podman(&["image", "exists", image]).status.success()
}

/// Removes, when dropped, the images this test made.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = podman(&["rmi", "--force", image]);
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `roadpulse.toml` held by deploy/kubernetes/configmap.yaml (a YAML block scalar).
fn configmap_toml() -> String {
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/configmap.yaml")).unwrap();
    let start = yaml
        .find("roadpulse.toml: |\n")
        .expect("the ConfigMap holds roadpulse.toml");
    let block: Vec<&str> = yaml[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    assert!(block.len() > 10, "roadpulse.toml block found");
    block.join("\n") + "\n"
}

#[test]
fn worker_image_builds_and_checks_its_config() {
    assert_eq!(
        Path::new(BIN),
        root().join("target/release/roadpulse"),
        "the image takes target/release/roadpulse from the build context: run with --release and the default target directory"
    );
    let image = format!("localhost/roadpulse:test-{}", std::process::id());
    let mut made = Images(vec![image.clone()]);
    if !image_exists(BASE_IMAGE) {
        made.0.push(BASE_IMAGE.to_string());
    }
    let build = Command::new(root().join("deploy/images/build"))
        .args(["--rebuild", "roadpulse"])
        .env("RP_SKIP_CARGO", "1")
        .env("RP_ROADPULSE_IMAGE", &image)
        .output()
        .unwrap();
    assert!(build.status.success(), "image build:\n{}", text(&build));

    let version = podman(&["run", "--rm", "--network", "none", &image, "--version"]);
    assert!(version.status.success(), "{}", text(&version));
    let expected = format!("roadpulse {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), expected);

    let uid = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "id",
        &image,
        "-u",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "10001",
        "{}",
        text(&uid)
    );

    check_compose_environment(&image);
    check_configmap(&image);

    let bad = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-e",
        "ROADPULSE_WINDOW_GRACE=soon",
        &image,
        "check-config",
    ]);
    assert_eq!(bad.status.code(), Some(78), "{}", text(&bad));
    assert!(text(&bad).contains("window.grace"), "{}", text(&bad));
}

/// The worker's environment and catalogue mount in docker-compose.yml.
fn check_compose_environment(image: &str) {
    let catalog = root().join("deploy/compose/catalog.csv");
    let mount = format!("{}:/etc/roadpulse/catalog.csv:ro", catalog.display());
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &mount,
        "-e",
        "ROADPULSE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092",
        "-e",
        "ROADPULSE_KAFKA_CREATE_TOPICS=false",
        "-e",
        "ROADPULSE_CONGESTION_CATALOG=/etc/roadpulse/catalog.csv",
        "-e",
        "ROADPULSE_RDKAFKA_SASL_PASSWORD=not-for-logs",
        image,
        "check-config",
    ]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for line in [
        "bootstrap_servers = \"kafka:9092\"",
        "create_topics = false",
        "catalog = \"/etc/roadpulse/catalog.csv\"",
        "\"sasl.password\" = \"***\"",
    ] {
        assert!(shown.contains(line), "check-config shows {line}:\n{shown}");
    }
    assert!(!shown.contains("not-for-logs"), "secret printed:\n{shown}");
}

/// deploy/kubernetes/configmap.yaml's file, mounted where the StatefulSet mounts it.
fn check_configmap(image: &str) {
    let dir = std::env::temp_dir().join(format!("rp-image-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("roadpulse.toml"), configmap_toml()).unwrap();
    let mount = format!("{}:/etc/roadpulse:ro", dir.display());
    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "-v",
        &mount,
        "-e",
        "ROADPULSE_KAFKA_INSTANCE_ID=roadpulse-0",
        image,
        "check-config",
        "--config",
        "/etc/roadpulse/roadpulse.toml",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("instance_id = \"roadpulse-0\""), "{shown}");
    assert!(shown.contains("format = \"json\""), "{shown}");
}
