//! `roadpulse ingest` against the real broker: accepted records land exactly once, with the
//! partition and offset the answer named; rejected and refused ones never land; a full
//! in-flight budget answers 503 and loses nothing; SIGTERM finishes the request in flight;
//! TLS and Confluent-framed Avro work end to end.

mod common;
mod ingest_client;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{bootstrap, committed_and_end, create_topics, read_topic, scratch_dir, unique, Read};
use ingest_client::*;
use roadpulse::domain::partition::partition_for_key;

const PARTITIONS: i32 = 3;

fn records_in(topic: &str, count: usize) -> Vec<Read> {
    read_topic(&bootstrap(), topic, Duration::from_secs(60), |rs| {
        rs.len() >= count
    })
}

fn end_offsets(topic: &str) -> i64 {
    let ends = committed_and_end(&bootstrap(), &unique("ends"), topic, PARTITIONS);
    ends.iter().map(|(_, end)| end).sum()
}

/// Checks one answer against the events sent: rejected where `bad`, else accepted on the
/// segment's murmur2 partition. Returns the accepted ids with their (partition, offset).
fn check_answer(
    a: &Answer,
    tag: &str,
    ns: &[usize],
    bad: impl Fn(usize) -> bool,
) -> BTreeMap<String, (i32, i64)> {
    let json = a.json();
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), ns.len());
    let mut accepted = BTreeMap::new();
    for (i, (r, &n)) in results.iter().zip(ns).enumerate() {
        assert_eq!(r["index"], i, "{r}");
        if bad(n) {
            assert_eq!(r["status"], "rejected", "{r}");
            assert_eq!(r["kind"], bad_kind(n), "{r}");
            continue;
        }
        assert_eq!(r["status"], "accepted", "{r}");
        let segment = format!("S-{:02}", n % 40);
        let p = r["partition"].as_i64().unwrap() as i32;
        assert_eq!(
            p as u32,
            partition_for_key(segment.as_bytes(), PARTITIONS as u32),
            "murmur2 partition of {segment}"
        );
        accepted.insert(format!("{tag}-{n}"), (p, r["offset"].as_i64().unwrap()));
    }
    accepted
}

