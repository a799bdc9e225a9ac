//! What really happened to each e-mail. The services publish status events to a Kafka topic
//! (`email.status`, key = e-mail id); the API folds them into its view, read from the beginning at
//! start, so the view survives an API restart.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use rebound::{KafkaConfig, RELIABLE_PRODUCER};
use serde::{Deserialize, Serialize};

/// Where an e-mail is, as the API reports it (`status` of `GET /emails/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In Kafka (the broker acknowledged it); no attempt to send it has ended yet.
    Queued,
    /// A send failed transiently; a retry topic holds it until its next attempt.
    Retrying,
    /// The SMTP server accepted it. Final.
    Sent,
    /// In the dead-letter topic: failed permanently or ran out of attempts. Final.
    Dead,
}

impl State {
    fn is_final(self) -> bool {
        matches!(self, State::Sent | State::Dead)
    }
}

/// One change of an e-mail's state, as published to the status topic (JSON, key = `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// The e-mail's id.
    pub id: String,
    /// Its new state.
    pub state: State,
    /// When the state changed, ms since the Unix epoch.
    pub at: i64,
    /// The recipient; set by the API when it queues the e-mail, kept by later events that omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The attempt that just failed (retrying) or succeeded (sent); the attempts made (dead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Deliveries in all under the retry policy (retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// When the next attempt is due, ms since the Unix epoch (retrying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    /// Why the last attempt failed (retrying, dead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request's idempotency key (queued), so a restarted API still knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl StatusEvent {
    /// An event of e-mail `id` entering `state` now, with nothing else said.
    pub fn new(id: &str, state: State) -> StatusEvent {
        StatusEvent {
            id: id.to_string(),
            state,
            at: rebound::EpochMillis::now().as_i64(),
            to: None,
            attempt: None,
            max_attempts: None,
            next_attempt_at: None,
            reason: None,
            idempotency_key: None,
        }
    }
}

/// Publishes status events. A status that cannot be published is logged, never fatal: the
/// e-mail itself is safe in Kafka either way.
#[derive(Clone)]
pub struct StatusPublisher {
    producer: FutureProducer,
    topic: String,
}

