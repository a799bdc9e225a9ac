//! The reports of a redrive's copies and of their ledger entries: a copy goes to the producer
//! with a ticket ([`Writer::enqueue`]) and stays in [`Sending::in_flight`] until its report; an
//! acknowledged copy's `redriven` entry then goes to the producer in a batch, not waited for
//! until the run settles, so the copies behind it never stall on the ledger.
//!
//! [`Writer::enqueue`]: crate::write::Writer::enqueue

use crate::error::Error;
use crate::id::Position;
use crate::ledger::Action;
use crate::write::Delivered;

use super::send::{entry, Stamped};
use super::sending::{Sending, LEDGER_BATCH};
use super::{Outcome, RedriveReport};

impl Sending<'_> {
    /// Hands `copy` to the producer. A partition librdkafka knows is missing refuses the copy
    /// at once: the key decides then, as when the cluster refuses it later ([`Sending::take`]).
    pub(super) async fn launch(&mut self, mut copy: Stamped) -> Result<(), Error> {
        loop {
            // A resolved share-group pointer sends its source record, not the empty pointer.
            let body = copy.plan.listed.dead_letter.body();
            let sent = self
                .writer
                .enqueue(
                    &copy.plan.topic,
                    copy.partition,
                    body.key(),
                    body.payload(),
                    copy.headers.to_kafka(),
                )
                .await;
            match sent {
                Ok(ticket) => {
                    self.in_flight.insert(ticket, copy);
                    return Ok(());
                }
                Err(_) if copy.partition.is_some() => copy.partition = None,
                Err(e) => return self.give_up(e.into()).await,
            }
        }
    }

    /// Whether a report is due: copies or entries are in flight.
    pub(super) fn waiting(&self) -> bool {
        !self.in_flight.is_empty() || !self.recording.is_empty()
    }

    /// Waits for every copy in flight, then for the entries of every acknowledged copy to be in
    /// the ledger.
    pub(super) async fn settle(&mut self, report: &mut RedriveReport) -> Result<(), Error> {
        while !self.in_flight.is_empty() {
            let reports = self.writer.delivered().await;
            self.take(reports, report).await?;
        }
        self.hand_over().await?;
        while !self.recording.is_empty() {
            let reports = self.writer.delivered().await;
            self.take(reports, report).await?;
        }
        Ok(())
    }

    /// Takes the reports of copies and entries. A copy refused in its planned partition is sent
    /// again where its key lands (the partition may be gone from the target); any other refusal
    /// ends the run.
    pub(super) async fn take(
        &mut self,
        reports: Vec<Delivered>,
        report: &mut RedriveReport,
    ) -> Result<(), Error> {
        for (ticket, result) in reports {
            if self.recording.remove(&ticket) {
                result?;
            } else if let Some(mut copy) = self.in_flight.remove(&ticket) {
                match result {
                    Ok(position) => self.acknowledged(copy, position, report).await?,
                    Err(_) if copy.partition.is_some() => {
                        copy.partition = None;
                        self.launch(copy).await?;
                    }
                    Err(e) => return self.give_up(e.into()).await,
                }
            }
        }
        Ok(())
    }

    /// Ends the run on `error`, after writing the entries of the copies acknowledged before it:
    /// the caller sees the error, the ledger every copy it knows of. (Copies still in flight are
    /// not waited for: unrecorded, their claims stay unanswered, a possible duplicate later.)
    pub(super) async fn give_up(&mut self, error: Error) -> Result<(), Error> {
        let recorded = async {
            self.hand_over().await?;
            while !self.recording.is_empty() {
                for (ticket, result) in self.writer.delivered().await {
                    if self.recording.remove(&ticket) {
                        result?;
                    }
                }
            }
            Ok::<(), Error>(())
        };
        if let Err(ledger) = recorded.await {
            tracing::warn!(error = %ledger, "could not record the copies acknowledged before a failed send");
        }
        Err(error)
    }

    /// Counts an acknowledged copy, reports it, and hands a full batch of entries to the
    /// producer (not waiting for them: the next copies go out meanwhile).
    pub(super) async fn acknowledged(
        &mut self,
        copy: Stamped,
        position: Position,
        report: &mut RedriveReport,
    ) -> Result<(), Error> {
        self.sent += 1;
        (self.progress)(self.state(None));
        let plan = copy.plan;
        let mut done = entry(
            self.run,
            self.options,
            plan.listed.id,
            Action::Redriven,
            Some(&plan.topic),
        );
        done.copy = Some(position);
        self.unrecorded.push(done);
        report.outcomes.push((
            plan.listed.dead_letter.position(),
            Outcome::Sent {
                topic: plan.topic,
                copy: Some(position),
            },
        ));
        self.finished.push(plan.listed);
        if self.unrecorded.len() >= LEDGER_BATCH {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// Hands the entries not yet in the ledger to the producer.
    pub(super) async fn hand_over(&mut self) -> Result<(), Error> {
        if !self.unrecorded.is_empty() {
            let tickets = self.writer.enqueue_entries(&self.unrecorded).await?;
            self.recording.extend(tickets);
            self.unrecorded.clear();
        }
        Ok(())
    }
}
