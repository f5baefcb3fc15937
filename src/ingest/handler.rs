//! `POST /v1/events`, step by step: the bearer token, the content type and encoding, Kafka
//! reachable, the size, room in the in-flight budget, the body, its records, their validation,
//! and the acknowledgements. Each step that fails answers at once, before anything is written.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::admission::Admission;
use super::answer::{Answer, RecordResult};
use super::auth::{Denied, Tokens};
use super::body::BodyFormat;
use super::produce::{Readiness, Sender};
use super::validate::Validator;
use crate::config::Format;
use crate::telemetry::{self, Metrics};

/// Everything a request needs, shared by all of them.
pub struct Ingest {
    pub sender: Sender,
    pub validator: Validator,
    /// None: `ingest.allow_anonymous`.
    pub tokens: Option<Arc<Tokens>>,
    pub admission: Admission,
    pub readiness: Arc<Readiness>,
    pub metrics: Arc<Metrics>,
    pub topic: String,
    pub topic_format: Format,
    pub max_body_bytes: u64,
    /// Longest time to receive a body (`ingest.ack_timeout`): a trickling client cannot hold
    /// its share of the budget for ever.
    pub read_timeout: Duration,
    pub retry_after_secs: u64,
}

pub fn router(state: Arc<Ingest>) -> Router {
    Router::new()
        .route("/v1/events", post(post_events))
        .with_state(state)
}

async fn post_events(State(s): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let answer = s.answer(&headers, body).await;
    let seconds = started.elapsed().as_secs_f64();
    match &answer.refused {
        Some(reason) => {
            telemetry::ingest_refused(&s.metrics, answer.code.as_u16(), seconds, reason)
        }
        None => {
            telemetry::ingest_answered(&s.metrics, answer.code.as_u16(), seconds, answer.counts)
        }
    }
    answer.into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Ingest {
    async fn answer(&self, headers: &HeaderMap, body: Body) -> Answer {
        if let Some(tokens) = &self.tokens {
            let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
            if let Err(denied) = tokens.check(authorization) {
                return Answer::unauthorized(denied == Denied::Invalid);
            }
        }
        let format = match self.format(headers) {
            Ok(f) => f,
            Err(why) => return Answer::refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, why),
        };
        if !self.readiness.kafka_up() {
            return Answer::busy(
                "Kafka is not reachable now; nothing was written",
                self.retry_after_secs,
            );
        }
        let declared =
            header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            return self.too_large();
        }
        let Some(mut ticket) = self
            .admission
            .try_admit(declared.unwrap_or(self.max_body_bytes))
        else {
            return Answer::busy(
                "the producer queue is full (ingest.max_in_flight_bytes); nothing was written",
                self.retry_after_secs,
            );
        };
        let bytes = match self.read(body).await {
            Ok(b) => b,
            Err(answer) => return answer,
        };
        ticket.shrink_to(bytes.len() as u64);
        let records = match format.split(&bytes) {
            Ok(r) => r,
            Err(why) => return Answer::refuse(StatusCode::BAD_REQUEST, why),
        };
        let checked = self.validator.check(records).await;
        let results = self.sender.send(checked).await;
        self.observe(&results);
        Answer::records(&results, self.retry_after_secs)
    }

    fn format(&self, headers: &HeaderMap) -> Result<BodyFormat, String> {
        if let Some(encoding) = header_str(headers, header::CONTENT_ENCODING) {
            if !encoding.trim().eq_ignore_ascii_case("identity") {
                return Err(format!(
                    "Content-Encoding {encoding:?} is not taken: send the body uncompressed"
                ));
            }
        }
        let format = BodyFormat::from_content_type(header_str(headers, header::CONTENT_TYPE))?;
        if format.topic_format() != self.topic_format {
            let (holds, send) = match self.topic_format {
                Format::Json => ("JSON", "application/json or application/x-ndjson"),
                Format::Avro => ("Avro", super::body::AVRO_MEDIA_TYPE),
            };
            return Err(format!(
                "topic {} holds {holds} records: send {send}",
                self.topic
            ));
        }
        Ok(format)
    }

    fn too_large(&self) -> Answer {
        Answer::refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than ingest.max_body_bytes ({} bytes); nothing was written",
                self.max_body_bytes
            ),
        )
    }

    async fn read(&self, body: Body) -> Result<Bytes, Answer> {
        let limited = Limited::new(body, self.max_body_bytes as usize);
        match tokio::time::timeout(self.read_timeout, limited.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(self.too_large()),
            Ok(Err(e)) => Err(Answer::refuse(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )),
            Err(_) => Err(Answer::refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive within ingest.ack_timeout; nothing was written",
            )),
        }
    }

    fn observe(&self, results: &[RecordResult]) {
        let mut failed = results.iter().filter(|r| r.is_failed());
        if let Some(RecordResult::Failed { error, .. }) = failed.next() {
            telemetry::ingest_not_acknowledged(1 + failed.count() as u64, error);
        }
        for r in results {
            if let RecordResult::Rejected { index, kind, error } = r {
                telemetry::ingest_rejected(&self.metrics, *index, kind, error);
            }
        }
    }
}
