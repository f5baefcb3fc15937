//! A client of the Confluent Schema Registry REST API, the subset roadpulse needs: register a
//! value schema under `<topic>-value` (the topic-name strategy) and fetch a schema by id, both
//! cached for the life of the process (ids never change meaning). Blocking (ureq); it is called
//! at start-up and the first time an input record carries an unseen id, never per record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::config::{ConfigError, SchemaRegistryConfig};

/// The registry's media type, for requests and responses.
pub const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered that the schema or subject does not exist (404).
    #[error("schema registry: {0}")]
    NotFound(String),
    /// The registry refused the request (another 4xx, e.g. an incompatible schema: 409).
    #[error("schema registry refused: {0}")]
    Refused(String),
    /// The registry refused our credentials (401, 403): no record is to blame, nor will
    /// retrying help; `schema_registry.username` / `password` must change.
    #[error("schema registry refused the credentials (schema_registry.username / schema_registry.password): {0}")]
    Unauthorized(String),
    /// No TLS session with the registry: its certificate is not trusted (see
    /// `schema_registry.ssl_ca_location`), or the CA file cannot be used.
    #[error("schema registry TLS: {0}")]
    Tls(String),
    /// No answer, a 5xx, or an answer that is not the registry's JSON: try again later.
    #[error("schema registry unavailable: {0}")]
    Unavailable(String),
}

impl RegistryError {
    /// True when the error is the registry's or ours, never a record's: a record waiting on
    /// it must be neither dead-lettered nor committed.
    pub fn is_not_the_records_fault(&self) -> bool {
        matches!(
            self,
            RegistryError::Unavailable(_) | RegistryError::Unauthorized(_) | RegistryError::Tls(_)
        )
    }
}

/// A registry client; clones share the connection pool and the caches.
#[derive(Clone)]
pub struct Registry {
    agent: ureq::Agent,
    base: String,
    auth: Option<String>,
    by_id: Arc<Mutex<HashMap<u32, Arc<str>>>>,
    registered: Arc<Mutex<HashMap<(String, String), u32>>>,
}

#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct IdBody {
    id: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: Option<i64>,
    message: Option<String>,
}

impl Registry {
    /// A client for `cfg.url`. Fails only when `cfg.ssl_ca_location` cannot be used.
    pub fn new(cfg: &SchemaRegistryConfig) -> Result<Registry, RegistryError> {
        let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::NativeTls);
        if let Some(path) = &cfg.ssl_ca_location {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&ca_certificates(
                path,
            )?));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout.std()))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build();
        let auth = cfg.username.as_ref().map(|user| {
            let pair = format!("{user}:{}", cfg.password.as_deref().unwrap_or(""));
            format!("Basic {}", base64(pair.as_bytes()))
        });
        Ok(Registry {
            agent: config.into(),
            base: cfg.url.trim().trim_end_matches('/').to_string(),
            auth,
            by_id: Arc::default(),
            registered: Arc::default(),
        })
    }

    /// One authorised request (`GET /subjects`), to find out at start-up, before anything
    /// acts, whether the registry takes our TLS settings and credentials.
    pub fn check(&self) -> Result<(), RegistryError> {
        let url = format!("{}/subjects", self.base);
        let mut req = self.agent.get(&url).header("Accept", MEDIA_TYPE);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        answer(req.call(), &url).map(|_| ())
    }

    /// Registers `schema` under `subject` (or finds it there) and returns its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let key = (subject.to_string(), schema.to_string());
        if let Some(id) = lock(&self.registered).get(&key) {
            return Ok(*id);
        }
        let body = serde_json::json!({ "schema": schema }).to_string();
        let url = format!("{}/subjects/{subject}/versions", self.base);
        let mut req = self
            .agent
            .post(&url)
            .header("Content-Type", MEDIA_TYPE)
            .header("Accept", MEDIA_TYPE);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let id = id_answer(&answer(req.send(body), &url)?, &url)?;
        lock(&self.registered).insert(key, id);
        Ok(id)
    }

    /// The Avro schema (JSON text) with this id.
    pub fn schema(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        if let Some(s) = lock(&self.by_id).get(&id) {
            return Ok(Arc::clone(s));
        }
        let url = format!("{}/schemas/ids/{id}", self.base);
        let mut req = self.agent.get(&url).header("Accept", MEDIA_TYPE);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let schema = schema_answer(id, &answer(req.call(), &url)?, &url)?;
        lock(&self.by_id).insert(id, Arc::clone(&schema));
        Ok(schema)
    }
}

