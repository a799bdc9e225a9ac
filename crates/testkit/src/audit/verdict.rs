//! The audit's verdict: what no run may show, whatever its faults.

use std::path::Path;

use super::Audit;

/// The first 20 of `ids`, for a message.
fn sample(ids: &[u64]) -> Vec<u64> {
    ids.iter().take(20).copied().collect()
}

impl Audit {
    /// Panics, saying what and where the run's logs are (`logs`), unless the run delivered as
    /// every fate says: nothing lost, nothing dead-lettered that would have succeeded, nothing
    /// handled that always fails or on another attempt than its fate's, every dead letter with
    /// the headers its fate calls for, and no id that was never produced.
    pub fn assert_delivered(&self, logs: &Path) {
        let logs = logs.display();
        assert!(
            self.lost.is_empty(),
            "{} records lost (first: {:?}); logs in {logs}",
            self.lost.len(),
            sample(&self.lost),
        );
        assert!(
            self.wrongly_dead_lettered.is_empty(),
            "{} records dead-lettered that would have succeeded (first: {:?}); logs in {logs}",
            self.wrongly_dead_lettered.len(),
            sample(&self.wrongly_dead_lettered),
        );
        assert!(
            self.wrong_attempt.is_empty(),
            "handled on another attempt than their fate's (id, attempt): {:?}; logs in {logs}",
            self.wrong_attempt.iter().take(20).collect::<Vec<_>>()
        );
        assert!(
            self.handled_but_doomed.is_empty(),
            "handled though they always fail: {:?}; logs in {logs}",
            sample(&self.handled_but_doomed)
        );
        assert_eq!(self.dlt_bad_headers, 0, "dead letters with wrong headers");
        assert_eq!(self.invented, 0, "ids that were never produced");
    }
}
