//! roadpulse's registry client against tests/registry/server.py (the Confluent REST subset):
//! register and look up by id (cached), basic auth, and each failure mapped to what the
//! worker does with it (unknown id: DLQ; refused: start-up error; no answer: stop and retry).

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
    let r = Registry::new(&server.config(None));
    let raw = r.register("traffic.raw-value", RAW_EVENT_SCHEMA).unwrap();
    let congestion = r
        .register("traffic.congestion-value", CONGESTION_EVENT_SCHEMA)
        .unwrap();
    assert_ne!(raw, congestion);
    assert_eq!(r.register("traffic.raw-value", RAW_EVENT_SCHEMA), Ok(raw));
    let fresh = Registry::new(&server.config(None));
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
    let good = Registry::new(&server.config(Some(("rp", "s3cret"))));
    let id = good.register("t-value", RAW_EVENT_SCHEMA).unwrap();
    assert!(good.schema(id).is_ok());
    let bad = Registry::new(&server.config(Some(("rp", "wrong"))));
    assert!(matches!(bad.schema(id), Err(RegistryError::Refused(_))));
    let anonymous = Registry::new(&server.config(None));
    assert!(matches!(
        anonymous.register("t-value", RAW_EVENT_SCHEMA),
        Err(RegistryError::Refused(_))
    ));

    let outage = Server::start(&["--fail-after", "0"]);
    let r = Registry::new(&outage.config(None));
    assert!(matches!(r.schema(1), Err(RegistryError::Unavailable(_))));
    let port = outage.1;
    drop(outage);
    let gone = Registry::new(&SchemaRegistryConfig {
        url: format!("http://127.0.0.1:{port}"),
        ..Config::default().schema_registry
    });
    assert!(matches!(gone.schema(1), Err(RegistryError::Unavailable(_))));
}