impl StatusPublisher {
    /// Creates the status topic if needed (best effort: a broker that is down now must not keep a
    /// service from starting) and the producer.
    pub async fn new(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<StatusPublisher> {
        if let Err(e) = rebound::admin::create_topics(kafka, &[topic], 3, -1).await {
            tracing::warn!(%topic, error = %e, "could not create the status topic now");
        }
        StatusPublisher::without_topic_creation(kafka, topic)
    }

    /// The producer alone, the topic left as it is: the API creates it in the background, so that
    /// a broker that is down does not hold its start.
    pub fn without_topic_creation(
        kafka: &KafkaConfig,
        topic: &str,
    ) -> anyhow::Result<StatusPublisher> {
        let producer = producer_config(kafka).create()?;
        Ok(StatusPublisher {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Status events through `producer`, a producer the caller already has (the API's own: one
    /// set of librdkafka threads and connections less, and its `queued` event batched with the
    /// e-mails it follows). The events then fail after that producer's `message.timeout.ms`.
    pub fn sharing(producer: FutureProducer, topic: &str) -> StatusPublisher {
        StatusPublisher {
            producer,
            topic: topic.to_string(),
        }
    }

    /// Publishes `event`, keyed by the e-mail's id, waiting up to 10 s for the acknowledgement;
    /// a failure is logged, not returned.
    pub async fn publish(&self, event: &StatusEvent) {
        let json = serde_json::to_vec(event).expect("status events serialize");
        let record = FutureRecord::to(&self.topic).key(&event.id).payload(&json);
        if let Err((e, _)) = self
            .producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
        {
            tracing::warn!(id = %event.id, error = %e, "could not publish a status event");
        }
    }

    /// Hands `event` to the producer now (it is in librdkafka's queue when this returns) and
    /// logs a failed delivery later, on a task of its own: for the API, whose `202` is about the
    /// e-mail, which the broker already acknowledged, not about its `queued` event. Waiting for
    /// that second acknowledgement on the request path doubled the API's latency and gave the
    /// caller nothing: a failure was only logged then too. [`StatusPublisher::flush`] before
    /// the process ends delivers what is still queued (dropping the producer discards it).
    pub fn publish_in_background(&self, event: &StatusEvent) {
        let json = serde_json::to_vec(event).expect("status events serialize");
        let record = FutureRecord::to(&self.topic).key(&event.id).payload(&json);
        match self.producer.send_result(record) {
            Ok(delivery) => {
                let id = event.id.clone();
                tokio::spawn(async move {
                    let error = match delivery.await {
                        Ok(Ok(_)) => return,
                        Ok(Err((e, _))) => e.to_string(),
                        Err(_) => "the producer was dropped before delivering it".to_string(),
                    };
                    tracing::warn!(%id, %error, "could not publish a status event");
                });
            }
            Err((e, _)) => {
                tracing::warn!(id = %event.id, error = %e, "could not publish a status event");
            }
        }
    }

    /// Waits up to `timeout` for every status event still queued to be delivered (blocking: call
    /// it off the async runtime).
    pub fn flush(&self, timeout: Duration) -> rdkafka::error::KafkaResult<()> {
        self.producer.flush(Timeout::After(timeout))
    }
}

/// The status producer's settings: Rebound's ([`RELIABLE_PRODUCER`]), so a status that cannot
/// be delivered fails within 30 s and is logged, rather than waiting in librdkafka's queue for
/// its default of 5 minutes in silence.
fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    kafka.client_config(RELIABLE_PRODUCER)
}

/// The API's view: the latest state of each e-mail, and ids by idempotency key.
#[derive(Default)]
pub struct StatusStore {
    states: RwLock<HashMap<String, StatusEvent>>,
    keys: RwLock<HashMap<String, String>>,
}

impl StatusStore {
    /// Folds one event in. A final state (sent, dead) is never replaced by a non-final one that
    /// arrives late; otherwise the later event wins.
    pub fn apply(&self, event: StatusEvent) {
        if let Some(key) = &event.idempotency_key {
            self.keys
                .write()
                .expect("lock")
                .entry(key.clone())
                .or_insert_with(|| event.id.clone());
        }
        let mut states = self.states.write().expect("lock");
        let keep_old = states.get(&event.id).is_some_and(|old| {
            (old.state.is_final() && !event.state.is_final())
                || (old.state.is_final() == event.state.is_final() && old.at > event.at)
        });
        if !keep_old {
            let mut event = event;
            // Keep what the first event knew (recipient, key) when later ones do not say.
            if let Some(old) = states.get(&event.id) {
                event.to = event.to.or_else(|| old.to.clone());
                event.idempotency_key = event
                    .idempotency_key
                    .or_else(|| old.idempotency_key.clone());
            }
            states.insert(event.id.clone(), event);
        }
    }

    /// The latest event of e-mail `id`, if any arrived.
    pub fn get(&self, id: &str) -> Option<StatusEvent> {
        self.states.read().expect("lock").get(id).cloned()
    }

    /// The id of the e-mail first queued with idempotency key `key`.
    pub fn id_for_key(&self, key: &str) -> Option<String> {
        self.keys.read().expect("lock").get(key).cloned()
    }

    /// Reads the status topic from the beginning and follows it, on its own thread.
    pub fn follow(self: &Arc<Self>, kafka: KafkaConfig, topic: String, stop: Arc<AtomicBool>) {
        let store = self.clone();
        std::thread::Builder::new()
            .name("status-follower".into())
            .spawn(move || {
                // The topic may not exist yet (the API starts before Kafka is ready): try again.
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let result =
                        rebound_ops::reader::follow(&kafka, &topic, true, &stop, |record| {
                            match record.payload().map(serde_json::from_slice::<StatusEvent>) {
                                Some(Ok(event)) => store.apply(event),
                                _ => tracing::warn!(
                                    offset = record.offset(),
                                    "skipping an unreadable status event"
                                ),
                            }
                        });
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "status follower: trying again in 1 s");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })
            .expect("spawn status follower");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_retrying_event_does_not_undo_sent() {
        let store = StatusStore::default();
        let mut sent = StatusEvent::new("a", State::Sent);
        sent.at = 10;
        let mut retrying = StatusEvent::new("a", State::Retrying);
        retrying.at = 5;
        store.apply(sent);
        store.apply(retrying);
        assert_eq!(store.get("a").unwrap().state, State::Sent);
    }

    #[test]
    fn status_events_are_produced_with_the_library_settings() {
        let config = producer_config(&KafkaConfig::new("b:9092"));
        assert_eq!(
            config.get("message.timeout.ms"),
            Some("30000"),
            "not 5 minutes"
        );
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        // `-X` still has the last word.
        let config =
            producer_config(&KafkaConfig::new("b:9092").property("message.timeout.ms", "10000"));
        assert_eq!(config.get("message.timeout.ms"), Some("10000"));
    }
}
