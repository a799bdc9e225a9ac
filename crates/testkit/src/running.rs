//! A consumer running in the background of a test: started, asked whether it still runs,
//! stopped and its outcome read. Dropped (a failing assertion unwinding), it stops the consumer,
//! so a failing test cannot leave a polling thread behind that keeps the test process alive.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A [`rebound::RetryingConsumer`] running on the test's runtime until stopped or dropped.
pub struct RunningConsumer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), rebound::Error>>>,
}

impl RunningConsumer {
    /// Starts `consumer` on the current runtime.
    pub fn spawn(consumer: rebound::RetryingConsumer) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(consumer.run(async move {
            let _ = stopped.await;
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
