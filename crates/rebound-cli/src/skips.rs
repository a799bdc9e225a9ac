//! How the command words a skipped dead letter. The library says why it was left alone; only the
//! command knows its own flags, so the advice on overriding a skip (`--force`, `--to`,
//! `--archived`) is added here.

use rebound_ops::SkipReason;

/// The text after `skipped: ` on a dead letter's line.
pub fn skip_text(reason: &SkipReason) -> String {
    match reason {
        SkipReason::AlreadyRedriven => format!("{reason} (use --force to send it again)"),
        SkipReason::Discarded => format!("{reason} (redrive it from the archive)"),
        SkipReason::PoisonLoop { .. } => format!("{reason} (use --force)"),
        SkipReason::NoOriginalTopic => format!("{reason}: name one with --to"),
        // The others need no flag: the library's statement is the whole story.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rebound_ops::Status;

    use super::*;

    /// The lines operators (and their scripts) know; they must not change.
    #[test]
    fn skips_read_as_they_always_did() {
        let cases = [
            (
                SkipReason::AlreadyRedriven,
                "already redriven (use --force to send it again)",
            ),
            (
                SkipReason::Discarded,
                "discarded (redrive it from the archive)",
            ),
            (
                SkipReason::PoisonLoop { times: 3 },
                "poison loop: redriven 3 times already (use --force)",
            ),
            (
                SkipReason::PayloadOmitted {
                    why: "2 MB over max.message.bytes".into(),
                },
                "its payload was too large to be dead-lettered: 2 MB over max.message.bytes; \
                 re-publish that record instead",
            ),
            (
                SkipReason::NoOriginalTopic,
                "no original topic in its headers: name one with --to",
            ),
            (
                SkipReason::ClaimedByAnotherRun,
                "claimed by another redrive run at the same time",
            ),
            (SkipReason::Interrupted, "interrupted before sending"),
            (
                SkipReason::AlreadyHandled(Status::Redriven),
                "already redriven",
            ),
            (
                SkipReason::AlreadyHandled(Status::Discarded),
                "already discarded",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(skip_text(&reason), text, "{reason:?}");
        }
    }
}
