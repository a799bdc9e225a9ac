//! Writing copies and ledger entries: one idempotent `acks=all` producer, and the ledger and
//! archive topics created on first use (one partition each: one order).

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use rebound::admin;
use rebound::headers::Headers;
use rebound::naming::{archive_topic, ledger_topic};
use rebound::KafkaConfig;
use rebound::RELIABLE_PRODUCER;

use crate::error::Error;
use crate::id::Position;
use crate::ledger::Entry;

pub(crate) struct Writer {
    producer: FutureProducer,
    ledger: String,
    /// The ledger and archive topics found missing, created by [`Writer::create_missing`].
    missing: Vec<String>,
}

impl Writer {
    /// Creates the ledger and archive topics of `dlt` if they are missing, then the producer.
    pub(crate) async fn new(kafka: &KafkaConfig, dlt: &str) -> Result<Writer, Error> {
        let mut writer = Writer::open(kafka, dlt).await?;
        writer.create_missing(kafka).await?;
        Ok(writer)
    }

    /// The producer, and which of the ledger and archive topics of `dlt` are missing (asked
    /// both at once), creating nothing: a redrive opens its writer while it lists, and creates
    /// the topics only once it has something to send.
    pub(crate) async fn open(kafka: &KafkaConfig, dlt: &str) -> Result<Writer, Error> {
        let ledger = ledger_topic(dlt);
        let archive = archive_topic(dlt);
        let (ledger_exists, archive_exists) = tokio::join!(
            crate::reader::partitions(kafka, &ledger),
            crate::reader::partitions(kafka, &archive)
        );
        // Unknown counts as missing: creating a topic that exists is harmless.
        let missing = [(&ledger, ledger_exists), (&archive, archive_exists)]
            .into_iter()
            .filter(|(_, exists)| exists.as_ref().ok().and_then(|p| *p).is_none())
            .map(|(topic, _)| topic.clone())
            .collect();
        let producer = kafka.client_config(RELIABLE_PRODUCER).create()?;
        Ok(Writer {
            producer,
            ledger,
            missing,
        })
    }

    /// Creates the topics [`Writer::open`] found missing.
    pub(crate) async fn create_missing(&mut self, kafka: &KafkaConfig) -> Result<(), Error> {
        if !self.missing.is_empty() {
            let missing: Vec<&str> = self.missing.iter().map(String::as_str).collect();
            admin::create_topics(kafka, &missing, 1, -1).await?;
            self.missing.clear();
        }
        Ok(())
    }

    /// Sends a record and waits for the acknowledgement.
    pub(crate) async fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: &Headers,
    ) -> Result<Position, Error> {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers.to_kafka());
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(p) = payload {
            record = record.payload(p);
        }
        let delivery = self
            .producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map_err(|(e, _)| e)?;
        Ok(Position {
            partition: delivery.partition,
            offset: delivery.offset,
        })
    }

    /// Appends entries to the ledger, in order, and waits until all are acknowledged.
    pub(crate) async fn record(&self, entries: &[Entry]) -> Result<(), Error> {
        let sends = entries.iter().map(|entry| {
            let json = serde_json::to_vec(entry).expect("ledger entries serialize");
            let key = entry.dead_letter.to_string();
            async move {
                self.send(
                    &self.ledger,
                    Some(0),
                    Some(key.as_bytes()),
                    Some(&json),
                    &Headers::new(),
                )
                .await
            }
        });
        // Sent together (the producer keeps their order on the single partition), acknowledged
        // together.
        for result in futures::future::join_all(sends).await {
            result?;
        }
        Ok(())
    }
}
