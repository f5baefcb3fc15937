//! Helpers for the HTTP ingest tests: a `roadpulse ingest` process of the real binary, a
//! small HTTP/1.1 client over a plain or TLS stream (so a test can hold a body half-sent),
//! and numbered raw events that can be found again in the topic.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{free_port, Worker, BIN};

pub const TOKEN: &str = "ingest-test-token-7f3a";

/// A running `roadpulse ingest` (killed when dropped).
pub struct Ingest {
    pub process: Worker,
    pub port: u16,
    pub http_port: u16,
}

impl Ingest {
    /// Starts it on `topic` with the test token and `extra` settings; waits until ready.
    pub fn start(bootstrap: &str, topic: &str, dir: &std::path::Path, extra: &[String]) -> Ingest {
        let (port, http_port) = (free_port(), free_port());
        let log = dir.join(format!("ingest-{port}.log"));
        let mut cmd = Command::new(BIN);
        cmd.arg("ingest");
        let sets = [
            format!("kafka.bootstrap_servers=\"{bootstrap}\""),
            format!("kafka.input_topics=[\"{topic}\"]"),
            format!("ingest.listen=\"127.0.0.1:{port}\""),
            format!("http.listen=\"127.0.0.1:{http_port}\""),
            "ingest.ack_timeout=\"4s\"".to_string(),
            "kafka.shutdown_timeout=\"15s\"".to_string(),
        ];
        for s in sets.iter().chain(extra) {
            cmd.arg("--set").arg(s);
        }
        let child = cmd
            .env("ROADPULSE_INGEST_TOKENS", format!("other-token,{TOKEN}"))
            .env("RUST_LOG", "info,librdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start roadpulse ingest");
        let mut ingest = Ingest {
            process: Worker::from_child(child, log),
            port,
            http_port,
        };
        ingest.wait_ready(Duration::from_secs(60));
        ingest
    }

    /// Waits until /readyz answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let log = self.process.log_text();
            assert!(self.process.is_running(), "ingest exited:\n{log}");
            if self
                .get_http("/readyz")
                .is_some_and(|(status, _)| status == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "ingest not ready in {timeout:?}:\n{}",
            self.process.log_text()
        );
    }

    /// GET on the metrics port: status and body, or None when nothing answers.
    pub fn get_http(&self, path: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.get(9..12)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// The value of one metric sample line (`name{labels}`), 0 when absent.
    pub fn metric(&self, sample: &str) -> f64 {
        let (_, text) = self.get_http("/metrics").expect("metrics answer");
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// The head of a `POST /v1/events` with a `Content-Length` (or chunked when None).
pub fn head(content_type: &str, token: Option<&str>, length: Option<usize>) -> String {
    let mut h = format!(
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {content_type}\r\n"
    );
    if let Some(t) = token {
        h.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    match length {
        Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        None => h.push_str("Transfer-Encoding: chunked\r\n"),
    }
    h.push_str("\r\n");
    h
}

/// Reads a whole answer (the server closes: `Connection: close`).
pub fn read_answer(stream: &mut impl Read) -> Answer {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// One request on a fresh connection to 127.0.0.1:`port`.
pub fn post(port: u16, content_type: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to ingest");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // One write: a request refused before its body is read then leaves nothing unread in the
    // server's socket, which would turn its close into a reset that can eat the answer.
    let mut request = head(content_type, token, Some(body.len())).into_bytes();
    request.extend_from_slice(body);
    s.write_all(&request).unwrap();
    read_answer(&mut s)
}

pub fn post_json(port: u16, body: &str) -> Answer {
    post(port, "application/json", Some(TOKEN), body.as_bytes())
}

/// Raw event number `n`: a probe on one of 40 segments, found again by its `vehicle_id`.
/// `bad` makes it invalid (each kind in turn) the way a broken device would.
pub fn event(tag: &str, n: usize, bad: bool) -> String {
    let segment = format!("S-{:02}", n % 40);
    let ts = 1_767_225_600_000i64 + n as i64 * 100;
    let id = format!("{tag}-{n}");
    if !bad {
        return format!(
            r#"{{"type":"probe","segment_id":"{segment}","ts":{ts},"speed_kph":{},"vehicle_id":"{id}"}}"#,
            40 + n % 60
        );
    }
    match n % 3 {
        0 => format!(
            r#"{{"type":"probe","segment_id":"{segment}","speed_kph":50,"vehicle_id":"{id}"}}"#
        ),
        1 => format!(
            r#"{{"type":"probe","segment_id":"{segment}","ts":{ts},"speed_kph":900,"vehicle_id":"{id}"}}"#
        ),
        _ => format!(
            r#"{{"type":"bus","segment_id":"{segment}","ts":{ts},"speed_kph":5,"vehicle_id":"{id}"}}"#
        ),
    }
}

/// The rejection kind `event(.., bad = true)` gets.
pub fn bad_kind(n: usize) -> &'static str {
    match n % 3 {
        0 => "missing_field",
        1 => "invalid_value",
        _ => "unknown_type",
    }
}

/// The `vehicle_id` of a record value read back.
pub fn id_of(value: &[u8]) -> String {
    let v: Value = serde_json::from_slice(value).expect("JSON record");
    v["vehicle_id"].as_str().unwrap_or_default().to_string()
}
