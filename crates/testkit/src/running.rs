//! A consumer running in the background of a test: started, asked whether it still runs,
//! stopped and its outcome read. Dropped (a failing assertion unwinding), it stops the consumer,
//! so a failing test cannot leave a polling thread behind that keeps the test process alive.
//!
//! Every test that runs a [`rebound::RetryingConsumer`] in the background uses this, not a
//! oneshot channel and a spawned task of its own: the drop is what a hand-rolled one forgets.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A [`rebound::RetryingConsumer`] running on the test's runtime until stopped or dropped.
pub struct RunningConsumer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), rebound::Error>>>,
}

impl RunningConsumer {
    /// Starts `consumer` on the current runtime; it runs until [`stop`](Self::stop) or drop.
    pub fn spawn(consumer: rebound::RetryingConsumer) -> Self {
        Self::spawn_until(consumer, std::future::pending())
    }

    /// Starts `consumer` on the current runtime; it stops by itself once `until` completes
    /// (e.g. when the handler has seen what the test waits for), or on [`stop`](Self::stop) or
    /// drop before that. [`ended`](Self::ended) waits for such a run.
    pub fn spawn_until(
        consumer: rebound::RetryingConsumer,
        until: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(consumer.run(async move {
            tokio::select! {
                _ = stopped => {}
                () = until => {}
            }
        }));
        RunningConsumer {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Whether the consumer is still running (it has not ended by itself).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }

    /// How the run ended, once it has ended by itself; `None` while it runs (or once read).
    pub async fn outcome(&mut self) -> Option<Result<(), rebound::Error>> {
        if self.is_running() {
            return None;
        }
        let task = self.task.take()?;
        Some(task.await.expect("the consumer's task panicked"))
    }

    /// Waits, without asking it to stop, until the run ends by itself (its `until` completed,
    /// or it failed) and returns how. Bound it with a timeout: dropped, it stops the consumer.
    pub async fn ended(mut self) -> Result<(), rebound::Error> {
        let task = self.task.as_mut().expect("a running consumer has its task");
        let outcome = task.await.expect("the consumer's task panicked");
        self.task = None;
        outcome
    }

    /// Stops the consumer (it finishes the records in hand and commits) and returns how its run
    /// ended.
    pub async fn stop(mut self) -> Result<(), rebound::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a running consumer has its task");
        task.await.expect("the consumer's task panicked")
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping the run future sets its polling threads' stop flag.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