#[test]
fn accepted_records_land_exactly_once_and_rejected_ones_never() {
    let topic = unique("ingest-raw");
    create_topics(&bootstrap(), &[&topic], PARTITIONS);
    let ingest = Ingest::start(&bootstrap(), &topic, &scratch_dir("ingest"), &[]);
    let bad = |n: usize| n % 10 == 7;

    let ns: Vec<usize> = (0..300).collect();
    let array = format!(
        "[{}]",
        ns.iter()
            .map(|&n| event("arr", n, bad(n)))
            .collect::<Vec<_>>()
            .join(",\n ")
    );
    let a = post_json(ingest.port, &array);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let mut sent = check_answer(&a, "arr", &ns, bad);

    let lines: Vec<String> = (0..200).map(|n| event("nd", n, bad(n))).collect();
    let ndjson = format!(
        "{}\n\n{}\r\n",
        lines[..100].join("\n"),
        lines[100..].join("\r\n")
    );
    let a = post(
        ingest.port,
        "application/x-ndjson",
        Some(TOKEN),
        ndjson.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    sent.extend(check_answer(&a, "nd", &(0..200).collect::<Vec<_>>(), bad));

    let a = post_json(ingest.port, &event("one", 1, false));
    assert_eq!(a.status, 200);
    sent.extend(check_answer(&a, "one", &[1], |_| false));
    let a = post_json(
        ingest.port,
        &format!("[{},{}]", event("none", 7, true), event("none", 17, true)),
    );
    assert_eq!(
        a.status,
        422,
        "nothing valid: {}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(a.json()["rejected"], 2);

    let read = records_in(&topic, sent.len());
    let mut seen: BTreeMap<String, (i32, i64)> = BTreeMap::new();
    for r in &read {
        let value = r.value.as_deref().unwrap();
        let id = id_of(value);
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(value).unwrap()["segment_id"],
            key.as_str()
        );
        assert!(
            seen.insert(id.clone(), (r.partition, r.offset)).is_none(),
            "{id} landed twice"
        );
    }
    assert_eq!(
        seen, sent,
        "every accepted record once, where its answer said, and nothing else"
    );

    let accepted = ingest.metric("roadpulse_ingest_records_total{outcome=\"accepted\"}");
    assert_eq!(accepted as usize, sent.len());
    let rejected = ingest.metric("roadpulse_ingest_records_total{outcome=\"rejected\"}");
    assert_eq!(rejected, 30.0 + 20.0 + 2.0);
    assert_eq!(
        ingest.metric("roadpulse_ingest_requests_total{code=\"200\"}"),
        3.0
    );
    let unknown = (0..300)
        .chain(0..200)
        .chain([7, 17])
        .filter(|&n| bad(n) && bad_kind(n) == "unknown_type")
        .count();
    assert_eq!(
        ingest.metric("roadpulse_ingest_rejected_records_total{kind=\"unknown_type\"}"),
        unknown as f64
    );
}

#[test]
fn refused_requests_are_answered_and_write_nothing() {
    let topic = unique("ingest-refused");
    create_topics(&bootstrap(), &[&topic], PARTITIONS);
    let extra = ["ingest.max_body_bytes=65536".to_string()];
    let ingest = Ingest::start(&bootstrap(), &topic, &scratch_dir("ingest"), &extra);
    let one = event("r", 1, false);
    let port = ingest.port;

    let a = post(port, "application/json", None, one.as_bytes());
    assert_eq!(
        (a.status, a.header("www-authenticate")),
        (401, Some("Bearer realm=\"roadpulse\""))
    );
    let a = post(
        port,
        "application/json",
        Some("not-our-token"),
        one.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert!(a
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    let a = post(port, "text/plain", Some(TOKEN), one.as_bytes());
    assert_eq!(a.status, 415, "{}", String::from_utf8_lossy(&a.body));
    let a = post(
        port,
        "application/vnd.confluent.avro",
        Some(TOKEN),
        b"\0\0\0\0\x01\x02",
    );
    assert_eq!(a.status, 415, "Avro to a JSON topic");
    assert!(a.json()["error"]
        .as_str()
        .unwrap()
        .contains("holds JSON records"));

    // Declared too large: answered from the head alone, before any of the body is sent.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(head("application/json", Some(TOKEN), Some(70_000)).as_bytes())
        .unwrap();
    assert_eq!(read_answer(&mut s).status, 413, "declared too large");
    // Chunked: found too large while reading; the chunks stop just past the limit.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = head("application/json", Some(TOKEN), None).into_bytes();
    for _ in 0..8 {
        request.extend_from_slice(format!("{:x}\r\n", 8200).as_bytes());
        request.extend(std::iter::repeat_n(b' ', 8200));
        request.extend_from_slice(b"\r\n");
    }
    s.write_all(&request).unwrap();
    assert_eq!(
        read_answer(&mut s).status,
        413,
        "chunked, found too large while reading"
    );

    let a = post_json(port, &format!("[{one},"));
    assert_eq!(a.status, 400, "a broken array is a broken body");
    let mut gz = head("application/json", Some(TOKEN), Some(one.len()));
    gz = gz.replace("\r\n\r\n", "\r\nContent-Encoding: gzip\r\n\r\n") + &one;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(gz.as_bytes()).unwrap();
    assert_eq!(
        read_answer(&mut s).status,
        415,
        "compressed bodies are refused"
    );

    assert_eq!(end_offsets(&topic), 0, "nothing was written");
    assert_eq!(
        ingest.metric("roadpulse_ingest_requests_total{code=\"401\"}"),
        2.0
    );
    assert_eq!(
        ingest.metric("roadpulse_ingest_requests_total{code=\"413\"}"),
        2.0
    );
    assert_eq!(
        ingest.metric("roadpulse_ingest_requests_total{code=\"415\"}"),
        3.0
    );
}

/// Holds one request's body half-sent, which takes the whole in-flight budget: a second
/// request is answered 503 with Retry-After. SIGTERM then lets the held request finish (200)
/// and the process exit 0; the refused request, sent again to a new process, lands.
#[test]
fn full_budget_answers_503_and_shutdown_finishes_the_request_in_flight() {
    let topic = unique("ingest-budget");
    create_topics(&bootstrap(), &[&topic], PARTITIONS);
    let dir = scratch_dir("ingest");
    let extra = [
        "ingest.max_body_bytes=65536".to_string(),
        "ingest.max_in_flight_bytes=65536".to_string(),
    ];
    let mut ingest = Ingest::start(&bootstrap(), &topic, &dir, &extra);

    // A body of 63.5-64 KiB takes all 64 KiB of the budget (counted in whole KiB).
    let mut held = Vec::new();
    let mut events: Vec<String> = Vec::new();
    while events.iter().map(|e| e.len() + 1).sum::<usize>() < 65_024 {
        events.push(event("held", held.len(), false));
        held.push(held.len());
    }
    events.pop();
    held.pop();
    let body = format!("[{}]", events.join(","));
    assert!(body.len() > 64_512 && body.len() <= 65536, "{}", body.len());
    let mut a = TcpStream::connect(("127.0.0.1", ingest.port)).unwrap();
    a.write_all(head("application/json", Some(TOKEN), Some(body.len())).as_bytes())
        .unwrap();
    a.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    a.flush().unwrap();
    // The held request has taken its share once the gauge says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ingest.metric("roadpulse_ingest_in_flight_bytes") < 65536.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the held request was admitted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let refused = event("late", 1, false);
    let b = post_json(ingest.port, &refused);
    assert_eq!(b.status, 503, "{}", String::from_utf8_lossy(&b.body));
    assert_eq!(b.header("retry-after"), Some("1"));

    ingest.process.signal("TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ingest.get_http("/readyz").is_some_and(|(s, _)| s == 200) {
        assert!(
            std::time::Instant::now() < deadline,
            "not ready once stopping"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.write_all(&body.as_bytes()[body.len() / 2..]).unwrap();
    let answer = read_answer(&mut a);
    assert_eq!(
        answer.status,
        200,
        "the request in flight is answered: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let mut sent = check_answer(&answer, "held", &held, |_| false);
    assert_eq!(
        ingest.process.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        ingest.process.log_text()
    );

    let again = Ingest::start(&bootstrap(), &topic, &dir, &extra);
    let b = post_json(again.port, &refused);
    assert_eq!(b.status, 200);
    sent.extend(check_answer(&b, "late", &[1], |_| false));
    let read = records_in(&topic, sent.len());
    let seen: BTreeMap<String, (i32, i64)> = read
        .iter()
        .map(|r| (id_of(r.value.as_deref().unwrap()), (r.partition, r.offset)))
        .collect();
    assert_eq!(read.len(), seen.len(), "no record twice");
    assert_eq!(seen, sent);
}

/// A JSON value as the Avro value it stands for (records by field name), for `resolve`.
fn avro_value(json: serde_json::Value) -> apache_avro::types::Value {
    use apache_avro::types::Value;
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Long(i),
            None => Value::Double(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(avro_value).collect()),
        serde_json::Value::Object(o) => {
            Value::Record(o.into_iter().map(|(k, v)| (k, avro_value(v))).collect())
        }
    }
}

#[test]
fn avro_records_are_judged_by_the_worker_decoder_and_written_unchanged() {
    use roadpulse::codec::avro;
    let topic = unique("ingest-avro");
    create_topics(&bootstrap(), &[&topic], PARTITIONS);
    let extra = [
        "formats.input=\"avro\"".to_string(),
        format!("schema_registry.ids.{topic}=5"),
    ];
    let ingest = Ingest::start(&bootstrap(), &topic, &scratch_dir("ingest"), &extra);
    let schema = avro::parse(avro::RAW_EVENT_SCHEMA).unwrap();
    #[allow(deprecated)] // to_avro_datum: the plain way to write one datum
    let framed = |id: u32, n: usize| {
        let json: serde_json::Value = serde_json::from_str(&event("avro", n, false)).unwrap();
        let value = avro_value(json).resolve(&schema).unwrap();
        let mut out = Vec::new();
        avro::put_header(&mut out, id);
        out.extend(apache_avro::to_avro_datum(&schema, value).unwrap());
        out
    };
    let good = framed(5, 3);
    let a = post(ingest.port, avro_type(), Some(TOKEN), &good);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = post(ingest.port, avro_type(), Some(TOKEN), &framed(9, 4));
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["results"][0]["kind"], "schema");
    let a = post_json(ingest.port, &event("json", 1, false));
    assert_eq!(a.status, 415, "JSON to an Avro topic");

    let read = records_in(&topic, 1);
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value.as_deref(), Some(&good[..]), "written as sent");
    assert_eq!(read[0].key.as_deref(), Some(&b"S-03"[..]));
}

fn avro_type() -> &'static str {
    roadpulse::ingest::body::AVRO_MEDIA_TYPE
}

#[test]
fn https_with_a_bearer_token() {
    let topic = unique("ingest-tls");
    create_topics(&bootstrap(), &[&topic], PARTITIONS);
    let dir = scratch_dir("ingest-tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let extra = [
        format!("ingest.tls_cert=\"{}\"", cert_path.display()),
        format!("ingest.tls_key=\"{}\"", key_path.display()),
    ];
    let ingest = Ingest::start(&bootstrap(), &topic, &dir, &extra);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connect = || {
        let conn = rustls::ClientConnection::new(
            std::sync::Arc::new(config.clone()),
            "localhost".try_into().unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", ingest.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        rustls::StreamOwned::new(conn, tcp)
    };
    let one = event("tls", 1, false);
    let mut s = connect();
    s.write_all(head("application/json", Some(TOKEN), Some(one.len())).as_bytes())
        .unwrap();
    s.write_all(one.as_bytes()).unwrap();
    let a = read_answer(&mut s);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let mut s = connect();
    s.write_all(head("application/json", None, Some(one.len())).as_bytes())
        .unwrap();
    s.write_all(one.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut s).status, 401);

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", ingest.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(head("application/json", Some(TOKEN), Some(one.len())).as_bytes())
        .unwrap();
    let _ = plain.write_all(one.as_bytes());
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut raw);
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(records_in(&topic, 1).len(), 1);
}
