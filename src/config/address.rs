//! Syntax of the addresses in the configuration (`http.listen`, `kafka.bootstrap_servers`,
//! `schema_registry.url`), checked when the config is loaded, so a typo is one sentence naming
//! its key and exit code 78 before anything connects, binds or creates a topic. Whether the
//! address can be reached or bound is found out later, by using it; this only says whether it
//! is an address at all.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ConfigError;

/// Security protocols librdkafka accepts as a `proto://` prefix of a bootstrap server.
const PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];

/// A host name (RFC 1123 labels; `_` allowed, as container names have it), an IPv4 address,
/// or an IPv6 address in brackets. Returns why not.
fn host(text: &str) -> Result<(), String> {
    if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{text}` is not an IPv6 address"));
    }
    if text.is_empty() {
        return Err("the host is empty".into());
    }
    if text.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if text.len() > 253 {
        return Err(format!("host `{text}` is longer than 253 characters"));
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if text.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("`{text}` is not a host name or IP address"))
    }
}

/// Splits `host:port` (the port required when `need_port`), checks both, and returns the port.
fn host_port(text: &str, need_port: bool, zero_ok: bool) -> Result<Option<u16>, String> {
    let (h, port) = match text.rsplit_once(':') {
        // An IPv6 address without brackets has colons but no port.
        Some((h, _)) if h.contains(':') && !h.starts_with('[') => {
            return Err(format!(
                "`{text}`: write an IPv6 address in brackets, e.g. [::1]:9092"
            ))
        }
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    host(h)?;
    let Some(port) = port else {
        return if need_port {
            Err(format!("`{text}` has no port (host:port)"))
        } else {
            Ok(None)
        };
    };
    let n: u16 = port
        .parse()
        .map_err(|_| format!("`{text}` has port `{port}`, which is not a number in 1..=65535"))?;
    if n == 0 && !zero_ok {
        return Err(format!("`{text}` has port 0"));
    }
    Ok(Some(n))
}

/// `http.listen`: `host:port` to bind (port 0: any free port), or `""` for off.
pub fn listen(key: &str, text: &str) -> Result<(), ConfigError> {
    if text.is_empty() {
        return Ok(());
    }
    host_port(text, true, true).map(|_| ()).map_err(|why| {
        ConfigError::invalid(
            key,
            format!("{why}; expected host:port such as 0.0.0.0:9464, or \"\" for off"),
        )
    })
}

/// `kafka.bootstrap_servers`: comma-separated `[protocol://]host[:port]` (librdkafka's form;
/// the port defaults to 9092).
pub fn brokers(key: &str, text: &str) -> Result<(), ConfigError> {
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(ConfigError::invalid(
                key,
                format!("{text:?} has an empty entry"),
            ));
        }
        let address = match entry.split_once("://") {
            Some((proto, rest)) if PROTOCOLS.contains(&proto.to_ascii_lowercase().as_str()) => rest,
            Some((proto, _)) => {
                return Err(ConfigError::invalid(
                    key,
                    format!("`{entry}`: `{proto}://` is not a Kafka security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); set kafka.properties.\"security.protocol\" instead"),
                ))
            }
            None => entry,
        };
        host_port(address, false, false).map_err(|why| {
            ConfigError::invalid(key, format!("{why}; expected host:port[,host:port…]"))
        })?;
    }
    Ok(())
}

/// `schema_registry.url`: `http://` or `https://`, a host, an optional port and path, and no
/// credentials (those go in `schema_registry.username` and `password`).
pub fn http_url(key: &str, text: &str) -> Result<(), ConfigError> {
    let bad = |why: String| ConfigError::invalid(key, why);
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| bad(format!("must start with http:// or https://, got {text:?}")))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(bad(format!(
            "{text:?} carries credentials: set schema_registry.username and schema_registry.password instead"
        )));
    }
    host_port(authority, false, false)
        .map(|_| ())
        .map_err(|why| bad(format!("{why} (in {text:?})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(r: Result<(), ConfigError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            "0.0.0.0:9464",
            "127.0.0.1:0",
            "[::]:9464",
            "localhost:80",
            "metrics_1:9464",
            "",
        ] {
            assert!(listen("http.listen", ok).is_ok(), "{ok}");
        }
        for bad in [
            "9464",
            ":9464",
            "0.0.0.0:",
            "0.0.0.0:99999",
            "0.0.0.0:http",
            "::1:9464",
            "a b:1",
            "-x:1",
        ] {
            let m = msg(listen("http.listen", bad));
            assert!(m.starts_with("config key `http.listen`:"), "{bad}: {m}");
        }
    }

    #[test]
    fn bootstrap_servers() {
        for ok in [
            "localhost:9092",
            "b1:9092,b2:9092",
            "b1, b2:9093",
            "SASL_SSL://kafka.example.com:9094",
            "[::1]:9092",
            "10.0.0.7",
        ] {
            assert!(brokers("kafka.bootstrap_servers", ok).is_ok(), "{ok}");
        }
        for bad in [
            "b1:9092,",
            "b1:99999",
            "b1:0",
            "http://b1:9092",
            "b1:90x",
            "b1;b2",
            ",b1",
        ] {
            let m = msg(brokers("kafka.bootstrap_servers", bad));
            assert!(
                m.starts_with("config key `kafka.bootstrap_servers`:"),
                "{bad}: {m}"
            );
        }
    }

    #[test]
    fn registry_urls() {
        for ok in [
            "http://registry:8081",
            "https://sr.example.com",
            "https://10.1.2.3:8081/api/ccompat/v7/",
            "http://[::1]:8081",
        ] {
            assert!(http_url("schema_registry.url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "registry:8081",
            "ftp://r",
            "http://",
            "http://r:x",
            "https://u:p@r:8081",
            "http://r r",
        ] {
            let m = msg(http_url("schema_registry.url", bad));
            assert!(
                m.starts_with("config key `schema_registry.url`:"),
                "{bad}: {m}"
            );
        }
    }
}
