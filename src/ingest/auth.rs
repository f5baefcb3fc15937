//! Bearer tokens (RFC 6750): `Authorization: Bearer <token>`. Tokens come from
//! `ingest.tokens` (`ROADPULSE_INGEST_TOKENS=a,b`) and from `ingest.tokens_file` (one a line,
//! `#` comments), which is re-read when it changes, so a token can be rotated without a
//! restart. Only SHA-256 digests are kept; a presented token is hashed and compared with every
//! known digest in constant time, so neither its content nor its length shows in the timing.

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::{valid_token, ConfigError, IngestConfig};

type Hash = [u8; 32];

/// Why a request is not authorized (both answered 401 with `WWW-Authenticate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that is not one of ours.
    Invalid,
}

pub struct Tokens {
    fixed: Vec<Hash>,
    file: Option<PathBuf>,
    /// The file's tokens and the modification time they were read at.
    from_file: RwLock<(Vec<Hash>, Option<SystemTime>)>,
}

fn hash(token: &str) -> Hash {
    Sha256::digest(token.as_bytes()).into()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The tokens of a file, or one sentence saying why it cannot be used.
fn read_file(path: &Path) -> Result<Vec<Hash>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut hashes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if !valid_token(t) {
            return Err(format!("line {} holds whitespace inside a token", n + 1));
        }
        hashes.push(hash(t));
    }
    if hashes.is_empty() {
        return Err("it holds no token".into());
    }
    Ok(hashes)
}

impl Tokens {
    /// The configured tokens; None when `ingest.allow_anonymous` turns checking off. No token
    /// source at all is a configuration error.
    pub fn load(cfg: &IngestConfig) -> Result<Option<Tokens>, ConfigError> {
        if cfg.allow_anonymous {
            if !cfg.tokens.is_empty() || cfg.tokens_file.is_some() {
                return Err(ConfigError::invalid(
                    "ingest.allow_anonymous",
                    "is true while ingest.tokens or ingest.tokens_file are set: choose one",
                ));
            }
            return Ok(None);
        }
        let from_file = match &cfg.tokens_file {
            Some(path) => {
                let stamp = modified(path);
                let hashes = read_file(path).map_err(|e| {
                    ConfigError::invalid("ingest.tokens_file", format!("{}: {e}", path.display()))
                })?;
                (hashes, stamp)
            }
            None => (Vec::new(), None),
        };
        if cfg.tokens.is_empty() && cfg.tokens_file.is_none() {
            return Err(ConfigError::invalid(
                "ingest.tokens",
                "no bearer token is configured: set ingest.tokens (ROADPULSE_INGEST_TOKENS), ingest.tokens_file, or ingest.allow_anonymous = true",
            ));
        }
        Ok(Some(Tokens {
            fixed: cfg.tokens.iter().map(|t| hash(t)).collect(),
            file: cfg.tokens_file.clone(),
            from_file: RwLock::new(from_file),
        }))
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Denied> {
        let header = authorization.ok_or(Denied::Missing)?;
        let token = match header.split_first_chunk::<7>() {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest.trim_ascii(),
            _ => return Err(Denied::Missing),
        };
        let presented: Hash = Sha256::digest(token).into();
        let mut found = Choice::from(0);
        for known in &self.fixed {
            found |= known.ct_eq(&presented);
        }
        let file = self.from_file.read().unwrap_or_else(|p| p.into_inner());
        for known in &file.0 {
            found |= known.ct_eq(&presented);
        }
        if bool::from(found) {
            Ok(())
        } else {
            Err(Denied::Invalid)
        }
    }

    /// Re-reads the tokens file if its modification time changed. A file that cannot be used
    /// keeps the tokens read before, with a warning.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.file else { return };
        let stamp = modified(path);
        if stamp == self.from_file.read().unwrap_or_else(|p| p.into_inner()).1 {
            return;
        }
        match read_file(path) {
            Ok(hashes) => {
                tracing::info!(file = %path.display(), tokens = hashes.len(), "ingest tokens re-read");
                *self.from_file.write().unwrap_or_else(|p| p.into_inner()) = (hashes, stamp);
            }
            Err(e) => tracing::warn!(
                file = %path.display(),
                "ingest tokens file not re-read, the previous tokens stay: {e}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tokens: &[&str], file: Option<PathBuf>) -> IngestConfig {
        IngestConfig {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            tokens_file: file,
            ..IngestConfig::default()
        }
    }

    #[test]
    fn bearer_tokens_are_checked() {
        let t = Tokens::load(&config(&["s3cret", "other"], None))
            .unwrap()
            .unwrap();
        assert_eq!(t.check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(t.check(Some(b"bearer other ")), Ok(()));
        assert_eq!(t.check(Some(b"Bearer s3cre")), Err(Denied::Invalid));
        assert_eq!(t.check(Some(b"Bearer s3crett")), Err(Denied::Invalid));
        assert_eq!(t.check(Some(b"Basic czNjcmV0")), Err(Denied::Missing));
        assert_eq!(t.check(None), Err(Denied::Missing));
    }

    #[test]
    fn sources_and_reload() {
        let e = Tokens::load(&config(&[], None)).err().unwrap().to_string();
        assert!(e.contains("ingest.tokens"), "{e}");
        let anonymous = IngestConfig {
            allow_anonymous: true,
            ..config(&[], None)
        };
        assert!(Tokens::load(&anonymous).unwrap().is_none());
        let both = IngestConfig {
            allow_anonymous: true,
            ..config(&["x"], None)
        };
        assert!(Tokens::load(&both).is_err());

        let dir = std::env::temp_dir().join(format!("rp-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        std::fs::write(&path, "# rotated monthly\nfirst\n\n").unwrap();
        let t = Tokens::load(&config(&[], Some(path.clone())))
            .unwrap()
            .unwrap();
        assert_eq!(t.check(Some(b"Bearer first")), Ok(()));
        std::fs::write(&path, "second\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        t.reload_if_changed();
        assert_eq!(t.check(Some(b"Bearer first")), Err(Denied::Invalid));
        assert_eq!(t.check(Some(b"Bearer second")), Ok(()));
        std::fs::write(&path, "").unwrap();
        t.reload_if_changed();
        assert_eq!(t.check(Some(b"Bearer second")), Ok(()), "kept");
        std::fs::write(&path, "").unwrap();
        let e = Tokens::load(&config(&[], Some(path))).err().unwrap();
        assert!(e.to_string().contains("holds no token"), "{e}");
    }
}
