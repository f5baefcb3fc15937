//! The answers of `POST /v1/events`. A request whose records were read gets one result per
//! record, in its order:
//!
//! ```json
//! {"accepted":1,"rejected":1,"failed":0,"results":[
//!   {"status":"accepted","index":0,"partition":3,"offset":1207},
//!   {"status":"rejected","index":1,"kind":"missing_field","error":"required field `ts` is missing"}]}
//! ```
//!
//! - `accepted`: Kafka acknowledged it (acks=all), at that partition and offset;
//! - `rejected`: invalid, never written; sending it again cannot help;
//! - `failed`: not acknowledged (queue full, timeout, broker error, registry down); resend it
//!   after `Retry-After`. After a `timeout` it may have been written, so a resend can repeat it.
//!
//! The status is 200 when every record is accepted or rejected and at least one is accepted,
//! 422 when every record is rejected, 503 (with `Retry-After`) when any record failed. A
//! request refused as a whole (401, 408, 413, 415, 400 for a body that is not records, 503
//! before anything was queued) gets `{"error": "<one sentence>"}` and wrote nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::telemetry::RecordCounts;

/// The outcome of one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RecordResult {
    Accepted {
        index: usize,
        partition: i32,
        offset: i64,
    },
    Rejected {
        index: usize,
        kind: &'static str,
        error: String,
    },
    Failed {
        index: usize,
        kind: &'static str,
        error: String,
    },
}

impl RecordResult {
    pub fn accepted(index: usize, partition: i32, offset: i64) -> Self {
        RecordResult::Accepted {
            index,
            partition,
            offset,
        }
    }
    pub fn rejected(index: usize, kind: &'static str, error: String) -> Self {
        RecordResult::Rejected { index, kind, error }
    }
    pub fn failed(index: usize, kind: &'static str, error: String) -> Self {
        RecordResult::Failed { index, kind, error }
    }
    pub fn is_failed(&self) -> bool {
        matches!(self, RecordResult::Failed { .. })
    }
    /// The same outcome for another record.
    pub fn at(&self, at: usize) -> Self {
        let mut r = self.clone();
        match &mut r {
            RecordResult::Accepted { index, .. }
            | RecordResult::Rejected { index, .. }
            | RecordResult::Failed { index, .. } => *index = at,
        }
        r
    }
}

#[derive(Serialize)]
struct RecordsBody<'a> {
    accepted: u64,
    rejected: u64,
    failed: u64,
    results: &'a [RecordResult],
}

/// An answer, ready to send.
pub struct Answer {
    pub code: StatusCode,
    pub body: Vec<u8>,
    /// Records by outcome (all zero for a request refused as a whole).
    pub counts: RecordCounts,
    /// Why the request was refused as a whole, for the log.
    pub refused: Option<String>,
    retry_after: Option<u64>,
    bearer_challenge: Option<&'static str>,
}

impl Answer {
    /// The answer to a request whose records were read.
    pub fn records(results: &[RecordResult], retry_after_secs: u64) -> Answer {
        let mut counts = RecordCounts::default();
        for r in results {
            match r {
                RecordResult::Accepted { .. } => counts.accepted += 1,
                RecordResult::Rejected { .. } => counts.rejected += 1,
                RecordResult::Failed { .. } => counts.failed += 1,
            }
        }
        let code = if counts.failed > 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else if counts.accepted == 0 {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let body = RecordsBody {
            accepted: counts.accepted,
            rejected: counts.rejected,
            failed: counts.failed,
            results,
        };
        Answer {
            code,
            // A struct of numbers and strings always serializes.
            body: serde_json::to_vec(&body).unwrap_or_default(),
            counts,
            refused: None,
            retry_after: (counts.failed > 0).then_some(retry_after_secs),
            bearer_challenge: None,
        }
    }

    /// The whole request is refused; nothing was written.
    pub fn refuse(code: StatusCode, message: impl Into<String>) -> Answer {
        let message = message.into();
        Answer {
            code,
            body: serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default(),
            counts: RecordCounts::default(),
            refused: Some(message),
            retry_after: None,
            bearer_challenge: None,
        }
    }

    /// 503 with `Retry-After`: try the same request again later.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> Answer {
        let mut a = Answer::refuse(StatusCode::SERVICE_UNAVAILABLE, message);
        a.retry_after = Some(retry_after_secs);
        a
    }

    /// 401 with the RFC 6750 challenge (`invalid_token` when a wrong token was presented).
    pub fn unauthorized(invalid_token: bool) -> Answer {
        let (message, challenge) = if invalid_token {
            (
                "the bearer token is not valid",
                "Bearer realm=\"roadpulse\", error=\"invalid_token\"",
            )
        } else {
            (
                "an Authorization: Bearer <token> header is required",
                "Bearer realm=\"roadpulse\"",
            )
        };
        let mut a = Answer::refuse(StatusCode::UNAUTHORIZED, message);
        a.bearer_challenge = Some(challenge);
        a
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (
            self.code,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.bearer_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_records() {
        let ok = RecordResult::accepted(0, 2, 41);
        let bad = RecordResult::rejected(1, "missing_field", "no ts".into());
        let later = RecordResult::failed(2, "timeout", "slow".into());
        let a = Answer::records(&[ok.clone(), bad.clone()], 1);
        assert_eq!(a.code, StatusCode::OK);
        assert_eq!(a.retry_after, None);
        let json: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(json["accepted"], 1);
        assert_eq!(json["results"][0]["status"], "accepted");
        assert_eq!(json["results"][0]["offset"], 41);
        assert_eq!(json["results"][1]["kind"], "missing_field");
        assert_eq!(
            Answer::records(std::slice::from_ref(&bad), 1).code,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let a = Answer::records(&[ok, bad, later.clone()], 3);
        assert_eq!(a.code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.retry_after, Some(3));
        assert_eq!(a.counts.failed, 1);
        assert_eq!(
            later.at(7),
            RecordResult::failed(7, "timeout", "slow".into())
        );
    }

    #[test]
    fn refusals_carry_their_headers() {
        let r = Answer::unauthorized(true).into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains("invalid_token"));
        let r = Answer::busy("full", 2).into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }
}
