//! A task checkpoint written as Kafka offset-commit metadata, so a new owner of the partition
//! restores the stream time and knows which re-read records were already seen (Kafka Streams
//! keeps its partition time in the same place). Format: `rp1;st=<ms>;pos=<offset>`, with `-`
//! for an absent value. Unknown or foreign metadata restores nothing.

use crate::domain::processor::Checkpoint;

const VERSION: &str = "rp1";

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

pub fn encode(cp: &Checkpoint) -> String {
    format!(
        "{VERSION};st={};pos={}",
        opt(cp.stream_time),
        opt(cp.position)
    )
}

/// The checkpoint for a partition committed at `offset` with `metadata`.
pub fn decode(offset: Option<i64>, metadata: &str) -> Checkpoint {
    let mut cp = Checkpoint {
        offset,
        ..Checkpoint::default()
    };
    let mut parts = metadata.split(';');
    if parts.next() != Some(VERSION) {
        return cp;
    }
    for part in parts {
        match part.split_once('=') {
            Some(("st", v)) => cp.stream_time = v.parse().ok(),
            Some(("pos", v)) => cp.position = v.parse().ok(),
            _ => {}
        }
    }
    cp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_metadata() {
        let cp = Checkpoint {
            offset: Some(7),
            stream_time: Some(1_700_000_000_000),
            position: Some(12),
        };
        assert_eq!(decode(Some(7), &encode(&cp)), cp);
        let empty = Checkpoint {
            offset: Some(3),
            ..Checkpoint::default()
        };
        assert_eq!(decode(Some(3), &encode(&empty)), empty);
        assert_eq!(decode(Some(3), "written by someone else"), empty);
        assert_eq!(decode(None, ""), Checkpoint::default());
    }
}
