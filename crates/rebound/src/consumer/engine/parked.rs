//! `hold_until_redriven`: a record whose key is parked behind a pending dead letter follows it
//! into the DLT without running, so the key's records wait there in order for a person.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::consumer::context::Context;
use crate::consumer::forward::{forward_failed, Failed};
use crate::consumer::key_order::DeadLetterAt;
use crate::consumer::route::Hop;
use crate::failure::{Failure, FailureClass};
use crate::record::Record;
use crate::time::EpochMillis;
use crate::trace::AttemptSpan;

/// Why a record went to the DLT without running: an earlier record of its key is there, pending
/// (`hold_until_redriven`). Written where Spring writes the exception, so `rebound dlt list`
/// shows it and `--error "held behind"` selects these.
#[derive(Debug, thiserror::Error)]
#[error("held behind the dead letter {0} of the same key (hold_until_redriven): this key's records wait in the DLT, in order, until that one is redriven or discarded")]
pub(crate) struct HeldBehindDeadLetter(String);

/// Sends a record of a parked key to the DLT behind the dead letter at `behind`, without running
/// it. `true` once the copy is acknowledged, `false` if stopped before.
pub(crate) async fn park_behind(
    context: Arc<Context>,
    record: Record,
    behind: DeadLetterAt,
    stop: CancellationToken,
) -> bool {
    let Some(dlt) = context.settings.chain.dlt.clone() else {
        return true; // `build` refuses hold_until_redriven without a DLT.
    };
    let dead_letter = format!("{dlt}-{}@{}", behind.0, behind.1);
    tracing::info!(
        record = %record.coordinates(),
        "key held behind the pending dead letter {dead_letter}: following it into {dlt}"
    );
    let span = AttemptSpan::start(&context, &record);
    let failed = Failed {
        span,
        record: record.with_attempt(1),
        failure: Failure::permanent(HeldBehindDeadLetter(dead_letter)),
        class: FailureClass::Permanent,
        at: EpochMillis::now(),
    };
    forward_failed(context, failed, Hop::DeadLetter { topic: dlt }, stop).await
}
