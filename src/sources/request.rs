//! One request of a poll, as a preset names it: the URL and query, without the key (which
//! [`super::fetch`] adds when it sends it).

/// One request of a poll. `tag` tells the preset which of its requests this was.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub query: Vec<(String, String)>,
    pub tag: u32,
}

impl Request {
    pub fn get(url: &str) -> Request {
        Request {
            url: url.to_string(),
            query: Vec::new(),
            tag: 0,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Request {
        self.query.push((name.to_string(), value.into()));
        self
    }

    pub fn tag(mut self, tag: u32) -> Request {
        self.tag = tag;
        self
    }

    /// The URL with its query, without the key: what logs show, and the validators' key.
    pub fn shown(&self) -> String {
        let mut s = self.url.clone();
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 && !self.url.contains('?') {
                '?'
            } else {
                '&'
            });
            s.push_str(&format!("{k}={v}"));
        }
        s
    }
}