/// The registry check of start-up, before anything acts: credentials it refuses or a TLS
/// session it cannot have are bad configuration (one sentence naming the key); a registry
/// that does not answer is left to the worker, which waits for it as it always does.
pub fn preflight(cfg: &SchemaRegistryConfig) -> Result<(), ConfigError> {
    let ca = "schema_registry.ssl_ca_location";
    let registry = Registry::new(cfg).map_err(|e| ConfigError::invalid(ca, e.to_string()))?;
    match registry.check() {
        Err(e @ RegistryError::Unauthorized(_)) => Err(ConfigError::invalid(
            "schema_registry.password",
            e.to_string(),
        )),
        Err(e @ RegistryError::Tls(_)) => Err(ConfigError::invalid(ca, e.to_string())),
        Err(e) => {
            tracing::warn!("schema registry check at start-up: {e}");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// The schema text in the body of a `GET /schemas/ids/{id}` answer.
pub fn schema_answer(id: u32, text: &str, url: &str) -> Result<Arc<str>, RegistryError> {
    let body: SchemaBody = serde_json::from_str(text)
        .map_err(|e| RegistryError::Unavailable(format!("{url}: unexpected answer: {e}")))?;
    if let Some(t) = body.schema_type.filter(|t| t != "AVRO") {
        return Err(RegistryError::Refused(format!(
            "schema {id} is {t}, not AVRO"
        )));
    }
    Ok(Arc::from(body.schema))
}

/// The id in the body of a `POST /subjects/{subject}/versions` answer.
pub fn id_answer(text: &str, url: &str) -> Result<u32, RegistryError> {
    serde_json::from_str::<IdBody>(text)
        .map(|b| b.id)
        .map_err(|e| RegistryError::Unavailable(format!("{url}: unexpected answer: {e}")))
}

/// The certificates of a PEM file, to trust instead of the built-in roots.
fn ca_certificates(
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, RegistryError> {
    let cannot = |why: String| {
        RegistryError::Tls(format!(
            "schema_registry.ssl_ca_location {}: {why}",
            path.display()
        ))
    };
    let pem = std::fs::read(path).map_err(|e| cannot(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| cannot(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(cannot("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The body of a 2xx answer, or the error the status and body stand for.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<String, RegistryError> {
    let mut response = result.map_err(|e| match e {
        ureq::Error::NativeTls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => {
            RegistryError::Tls(format!("{url}: {e}"))
        }
        e => RegistryError::Unavailable(format!("{url}: {e}")),
    })?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| RegistryError::Unavailable(format!("{url}: {e}")))?;
    judge(status, text, url)
}

/// What an HTTP answer stands for: its body when 2xx, else the error its status means, with
/// the registry's own message when the body carries one.
pub fn judge(status: u16, text: String, url: &str) -> Result<String, RegistryError> {
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let why = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(ErrorBody {
            error_code,
            message: Some(m),
        }) => format!(
            "{url}: {m} (HTTP {status}, error {})",
            error_code.unwrap_or(0)
        ),
        _ => format!("{url}: HTTP {status}"),
    };
    Err(match status {
        404 => RegistryError::NotFound(why),
        401 | 403 => RegistryError::Unauthorized(why),
        400..=499 => RegistryError::Refused(why),
        _ => RegistryError::Unavailable(why),
    })
}

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"user:pa55"), "dXNlcjpwYTU1");
    }
}
