//! One source's transactional producer: raw events and the positions they advance go out in
//! one Kafka transaction, so either both are committed or neither is. A transaction holds one
//! poll, or the polls of `transaction_interval` (Kafka Connect's `transaction.boundary`
//! `poll` and `interval`). The
//! transactional id is `<poll.id>-<source name>`: a restarted poller fences its predecessor's
//! producer and aborts its open transaction before reading the positions back.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::config::KafkaConfig;
use crate::domain::event::EpochMillis;
use crate::kafka::client;

const TXN: Duration = Duration::from_secs(30);

/// A record to publish.
pub struct Out<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub ts: Option<EpochMillis>,
}

/// Why a transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Aborted (nothing of it is visible); the readings are tried again on the next poll.
    #[error("transaction aborted: {0}")]
    Aborted(String),
    /// Another producer with this transactional id took over, or the producer broke for good:
    /// this source must stop.
    #[error("{0}")]
    Fatal(String),
}

pub struct Publisher {
    producer: BaseProducer,
    id: String,
    /// An abort that did not go through (broker unreachable): retried before the next begin.
    needs_abort: std::cell::Cell<bool>,
    open: bool,
}

impl Publisher {
    /// Creates the producer and fences any predecessor (`init_transactions`).
    pub fn new(k: &KafkaConfig, transactional_id: &str) -> Result<Publisher, String> {
        let producer: BaseProducer = client::source_producer_config(k, transactional_id)
            .create()
            .map_err(|e| format!("cannot create the producer of {transactional_id}: {e}"))?;
        producer
            .init_transactions(TXN)
            .map_err(|e| format!("cannot start transactions for {transactional_id}: {e}"))?;
        Ok(Publisher {
            producer,
            id: transactional_id.to_string(),
            needs_abort: std::cell::Cell::new(false),
            open: false,
        })
    }

    /// Whether a transaction is open (records sent, not yet committed).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Sends `records` in the open transaction, beginning one if none is.
    pub fn send<'a>(
        &mut self,
        records: impl IntoIterator<Item = Out<'a>>,
    ) -> Result<(), PublishError> {
        if !self.open {
            if self.needs_abort.get() {
                self.producer
                    .abort_transaction(TXN)
                    .map_err(|e| self.fail(e))?;
                self.needs_abort.set(false);
            }
            self.producer
                .begin_transaction()
                .map_err(|e| self.fail(e))?;
            self.open = true;
        }
        for r in records {
            let mut record = BaseRecord::to(r.topic).key(r.key).payload(r.value);
            if let Some(ts) = r.ts {
                record = record.timestamp(ts);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(self.abort(e)),
                }
            }
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Commits the open transaction (none open: nothing to do).
    pub fn commit(&mut self) -> Result<(), PublishError> {
        if !self.open {
            return Ok(());
        }
        match self.producer.commit_transaction(TXN) {
            Ok(()) => {
                self.open = false;
                Ok(())
            }
            Err(e) => Err(self.abort(e)),
        }
    }

    fn fail(&self, e: KafkaError) -> PublishError {
        let fenced = matches!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced)
        );
        if fenced {
            PublishError::Fatal(format!(
                "another poller with the same poll.id took over its transactional id {} ({e})",
                self.id
            ))
        } else if matches!(&e, KafkaError::Transaction(t) if t.is_fatal()) {
            PublishError::Fatal(format!(
                "the producer of transactional id {} failed beyond repair ({e})",
                self.id
            ))
        } else {
            PublishError::Aborted(e.to_string())
        }
    }

    fn abort(&mut self, e: KafkaError) -> PublishError {
        self.open = false;
        match self.fail(e) {
            PublishError::Aborted(why) => match self.producer.abort_transaction(TXN) {
                Ok(()) => PublishError::Aborted(why),
                Err(a) => {
                    self.needs_abort.set(true);
                    self.fail(a)
                }
            },
            fatal => fatal,
        }
    }
}
