//! What a handler was called with: a [`Recorder`] wraps a test's handler and notes every call
//! (which record, which delivery, when it started and ended, how it ended), so a test asserts on
//! the calls instead of declaring its own `Call` and `Arc<Mutex<Vec<_>>>`.
//!
//! A call is noted when it starts, so a handler that panics or hangs is seen too; its end and
//! outcome are filled in when it returns (a panic or a timeout leaves them `None`).
//!
//! ```no_run
//! use std::time::Duration;
//! use rebound::{Failure, Record, RetryingConsumer};
//! use testkit::{kafka, unique, wait_until, Recorder, RunningConsumer};
//!
//! # async fn example(topic: &str) {
//! let calls = Recorder::new();
//! let consumer = RetryingConsumer::builder(kafka(), topic, &unique("g"))
//!     .handler(calls.handler(|record: Record| async move {
//!         match record.key_text().as_deref() {
//!             Some("fails") => Err(Failure::msg("busy")),
//!             _ => Ok(()),
//!         }
//!     }))
//!     .build()
//!     .unwrap();
//! let running = RunningConsumer::spawn(consumer);
//! wait_until(Duration::from_secs(30), "the first retry", || async {
//!     calls.for_key("fails").len() == 2
//! })
//! .await;
//! let attempts: Vec<u32> = calls.for_key("fails").iter().map(|c| c.attempt).collect();
//! assert_eq!(attempts, [1, 2]);
//! running.stop().await.unwrap();
//! # }
//! ```

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use rebound::headers::Headers;
use rebound::{EpochMillis, Failure, Handler, Record};

/// One call of a recorded handler.
#[derive(Debug, Clone)]
pub struct Call {
    /// The record's topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key as text (lossy), `None` without a key.
    pub key: Option<String>,
    /// Its payload as text (lossy; empty without a payload).
    pub payload: String,
    /// Its headers.
    pub headers: Headers,
    /// The delivery (1 on the main topic).
    pub attempt: u32,
    /// When the call started (wall clock, for comparing with a record's due time).
    pub at: EpochMillis,
    /// When the call started.
    pub started: Instant,
    /// When it returned; `None` while it runs, or when it panicked or was timed out.
    pub ended: Option<Instant>,
    /// How it returned: `Ok`, or the failure's text; `None` as for `ended`.
    pub outcome: Option<Result<(), String>>,
}

impl Call {
    /// When the call returned; panics when it has not (it still runs, panicked or hung).
    pub fn ended(&self) -> Instant {
        self.ended
            .unwrap_or_else(|| panic!("the call of {self:?} has not returned"))
    }

    /// Whether the call returned `Ok`.
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Some(Ok(())))
    }

    /// The record's key, or `""` without one.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_default()
    }
}

/// A cloneable handle on the calls of one or more handlers (every clone sees the same calls).
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Recorder {
    /// A recorder with no calls yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `handler`, its every call noted here.
    pub fn handler(&self, handler: impl Handler) -> impl Handler {
        Recorded {
            recorder: self.clone(),
            handler,
        }
    }

    /// Notes the start of a call with `record`; returns its index for [`finish`](Self::finish).
    /// [`handler`](Self::handler) does both; this is for a handler that notes only some calls.
    pub fn record(&self, record: &Record) -> usize {
        let call = Call {
            topic: record.topic().to_string(),
            partition: record.partition(),
            offset: record.offset(),
            key: record.key_text(),
            payload: String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned(),
            headers: record.headers().clone(),
            attempt: record.attempt(),
            at: EpochMillis::now(),
            started: Instant::now(),
            ended: None,
            outcome: None,
        };
        let mut calls = self.lock();
        calls.push(call);
        calls.len() - 1
    }

    /// Notes how call `index` returned.
    pub fn finish(&self, index: usize, outcome: &Result<(), Failure>) {
        let mut calls = self.lock();
        let call = &mut calls[index];
        call.ended = Some(Instant::now());
        call.outcome = Some(outcome.as_ref().map(|_| ()).map_err(ToString::to_string));
    }

    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }

    /// How many calls started.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no call started yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the calls, in the order they started (`""` for a record without one): what a
    /// test's [`wait_for`](crate::wait_for) says it saw.
    pub fn keys(&self) -> Vec<String> {
        self.lock().iter().map(|c| c.key().to_string()).collect()
    }

    /// The calls `keep` selects, in the order they started.
    pub fn filter(&self, keep: impl Fn(&Call) -> bool) -> Vec<Call> {
        self.lock().iter().filter(|c| keep(c)).cloned().collect()
    }

    /// The calls with records of key `key`.
    pub fn for_key(&self, key: &str) -> Vec<Call> {
        self.filter(|c| c.key.as_deref() == Some(key))
    }

    /// The calls whose payload contains `needle`.
    pub fn containing(&self, needle: &str) -> Vec<Call> {
        self.filter(|c| c.payload.contains(needle))
    }

    /// The calls that returned `Ok`.
    pub fn succeeded(&self) -> Vec<Call> {
        self.filter(Call::succeeded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        // A test's assertion that panicked while holding the lock leaves the calls as they were.
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A handler whose calls a [`Recorder`] notes.
struct Recorded<H> {
    recorder: Recorder,
    handler: H,
}

impl<H: Handler> Handler for Recorded<H> {
    fn handle(&self, record: Record) -> BoxFuture<'static, Result<(), Failure>> {
        let index = self.recorder.record(&record);
        let call = self.handler.handle(record);
        let recorder = self.recorder.clone();
        Box::pin(async move {
            let outcome = call.await;
            recorder.finish(index, &outcome);
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_each_call_with_its_outcome() {
        let calls = Recorder::new();
        let handler = calls.handler(|record: Record| async move {
            match record.key_text().as_deref() {
                Some("bad") => Err(Failure::msg("no")),
                _ => Ok(()),
            }
        });
        let record = |key: &str, payload: &str| {
            Record::new("t", 0, 0)
                .with_key(key.to_string())
                .with_payload(payload.to_string())
        };
        handler.handle(record("good", "one")).await.unwrap();
        handler.handle(record("bad", "two")).await.unwrap_err();
        let pending = handler.handle(record("bad", "three"));
        assert_eq!(calls.len(), 3, "noted when it starts");
        drop(pending);
        assert_eq!(calls.for_key("bad").len(), 2);
        assert_eq!(calls.containing("tw")[0].outcome, Some(Err("no".into())));
        assert_eq!(calls.succeeded().len(), 1);
        assert!(calls.calls()[2].ended.is_none());
    }
}
