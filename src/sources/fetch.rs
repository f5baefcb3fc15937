//! HTTP for the sources: one GET with the source's timeout (connection and body), its API key
//! (added here, so URLs in logs never carry it), conditional requests (`If-None-Match` /
//! `If-Modified-Since` from the validators of the last response that was published), a cap
//! on the body, and every failure sorted into an outcome for the metrics.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

pub use super::request::Request;
use super::schedule::retry_after;
use crate::config::SourceConfig;

/// What makes the next request for the same URL conditional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A successful answer.
#[derive(Debug)]
pub enum Fetched {
    Body {
        body: Vec<u8>,
        /// The server's `Date` header: when the vendor answered.
        date: Option<SystemTime>,
        validators: Validators,
    },
    /// 304: nothing changed since the validators sent.
    NotModified,
}

/// A request that gave nothing to read, by the outcome label it counts under.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// 429 or 503, with the wait the vendor asked for.
    #[error("HTTP {status}: throttled (Retry-After: {retry_after:?})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("HTTP {status}: {sample}")]
    ClientError { status: u16, sample: String },
    #[error("HTTP {status}: {sample}")]
    ServerError { status: u16, sample: String },
    #[error("no answer within the source's timeout")]
    Timeout,
    #[error("{0}")]
    Transport(String),
    #[error("the body is larger than poll.max_body_bytes ({0} bytes)")]
    TooLarge(u64),
}

impl FetchError {
    /// The `outcome` label of `roadpulse_source_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Throttled { .. } => "throttled",
            FetchError::ClientError { .. } => "client_error",
            FetchError::ServerError { .. } => "server_error",
            FetchError::Timeout => "timeout",
            FetchError::Transport(_) => "transport",
            FetchError::TooLarge(_) => "unparsable",
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How the key goes out.
#[derive(Clone)]
enum Auth {
    None,
    Query(String, String),
    Header(String, String),
}

pub struct Fetcher {
    agent: ureq::Agent,
    auth: Auth,
    headers: Vec<(String, String)>,
    max_body: u64,
    validators: HashMap<String, Validators>,
}

impl Fetcher {
    pub fn new(cfg: &SourceConfig, key: Option<String>, max_body: u64) -> Fetcher {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout.std()))
            .http_status_as_error(false)
            .user_agent(concat!("roadpulse/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        // A header or parameter the source names wins over the vendor's usual parameter.
        let auth = match key {
            None => Auth::None,
            Some(k) => match (
                &cfg.api_key_header,
                &cfg.api_key_param,
                cfg.preset.key_param(),
            ) {
                (Some(h), _, _) => Auth::Header(h.clone(), format!("{}{k}", cfg.api_key_prefix)),
                (None, Some(p), _) => Auth::Query(p.clone(), k),
                (None, None, Some(p)) => Auth::Query(p.to_string(), k),
                // refused by the config check
                (None, None, None) => Auth::None,
            },
        };
        Fetcher {
            agent,
            auth,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            max_body,
            validators: HashMap::new(),
        }
    }

    /// Remembers the validators of a response whose readings are published: the next
    /// request for that URL is conditional on them. (Remembered only then, so a response
    /// that failed to publish is fetched whole again, never answered 304.)
    pub fn remember(&mut self, req: &Request, v: Validators) {
        if v != Validators::default() {
            self.validators.insert(req.shown(), v);
        }
    }

    pub fn fetch(&self, req: &Request) -> Result<Fetched, FetchError> {
        let mut r = self.agent.get(&req.url);
        for (k, v) in &req.query {
            r = r.query(k, v);
        }
        match &self.auth {
            Auth::Query(k, v) => r = r.query(k, v),
            Auth::Header(k, v) => r = r.header(k.as_str(), v.as_str()),
            Auth::None => {}
        }
        for (k, v) in &self.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        if let Some(v) = self.validators.get(&req.shown()) {
            if let Some(etag) = &v.etag {
                r = r.header("If-None-Match", etag.as_str());
            }
            if let Some(lm) = &v.last_modified {
                r = r.header("If-Modified-Since", lm.as_str());
            }
        }
        let mut resp = r.call().map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let date = header("date").and_then(|d| httpdate::parse_http_date(&d).ok());
        if status == 429 || status == 503 {
            let wait = header("retry-after").and_then(|v| retry_after(&v, SystemTime::now()));
            return Err(FetchError::Throttled {
                status,
                retry_after: wait,
            });
        }
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        let validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(n) => FetchError::TooLarge(n),
                other => transport(&other),
            })?;
        match status {
            200..=299 => Ok(Fetched::Body {
                body,
                date,
                validators,
            }),
            400..=499 => Err(FetchError::ClientError {
                status,
                sample: sample(&body),
            }),
            _ => Err(FetchError::ServerError {
                status,
                sample: sample(&body),
            }),
        }
    }
}

fn transport(e: &ureq::Error) -> FetchError {
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FetchError::Timeout,
        other => FetchError::Transport(other.to_string()),
    }
}

/// The first 120 characters of a body, for logs.
pub fn sample(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(480)]);
    let mut s: String = text.chars().filter(|c| !c.is_control()).take(120).collect();
    if body.len() > s.len() {
        s.push('…');
    }
    s
}

/// The key of a source: from the environment variable or the file it names.
pub fn resolve_key(
    cfg: &SourceConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    let key = match (&cfg.api_key_env, &cfg.api_key_file) {
        (Some(var), _) => {
            Some(env(var).ok_or_else(|| format!("environment variable {var} is not set"))?)
        }
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
        (None, None) => None,
    };
    match key.map(|k| k.trim().to_string()) {
        Some(k) if k.is_empty() => Err("the API key is empty".into()),
        other => Ok(other),
    }
}
