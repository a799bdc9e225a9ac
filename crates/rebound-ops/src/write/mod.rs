//! Writing copies and ledger entries: one idempotent `acks=all` producer, and the ledger and
//! archive topics created on first use (one partition each: one order).
//!
//! Records go out with a ticket ([`deliveries`]): [`Writer::send`] and [`Writer::record`] wait for
//! their own tickets; a redrive sends with [`Writer::enqueue`] and takes the reports as they come
//! ([`Writer::delivered`]), thousands in flight without a future each.

mod deliveries;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use rebound::admin;
use rebound::headers::Headers;
use rebound::naming::{archive_topic, ledger_topic};
use rebound::KafkaConfig;
use rebound::RELIABLE_PRODUCER;

use crate::error::Error;
use crate::id::Position;
use crate::ledger::Entry;

use deliveries::Deliveries;
pub(crate) use deliveries::{Delivered, Ticket, TicketMap, TicketSet};

/// How long a send waits before trying again when librdkafka's queue is full: the reports that
/// empty it arrive on the polling thread meanwhile.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(1);

pub(crate) struct Writer {
    producer: ThreadedProducer<Deliveries>,
    /// The next record's ticket.
    tickets: AtomicUsize,
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
        let producer = kafka
            .client_config(RELIABLE_PRODUCER)
            .create_with_context(Deliveries::default())?;
        Ok(Writer {
            producer,
            tickets: AtomicUsize::new(0),
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

    /// Hands a record to the producer and returns its ticket, without waiting for the cluster;
    /// its report comes through [`Writer::delivered`]. Waits only while librdkafka's queue is
    /// full. An error here is librdkafka's refusal (a partition it knows does not exist, say):
    /// the record was not sent and no report will come.
    pub(crate) async fn enqueue(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> Result<Ticket, KafkaError> {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let mut record =
            BaseRecord::<[u8], [u8], Ticket>::with_opaque_to(topic, ticket).headers(headers);
        record.partition = partition;
        record.key = key;
        record.payload = payload;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(ticket),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// The reports that arrived since the last call (waiting for one when there is none). One
    /// caller at a time takes them: a redrive's sending loop, or [`Writer::send`] and
    /// [`Writer::record`] waiting for their own.
    pub(crate) async fn delivered(&self) -> Vec<Delivered> {
        self.producer.context().next_batch().await
    }

    /// Hands ledger entries to the producer, in order (it keeps their order on the single
    /// partition), and returns their tickets.
    pub(crate) async fn enqueue_entries(&self, entries: &[Entry]) -> Result<Vec<Ticket>, Error> {
        let mut tickets = Vec::with_capacity(entries.len());
        for entry in entries {
            let json = serde_json::to_vec(entry).expect("ledger entries serialize");
            let key = entry.dead_letter.to_string();
            let ticket = self
                .enqueue(
                    &self.ledger,
                    Some(0),
                    Some(key.as_bytes()),
                    Some(&json),
                    OwnedHeaders::new(),
                )
                .await?;
            tickets.push(ticket);
        }
        Ok(tickets)
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
        let ticket = self
            .enqueue(topic, partition, key, payload, headers.to_kafka())
            .await?;
        let mut position = None;
        self.wait_for(TicketSet::from_iter([ticket]), |_, p| position = Some(p))
            .await?;
        Ok(position.expect("the one ticket waited for was reported"))
    }

    /// Appends entries to the ledger, in order, and waits until all are acknowledged. Returns
    /// the offset after the last of them (the ledger holds every entry before it), `None` for
    /// no entries.
    pub(crate) async fn record(&self, entries: &[Entry]) -> Result<Option<i64>, Error> {
        let tickets = self.enqueue_entries(entries).await?;
        let mut end = None;
        self.wait_for(tickets.into_iter().collect(), |_, at| {
            end = end.max(Some(at.offset + 1));
        })
        .await?;
        Ok(end)
    }

    /// Waits until every one of `tickets` is reported, telling `done` each position; the first
    /// failure is the answer. Reports of other tickets are dropped: nobody waits for them (the
    /// copies in flight of a redrive that failed and returned).
    async fn wait_for(
        &self,
        mut tickets: TicketSet,
        mut done: impl FnMut(Ticket, Position),
    ) -> Result<(), Error> {
        while !tickets.is_empty() {
            for (ticket, report) in self.delivered().await {
                if tickets.remove(&ticket) {
                    done(ticket, report?);
                }
            }
        }
        Ok(())
    }
}
