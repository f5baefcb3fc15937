//! `[poll]` and `[[sources]]`: defaults, redaction, and mistakes named by their key.
use crate::config::{Config, Preset};

fn load(toml_text: &str) -> Result<Config, String> {
    let dir = std::env::temp_dir().join(format!(
        "rp-sources-{}-{}",
        std::process::id(),
        toml_text.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("poll.toml");
    std::fs::write(&file, toml_text).unwrap();
    Config::load(Some(&file), vec![], &[]).map_err(|e| e.to_string())
}

#[test]
fn sources_load_with_defaults_and_redact_secret_headers() {
    let c = load(
        r#"[poll]
           id = "poll-eu"
           [[sources]]
           name = "ndw"
           preset = "ndw"
           [[sources]]
           name = "city"
           preset = "json"
           url = "https://city.example/feed.json"
           api_key_env = "CITY_KEY"
           api_key_header = "Authorization"
           api_key_prefix = "Bearer "
           headers = { "X-Api-Key" = "hunter2", "Accept" = "application/json" }
           json = { type = "detector", location = "/id", timestamp = "/t", volume = "/n", speed = "/v" }"#,
    )
    .unwrap();
    assert_eq!(c.poll.id, "poll-eu");
    let ndw = &c.sources[0];
    assert_eq!(
        (ndw.preset, ndw.url()),
        (
            Preset::Ndw,
            Some("https://opendata.ndw.nu/trafficspeed.xml.gz")
        )
    );
    assert_eq!(
        (ndw.interval.millis(), ndw.timeout.millis(), ndw.jitter),
        (60_000, 10_000, 0.1)
    );
    assert_eq!(ndw.topic(&c.kafka), "traffic.raw");
    let shown = c.redacted_toml();
    assert!(
        !shown.contains("hunter2") && shown.contains("application/json"),
        "{shown}"
    );
    let env = vec![("ROADPULSE_POLL_MISSED_POLLS".to_string(), "5".to_string())];
    assert_eq!(Config::load(None, env, &[]).unwrap().poll.missed_polls, 5);
}

#[test]
fn mistakes_name_their_key() {
    let err = |body: &str| load(&format!("[[sources]]\n{body}")).unwrap_err();
    let e = err("name = \"tt\"\npreset = \"tomtom_flow\"\npoints = [\"52.4,4.8\"]");
    assert!(e.contains("sources.tt.api_key_env"), "{e}");
    let e = err("name = \"tt\"\npreset = \"tomtom_flow\"\napi_key_env = \"K\"");
    assert!(e.contains("sources.tt.points"), "{e}");
    let e =
        err("name = \"tt\"\npreset = \"tomtom_flow\"\napi_key_env = \"K\"\npoints = [\"95,4.8\"]");
    assert!(e.contains("sources.tt.points"), "{e}");
    let e = err("name = \"h\"\npreset = \"here_flow\"\napi_key_file = \"/k\"");
    assert!(e.contains("sources.h.bbox"), "{e}");
    let e = err(
        "name = \"h\"\npreset = \"here_flow\"\napi_key_file = \"/k\"\nbbox = \"13.5,52,13.3,53\"",
    );
    assert!(e.contains("sources.h.bbox") && e.contains("west"), "{e}");
    let e = err("name = \"n\"\npreset = \"ndw\"\npoints = [\"52,4\"]");
    assert!(
        e.contains("sources.n.points") && e.contains("not a key"),
        "{e}"
    );
    let e = err("name = \"g\"\npreset = \"gtfs_rt\"");
    assert!(e.contains("sources.g.url"), "{e}");
    let e = err("name = \"g\"\npreset = \"gtfs_rt\"\nurl = \"ftp://x\"");
    assert!(e.contains("sources.g.url"), "{e}");
    let e = err("name = \"g\"\npreset = \"gtfs_rt\"\nurl = \"http://x\"\napi_key_env = \"K\"");
    assert!(e.contains("sources.g.api_key_param"), "{e}");
    let e = err("name = \"n\"\npreset = \"ndw\"\njitter = 0.9");
    assert!(e.contains("sources.n.jitter"), "{e}");
    let e = err("name = \"n\"\npreset = \"ndw\"\ncolour = \"red\"");
    assert!(e.contains("colour"), "{e}");
    let e = err("name = \"n n\"\npreset = \"ndw\"");
    assert!(e.contains("sources.name"), "{e}");
    let e = err("name = \"j\"\npreset = \"json\"\nurl = \"http://x\"\njson = { type = \"probe\", location = \"id\", timestamp = \"/t\", speed = \"/v\" }");
    assert!(e.contains("sources.j.json.location"), "{e}");
    let e = err("name = \"j\"\npreset = \"json\"\nurl = \"http://x\"\njson = { type = \"probe\", location = \"/id\", timestamp = \"/t\" }");
    assert!(e.contains("sources.j.json.speed"), "{e}");
    let e = load(
        "[poll]\nfence_check_interval = \"0s\"\n[[sources]]\nname = \"n\"\npreset = \"ndw\"\n",
    )
    .unwrap_err();
    assert!(e.contains("poll.fence_check_interval"), "{e}");
    let twice = load("[[sources]]\nname = \"n\"\npreset = \"ndw\"\n[[sources]]\nname = \"n\"\npreset = \"ndw\"\n").unwrap_err();
    assert!(
        twice.contains("sources.n.name") && twice.contains("unique"),
        "{twice}"
    );
}
