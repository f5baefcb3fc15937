//! roadpulse's registry client against tests/registry/server.py (the Confluent REST subset):
//! register and look up by id (cached), basic auth, and each failure mapped to what the
//! worker does with it (unknown id: DLQ; refused: start-up error; no answer: stop and retry).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use roadpulse::codec::avro::{CONGESTION_EVENT_SCHEMA, RAW_EVENT_SCHEMA};
use roadpulse::codec::registry::{Registry, RegistryError};
use roadpulse::config::{Config, SchemaRegistryConfig};

struct Server(Child, u16);

impl Server {
    fn start(args: &[&str]) -> Server {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/registry/server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the test registry");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("port");
        Server(child, port)
    }

    fn config(&self, auth: Option<(&str, &str)>) -> SchemaRegistryConfig {
        SchemaRegistryConfig {
            url: format!("http://127.0.0.1:{}/", self.1),
            username: auth.map(|a| a.0.to_string()),
            password: auth.map(|a| a.1.to_string()),
            ..Config::default().schema_registry
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn registers_once_per_schema_and_looks_ids_up() {
    let server = Server::start(&[]);
    let r = Registry::new(&server.config(None)).unwrap();
    let raw = r.register("traffic.raw-value", RAW_EVENT_SCHEMA).unwrap();
    let congestion = r
        .register("traffic.congestion-value", CONGESTION_EVENT_SCHEMA)
        .unwrap();
    assert_ne!(raw, congestion);
    assert_eq!(r.register("traffic.raw-value", RAW_EVENT_SCHEMA), Ok(raw));
    let fresh = Registry::new(&server.config(None)).unwrap();
    assert_eq!(
        fresh.register("other-value", RAW_EVENT_SCHEMA),
        Ok(raw),
        "ids are global per schema"
    );
    assert_eq!(&*fresh.schema(congestion).unwrap(), CONGESTION_EVENT_SCHEMA);
    assert!(matches!(fresh.schema(999), Err(RegistryError::NotFound(_))));
}

#[test]
fn basic_auth_and_failures_are_told_apart() {
    let server = Server::start(&["--user", "rp:s3cret"]);
    let good = Registry::new(&server.config(Some(("rp", "s3cret")))).unwrap();
    let id = good.register("t-value", RAW_EVENT_SCHEMA).unwrap();
    assert!(good.schema(id).is_ok());
    let bad = Registry::new(&server.config(Some(("rp", "wrong")))).unwrap();
    assert!(matches!(
        bad.schema(id),
        Err(RegistryError::Unauthorized(_))
    ));
    let anonymous = Registry::new(&server.config(None)).unwrap();
    assert!(matches!(
        anonymous.register("t-value", RAW_EVENT_SCHEMA),
        Err(RegistryError::Unauthorized(_))
    ));

    let outage = Server::start(&["--fail-after", "0"]);
    let r = Registry::new(&outage.config(None)).unwrap();
    assert!(matches!(r.schema(1), Err(RegistryError::Unavailable(_))));
    let port = outage.1;
    drop(outage);
    let gone = Registry::new(&SchemaRegistryConfig {
        url: format!("http://127.0.0.1:{port}"),
        ..Config::default().schema_registry
    })
    .unwrap();
    assert!(matches!(gone.schema(1), Err(RegistryError::Unavailable(_))));
}

/// HTTPS with basic auth, the registry's certificate signed by a CA made for the test: trusted
/// through `schema_registry.ssl_ca_location`, and refused (as a TLS error, not a record's
/// fault) without it or with another CA; wrong credentials over TLS are told apart too, and
/// the start-up check names the key to fix.
#[test]
fn https_with_basic_auth_and_a_private_ca() {
    let dir = common::scratch_dir("registry-tls");
    let (ca, cert, key, other_ca) = common::make_tls(&dir);
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start(&[
        "--user",
        "rp:s3cret",
        "--tls-cert",
        &cert_arg,
        "--tls-key",
        &key_arg,
    ]);
    let https = |auth: (&str, &str), ca: Option<&std::path::Path>| SchemaRegistryConfig {
        url: format!("https://127.0.0.1:{}", server.1),
        ssl_ca_location: ca.map(std::path::Path::to_path_buf),
        ..server.config(Some(auth))
    };
    let good = Registry::new(&https(("rp", "s3cret"), Some(&ca))).unwrap();
    let id = good.register("t-value", RAW_EVENT_SCHEMA).unwrap();
    assert_eq!(&*good.schema(id).unwrap(), RAW_EVENT_SCHEMA);
    assert_eq!(good.check(), Ok(()));

    let wrong = Registry::new(&https(("rp", "wrong"), Some(&ca))).unwrap();
    assert!(matches!(
        wrong.schema(id),
        Err(RegistryError::Unauthorized(_))
    ));
    for untrusted in [None, Some(other_ca.as_path())] {
        let r = Registry::new(&https(("rp", "s3cret"), untrusted)).unwrap();
        let e = r.schema(id).unwrap_err();
        assert!(matches!(e, RegistryError::Tls(_)), "{untrusted:?}: {e}");
        assert!(e.is_not_the_records_fault());
    }
    // Plain HTTP to the HTTPS port is no answer, not a TLS verdict.
    let plain = Registry::new(&SchemaRegistryConfig {
        url: format!("http://127.0.0.1:{}", server.1),
        ..https(("rp", "s3cret"), None)
    })
    .unwrap();
    assert!(plain.schema(id).is_err());

    let preflight = |cfg| roadpulse::codec::registry::preflight(&cfg).map_err(|e| e.to_string());
    assert_eq!(preflight(https(("rp", "s3cret"), Some(&ca))), Ok(()));
    let e = preflight(https(("rp", "wrong"), Some(&ca))).unwrap_err();
    assert!(
        e.starts_with(
            "config key `schema_registry.password`: schema registry refused the credentials"
        ),
        "{e}"
    );
    let e = preflight(https(("rp", "s3cret"), Some(&other_ca))).unwrap_err();
    assert!(
        e.starts_with("config key `schema_registry.ssl_ca_location`: schema registry TLS:"),
        "{e}"
    );
    let e = preflight(https(("rp", "s3cret"), Some(&dir.join("missing.pem")))).unwrap_err();
    assert!(
        e.contains("schema_registry.ssl_ca_location") && e.contains("missing.pem"),
        "{e}"
    );
    let e = preflight(https(("rp", "s3cret"), Some(&key))).unwrap_err();
    assert!(e.contains("holds no PEM certificate"), "{e}");
}
